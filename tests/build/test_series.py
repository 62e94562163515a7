"""Our quilt series on verified trees, applied with fuzz 0 as dpkg-source does."""

import os
import tarfile

import pytest

from build import pins, quilt, series as series_recipes, sources
from build.log import BuildError
from tests.build import nova_patches

ICEHOUSE = os.environ.get("NOVA_SOURCE")
needs_icehouse = pytest.mark.skipif(
    not ICEHOUSE, reason="SKIPPED: icehouse tree not available (set NOVA_SOURCE=...)")


def test_manifest_covers_exactly_the_series():
    """The committed manifest names every file the icehouse series touches,
    and nothing else: a stale manifest is caught without the tree."""
    need = pins.series_files("icehouse")
    manifest = quilt.read_manifest("icehouse")
    assert set(manifest) == set(need)
    for name, must_exist in need.items():
        assert (manifest[name] != quilt.ABSENT) == must_exist, name


def test_every_patch_has_a_dep3_header():
    for name in pins.series_names():
        for patch in pins.patch_series(name):
            header = patch.text().split("\n---", 1)[0]
            fields = {ln.split(":", 1)[0] for ln in header.splitlines() if ":" in ln}
            assert "Description" in fields or "Subject" in fields, patch.path
            assert fields & {"Origin", "Author", "From"}, patch.path
            assert "Last-Update" in fields, patch.path


def test_patches_touch_only_nova_and_bring_their_tests():
    """Nothing but nova's code, its tests and setup.cfg (no test-run
    leftovers such as .stestr/, no build output), and every patch that
    changes nova's code adds or changes nova's own unit tests."""
    for name in pins.series_names():
        for patch in pins.patch_series(name):
            paths = [path for path, _created, _deleted in patch.files()]
            assert paths, patch.path
            strays = [p for p in paths
                      if not (p == "setup.cfg" or
                              (p.startswith("nova/") and p.endswith(".py")))]
            assert strays == [], (patch.path, strays)
            code = [p for p in paths if p.startswith("nova/") and "/tests/" not in p]
            tests = [p for p in paths if p.startswith("nova/tests/")]
            assert tests or not code, (patch.path, "changes nova without tests")


@pytest.mark.network
def test_bookworm_series_applies_after_debians_own(tmp_path):
    tree, report = quilt.apply("bookworm", tmp_path / "bookworm")
    assert list(report) == [p.name for p in pins.patch_series("bookworm")]
    assert all(offsets == [] for offsets in report.values()), report
    debian_series = (tree / "debian" / "patches" / "series").read_text().split()
    ours = ["%s/%s" % (quilt.OUR_SUBDIR, p) for p in report]
    assert debian_series[-len(ours):] == ours if ours else True
    assert "Install-missed-files.patch" in debian_series
    applied = (tree / ".pc" / "applied-patches").read_text().split()
    assert applied[-len(ours):] == ours if ours else applied


@needs_icehouse
def test_icehouse_series_applies_exactly(tmp_path):
    tree, report = quilt.apply("icehouse", tmp_path / "icehouse")
    assert list(report) == [p.name for p in pins.patch_series("icehouse")]
    assert all(offsets == [] for offsets in report.values()), report


@needs_icehouse
def test_icehouse_tree_with_an_altered_pre_image_is_refused(tmp_path):
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    series_recipes.get("icehouse").unpack(pristine, verify=False)
    touched = sorted(n for n, d in quilt.read_manifest("icehouse").items()
                     if d != quilt.ABSENT)
    if not touched:
        pytest.skip("SKIPPED: the icehouse series touches no existing file yet")
    victim = pristine / touched[-1]
    victim.write_text(victim.read_text() + "# local change\n")
    with pytest.raises(BuildError) as exc:
        quilt.apply("icehouse", tmp_path / "patched", source=str(pristine))
    assert touched[-1] in str(exc.value) and "differs from nova 2014.1.5" in str(exc.value)
    assert not (tmp_path / "patched").exists()


def _fake_series(tmp_path, monkeypatch, patch_text):
    """A one-patch icehouse series and manifest in TMP_PATH (no nova needed)."""
    pdir = tmp_path / "patches" / "icehouse"
    pdir.mkdir(parents=True)
    (pdir / "one.patch").write_text(patch_text)
    (pdir / "series").write_text("one.patch\n")
    monkeypatch.setattr(pins, "PATCHES", tmp_path / "patches")
    monkeypatch.setattr(quilt, "manifest_path", lambda s: tmp_path / "manifest")


def test_manifest_refuses_an_altered_pre_image(tmp_path, monkeypatch):
    patch = ("Description: x\n\n--- a/nova/a.py\n+++ b/nova/a.py\n@@ -1 +1 @@\n-a\n+b\n"
             "--- /dev/null\n+++ b/nova/new.py\n@@ -0,0 +1 @@\n+new\n")
    _fake_series(tmp_path, monkeypatch, patch)
    tree = tmp_path / "tree"
    (tree / "nova").mkdir(parents=True)
    (tree / "setup.cfg").write_text("[metadata]\nname = nova\nversion = 2014.1.5\n")
    (tree / "nova" / "a.py").write_text("a\n")
    quilt.write_manifest("icehouse", tree)
    quilt.verify_manifest("icehouse", tree)            # pristine: accepted
    (tree / "nova" / "a.py").write_text("A\n")
    with pytest.raises(BuildError, match=r"nova/a.py differs from nova 2014.1.5"):
        quilt.verify_manifest("icehouse", tree)
    (tree / "nova" / "a.py").write_text("a\n")
    (tree / "nova" / "new.py").write_text("already here\n")
    with pytest.raises(BuildError, match=r"nova/new.py exists, but the series creates it"):
        quilt.verify_manifest("icehouse", tree)


@pytest.mark.network
def test_quilt_refuses_fuzz_and_reports_offsets(tmp_path):
    made = nova_patches.patches()
    sdist = sources.pypi_sdist("nova", "26.3.0")
    for name in ("offset.patch", "fuzz.patch"):
        tree = tmp_path / name / "tree"
        tree.mkdir(parents=True)
        sources.untar(sdist, tree, members=[nova_patches.DRIVER])
        pdir = tmp_path / name / "patches"
        pdir.mkdir()
        (pdir / name).write_text(made[name][0])
        (pdir / "series").write_text(name + "\n")
        if name == "offset.patch":
            report = quilt.quilt_push(tree, pdir)
            [note] = report[name]
            assert note.startswith(nova_patches.DRIVER) and note.endswith("offset -2")
        else:
            with pytest.raises(BuildError, match="quilt push --fuzz=0 failed"):
                quilt.quilt_push(tree, pdir)
