"""The rebase check classifies real patches on real nova releases."""

import shutil

import pytest

from build import debsrc, pins, rebase, repo
from build.run import output
from tests.build import nova_patches
from tests.packaging.aptroot import PrivateApt, probe_deb

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def real_patches(tmp_path_factory):
    d = tmp_path_factory.mktemp("patches")
    out = {}
    for name, (text, expected) in nova_patches.patches().items():
        (d / name).write_text(text)
        out[name] = (pins.Patch(name, d / name), expected)
    return out


def _target(version):
    return rebase.Target("bookworm", "pypi %s" % version, "pypi", rebase._pypi_fill(version))


@pytest.mark.parametrize("name", ["upstream.patch", "conflict.patch", "fuzz.patch",
                                  "offset.patch"])
def test_classified_on_newer_release(real_patches, name):
    patch, expected = real_patches[name]
    # every one of them applies exactly on the release it was made from ...
    assert [r.status for r in rebase.run_target(_target("26.2.2"), [patch])] == ["applies"]
    # ... and is classified by what 26.3.0 changed
    [result] = rebase.run_target(_target("26.3.0"), [patch])
    assert result.status == expected
    if expected == "offset":
        assert result.offsets and result.offsets[0].endswith("-2")


def test_file_gone(real_patches):
    patch, expected = real_patches["gone.patch"]
    assert [r.status for r in rebase.run_target(_target("28.0.0"), [patch])] == ["applies"]
    [result] = rebase.run_target(_target("29.0.1"), [patch])
    assert result.status == expected == "file-gone"
    assert result.offsets == [nova_patches.HYPERV]


def test_each_patch_is_tried_on_top_of_those_before(real_patches):
    # conflict.patch edits a line upstream.patch removes: on 26.2.2 the first
    # applies and the second, tried on top of it, conflicts.
    up, conflict = real_patches["upstream.patch"][0], real_patches["conflict.patch"][0]
    statuses = [r.status for r in rebase.run_target(_target("26.2.2"), [up, conflict])]
    assert statuses == ["applies", "conflict"]
    # a patch already upstream is left out, so the next is tried on the release
    statuses = [r.status for r in rebase.run_target(_target("26.3.0"), [up, conflict])]
    assert statuses == ["already-upstream", "conflict"]


def test_base_failures_only_count_the_pinned_base():
    report = {"series": {"bookworm": {"rows": [
        {"target": "bookworm x", "base": True,
         "results": [{"patch": "a", "status": "offset"}, {"patch": "b", "status": "applies"}]},
        {"target": "pypi 34.0.0", "base": False,
         "results": [{"patch": "a", "status": "conflict"}, {"patch": "b", "status": "file-gone"}]},
    ]}}}
    assert rebase.base_failures(report) == []
    report["series"]["bookworm"]["rows"][0]["results"][1]["status"] = "needs-fuzz"
    assert rebase.base_failures(report) == ["bookworm: b is needs-fuzz on bookworm x"]


# -- a base older than what Debian ships fails the check -----------------------

def _archive(root, suite, debs_, signer):
    """A signed archive of SUITE (dists/SUITE/main/binary-amd64) holding DEBS_."""
    pool = root / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    for deb in debs_:
        shutil.move(deb, pool / deb.name)
    bindir = root / "dists" / suite / "main" / "binary-amd64"
    bindir.mkdir(parents=True)
    (bindir / "Packages").write_text(output(
        ["apt-ftparchive", "packages", "pool"], "apt-ftparchive packages", cwd=root))
    release = output(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Suite=%s" % suite,
                      "-o", "APT::FTPArchive::Release::Architectures=amd64 all",
                      "-o", "APT::FTPArchive::Release::Components=main",
                      "release", "."], "apt-ftparchive release",
                     cwd=root / "dists" / suite)
    (root / "dists" / suite / "Release").write_text(release)
    signer.sign(root / "dists" / suite)
    signer.export(root / "key.gpg")
    return "deb [signed-by=%s] file:%s %s main\n" % (root / "key.gpg", root, suite)


@pytest.mark.parametrize("revision, stale", [("deb12u6", True), ("deb12u5", False)])
def test_newer_debian_nova_than_the_base_fails(tmp_path, revision, stale):
    """apt (private root) reads a signed archive whose bookworm-security offers
    python3-nova of REVISION; a version above our base is a failure."""
    pin = pins.series_pins("bookworm")
    watched = pin["rebase"]["watch_binary"]
    version = pin["debian_version"].rsplit("deb12u", 1)[0] + revision
    signer = repo.project_key(tmp_path / "gnupg")
    try:
        line = _archive(tmp_path / "archive", "bookworm-security",
                        [probe_deb(tmp_path, watched, version)], signer)
    finally:
        signer.close()
    apt = PrivateApt(tmp_path / "apt")
    apt.sources(line)
    rc, out = apt.update()
    assert rc == 0, out
    rc, out = apt.run_cache("madison", watched)
    offered = debsrc.parse_madison(watched, out)
    assert offered == [(version, "bookworm-security", "Packages")]
    failures = rebase.newer_base_failures("bookworm", offered)
    if stale:
        assert len(failures) == 1 and version in failures[0] \
            and pin["debian_version"] in failures[0]
        report = {"series": {}, "stale_base": failures}
        assert rebase.base_failures(report) == failures
    else:
        assert failures == []
