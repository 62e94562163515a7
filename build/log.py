"""Progress lines and one-line fatal errors, shared by every build step."""

import sys
import time

_T0 = time.monotonic()


class BuildError(Exception):
    """A failure the user can act on; printed as one line, exit status 1."""


def progress(step, message):
    """Print a progress line for a step that may take more than a moment."""
    print("[%6.1fs] %s: %s" % (time.monotonic() - _T0, step, message),
          file=sys.stderr, flush=True)


def warn(message):
    print("WARNING: %s" % message, file=sys.stderr, flush=True)
