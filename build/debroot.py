"""A Debian root of another suite, made by mmdebstrap, and commands run in it.

A series whose packages are built and tested for another Debian release
than the host's (the host's tools would build for the host's Python) does
that inside a root of its suite. This module knows nothing of any series:
a root is defined by its suite, the mirror, the packages it holds and,
optionally, the build dependencies of one debian/control.

- The root is made once by ``mmdebstrap --variant=buildd`` (plus
  ``apt-get build-dep`` of the control file inside it) and kept as a tarball
  in the project cache, named by the sha256 of its inputs and of RECIPE (the
  way this module makes it): a change of any input makes a new root, an
  unchanged one is reused.
- Work copies are unpacked from it into NLC_WORK (.work/roots/); a copy is
  reused while its stamp names the same key, or unpacked afresh on request.
- ``run`` executes a command in a copy: a throwaway private mount namespace
  (``unshare --mount --propagation private``) in which /proc, /dev, /sys and
  a fresh /run are mounted into the root and the root is bind-mounted onto
  itself (libvirt's LXC driver refuses a root that is not a mount point:
  "Failed disable mount propagation out of the root filesystem"), then
  chroot. The mounts live only in that namespace and vanish with it; none
  reaches the host.
"""

import glob
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from build import cache, run
from build.cache import TOP, cache_dir, work_dir
from build.log import BuildError, progress

# Bump when the way a root is made changes (the hooks, the tar options,
# anything below that ends up in the tarball): it is part of the cache key.
RECIPE = 1

KEEP = 2                # roots of one suite kept in the cache (newest first)
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Inside the namespace: root onto itself, the kernel file systems, a
# private /run, the host's resolver (read-only) so apt in the root can
# reach the mirror; then chroot with a clean environment.
_ENTER = r"""
set -e
R="$1"; shift
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount --rbind /sys "$R/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
if [ -f /etc/resolv.conf ] && [ -f "$R/etc/resolv.conf" ]; then
    mount --bind -o ro "$(readlink -f /etc/resolv.conf)" "$R/etc/resolv.conf"
fi
while [ "$1" != "--" ]; do
    mkdir -p "$R$2"; mount --rbind "$1" "$R$2"; shift 2
done
shift
exec chroot "$R" "$@"
"""


def host_mirror(sources_dir="/etc/apt"):
    """The Debian archive the host's apt already uses (one-line or deb822
    sources); deb.debian.org when none is found."""
    files = sorted(glob.glob(os.path.join(sources_dir, "sources.list"))) + \
        sorted(glob.glob(os.path.join(sources_dir, "sources.list.d", "*")))
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        for uri in re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M) + \
                re.findall(r"^\s*URIs:\s*(.+)$", text, re.M):
            for one in uri.split():
                if one.rstrip("/").endswith("/debian"):
                    return one.rstrip("/")
    return DEFAULT_MIRROR


def sources(suite, mirror):
    """apt lines of a Debian release: the suite, its -updates and, from the
    security archive beside the mirror, its -security."""
    security = re.sub(r"/debian$", "/debian-security", mirror)
    return ["deb %s %s main" % (mirror, suite),
            "deb %s %s-updates main" % (mirror, suite),
            "deb %s %s-security main" % (security, suite)]


def _build_depends(control):
    """The build dependency fields of a debian/control (what build-dep reads)."""
    src = Path(control).read_text().split("\n\n", 1)[0]
    fields = re.findall(r"^(Build-(?:Depends|Conflicts)(?:-Indep|-Arch)?):(.*(?:\n[ \t].*)*)",
                        src, re.M)
    return "\n".join("%s:%s" % (k, " ".join(v.split())) for k, v in sorted(fields))


class Root(object):
    """One root: its inputs, its cached tarball and its work copy."""

    def __init__(self, suite, mirror=None, packages=(), build_deps_of=(),
                 name=None):
        """BUILD_DEPS_OF: debian/control files whose build dependencies the
        root holds (read now: the key is that of the files as given)."""
        self.suite = suite
        self.mirror = (mirror or host_mirror()).rstrip("/")
        self.packages = sorted(set(packages))
        if isinstance(build_deps_of, (str, Path)):
            build_deps_of = [build_deps_of]
        self.build_depends = [_build_depends(c) for c in build_deps_of]
        self.name = name or suite

    # -- identity ---------------------------------------------------------
    def inputs(self):
        return {"recipe": RECIPE, "suite": self.suite,
                "sources": sources(self.suite, self.mirror),
                "packages": self.packages,
                "build_depends": self.build_depends}

    def key(self):
        return cache.key(self.inputs())

    def tarball(self):
        return cache_dir("roots") / ("%s-%s.tar" % (self.name, self.key()))

    def path(self, copy=None):
        """The work copy (COPY: another one, e.g. for a test that installs
        packages and must not change the copy the builds use)."""
        return work_dir("roots") / (copy or self.name)

    def _stamp(self, copy=None):
        """Names the key the work copy was unpacked from."""
        return work_dir("roots") / ((copy or self.name) + ".key")

    # -- making -----------------------------------------------------------
    def ensure_cached(self):
        """The cached tarball, made first when missing (locked: two builds
        asking for the same root make it once)."""
        tar = self.tarball()
        with cache.locked(str(tar) + ".lock", "root", "making this root"):
            if not tar.exists():
                self._make(tar)
        # this root's older tarballs only (not those of a root named "<name>-x")
        mine = re.compile(r"%s-[0-9a-f]{16}\.tar$" % re.escape(self.name))
        cache.keep_newest([p for p in cache_dir("roots").iterdir() if mine.match(p.name)],
                          KEEP, lambda old: old.unlink(), first=tar)
        return tar

    def _make(self, tar):
        t0 = time.monotonic()
        tmp = work_dir("roots") / (".make-%s-%s" % (self.name, self.key()))
        _remove(tmp)
        progress("root", "making a %s root with mmdebstrap from %s (a few minutes)"
                 % (self.suite, self.mirror))
        cmd = ["mmdebstrap", "--variant=buildd", "--mode=root",
               "--aptopt=Acquire::Retries \"3\"", "--skip=cleanup/apt/lists"]
        if self.packages:
            cmd.append("--include=" + ",".join(self.packages))
        cmd += [self.suite, str(tmp)] + sources(self.suite, self.mirror)
        try:
            _stream(cmd, "root")
            for i, fields in enumerate(self.build_depends):
                progress("root", "installing build dependencies (%d of %d) in it "
                         "(a few minutes)" % (i + 1, len(self.build_depends)))
                dest = tmp / "tmp" / "nlc-build-deps" / "debian"
                dest.mkdir(parents=True)
                # only the fields the key was made of (the file may have changed)
                (dest / "control").write_text(
                    "Source: nlc-build-deps\n%s\n\nPackage: nlc-build-deps\n"
                    "Architecture: all\n" % fields)
                _stream(enter_cmd(tmp, ["apt-get", "build-dep", "-y", "-q",
                                        "--no-install-recommends",
                                        "/tmp/nlc-build-deps"]), "root")
                shutil.rmtree(str(tmp / "tmp" / "nlc-build-deps"))
            enter_run(tmp, ["apt-get", "clean"])
            progress("root", "packing it into the cache (%s)" % tar.name)
            part = Path(str(tar) + ".part")
            subprocess.run(["tar", "--numeric-owner", "--xattrs", "--acls",
                            "-C", str(tmp), "-cf", str(part), "."], check=True)
            os.rename(str(part), str(tar))
            # the tree just packed is the first work copy (no unpack)
            dest = self.path()
            _remove(self._stamp())
            _remove(dest)
            os.rename(str(tmp), str(dest))
            self._stamp().write_text(self.key() + "\n")
        finally:
            _remove(tmp)
        progress("root", "%s root ready in %.0f s" % (self.suite, time.monotonic() - t0))

    def discard(self, copy):
        """Remove the work copy COPY (the cached tarball stays)."""
        _remove(self._stamp(copy))
        _remove(self.path(copy))

    # -- using ------------------------------------------------------------
    def ensure(self, fresh=False, copy=None):
        """A work copy of the root in NLC_WORK/roots/<name> (or <COPY>):
        reused while it is a copy of the same key (unless FRESH), else
        unpacked anew."""
        tar = self.ensure_cached()
        dest = self.path(copy)
        stamp = self._stamp(copy)
        if not fresh and dest.is_dir() and stamp.exists() and \
                stamp.read_text().strip() == self.key():
            return dest
        progress("root", "unpacking a work copy of the %s root into %s" % (self.suite, dest))
        if stamp.exists():
            stamp.unlink()
        _remove(dest)
        dest.mkdir(parents=True)
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "--acls",
                        "-C", str(dest), "-xf", str(tar)], check=True)
        stamp.write_text(self.key() + "\n")
        return dest



class Runner(object):
    """Commands run in a work copy of ROOT (a Root), with build/run.py's
    Host interface: a series whose packages are built and tested in a root
    returns one of these from its recipe's runner().

    The checkout and NLC_WORK are bind-mounted at their own paths, so a
    host path under them means the same file inside (path() is the
    identity); the commands' environment is a clean one plus what the caller
    added to its own (DEB_BUILD_OPTIONS, PYTHONDONTWRITEBYTECODE...)."""

    def __init__(self, root, copy=None, fresh=False):
        self.root = root
        self.copy = copy
        self.fresh = fresh          # unpack the copy anew on first use
        self.where = "a %s root" % root.suite
        self._ready = False
        self._lock = threading.Lock()     # the package sets build in threads

    def binds(self):
        dirs = [TOP]
        work = work_dir()
        if TOP not in work.parents and work != TOP:
            dirs.append(work)
        return [(d, d) for d in dirs]

    def ensure(self):
        with self._lock:
            if not self._ready:
                self.root.ensure(fresh=self.fresh, copy=self.copy)
                self._ready = True
        return self.root.path(self.copy)

    def path(self, path):
        return Path(path)

    def run(self, cmd, what, log=None, check=True, cwd=None, env=None, timeout=None,
            binds=()):
        """CMD in the root (BINDS: more (host path, path inside) pairs)."""
        argv = enter_cmd(self.ensure(), [str(c) for c in cmd],
                         binds=self.binds() + list(binds), cwd=cwd, env=_added(env))
        return run.run(argv, "%s (in %s)" % (what, self.where), log=log, check=check,
                       timeout=timeout, env={"PATH": PATH, "LC_ALL": "C"})

    def ensure_build_deps(self, tree):
        """The root was made with the build dependencies it was given; a
        tree that needs more gets them installed in the work copy (said so:
        the cached root does not have them)."""
        res = self.run(["dpkg-checkbuilddeps"], "dpkg-checkbuilddeps", check=False, cwd=tree)
        if res.returncode == 0:
            return
        progress("root", "%s: %s; installing them in the work copy"
                 % (tree, run.error_tail(res.stderr + res.stdout)))
        self.run(["apt-get", "build-dep", "-y", "-q", "--no-install-recommends", "./"],
                 "apt-get build-dep", cwd=tree)


def _added(env):
    """What ENV adds to or changes in this process's environment, less what
    names host paths (PATH, HOME: the root has its own)."""
    if not env:
        return {}
    return {k: str(v) for k, v in env.items()
            if os.environ.get(k) != v and k not in ("PATH", "HOME")}


def enter_cmd(root, argv, binds=(), cwd=None, env=None):
    """The host command that runs ARGV chrooted in ROOT in a private mount
    namespace. BINDS: (host path, path in the root) pairs bind-mounted in
    the namespace only. CWD is a path in the root."""
    environ = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "TZ": "UTC",
               "DEBIAN_FRONTEND": "noninteractive"}
    environ.update(env or {})
    inner = ["env", "-i"] + ["%s=%s" % kv for kv in sorted(environ.items())]
    if cwd:
        inner = ["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", str(cwd)] + inner
    pairs = []
    for host, inside in binds:
        pairs += [str(host), str(inside)]
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _ENTER, "nlc-root", str(root)] + pairs + ["--"] + inner + list(argv)


def enter_run(root, argv, binds=(), check=True, cwd=None, env=None):
    """Run ARGV in ROOT (enter_cmd); its CompletedProcess (text output)."""
    return run.run(enter_cmd(root, argv, binds=binds, cwd=cwd, env=env),
                   "%s (in root %s)" % (" ".join(argv[:2]), root), check=check,
                   env={"PATH": PATH, "LC_ALL": "C"})


def _stream(cmd, step):
    """Run CMD, relaying its "I:"/"E:" lines (mmdebstrap's and apt's
    progress) as progress lines; the tail of the output on failure."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={"PATH": PATH, "LC_ALL": "C"})
    tail = []
    set_up = 0
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-15:]
        if line.startswith(("I: ", "E: ", "W: ")):
            progress(step, line)
        elif line.startswith("Setting up "):
            set_up += 1
            if set_up % 100 == 0:
                progress(step, "%d packages set up" % set_up)
    if proc.wait() != 0:
        raise BuildError("%s failed (exit %d):%s" % (
            " ".join(cmd[:2]), proc.returncode, "".join("\n  " + ln for ln in tail)))


def _remove(path):
    """Remove a tree that may hold a root (never across a mount point)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if os.path.ismount(str(path)):
        raise BuildError("%s is a mount point; not removing it" % path)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)
