"""make debs: each series' packages, as a local apt repository in dist/<series>/.

``build(series)`` asks the series' recipe (build/series/) for its package
sets, builds each one (cached: build/cache.py's cached_debs, whose key hashes
exactly its inputs and the build code) and publishes them with their
repository index, signed (build/repo.py). ``SOURCE_DATE_EPOCH`` comes from
each changelog's top entry (dpkg-buildpackage does this itself; the dpkg-deb
assembly does it in build/debpkg.py), so the same inputs give the same
bytes: ``check_reproducible(series)`` (``build.cli debs
--check-reproducible``) builds everything a second time and compares.
"""

import filecmp
import hashlib
import io
import shutil
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from build import cache, deps, overlay, repo, series as series_recipes
from build.cache import work_dir


def lock():
    return cache.locked(work_dir("debs") / ".lock", "debs", "running `make debs`")


def _build_sets(recipe, force):
    sets = recipe.package_sets()
    with ThreadPoolExecutor(getattr(recipe, "build_jobs", 1)) as pool:
        futures = [pool.submit(build, force) for build in sets]
        return [deb for f in futures for deb in f.result()]


def build(series, force=False):
    """Build SERIES into dist/SERIES; return (dist, the .debs published)."""
    recipe = series_recipes.get(series)
    deps.ensure(["base", "packaging"])
    with lock():
        debs = _build_sets(recipe, force)
        epochs = [overlay.overlay_entry()["epoch"]] + recipe.epochs()
        dist = repo.publish(series, debs, max(epochs))
    return dist, debs


def check_reproducible(series):
    """Build SERIES twice from the same inputs; the .debs must be identical.

    Returns (number identical, {deb name: differences}); the first build of
    a differing .deb is kept in .work/debs/repro-first/ for a closer look."""
    keep = cache.fresh_dir(work_dir("debs") / "repro-first")
    differ, same = {}, 0
    with lock():
        for builder in series_recipes.get(series).package_sets():
            first = {p.name: Path(shutil.copy2(p, keep / p.name)) for p in builder()}
            second = {p.name: p for p in builder(force=True)}
            for name in sorted(first):
                if name in second and filecmp.cmp(first[name], second[name],
                                                  shallow=False):
                    same += 1
                    first[name].unlink()
                else:
                    differ[name] = deb_differences(first[name], second.get(name))
    return same, differ


def _members(deb, part):
    """{name: (mode, owner, mtime, sha256)} of a .deb's control or data tar."""
    blob = subprocess.run(["dpkg-deb", "--%s-tarfile" % part, str(deb)],
                          capture_output=True, check=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        for m in tf.getmembers():
            data = tf.extractfile(m).read() if m.isfile() else m.linkname.encode()
            out[m.name] = (oct(m.mode), "%s:%s" % (m.uname, m.gname), m.mtime,
                           hashlib.sha256(data).hexdigest()[:12])
    return out


def deb_differences(a, b):
    """What differs between two builds of a .deb (a small diffoscope)."""
    if b is None:
        return ["missing in the second build"]
    out = []
    for part in ("ctrl", "fsys"):
        one, two = _members(a, part), _members(b, part)
        for name in sorted(set(one) | set(two)):
            if one.get(name) != two.get(name):
                what = ("only in one build" if name not in one or name not in two else
                        ", ".join(label for label, x, y in zip(
                            ("mode", "owner", "mtime", "content"), one[name], two[name])
                            if x != y))
                out.append("%s %s: %s" % (part, name, what))
    return out or ["the ar container (member headers)"]
