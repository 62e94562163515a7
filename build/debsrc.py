"""Debian's archive through apt, with a private configuration.

The system's apt configuration is never touched: a sources list, lists
directory and cache of our own live in the project cache (status file
/dev/null), so asking about trixie or bookworm-security changes nothing on
the machine. apt verifies the Release signatures and every file's checksum.
"""

import fcntl
import functools
import hashlib
import subprocess
import threading
import time
from pathlib import Path

from debian import deb822

from build import aptconf, pins
from build.cache import cache_dir
from build.log import BuildError, progress

MAX_AGE = 6 * 3600      # refresh the package lists after this many seconds


def _suite_uri(suite):
    mirror = pins.load()["debian_mirror"]
    return mirror["security"] if suite.endswith("-security") else mirror["archive"]


def private_apt():
    """Our private apt (build/aptconf.py), its sources list up to date with
    the pins: the suites of every Debian series."""
    src_suites, bin_suites = [], []
    for name in pins.series_names():        # the Debian series' suites
        pin = pins.series_pins(name)
        if "debian_suite" not in pin:
            continue
        for suite in [pin["debian_suite"], pin.get("reconstructed", {}).get("suite")] + \
                list(pin.get("rebase", {}).get("debian_suites", [])):
            if suite and suite not in src_suites:
                src_suites.append(suite)
        for suite in pin.get("rebase", {}).get("watch_suites", []):
            if suite not in bin_suites:
                bin_suites.append(suite)
    lines = ["deb-src %s %s main" % (_suite_uri(s), s) for s in src_suites]
    lines += ["deb %s %s main" % (_suite_uri(s), s) for s in bin_suites]
    text = "\n".join(lines) + "\n"
    # one directory per sources list: checkouts with other pins sharing the
    # cache do not replace each other's package lists mid-run
    root = cache_dir("apt") / hashlib.sha256(text.encode()).hexdigest()[:12]
    apt = aptconf.PrivateApt(root)
    if apt.sources(text):
        (root / "lists" / ".updated").unlink(missing_ok=True)
    return apt


def _apt(args, cwd=None, check=True):
    return private_apt().run(args, check=check, cwd=cwd)


_UPDATE = threading.Lock()


def update(force=False):
    """Refresh the lists when older than MAX_AGE (once: threads and other
    processes asking at the same time wait for the first one)."""
    root = Path(private_apt().root)
    stamp = root / "lists" / ".updated"
    with _UPDATE, open(root / "update.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and stamp.exists() and time.time() - stamp.stat().st_mtime < MAX_AGE:
            return
        progress("apt", "updating Debian package lists (private apt configuration)")
        _apt(["apt-get", "update", "-q"])
        stamp.touch()


def madison(package):
    """[(version, suite, kind)] the archive offers for PACKAGE (kind: Sources
    or Packages)."""
    update()
    res = _apt(["apt-cache", "madison", package], check=False)
    return parse_madison(package, res.stdout)


def parse_madison(package, text):
    """apt-cache madison's lines of PACKAGE: [(version, suite, kind)]."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[0] == package:
            where = parts[2].split()
            suite = where[1].split("/")[0] if len(where) > 1 else "?"
            out.append((parts[1], suite, where[-1] if where else "?"))
    return out


def compare(a, op, b):
    return subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0


def newest_first(versions):
    return sorted(versions, key=functools.cmp_to_key(
        lambda a, b: -1 if compare(a, "gt", b) else (1 if compare(a, "lt", b) else 0)))


def fetch_source(package, version, into):
    """Download PACKAGE=VERSION's source into INTO; return the .dsc path."""
    update()
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    progress("apt", "apt-get source --download-only %s=%s" % (package, version))
    _apt(["apt-get", "source", "--download-only", "-q", "%s=%s" % (package, version)],
         cwd=into)
    upstream = version.split(":", 1)[-1]
    dsc = into / ("%s_%s.dsc" % (package, upstream))
    if not dsc.is_file():
        raise BuildError("apt-get source left no %s" % dsc.name)
    return dsc


def source_uris(package, version):
    """[(url, name, sha256)] of PACKAGE=VERSION's source files as the signed
    Sources index lists them; [] when no suite lists that version."""
    update()
    res = _apt(["apt-get", "source", "--print-uris", "-q", "%s=%s" % (package, version)],
               check=False)
    out = []
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0].startswith("'") and parts[3].startswith("SHA256:"):
            out.append((parts[0].strip("'"), parts[1], parts[3][len("SHA256:"):]))
    return out


def download_binaries(packages, version, into):
    """Debian's binary PACKAGES=VERSION into INTO (apt verifies each against
    the signed index); return {package: path}. Already there: not fetched."""
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    out, missing = {}, []
    for name in packages:
        deb = into / ("%s_%s_all.deb" % (name, version.replace(":", "%3a")))
        out[name] = deb
        if not deb.is_file():
            missing.append(name)
    if missing:
        update()
        progress("apt", "apt-get download %s (=%s)" % (" ".join(missing), version))
        _apt(["apt-get", "download", "-q", *("%s=%s" % (n, version) for n in missing)],
             cwd=into)
    return out


def dsc_files(dsc):
    """The files a .dsc lists (apt-get source has verified them against it)."""
    with open(dsc, encoding="utf-8", errors="replace") as f:
        listed = deb822.Dsc(f).get("Files", [])
    return [Path(dsc).parent / entry["name"] for entry in listed]
