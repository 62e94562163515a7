"""The cache: where downloads, environments and builds are kept between runs,
their keys (sha256 digests of their inputs), locks and pruning.

The download cache defaults to ``$XDG_CACHE_HOME/nova-lxc-contrail`` (or
``~/.cache/nova-lxc-contrail``) and can be moved with ``NLC_CACHE``; work
trees (unpacked sources, build trees) live in ``NLC_WORK`` (default
``.work/`` in the checkout).
"""

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from build.log import BuildError, progress

TOP = Path(__file__).resolve().parent.parent


def _writable_dir(path, what):
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BuildError("%s %s is not writable: %s" % (what, path, exc.strerror))
    return path


def cache_dir(sub=None):
    base = os.environ.get("NLC_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "nova-lxc-contrail")
    path = _writable_dir(base, "cache directory")
    return _writable_dir(path / sub, "cache directory") if sub else path


def work_dir(sub=None):
    path = _writable_dir(os.environ.get("NLC_WORK") or TOP / ".work",
                         "work directory")
    return _writable_dir(path / sub, "work directory") if sub else path


# -- digests and keys -----------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digests(root, names):
    """{name: sha256} of the files NAMES below ROOT."""
    return {str(n): sha256_file(Path(root) / n) for n in sorted(names)}


def patch_digests(patches):
    """[(name, sha256)] of a series' patches (pins.Patch), in order."""
    return [(p.name, sha256_file(p.path)) for p in patches]


def key(*parts):
    """A short digest of PARTS (anything JSON can show): a cache entry's name."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# -- locks, staging, pruning ------------------------------------------------------

@contextmanager
def locked(path, step, what):
    """Hold an exclusive lock on PATH; say so when another process has it."""
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(step, "waiting for another process %s" % what)
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


@contextmanager
def staging(dest):
    """Yield a temporary directory beside DEST that becomes DEST on success.

    On any failure the half-made tree is removed: nothing half-unpacked is
    left behind, and an older DEST stays untouched until the new one is whole.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".%s." % dest.name))
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def fresh_dir(path):
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def keep_newest(paths, keep, remove, mtime=lambda p: p.stat().st_mtime, first=None):
    """Remove (with REMOVE) all but the KEEP newest of PATHS by MTIME; FIRST,
    if given, counts as the newest whatever its time."""
    ranked = sorted(paths, key=lambda p: (p != first, -mtime(p)))
    for old in ranked[keep:]:
        remove(old)


# -- cached package builds ---------------------------------------------------------

KEEP_DEBS = 2                   # cached builds kept per kind
# The recipe is part of every cache key: the code that builds the packages
DEBS_RECIPE = ("build/debs.py", "build/debpkg.py", "build/quilt.py", "build/overlay.py",
               "build/series/__init__.py", "build/series/*.py")


def recipe_digests():
    names = sorted({str(p.relative_to(TOP)) for pattern in DEBS_RECIPE
                    for p in TOP.glob(pattern)})
    return tree_digests(TOP, names)


def cached_debs(kind, inputs, builder, force=False):
    """The .debs of KIND built from INPUTS, built by BUILDER(out) if absent.

    Kept under .work/debs/cache/<kind>-<key>, the key hashing the inputs and
    the build code; the KEEP_DEBS newest builds of each kind are kept."""
    store = work_dir("debs/cache") / ("%s-%s" % (kind, key(recipe_digests(), inputs)))
    if (store / "DONE").exists() and not force:
        progress(kind, "inputs unchanged: reusing %s" % store.name)
        return sorted(store.glob("*.deb"))
    t0 = time.monotonic()
    with staging(store) as tmp:
        builder(tmp)
        (tmp / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True,
                                                    default=str) + "\n")
        (tmp / "DONE").write_text(store.name.rsplit("-", 1)[1] + "\n")
    progress(kind, "built in %.0f s: %s" % (time.monotonic() - t0, " ".join(
        p.name.split("_")[0] for p in sorted(store.glob("*.deb")))))
    keep_newest([p for p in store.parent.glob(kind + "-*") if (p / "DONE").exists()],
                KEEP_DEBS, lambda p: shutil.rmtree(p, ignore_errors=True), first=store)
    return sorted(store.glob("*.deb"))
