"""build/debroot.py: the cache key, the cached root reused, and the runner.

The runner and the cache are tested with a real, small root (busybox and
its applet links: a few MB, made in a second) instead of an mmdebstrap one
(a minute and 500 MB): what is under test is the namespace, the mounts, the
chroot and the tarball/work-copy bookkeeping, which do not depend on what
the root holds. The mmdebstrap step itself runs in `make check`'s trixie
stages (build/series/trixie.py), on the real root."""

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from build import debroot
from build.log import BuildError

BUSYBOX = shutil.which("busybox")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not BUSYBOX or not shutil.which("unshare"),
    reason="the runner needs root (mount namespace, chroot), busybox and unshare")


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("NLC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NLC_WORK", str(tmp_path / "work"))
    return tmp_path


def busybox_root(path):
    """A root with busybox as /bin/* and the directories the runner mounts on."""
    for d in ("bin", "proc", "dev", "sys", "run", "etc", "tmp", "root"):
        (path / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, str(path / "bin" / "busybox"))
    for applet in ("sh", "cat", "ls", "env", "touch", "mkdir", "echo", "stat", "grep"):
        os.symlink("busybox", str(path / "bin" / applet))
    (path / "etc" / "resolv.conf").write_text("")
    return path


def host_mounts():
    with open("/proc/self/mountinfo") as f:
        return sorted(ln.split()[4] for ln in f)


def test_host_mirror_reads_one_line_and_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "other.list").write_text(
        "deb https://packages.example.org/apt stable main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.net/debian/\nSuites: bookworm\n")
    assert debroot.host_mirror(str(tmp_path)) == "http://mirror.example.net/debian"
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://ftp.example.de/debian bookworm main\n")
    assert debroot.host_mirror(str(tmp_path)) == "http://ftp.example.de/debian"
    empty = tmp_path / "none"
    empty.mkdir()
    assert debroot.host_mirror(str(empty)) == debroot.DEFAULT_MIRROR


def test_key_follows_every_input_and_only_them(dirs):
    control = dirs / "control"
    control.write_text("Source: x\nBuild-Depends: debhelper-compat (= 13),\n python3-all\n"
                       "Standards-Version: 4.6.2\n\nPackage: x\nDepends: foo\n")
    base = debroot.Root("trixie", "http://m/debian", ["b", "a"], control)
    same = debroot.Root("trixie", "http://m/debian/", ["a", "b", "a"], control)
    assert base.key() == same.key()
    others = [debroot.Root("forky", "http://m/debian", ["a", "b"], control),
              debroot.Root("trixie", "http://n/debian", ["a", "b"], control),
              debroot.Root("trixie", "http://m/debian", ["a", "b", "c"], control),
              debroot.Root("trixie", "http://m/debian", ["a", "b"], ())]
    keys = {r.key() for r in others} | {base.key()}
    assert len(keys) == 5
    # a change outside the build dependencies (binary paragraph, other
    # fields) is not a new root; one inside them is
    control.write_text(control.read_text().replace("Depends: foo", "Depends: bar")
                       .replace("4.6.2", "4.7.0"))
    assert debroot.Root("trixie", "http://m/debian", ["a", "b"], control).key() == base.key()
    control.write_text(control.read_text().replace("python3-all", "python3-all,\n python3-pbr"))
    assert debroot.Root("trixie", "http://m/debian", ["a", "b"], control).key() != base.key()
    assert base.tarball().name == "trixie-%s.tar" % base.key()


def test_sources_of_a_release():
    assert debroot.sources("trixie", "http://m.example/debian") == [
        "deb http://m.example/debian trixie main",
        "deb http://m.example/debian trixie-updates main",
        "deb http://m.example/debian-security trixie-security main"]


@needs_root
def test_cached_root_is_reused_and_unpacked_afresh_on_request(dirs):
    root = debroot.Root("testsuite", "http://m.example/debian", ["busybox"])
    made = busybox_root(dirs / "made")
    root.tarball().parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(str(root.tarball()), "w") as tar:
        tar.add(str(made), arcname=".")
    # the tarball of this key exists: no mmdebstrap (it would fail on this
    # suite and mirror), only an unpack
    path = root.ensure()
    assert (path / "bin" / "busybox").is_file()
    (path / "tmp" / "marker").write_text("kept")
    assert root.ensure() == path and (path / "tmp" / "marker").exists()
    root.ensure(fresh=True)
    assert not (path / "tmp" / "marker").exists()
    # another package set is another root: not this tarball, and making it
    # fails loudly (no such suite on a mirror that does not exist)
    other = debroot.Root("testsuite", "http://m.example/debian", ["busybox", "more"])
    assert other.tarball() != root.tarball()
    with pytest.raises(BuildError, match="mmdebstrap"):
        other.ensure()
    assert not other.tarball().exists()
    assert not list((dirs / "work" / "roots").glob(".make-*"))


@needs_root
def test_runner_mounts_stay_in_a_private_namespace(dirs):
    root = busybox_root(dirs / "root")
    shared = dirs / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("hello")
    before = host_mounts()
    res = debroot.enter_run(root, ["sh", "-c",
                                   "cat /proc/self/mountinfo; echo; cat /data/from-host; "
                                   "echo; echo; env; touch /run/inside; ls /run"],
                            binds=[(shared, "/data")], env={"MARK": "1"})
    mountinfo, data, rest = res.stdout.split("\n\n", 2)
    targets = {ln.split()[4] for ln in mountinfo.splitlines()}
    # the root is a mount point of its own (libvirt's LXC driver needs it),
    # with the kernel file systems, a fresh /run and the bind in it
    assert {"/", "/proc", "/dev", "/sys", "/run", "/data"} <= targets
    assert data == "hello"
    assert "MARK=1" in rest and "PATH=%s" % debroot.PATH in rest
    assert "HOME=/root" in rest and "NLC_CACHE" not in rest   # a clean environment
    assert "inside" in rest
    # nothing reached the host: its mount table is as before, and the
    # root's /run (a tmpfs in the namespace) left nothing in the tree
    assert host_mounts() == before
    assert not (root / "run" / "inside").exists()
    assert not (root / "data" / "from-host").exists()


@needs_root
def test_runner_reports_a_failing_command_with_its_output(dirs):
    root = busybox_root(dirs / "root")
    with pytest.raises(BuildError) as exc:
        debroot.enter_run(root, ["sh", "-c", "echo the-reason >&2; exit 3"])
    assert "exit 3" in str(exc.value) and "the-reason" in str(exc.value)
    res = debroot.enter_run(root, ["sh", "-c", "exit 4"], check=False)
    assert res.returncode == 4


@needs_root
def test_runner_cwd_is_inside_the_root(dirs):
    root = busybox_root(dirs / "root")
    (root / "tmp" / "here").mkdir()
    out = debroot.enter_run(root, ["sh", "-c", "pwd"], cwd="/tmp/here").stdout
    assert out.strip() == "/tmp/here"
    assert Path(subprocess.check_output(["pwd"], text=True).strip()) != root


def test_pruning_keeps_other_roots_whose_names_share_a_prefix(dirs):
    """Keeping the newest KEEP tarballs of root "r" must not count (or
    delete) those of a root named "r-e2e"."""
    roots = dirs / "cache" / "roots"
    roots.mkdir(parents=True)
    others = [roots / ("r-e2e-%016x.tar" % i) for i in range(3)]
    mine = [roots / ("r-%016x.tar" % i) for i in range(debroot.KEEP + 2)]
    for i, p in enumerate(others + mine):
        p.write_text("x")
        os.utime(str(p), (1000 + i, 1000 + i))
    root = debroot.Root("testsuite", "http://m.example/debian", name="r")
    root.tarball().write_text("newest")
    assert root.ensure_cached() == root.tarball()
    assert all(p.exists() for p in others)
    left = sorted(p.name for p in mine + [root.tarball()] if p.exists())
    assert len(left) == debroot.KEEP and root.tarball().name in left
