"""Install the patched nova and our driver with apt from dist/<series>, and
remove them again: for tests/packaging and the end-to-end tests.

    from tests.packaging import aptinstall
    with aptinstall.installed("bookworm") as inst:    # builds dist/ if need be
        inst.versions["python3-nova"]                 # what dpkg now has

``install()`` puts the repository's key, sources line and pin in place (as
``/etc/apt/keyrings/nova-lxc-contrail-test.gpg``,
``/etc/apt/sources.list.d/nova-lxc-contrail-test.list`` (signed-by that key)
and ``/etc/apt/preferences.d/nova-lxc-contrail-test.pref``), updates apt's lists
for that source only, and runs ``apt-get install`` of the packages, noting
exactly which packages apt newly installed. ``uninstall()`` purges those
(less the ones build/apt/*.txt wants on this machine anyway), removes the
three files and the repository's lists, and returns what our purged packages
left behind (files of their ``dpkg -L`` that still exist). apt waits for
dpkg's lock when other work holds it.

No postinst may start a daemon here: when the machine has no
/usr/sbin/policy-rc.d, one that denies every start (exit 101, as Debian's
chroots do) is installed for the duration; an existing one must deny.
Needs root.
"""

import os
import re
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from build import deps, repo

SOURCES = Path("/etc/apt/sources.list.d/nova-lxc-contrail-test.list")
PREFS = Path("/etc/apt/preferences.d/nova-lxc-contrail-test.pref")
KEYRING = Path("/etc/apt/keyrings/nova-lxc-contrail-test.gpg")
POLICY_RC = Path("/usr/sbin/policy-rc.d")
LISTS = Path("/var/lib/apt/lists")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
       "DEBIAN_FRONTEND": "noninteractive", "HOME": os.environ.get("HOME", "/root")}
# other work on the machine may hold dpkg's lock for a while: wait for it
WAIT_LOCK = ["-o", "DPkg::Lock::Timeout=900"]
PACKAGES = {"bookworm": ["nova-compute-lxc", "python3-nova-lxc-contrail"],
            "icehouse": ["nova-compute-lxc", "python-nova-lxc-contrail"]}


class AptError(Exception):
    pass


@dataclass
class Installation:
    dist: Path
    packages: list                      # what was asked for
    new: list = field(default_factory=list)        # what apt newly installed
    ours: list = field(default_factory=list)       # installed packages from dist/
    versions: dict = field(default_factory=dict)   # package -> installed version
    files: dict = field(default_factory=dict)      # our package -> dpkg -L
    output: str = ""
    policy_rc_added: bool = False
    removed: bool = False


def run(cmd, check=True):
    res = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if check and res.returncode != 0:
        tail = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        raise AptError("%s failed (exit %d): %s"
                       % (" ".join(cmd[:3]), res.returncode, " | ".join(tail[-3:])))
    return res


def dist_packages(dist):
    """{package: version} the repository in DIST offers."""
    out, name = {}, None
    for line in (Path(dist) / "Packages").read_text().splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1]
        elif line.startswith("Version: "):
            out[name] = line.split(": ", 1)[1]
    return out


def installed_versions(names):
    res = run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n",
               *names], check=False)
    return {p: v for p, v, s in (ln.split("\t") for ln in res.stdout.splitlines())
            if s.startswith("ii")}


def present():
    """Every package dpkg has any trace of (installed, unpacked, half-done,
    configuration files left)."""
    res = run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\n"])
    return {p for p, s in (ln.split("\t") for ln in res.stdout.splitlines())
            if len(s) > 1 and s[1] != "n"}


def _new_packages(apt_output):
    """The block "The following NEW packages will be installed:" of apt."""
    names, inside = [], False
    for line in apt_output.splitlines():
        if line.startswith("The following NEW packages will be installed"):
            inside = True
        elif inside and line.startswith("  "):
            names += [n.rstrip("*") for n in line.split()]
        elif inside:
            break
    return names


def _policy_rc():
    """Make sure maintainer scripts cannot start daemons; True if we added one."""
    if POLICY_RC.exists():
        rc = subprocess.run([str(POLICY_RC), "nova-compute", "start"]).returncode
        if rc != 101:
            raise AptError("%s allows daemon starts (exit %d): refusing to install nova"
                           % (POLICY_RC, rc))
        return False
    POLICY_RC.write_text("#!/bin/sh\n# nova-lxc-contrail tests: no daemon starts\nexit 101\n")
    POLICY_RC.chmod(0o755)
    return True


def _list_files(dist):
    """apt's list files of the file: repository DIST."""
    mangled = str(Path(dist).resolve()).strip("/").replace("/", "_")
    return list(LISTS.glob("*%s*" % mangled))


def update_lists(sources_file):
    """apt-get update for one sources file, leaving the other lists alone."""
    run(["apt-get", *WAIT_LOCK, "update", "-q",
         "-o", "Dir::Etc::SourceList=%s" % sources_file,
         "-o", "Dir::Etc::SourceParts=-", "-o", "APT::Get::List-Cleanup=0"])


def install(series="bookworm", packages=None, dist=None):
    """Add the repository of SERIES and install PACKAGES from it."""
    if os.geteuid() != 0:
        raise AptError("installing packages needs root")
    if dist is None:
        from build import debs
        dist, _debs = debs.build(series)
    inst = Installation(Path(dist), list(packages or PACKAGES[series]))
    inst.policy_rc_added = _policy_rc()
    before = present()
    try:
        KEYRING.parent.mkdir(parents=True, exist_ok=True)
        KEYRING.write_bytes((Path(dist) / repo.KEY_NAME).read_bytes())
        SOURCES.write_text(repo.sources_line(dist, keyring=KEYRING))
        PREFS.write_text((Path(dist) / repo.PREF_NAME).read_text())
        update_lists(SOURCES)
        res = run(["apt-get", *WAIT_LOCK, "install", "-y", "-q", "--no-install-recommends",
                   "-o", "Dpkg::Options::=--force-confdef",
                   "-o", "Dpkg::Options::=--force-confold", *inst.packages])
        inst.output = res.stdout
        inst.new = _new_packages(res.stdout)
        offered = dist_packages(dist)
        inst.versions = installed_versions(sorted(set(inst.new) | set(inst.packages)
                                                  | set(offered)))
        # ours: every package of the repository now installed at its version
        # (also one a interrupted earlier run left behind: it goes too)
        inst.ours = sorted(p for p in offered if inst.versions.get(p) == offered[p])
        for name in inst.ours:
            inst.files[name] = run(["dpkg", "-L", name]).stdout.splitlines()
    except BaseException:
        # apt may have unpacked part of the set before failing: take away
        # whatever is new since we started
        inst.new = inst.new or sorted(present() - before)
        uninstall(inst)
        raise
    return inst


def uninstall(inst):
    """Purge what INST installed; return leftover files of our packages."""
    if inst.removed:
        return []
    try:
        # what the project's own areas want installed (build/apt/*.txt, e.g.
        # libvirt for the functional tests) stays; the rest goes
        wanted = set(deps.wanted())
        purge = sorted(set(inst.ours) | {p for p in inst.new if p not in wanted})
        if purge:
            run(["apt-get", *WAIT_LOCK, "purge", "-y", "-q", *purge])
    finally:
        for path in [SOURCES, PREFS, KEYRING] + _list_files(inst.dist):
            if path.exists():
                path.unlink()
        if inst.policy_rc_added and POLICY_RC.exists():
            POLICY_RC.unlink()
        inst.removed = True
    return leftovers(inst.files)


def leftovers(files):
    """Paths of FILES ({package: dpkg -L}) that exist although no installed
    package owns them any more (a directory counts, empty or not)."""
    paths = sorted({p for listed in files.values() for p in listed
                    if p.startswith("/") and p != "/."})
    res = run(["dpkg", "-S", *paths], check=False) if paths else None
    owned = {ln.split(": ", 1)[1] for ln in (res.stdout.splitlines() if res else [])
             if ": " in ln and not ln.startswith("diversion")}
    left = []
    for name, listed in sorted(files.items()):
        for path in listed:
            if path in owned or path not in paths:
                continue
            p = Path(path)
            if p.is_dir() and not p.is_symlink():
                entries = len(list(p.iterdir()))
                left.append("%s: directory %s (%d entries)" % (name, path, entries))
            elif p.exists() or p.is_symlink():
                left.append("%s: %s" % (name, path))
    return left


@contextmanager
def installed(series="bookworm", packages=None, dist=None):
    inst = install(series, packages, dist)
    try:
        yield inst
    finally:
        uninstall(inst)


def policy(package):
    """apt-cache policy PACKAGE: (candidate, [(priority, version, source)])."""
    out = run(["apt-cache", "policy", package]).stdout
    candidate = re.search(r"Candidate: (\S+)", out).group(1)
    table, version = [], None
    for line in out.splitlines():
        m = re.match(r"^ (?:\*\*\*| {3}) (\S+) (-?\d+)$", line)
        if m:
            version = m.group(1)
            continue
        m = re.match(r"^\s+(-?\d+) (.+)$", line)
        if m and version:
            table.append((int(m.group(1)), version, m.group(2).strip()))
    return candidate, table
