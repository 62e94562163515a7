"""Debian packages the build and the tests need, installed from the registry.

Each area lists its packages in build/apt/<area>.txt (one per line, # for
comments). Nothing is installed that is already there; without root, the
missing packages are named instead.
"""

import os
import subprocess
from pathlib import Path

from build.cache import TOP
from build.log import BuildError, progress
from build.run import run

APT_LISTS = TOP / "build" / "apt"
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C",
               PATH="/usr/sbin:/usr/bin:/sbin:/bin")
_updated = []


def wanted(areas=None):
    pkgs = []
    for path in sorted(APT_LISTS.glob("*.txt")):
        if areas and path.stem not in areas:
            continue
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and line not in pkgs:
                pkgs.append(line)
    return pkgs


def missing(pkgs):
    if not pkgs:
        return []
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n",
                          *pkgs], capture_output=True, text=True)
    installed = {ln.split()[0] for ln in res.stdout.splitlines()
                 if len(ln.split()) > 1 and ln.split()[1].startswith("ii")}
    return [p for p in pkgs if p not in installed]


def _apt_get(*args):
    if os.geteuid() != 0:
        raise BuildError("apt-get %s needs root: run `make deps` as root" % args[0])
    if not _updated:
        progress("deps", "apt-get update")
        run(["apt-get", "update", "-q"], "apt-get update", check=False, env=APT_ENV)
        _updated.append(True)
    return run(["apt-get", "-y", "-q", "--no-install-recommends",
                "-o", "DPkg::Lock::Timeout=600", *args], "apt-get %s" % args[0],
               env=APT_ENV)


def ensure(areas=None, extra=()):
    """Install whatever of the listed packages is missing."""
    need = missing(wanted(areas) + list(extra))
    if not need:
        return []
    if os.geteuid() != 0:
        raise BuildError("missing Debian packages: %s (run `make deps` as root)"
                         % " ".join(need))
    progress("deps", "installing %d Debian packages: %s%s"
             % (len(need), " ".join(need[:8]), " ..." if len(need) > 8 else ""))
    _apt_get("install", *need)
    return need


def ensure_build_deps(tree):
    """Install the Build-Depends(-Indep) of the source tree TREE."""
    res = subprocess.run(["dpkg-checkbuilddeps"], cwd=tree, capture_output=True,
                         text=True, env=APT_ENV)
    if res.returncode == 0:
        return False
    progress("deps", "installing the build dependencies of %s" % Path(tree).name)
    _apt_get("build-dep", str(Path(tree).resolve()))
    return True
