"""`make check`: every test that can run on this machine, with one summary.

Stages run in order; each one's runner prints its own output, and each
reports what it counted (from the runner's own result files or totals).
The last line is the plain total over all stages:
``check: N passed, N failed, N skipped``. A stage that cannot run for a
real reason (a series' tree is not available) says SKIPPED with the reason and counts as
skipped, never silently.
"""

import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from build import debs, deps, py27env, quilt, rebase, series as series_recipes
from build.cache import TOP, work_dir
from build.log import BuildError, progress

PY3 = "/usr/bin/python3"


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    note: str = ""

    def __iadd__(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        return self


def junit_counts(path):
    """Counts from a JUnit XML file written by pytest."""
    if not Path(path).exists():
        return Counts(failed=1, note="no result file %s" % path)
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    c = Counts()
    for s in suites:
        total = int(s.get("tests", 0))
        failed = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped = int(s.get("skipped", 0))
        c += Counts(total - failed - skipped, failed, skipped)
    return c


def stestr_counts(output):
    """Counts from stestr's Totals block."""
    def grab(label):
        m = re.search(r"- %s: (\d+)" % label, output)
        return int(m.group(1)) if m else 0
    if "Totals" not in output:
        return Counts(failed=1, note="stestr printed no totals")
    return Counts(grab("Passed") + grab("Expected Fail"),
                  grab("Failed") + grab("Unexpected Success"), grab("Skipped"))


# Seconds a pytest stage may take before it is interrupted (a hung test must
# fail the stage with its stack printed, not run into CI's own limit), and
# seconds after which one test prints every thread's stack (faulthandler).
# e2e includes the making of trixie's e2e root on a fresh machine (8-10 min
# under load); packaging an apt installation in a fresh copy of trixie's
# build root and the comparison with Debian's binaries of both Debian series.
STAGE_LIMIT = {"py3": 1200, "py27": 900, "packaging": 1800, "e2e": 1800}
TEST_STACK_DUMP = 600


def pytest(python, paths, name, extra=()):
    xml = work_dir("junit") / ("%s.xml" % name)
    if xml.exists():
        xml.unlink()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    cmd = [python, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
           "--junitxml=%s" % xml, *extra, *paths]
    if name != "py27":          # pytest 4.6 (the 2.7 line) has no such option
        cmd[4:4] = ["-o", "faulthandler_timeout=%d" % TEST_STACK_DUMP]
    limit = STAGE_LIMIT.get(name, 1200)
    print("+ %s" % " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.Popen([str(c) for c in cmd], cwd=TOP, env=env)
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        # SIGINT: pytest stops, runs the fixtures' finalizers (mounts, loop
        # devices, bridges, daemons) and writes its report; killed if not.
        print("TIMEOUT: pytest %s ran over %d s; interrupting it" % (name, limit),
              flush=True)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        counts = junit_counts(xml)
        counts.failed += 1
        counts.note = "interrupted after %d s" % limit
        return counts
    return junit_counts(xml)


# -- stages -------------------------------------------------------------------

def stage_series():
    c = Counts()
    for recipe in series_recipes.every():
        if recipe.unavailable():
            print(recipe.skip())
            c.skipped += 1
            continue
        tree, report = quilt.apply(recipe.name)
        for patch, offsets in report.items():
            print("%s: %s %s" % (recipe.name, patch,
                                 "offsets %s" % offsets if offsets else "exact"))
        c.passed += 1
    return c


def stestr(runner, cmd, tree, limit):
    """Counts of nova's unit tests run by stestr CMD in TREE (via RUNNER)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    print("+ (cd %s && %s)" % (tree, " ".join(cmd)), flush=True)
    try:
        res = runner.run(cmd, "stestr", check=False, cwd=tree, env=env, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        print("TIMEOUT: stestr ran over %d s\n%s" % (limit, out[-4000:]), flush=True)
        return Counts(failed=1, note="stestr interrupted after %d s" % limit)
    tail = res.stdout[-4000:]
    print(tail + res.stderr[-2000:], flush=True)
    c = stestr_counts(res.stdout)
    if res.returncode != 0 and not c.failed:
        c.failed += 1
    return c


def stage_pytest_py3():
    return pytest(PY3, ["tests"], "py3",
                  extra=["--ignore=tests/packaging", "--ignore=tests/e2e"])


def stage_debs():
    c = Counts()
    for recipe in series_recipes.every():
        dist, built = debs.build(recipe.name)
        print("%s: %d .debs in %s" % (recipe.name, len(built), dist))
        if recipe.unavailable():
            c.skipped += 1      # only the driver package was built
        else:
            c.passed += 1
    return c


def stage_packaging():
    return pytest(PY3, ["tests/packaging"], "packaging")


def stage_e2e():
    return pytest(PY3, ["tests/e2e"], "e2e")


def stage_pytest_py27():
    python = py27env.ensure_venv("core")
    return pytest(python, ["tests/unit", "tests/functional"], "py27")


def stage_rebase():
    report = rebase.check(series_recipes.names())
    rebase.write_json(report, work_dir() / "rebase-check.json")
    bad = rebase.base_failures(report)
    for line in bad:
        print("FAIL: %s" % line)
    rows = [r for d in report["series"].values() for r in d.get("rows", [])]
    tried = sum(1 for r in rows if r["results"])
    return Counts(passed=tried - len(bad), failed=len(bad),
                  skipped=sum(1 for d in report["series"].values() if "skipped" in d)
                  + len(rows) - tried)


def stages():
    """(name, function) of every stage, in order; each series adds its own
    (build/series/: Series.check_stages) after its tree is patched and
    after the project's own tests."""
    recipes = series_recipes.every()

    def of(when):
        return [stage for recipe in recipes for stage in recipe.check_stages(when)]
    return ([("series", stage_series)] + of("prepare")
            + [("pytest-py3", stage_pytest_py3), ("pytest-py27", stage_pytest_py27)]
            + of("test")
            + [("debs", stage_debs), ("packaging", stage_packaging), ("e2e", stage_e2e),
               ("rebase-check", stage_rebase)])


def main(only=None):
    deps.ensure()
    results = []
    for name, func in stages():
        if only and name not in only:
            continue
        progress("check", "stage %s" % name)
        print("\n===== %s =====" % name, flush=True)
        try:
            counts = func()
        except BuildError as exc:
            print("error: %s" % exc, flush=True)
            counts = Counts(failed=1, note=str(exc))
        results.append((name, counts))
    total = Counts()
    print("\n===== summary =====")
    for name, c in results:
        total += c
        print("  %-14s %4d passed, %3d failed, %3d skipped%s"
              % (name, c.passed, c.failed, c.skipped, ("  (%s)" % c.note) if c.note else ""))
    print("check: %d passed, %d failed, %d skipped"
          % (total.passed, total.failed, total.skipped), flush=True)
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
