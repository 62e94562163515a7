"""The PATCHED nova of a series, for tests that run nova's code for real.

The series is applied once per process with the build's own machinery
(``build.quilt.apply``: verified pristine tree, Debian's patches, then ours,
``quilt push -a --fuzz=0``) into a temporary directory removed at exit, and
imported from there by Debian's python3.

privsep: these tests run as root, so nova's privsep entrypoints are run
in-process (``set_client_mode(False)``, what nova's own PrivsepFixture does)
instead of through a privsep-helper daemon started by rootwrap. The code run
is the same; only the process boundary is left out.

eventlet: nova's test modules import ``nova.monkey_patch``, which would
turn every thread of the pytest process green for the rest of the session
(the agent double's server thread then blocks the whole process in a real
poll). These tests run nova's disk and driver code synchronously, so
patching is switched off the way nova documents for non-service callers
(``OS_NOVA_DISABLE_EVENTLET_PATCHING``), before nova is first imported.
"""

import atexit
import os
import shutil
import sys
import tempfile

_TREES = {}


def patched_tree(series="bookworm"):
    """Path of nova with our SERIES applied (built on first use)."""
    if series not in _TREES:
        from build import quilt
        base = tempfile.mkdtemp(prefix="nlc-nova-%s-" % series)
        atexit.register(shutil.rmtree, base, True)
        tree, _report = quilt.apply(series,
                                           dest=os.path.join(base, "nova"))
        _TREES[series] = str(tree)
    return _TREES[series]


def import_patched_nova():
    """Make the patched bookworm nova importable as ``nova``; return its
    tree. Refuses to run against any other nova already imported."""
    tree = patched_tree("bookworm")
    os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "1"
    if tree not in sys.path:
        sys.path.insert(0, tree)
    import nova
    if not os.path.abspath(nova.__file__).startswith(tree + os.sep):
        raise RuntimeError("nova was imported from %s, not from the patched "
                           "tree %s" % (nova.__file__, tree))
    import eventlet.patcher
    if eventlet.patcher.is_monkey_patched("thread"):
        raise RuntimeError("eventlet patched this process's threads before "
                           "nova was imported")
    import nova.privsep
    nova.privsep.sys_admin_pctxt.set_client_mode(False)
    return tree
