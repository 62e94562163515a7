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
