"""Bad input to the build gives one clear line, a non-zero exit, and leaves
no half-unpacked tree behind. Each case runs the real command line."""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from build import pins, sources
from build.cache import TOP

pytestmark = pytest.mark.network


def run_cli(tmp_path, *args, **env):
    full = dict(os.environ, NLC_CACHE=str(tmp_path / "cache"),
                NLC_WORK=str(tmp_path / "work"))
    full.pop("NOVA_SOURCE", None)
    full.update(env)
    return subprocess.run([sys.executable, "-m", "build.cli", *args], cwd=TOP,
                          env=full, capture_output=True, text=True)


def the_error(res):
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert res.stderr.rstrip().splitlines()[-1] == errors[0]
    return errors[0]


def no_half_trees(tmp_path):
    work = tmp_path / "work"
    left = [p.name for p in (work / "trees").iterdir()] if (work / "trees").exists() else []
    assert left == [], "left behind: %s" % left


@pytest.fixture(scope="module")
def real_sdist():
    sd = pins.series_pins("bookworm")["sdist"]
    return sources.pypi_sdist(sd["pypi_project"], sd["pypi_version"], sd["sha256"])


def test_wrong_digest_is_refused_naming_both_digests(tmp_path, real_sdist):
    deb = pins.series_pins("bookworm")["debian"]
    downloads = tmp_path / "cache" / "downloads"
    downloads.mkdir(parents=True)
    shutil.copy(real_sdist, downloads / real_sdist.name)
    bad = b"not the debian tarball\n"
    (downloads / deb["name"]).write_bytes(bad)
    err = the_error(run_cli(tmp_path, "series", "bookworm"))
    assert deb["sha256"] in err and hashlib.sha256(bad).hexdigest() in err
    assert (downloads / (deb["name"] + ".rejected")).exists()
    no_half_trees(tmp_path)


def test_truncated_tarball(tmp_path, real_sdist):
    truncated = tmp_path / "nova-2014.1.5.tar.gz"
    truncated.write_bytes(real_sdist.read_bytes()[: 3 << 20])
    err = the_error(run_cli(tmp_path, "series", "icehouse", NOVA_SOURCE=str(truncated)))
    assert "nova-2014.1.5.tar.gz" in err and "unpack" in err
    no_half_trees(tmp_path)


def test_tree_of_another_release_is_refused(tmp_path, real_sdist):
    # a whole, readable nova tarball, but not 2014.1.5
    err = the_error(run_cli(tmp_path, "series", "icehouse", NOVA_SOURCE=str(real_sdist)))
    assert "is not nova 2014.1.5" in err and "26.2.2" in err
    no_half_trees(tmp_path)


def test_missing_source(tmp_path):
    err = the_error(run_cli(tmp_path, "series", "icehouse",
                            NOVA_SOURCE=str(tmp_path / "nowhere.tar.gz")))
    assert "nowhere.tar.gz does not exist" in err


def test_unknown_series(tmp_path):
    err = the_error(run_cli(tmp_path, "series", "havana"))
    assert "unknown series 'havana'" in err and "bookworm" in err


def test_unwritable_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory\n")
    res = run_cli(tmp_path, "fetch", "bookworm", NLC_CACHE=str(blocker / "cache"))
    err = the_error(res)
    assert "cache directory" in err and "not writable" in err


def test_icehouse_without_tree_is_skipped_loudly(tmp_path):
    res = run_cli(tmp_path, "series", "icehouse")
    assert res.returncode == 0
    assert "SKIPPED: icehouse tree not available (set NOVA_SOURCE=...)" in res.stdout


# -- Debian's source of the bookworm base: real when served, else reconstructed --

def _debian_tree(into, src):
    into.mkdir()
    sources.unpack_debian("bookworm", into, src)
    from build.quilt import quilt_push
    sd = pins.series_pins("bookworm")["sdist"]
    sources.untar(sources.pypi_sdist(sd["pypi_project"], sd["pypi_version"], sd["sha256"]),
                  into)
    quilt_push(into, into / "debian" / "patches")
    return into


def test_the_real_debian_source_is_preferred_when_served(tmp_path, monkeypatch, real_sdist):
    """The archive (external: its listing is the test's) serves a deb12u5
    debian.tar.xz, here Debian's deb12u4 one with the reconstructed patch
    and entry folded in as Debian's upload would have them: the build takes
    it instead of the reconstruction, says so, and the tree is the same."""
    pin = pins.series_pins("bookworm")
    want = pin["debian_version"]
    # a cache of the test's own: the real source lands there by name
    cache = tmp_path / "cache"
    (cache / "downloads").mkdir(parents=True)
    shutil.copy(real_sdist, cache / "downloads" / real_sdist.name)
    monkeypatch.setenv("NLC_CACHE", str(cache))
    reconstructed = sources.debian_source("bookworm", listed=lambda p, v: [])
    assert reconstructed.reconstructed and reconstructed.patches
    assert "reconstructed" in reconstructed.describe()

    folded = tmp_path / "folded"
    folded.mkdir()
    sources.unpack_debian("bookworm", folded, reconstructed)
    name = "nova_%s.debian.tar.xz" % want.split(":", 1)[1]
    tarball = tmp_path / "archive" / name
    tarball.parent.mkdir()
    subprocess.run(["tar", "-cJf", str(tarball), "-C", str(folded), "debian"], check=True)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    asked = []

    def listed(package, version):
        asked.append((package, version))
        return [("file://%s" % tarball, name, digest)]

    real = sources.debian_source("bookworm", listed=listed)
    assert asked == [("nova", want)]
    assert not real.reconstructed and real.patches == [] and real.version == want
    assert real.describe() == "Debian's source %s" % want
    assert real.tarball == cache / "downloads" / name

    a = _debian_tree(tmp_path / "a", reconstructed)
    b = _debian_tree(tmp_path / "b", real)
    for patch in reconstructed.patches:
        for path, _c, _d in pins.touched_files(patch.read_text()):
            assert (a / path).read_bytes() == (b / path).read_bytes(), path
    assert (a / "debian/changelog").read_text() == (b / "debian/changelog").read_text()
    assert (a / "debian/patches/series").read_text() == (b / "debian/patches/series").read_text()


def test_an_unobtainable_real_source_falls_back_to_the_reconstruction(tmp_path, monkeypatch,
                                                                       real_sdist):
    """Listed but 404 (as deb12u5's source is today): the reconstruction."""
    monkeypatch.setenv("NLC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "downloads").mkdir(parents=True)
    shutil.copy(real_sdist, tmp_path / "cache" / "downloads" / real_sdist.name)
    want = pins.series_pins("bookworm")["debian_version"]
    gone = tmp_path / "nowhere.debian.tar.xz"
    src = sources.debian_source(
        "bookworm",
        listed=lambda p, v: [("file://%s" % gone, "nova_x.debian.tar.xz", "0" * 64)])
    assert src.reconstructed and src.version == want
