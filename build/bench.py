"""make bench: run every benchmark script in bench/ (each prints its ratios)."""

import subprocess
import sys

from build.cache import TOP
from build.log import progress


def main(only=None):
    failed = []
    for script in sorted((TOP / "bench").glob("bench_*.py")):
        if only and script.stem not in only and script.stem[6:] not in only:
            continue
        progress("bench", script.name)
        print("\n===== %s =====" % script.name, flush=True)
        if subprocess.run(["/usr/bin/python3", str(script)], cwd=TOP).returncode != 0:
            failed.append(script.name)
    if failed:
        print("bench: failed: %s" % ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
