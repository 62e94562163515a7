"""The one place for Python 2/3 and oslo.config-version differences.

Icehouse compute nodes run Python 2.7 with the ``oslo.config`` namespace
package; bookworm runs Python 3 with ``oslo_config``. Everything else in the
package imports from here instead of testing versions itself (the two
pyroute2 lines are bridged in ``netlink``).
"""
from __future__ import absolute_import

import sys
import time

try:
    from oslo_config import cfg
except ImportError:  # oslo.config < 1.6 (icehouse era): namespace package
    from oslo.config import cfg

PY2 = sys.version_info[0] == 2

if PY2:  # pragma: no cover - exercised by the 2.7 test run
    import httplib as http_client
    text_type = unicode  # noqa: F821
    string_types = (str, unicode)  # noqa: F821
else:
    import http.client as http_client
    text_type = str
    string_types = (str,)

# The clock of deadlines: 2.7 has no monotonic clock (a step of the wall
# clock there only shortens or lengthens one deadline).
monotonic = getattr(time, 'monotonic', time.time)

if PY2:  # pragma: no cover - exercised by the 2.7 test run
    def acquire(lock, timeout):
        """lock.acquire(True, timeout) of Python 3. eventlet's green locks
        (nova-compute on icehouse) take it; 2.7's own locks take no
        timeout, so poll them with growing pauses (as 2.7's own
        Condition.wait(timeout) does)."""
        try:
            return lock.acquire(True, max(timeout, 0))
        except TypeError:     # acquire() takes at most 1 argument
            pass
        end = monotonic() + timeout
        pause = 0.0005
        while not lock.acquire(False):
            left = end - monotonic()
            if left <= 0:
                return False
            pause = min(pause * 2, left, 0.05)
            time.sleep(pause)
        return True
else:
    def acquire(lock, timeout):
        return lock.acquire(True, max(timeout, 0))

__all__ = ['cfg', 'http_client', 'text_type', 'string_types', 'PY2',
           'monotonic', 'acquire']
