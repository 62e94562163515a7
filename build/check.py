"""`make check`: every test that can run on this machine, with one summary.

Stages run in order; each one's runner prints its own output, and each
reports what it counted (from the runner's own result files or totals).
The last line is the plain total over all stages:
``check: N passed, N failed, N skipped``. A stage that cannot run for a
real reason (no icehouse tree) says SKIPPED with the reason and counts as
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

from build import deps, pins, rebase, series, sources
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


def run(cmd, **kw):
    """Run CMD with its output going to ours (the runner's output is kept)."""
    print("+ %s" % " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], **kw)


# Seconds a pytest stage may take before it is interrupted (a hung test must
# fail the stage with its stack printed, not run into CI's own limit), and
# seconds after which one test prints every thread's stack (faulthandler).
STAGE_LIMIT = {"py3": 1200, "py27": 900, "packaging": 1500, "e2e": 900}
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
    for name in pins.series_names():
        if name == "icehouse" and not sources.icehouse_available():
            print("SKIPPED: icehouse tree not available (set NOVA_SOURCE=...)")
            c.skipped += 1
            continue
        tree, report = series.apply(name)
        for patch, offsets in report.items():
            print("%s: %s %s" % (name, patch, "offsets %s" % offsets if offsets else "exact"))
        c.passed += 1
    return c


def stage_build_deps():
    deps.ensure_build_deps(work_dir("trees") / "bookworm")
    return Counts(passed=1)


def nova_test_modules(name):
    """nova test modules of the series: those its patches add tests to."""
    mods = []
    for patch in pins.patch_series(name):
        for path, _created, deleted in patch.files():
            if re.match(r"nova/tests/.*test_[^/]*\.py$", path) and not deleted:
                mod = path[:-3].replace("/", ".")
                if mod not in mods:
                    mods.append(mod)
    return mods


def stage_nova_bookworm():
    tree = work_dir("trees") / "bookworm"
    mods = nova_test_modules("bookworm")
    if not mods:
        print("SKIPPED: the bookworm series adds no nova tests yet")
        return Counts(skipped=1)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    cmd = [PY3, "-m", "stestr", "run", "--concurrency", str(os.cpu_count() or 2),
           "^(%s)" % "|".join(re.escape(m) for m in mods)]
    print("+ (cd %s && %s)" % (tree, " ".join(cmd)), flush=True)
    try:
        res = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                             timeout=1200)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        print("TIMEOUT: stestr ran over 1200 s\n%s" % out[-4000:], flush=True)
        return Counts(failed=1, note="stestr interrupted after 1200 s")
    tail = res.stdout[-4000:]
    print(tail + res.stderr[-2000:], flush=True)
    c = stestr_counts(res.stdout)
    if res.returncode != 0 and not c.failed:
        c.failed += 1
    return c


def stage_nova_icehouse():
    if not sources.icehouse_available():
        print("SKIPPED: icehouse tree not available (set NOVA_SOURCE=...): icehouse "
              "nova's unit tests of the patched modules did not run")
        return Counts(skipped=1)
    from build import py27env
    tree = work_dir("trees") / "icehouse"
    mods = nova_test_modules("icehouse")
    passed, failed, skipped, output = py27env.run_icehouse_tests(tree, mods)
    print(output[-4000:], flush=True)
    return Counts(passed, failed, skipped)


def stage_pytest_py3():
    return pytest(PY3, ["tests"], "py3",
                  extra=["--ignore=tests/packaging", "--ignore=tests/e2e"])


def stage_debs():
    from build import debs
    c = Counts()
    for name in pins.series_names():
        dist, built = debs.build(name)
        print("%s: %d .debs in %s" % (name, len(built), dist))
        if name == "icehouse" and not sources.icehouse_available():
            c.skipped += 1      # only the driver package was built
        else:
            c.passed += 1
    return c


def stage_packaging():
    return pytest(PY3, ["tests/packaging"], "packaging")


def stage_e2e():
    return pytest(PY3, ["tests/e2e"], "e2e")


def stage_pytest_py27():
    from build import py27env
    python = py27env.ensure_venv("core")
    return pytest(python, ["tests/unit", "tests/functional"], "py27")


def stage_libvirt_py27():
    """The icehouse venv's libvirt binding (built by build/py27env.py)."""
    from build import py27env
    python = py27env.ensure_venv("icehouse")
    facts = py27env.check_binding(python)
    print("libvirt binding: %s, libvirt %d, defineXML/undefine on test:///default: %s/%s"
          % (facts["file"], facts["version"], facts["defined"], facts["undefined"]))
    ok = facts["version"] > 0 and facts["defined"] and facts["undefined"]
    return Counts(passed=int(ok), failed=int(not ok))


def stage_rebase():
    report = rebase.check(pins.series_names())
    rebase.write_json(report, work_dir() / "rebase-check.json")
    bad = rebase.base_failures(report)
    for line in bad:
        print("FAIL: %s" % line)
    rows = sum(len(d.get("rows", [])) for d in report["series"].values())
    return Counts(passed=rows - len(bad), failed=len(bad),
                  skipped=sum(1 for d in report["series"].values() if "skipped" in d))


STAGES = [
    ("series", stage_series),
    ("build-deps", stage_build_deps),
    ("pytest-py3", stage_pytest_py3),
    ("pytest-py27", stage_pytest_py27),
    ("nova-bookworm", stage_nova_bookworm),
    ("libvirt-py27", stage_libvirt_py27),
    ("nova-icehouse", stage_nova_icehouse),
    ("debs", stage_debs),
    ("packaging", stage_packaging),
    ("e2e", stage_e2e),
    ("rebase-check", stage_rebase),
]


def main(only=None):
    deps.ensure()
    results = []
    for name, func in STAGES:
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
