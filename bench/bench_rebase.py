"""make bench: the full rebase matrix with a warm cache.

Baseline, measured in the same run: only preparing every target tree (the
same extraction, no patch classification). Prints both and their ratio;
the goal for the matrix is < 60 s.
"""

import os
import sys
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from build import pins, rebase, series as series_recipes  # noqa: E402
from build.cache import work_dir  # noqa: E402
from build.log import progress  # noqa: E402


def main():
    names = pins.series_names()
    progress("bench", "warming the cache (a full matrix run)")
    with redirect_stdout(StringIO()):
        rebase.check(names)
    targets = []
    for name in names:
        targets += [(name, t) for t in series_recipes.get(name).rebase_targets()]
    t0 = time.monotonic()
    for name, target in targets:
        wanted = sorted({p for patch in pins.patch_series(name) for p, _c, _d in patch.files()})
        with tempfile.TemporaryDirectory(dir=work_dir("rebase")) as tmp:
            target.fill(tmp, wanted)
    baseline = time.monotonic() - t0
    t0 = time.monotonic()
    with redirect_stdout(StringIO()):
        rebase.check(names)
    matrix = time.monotonic() - t0
    patches = sum(len(pins.patch_series(n)) for n in names)
    print("rebase matrix, warm cache: %d targets, %d patches" % (len(targets), patches))
    print("  prepare trees only (baseline)  %6.1f s" % baseline)
    print("  full rebase check              %6.1f s   ratio %.2fx   goal < 60 s: %s"
          % (matrix, matrix / baseline if baseline else float("nan"),
             "met" if matrix < 60 else "NOT met"))


if __name__ == "__main__":
    main()
