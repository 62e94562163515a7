"""The repositories are signed, and apt holds them to it.

Each apt here runs with a private configuration and root (its own sources
list, lists, cache, an empty dpkg status and no trusted keys of the host's),
so neither the host's apt state nor its keys take part: apt accepts a
repository only through the key its sources line names (signed-by).
"""

import gzip
import os
import subprocess

import pytest

from build import debpkg, repo
from tests.packaging.aptroot import PrivateApt, probe_deb

EPOCH = 1780000000
PROBE = "nlc-signing-probe"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two project keys in homes of their own; their agents stopped after."""
    base = tmp_path_factory.mktemp("keys")
    signers = [repo.project_key(base / name) for name in ("ours", "other")]
    yield signers
    for s in signers:
        s.close()


@pytest.fixture
def signed_repo(tmp_path, keys):
    dist = tmp_path / "dist"
    dist.mkdir()
    probe = probe_deb(tmp_path, PROBE, "1.0")
    os.replace(probe, dist / probe.name)
    repo.write(dist, "bookworm", EPOCH, signer=keys[0])
    return dist


def test_release_is_signed_by_the_exported_key(signed_repo, keys):
    for name in repo.SIGNED + (repo.KEY_NAME,):
        assert (signed_repo / name).is_file(), name
    assert repo.signed_by(signed_repo) == [keys[0].keyid]
    line = (signed_repo / repo.LIST_NAME).read_text()
    assert line == "deb [signed-by=%s] file:%s ./\n" % (repo.KEYRING, signed_repo)
    assert "trusted=yes" not in line
    # gpgv, as apt calls it, with only the exported key
    for args in (["InRelease"], ["Release.gpg", "Release"]):
        res = subprocess.run(["gpgv", "--keyring", str(signed_repo / repo.KEY_NAME),
                              *args], cwd=signed_repo, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


def test_apt_takes_the_signed_repository_with_its_key(signed_repo, tmp_path):
    apt = PrivateApt(tmp_path / "apt")
    apt.sources(repo.sources_line(signed_repo, keyring=signed_repo / repo.KEY_NAME))
    rc, out = apt.update()
    assert rc == 0 and "W:" not in out and "E:" not in out, out
    rc, out = apt.download(PROBE)
    assert rc == 0, out
    assert (apt.root / ("%s_1.0_all.deb" % PROBE)).is_file()


def test_apt_refuses_the_repository_unsigned(signed_repo, tmp_path):
    for name in repo.SIGNED:
        (signed_repo / name).unlink()
    apt = PrivateApt(tmp_path / "apt")
    apt.sources(repo.sources_line(signed_repo, keyring=signed_repo / repo.KEY_NAME))
    rc, out = apt.update()
    assert rc != 0 and "is not signed" in out, out
    rc, out = apt.download(PROBE)
    assert rc != 0, out


def test_apt_refuses_the_repository_with_another_key(signed_repo, tmp_path, keys):
    other = tmp_path / "other.gpg"
    keys[1].export(other)
    apt = PrivateApt(tmp_path / "apt")
    apt.sources(repo.sources_line(signed_repo, keyring=other))
    rc, out = apt.update()
    assert rc != 0 and "NO_PUBKEY" in out and keys[0].keyid[-16:] in out, out
    rc, out = apt.download(PROBE)
    assert rc != 0, out


def test_apt_refuses_a_tampered_packages_index(signed_repo, tmp_path):
    packages = signed_repo / "Packages"
    text = packages.read_text()
    tampered = text.replace("Version: 1.0", "Version: 9.0")      # same size
    assert tampered != text and len(tampered) == len(text)
    packages.write_text(tampered)
    with gzip.GzipFile(signed_repo / "Packages.gz", "wb", mtime=0) as f:
        f.write(tampered.encode())
    apt = PrivateApt(tmp_path / "apt")
    apt.sources(repo.sources_line(signed_repo, keyring=signed_repo / repo.KEY_NAME))
    rc, out = apt.update()
    assert rc != 0 and ("Hash Sum mismatch" in out or "unexpected size" in out), out
    rc, out = apt.download(PROBE)
    assert rc != 0, out


@pytest.mark.parametrize("series", ["bookworm", "icehouse"])
def test_built_repository_is_verified_by_apt(series, request, tmp_path, keys):
    """dist/<series> as `make debs` left it: apt takes it with its exported
    key, and with another key refuses it."""
    dist = request.getfixturevalue("bookworm_dist" if series == "bookworm"
                                   else "icehouse_overlay_dist")
    line = (dist / repo.LIST_NAME).read_text()
    assert line == repo.sources_line(dist)
    apt = PrivateApt(tmp_path / "apt")
    apt.sources(repo.sources_line(dist, keyring=dist / repo.KEY_NAME))
    rc, out = apt.update()
    assert rc == 0 and "W:" not in out and "E:" not in out, out
    offered = debpkg.parse_paragraphs((dist / "Packages").read_text())
    name = offered[0]["Package"]
    rc, out = apt.download(name)
    assert rc == 0, out
    other = tmp_path / "other.gpg"
    keys[1].export(other)
    apt = PrivateApt(tmp_path / "apt-other")
    apt.sources(repo.sources_line(dist, keyring=other))
    rc, out = apt.update()
    assert rc != 0 and "NO_PUBKEY" in out, out
