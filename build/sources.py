"""Obtaining and verifying source trees: download cache, digests, unpacking.

Nothing is fetched twice: every download lands in the cache under its own
name and is verified by sha256 each time it is used. A file whose digest
differs is refused (and moved aside as ``*.rejected``) with one line naming
the expected and the actual digest.
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from build import debsrc, pins
from build.cache import TOP, cache_dir, sha256_file
from build.log import BuildError, progress

PYPI_JSON = os.environ.get("NLC_PYPI_JSON", "https://pypi.org/pypi/%s/json")


def verify(path, expected):
    actual = sha256_file(path)
    if actual != expected:
        rejected = Path(str(path) + ".rejected")
        os.replace(path, rejected)
        raise BuildError("%s: sha256 mismatch: expected %s, got %s (moved to %s)"
                         % (Path(path).name, expected, actual, rejected.name))
    return path


def download(url, name, sha256, timeout=60):
    """Return the cached file NAME, downloading URL first if needed."""
    dest = cache_dir("downloads") / name
    if not dest.exists():
        progress("fetch", "%s <- %s" % (name, url))
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
            os.replace(tmp, dest)
        except (urllib.error.URLError, OSError) as exc:
            raise BuildError("cannot download %s: %s"
                             % (url, getattr(exc, "reason", exc)))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return verify(dest, sha256)


def pypi_project(project):
    """PyPI's JSON description of PROJECT (cached for the process)."""
    if project not in _PYPI:
        url = PYPI_JSON % project
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                _PYPI[project] = (url, json.load(resp))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BuildError("cannot read PyPI's index of %s (%s): %s"
                             % (project, url, getattr(exc, "reason", exc)))
    return _PYPI[project]


_PYPI = {}


def pypi_sdist(project, version, sha256=None):
    """Download the sdist of PROJECT==VERSION; verify by SHA256 (the pin) or
    else by the digest PyPI publishes for it. A pinned file already in the
    cache is used without asking PyPI (builds run offline once cached)."""
    if sha256:
        cached = cache_dir("downloads") / ("%s-%s.tar.gz" % (project, version))
        if cached.exists():
            return verify(cached, sha256)
    base, data = pypi_project(project)
    files = [f for f in data["releases"].get(version, [])
             if f["packagetype"] == "sdist"]
    if not files:
        raise BuildError("PyPI has no sdist of %s %s" % (project, version))
    f = files[0]
    if sha256 and f["digests"]["sha256"] != sha256:
        raise BuildError("PyPI publishes %s with sha256 %s, but the pin is %s"
                         % (f["filename"], f["digests"]["sha256"], sha256))
    return download(urllib.parse.urljoin(base, f["url"]), f["filename"],
                    sha256 or f["digests"]["sha256"])


def version_key(version):
    return tuple(int(p) for p in version.split("."))


def pypi_releases(project, from_version):
    """Final releases of PROJECT at or above FROM_VERSION, oldest first."""
    _base, data = pypi_project(project)
    out = []
    for version, files in data["releases"].items():
        if not all(p.isdigit() for p in version.split(".")):
            continue          # pre-releases (rc, b) and odd tags
        if any(f["packagetype"] == "sdist" and not f.get("yanked")
               for f in files) and version_key(version) >= version_key(from_version):
            out.append(version)
    return sorted(out, key=version_key)


# -- unpacking --------------------------------------------------------------

def untar(tarball, into, strip=1, members=None):
    """Extract TARBALL into INTO with GNU tar, dropping STRIP leading dirs.

    MEMBERS, if given, are -p1 paths to extract; those the tarball lacks are
    simply not there afterwards (one pass over the tarball)."""
    cmd = ["tar", "-xf", str(tarball), "-C", str(into),
           "--strip-components=%d" % strip, "--no-same-owner"]
    if members is not None:
        if not members:
            return
        cmd += ["--wildcards", "--no-wildcards-match-slash"] + [
            "*/" + glob_escape(m) for m in members]
    res = subprocess.run(cmd, capture_output=True, text=True)
    errors = [ln for ln in res.stderr.splitlines()
              if not (members and "Not found in archive" in ln)
              and "Exiting with failure status" not in ln]
    if res.returncode != 0 and (errors or members is None):
        raise BuildError("%s: cannot unpack: %s"
                         % (Path(tarball).name, errors[-1] if errors else "tar failed"))


def glob_escape(path):
    return "".join("[%s]" % c if c in "*?[]" else c for c in path)


def member_names(tarball):
    try:
        with tarfile.open(tarball) as tf:
            return tf.getnames()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BuildError("%s: not a readable tarball (%s)" % (Path(tarball).name, exc))


def top_dir(tarball):
    names = member_names(tarball)
    tops = {n.split("/", 1)[0] for n in names if n not in ("", ".")}
    if len(tops) != 1:
        raise BuildError("%s: expected one top-level directory, found %d"
                         % (Path(tarball).name, len(tops)))
    return tops.pop()


def is_git_repo(path):
    path = Path(path)
    return (path / ".git").exists() or (
        (path / "HEAD").is_file() and (path / "refs").is_dir())


def git_archive(repo, ref, into, paths=()):
    """Extract REF of the nova git repository REPO into INTO (only PATHS, of
    those that exist at REF, when PATHS are given)."""
    if paths:
        res = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only",
                              ref, "--", *paths], capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError("git ls-tree %s of %s failed: %s"
                             % (ref, repo, (res.stderr.strip().splitlines() or ["?"])[-1]))
        paths = res.stdout.split()
        if not paths:
            return
    arch = subprocess.Popen(["git", "-C", str(repo), "archive", ref, "--", *paths],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=arch.stdout,
                         capture_output=True)
    arch.stdout.close()
    err = arch.stderr.read().decode(errors="replace").strip()
    if arch.wait() != 0 or tar.returncode != 0:
        raise BuildError("git archive %s of %s failed: %s"
                         % (ref, repo, err.splitlines()[-1] if err else "tar failed"))


def copy_tree(src, into):
    shutil.copytree(src, into, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".git", ".pc", ".tox", "*.pyc"))


# -- Debian sources: the orig (an sdist) plus Debian's debian/ -----------------

@dataclass
class DebianSource:
    """What Debian's debian/ of a Debian series' tree is made of."""
    version: str            # the Debian version it stands for (the pin's)
    tarball: Path           # a Debian debian.tar.*
    tarball_version: str    # ...of this version
    patches: list           # reconstructed patches, appended to Debian's series
    changelog: Path = None  # Debian's changelog entries they stand for

    @property
    def reconstructed(self):
        return self.tarball_version != self.version

    def describe(self):
        if not self.reconstructed:
            return "Debian's source %s" % self.version
        return ("Debian %s, reconstructed: source %s + %s (the archive serves no %s "
                "source)" % (self.version, self.tarball_version,
                             ", ".join(str(p.relative_to(TOP)) for p in self.patches),
                             self.version))

    def inputs(self):
        """What the build's cache key must see of it."""
        return {"version": self.version, "tarball": self.tarball.name,
                "tarball_version": self.tarball_version,
                "files": {str(p.relative_to(TOP)): sha256_file(p)
                          for p in self.patches + ([self.changelog] if self.changelog
                                                   else [])}}


def reconstructed_patches(pin):
    """The reconstructed patches of a Debian series' PIN, in their series order."""
    rc = pin["reconstructed"]
    pdir = TOP / rc["dir"]
    names = [ln.split("#", 1)[0].strip() for ln in (pdir / "series").read_text().splitlines()]
    return [pdir / n for n in names if n]


_DEBIAN_SOURCE = {}


def debian_source(series, listed=None):
    """Debian's source of the pinned version of SERIES: the real one when the
    archive serves it (verified by apt's signed Sources index), else the
    newest obtainable one plus the reconstructed difference. Decided once
    per process; offline, the reconstruction is used. LISTED(package,
    version): the source files the archive lists, [(url, name, sha256)]
    (default: debsrc.source_uris; a test gives its own archive's)."""
    if listed is None and series in _DEBIAN_SOURCE:
        return _DEBIAN_SOURCE[series]
    pin = pins.series_pins(series)
    deb, rc = pin["debian"], pin.get("reconstructed")
    want = pin["debian_version"]
    found = None
    if deb["version"] != want:
        if not rc or rc["version"] != want or rc["from_version"] != deb["version"]:
            raise BuildError("build/pins.toml: %s's debian_version %s is neither "
                             "the Debian source's version nor reconstructed from it"
                             % (series, want))
        try:
            tars = [(u, n, h) for u, n, h in (listed or debsrc.source_uris)("nova", want)
                    if ".debian.tar." in n]
            if tars:
                found = DebianSource(want, download(*tars[0]), want, [])
        except BuildError as exc:
            progress(series, "Debian's %s source is not obtainable (%s)" % (want, exc))
    if found is None:
        found = DebianSource(
            want, download(deb["url"], deb["name"], deb["sha256"]), deb["version"],
            reconstructed_patches(pin) if deb["version"] != want else [],
            TOP / rc["dir"] / rc["changelog"] if deb["version"] != want else None)
    progress(series, "base: %s" % found.describe())
    if listed is None:
        _DEBIAN_SOURCE[series] = found
    return found


def unpack_debian(series, into, src=None):
    """Debian's debian/ of the pinned version of SERIES (SRC, default
    debian_source(SERIES)) into INTO: the reconstructed patches go after
    Debian's own entries of debian/patches/series, as Debian's next upload
    would have them, and Debian's changelog entries on top of its changelog."""
    src = src or debian_source(series)
    untar(src.tarball, into, strip=0)
    debian = Path(into) / "debian"
    if not (debian / "patches" / "series").is_file():
        raise BuildError("%s has no debian/patches/series" % src.tarball.name)
    if src.reconstructed:
        top = (debian / "changelog").read_text().split("\n", 1)[0]
        if "(%s)" % src.tarball_version not in top:
            raise BuildError("%s: debian/changelog starts %r, not %s"
                             % (src.tarball.name, top, src.tarball_version))
        entries = src.changelog.read_text()
        if "(%s)" % src.version not in entries.split("\n", 1)[0]:
            raise BuildError("%s does not start with Debian's %s entry"
                             % (src.changelog, src.version))
        with open(debian / "patches" / "series", "a") as f:
            f.write("# Debian %s, reconstructed from its binary packages\n" % src.version)
            for patch in src.patches:
                shutil.copy2(patch, debian / "patches" / patch.name)
                f.write(patch.name + "\n")
        (debian / "changelog").write_text(entries.rstrip("\n") + "\n\n"
                                          + (debian / "changelog").read_text())
    return src


def pinned_sdist(series):
    """The orig of a Debian series: its pinned sdist, verified."""
    sd = pins.series_pins(series)["sdist"]
    return pypi_sdist(sd["pypi_project"], sd["pypi_version"], sd["sha256"])


def unpack_debian_source(series, into):
    """Debian's nova source of SERIES: the sdist plus Debian's debian/."""
    sdist = pinned_sdist(series)
    progress(series, "unpacking %s" % sdist.name)
    untar(sdist, into)
    unpack_debian(series, into)
    return into
