"""make bench: one LXC instance through the INSTALLED patched nova 26.2.2
and our driver (as tests/e2e runs them: apt from dist/bookworm, libvirtd in
private namespaces, the agent double), against a bare libvirt LXC start of
the same root filesystem directory, in one run, as root.

nova: from ``spawn`` (image cache -> instance disk, partition table read,
loop device and mount, init check, guest XML, VIF plug: bridge, port file,
agent; define + start) until the container's pid 1 runs; then ``destroy``
(stop, unplug, unmount and release, undefine, instance files). bare: define
+ create of a minimal domain over the image's root filesystem directory on
a plain bridge until pid 1 runs; then destroy + undefine. Rounds alternate
nova and bare; the first nova round also starts nova's two privsep daemons
(through rootwrap) and is shown apart. The packages are installed for the
run and purged after it.

icehouse too, when the icehouse tree is given (NOVA_SOURCE): nova 2014.1.5
from the icehouse .debs under Python 2.7 as user nova, every privileged
command through sudo nova-rootwrap (tests/e2e/test_icehouse.py's node),
against the same bare start in the same run. Its spawn returns only once
its own poll (every 0.5 s) has seen the domain running.
"""

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from build import series as series_recipes  # noqa: E402
from tests.e2e import icehouse_node, scenario, world  # noqa: E402
from tests.packaging import aptinstall  # noqa: E402

ROUNDS = 8
TIMEOUT = 600


def ms(values):
    return "%8.1f" % (1000 * statistics.median(values))


def run(series, scratch, instance, **extra):
    """The bench rounds of SERIES' nova; their rows, or None (printed why)."""
    scenario.write_spec(scratch, instances=[instance], pings=[], bench={
        "rounds": ROUNDS, "init": instance.init_path,
        "rootfs": str(scratch / "images" / ("%s-rootfs" % instance.name))},
        series=series, **extra)
    report = world.run_isolated(scratch, TIMEOUT)
    rows = report.get("bench") or []
    if report["errors"] or len(rows) < 2:
        print("bench_e2e %s: the run failed (see %s):\n%s"
              % (series, scratch, "\n".join(report["errors"])))
        return None, report
    return rows, report


def main():
    if os.geteuid() != 0:
        print("SKIPPED (needs root): libvirt LXC, loop mounts, apt install")
        return 0
    instance = scenario.INSTANCES[0]
    failed = 0
    scratch = Path(tempfile.mkdtemp(prefix="nlc-bench-e2e-"))
    with aptinstall.installed("bookworm"):
        rows, report = run("bookworm", scratch, instance)
    if rows:
        show("bookworm (nova 26.2.2, Python 3)", instance, rows, report,
             "first round start (privsep cold)")
        shutil.rmtree(scratch, ignore_errors=True)
    failed += rows is None
    if series_recipes.get("icehouse").unavailable():
        print("\nicehouse: %s" % series_recipes.get("icehouse").skip())
        return int(failed > 0)
    scratch = Path(tempfile.mkdtemp(prefix="nlc-bench-e2e-icehouse-"))
    rows, report = run("icehouse", scratch, instance,
                       node=icehouse_node.prepare(scratch))
    if rows:
        print()
        show("icehouse (nova 2014.1.5, Python 2.7, rootwrap)", instance, rows, report,
             "first round start (cold)")
        shutil.rmtree(scratch, ignore_errors=True)
    failed += rows is None
    return int(failed > 0)


def show(title, instance, rows, report, first_label):
    warm = rows[1:]
    print("%s: LXC instance, %s image, init %s; %d rounds (median of %d warm ones), ms"
          % (title, instance.image.upper(), instance.init_path, len(rows), len(warm)))
    print("%-34s %8s %8s %8s" % ("", "nova", "bare", "ratio"))
    phases = (("start until pid 1 runs", "nova_start", "bare_start"),
              ("teardown", "nova_teardown", "bare_teardown"))
    for label, nova, bare in phases:
        n = [r[nova] for r in warm]
        b = [r[bare] for r in warm]
        ratio = statistics.median(n) / statistics.median(b)
        print("%-34s %s %s %8.1fx" % (label, ms(n), ms(b), ratio))
    print("%-34s %s" % ("  of which nova's spawn() call",
                        ms([r["nova_spawn_call"] for r in warm])))
    first = rows[0]
    cold = first["nova_start"] / first["bare_start"]
    print("%-34s %s %s %8.1fx" % (first_label, ms([first["nova_start"]]),
                                  ms([first["bare_start"]]), cold))
    print("(the whole run: %.0f s, libvirtd start %.1f s)"
          % (report["host"]["seconds"], report["libvirtd_start_seconds"]))


if __name__ == "__main__":
    sys.exit(main())
