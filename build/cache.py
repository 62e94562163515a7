"""Where downloads and prepared environments are kept between runs.

The download cache defaults to ``$XDG_CACHE_HOME/nova-lxc-contrail`` (or
``~/.cache/nova-lxc-contrail``) and can be moved with ``NLC_CACHE``; work
trees (unpacked sources, build trees) live in ``NLC_WORK`` (default
``.work/`` in the checkout).
"""

import os
import tempfile
from pathlib import Path

from build.log import BuildError

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
