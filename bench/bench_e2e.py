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

The breakdown: the compute child times nova's and our functions from the
outside (tests/e2e/phases.py wraps them; nova's code is not changed), per
phase of the spawn and of the destroy, the median of the warm rounds and
the first round after the nova-compute start apart; and where that start
itself goes. The fair baseline, in the same run (bookworm): Debian's own
UNPATCHED nova 26.2.2 (its python3-nova .deb from the archive, unpacked
into the run's scratch and put ahead of the installed one on a second
nova-compute child's PYTHONPATH: nothing of it is installed) spawning the
same root filesystem as an UNPARTITIONED image, its port on a Linux bridge
that exists already (as neutron's Linux bridge agent makes it: nova's
stock bridge VIF, os-vif's linux_bridge plug, which leaves an existing
bridge alone). Its privsep daemon is started as sudo env PYTHONPATH=...
privsep-helper (not through rootwrap, which would drop the PYTHONPATH): its
first round is not comparable, its warm ones are.

icehouse too, when the icehouse tree is given (NOVA_SOURCE): nova 2014.1.5
from the icehouse .debs under Python 2.7 as user nova, every privileged
command through sudo nova-rootwrap (tests/e2e/test_icehouse.py's node),
against the same bare start in the same run. Its spawn returns only once
its own poll (every 0.5 s) has seen the domain running.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from build import cache, debsrc, pins  # noqa: E402
from build import series as series_recipes  # noqa: E402
from tests.e2e import icehouse_node, phases, scenario, world  # noqa: E402
from tests.lib import images  # noqa: E402
from tests.packaging import aptinstall  # noqa: E402

ROUNDS = int(os.environ.get("NLC_BENCH_ROUNDS", "8"))
TIMEOUT = 900
BASE_BRIDGE = "nlcbase0"
BASE = scenario.INSTANCES[0]._replace(
    name="base", id=5, uuid="e2e00005-0000-4000-8000-0000000000ba",
    image="whole", port="0e2e0005-0000-4000-8000-0000000000ba",
    mac="02:e2:00:00:00:ba")
SYS_ADMIN_HELPER = """[nova_sys_admin]
# the unpatched tree's privsep daemon: its PYTHONPATH kept (rootwrap drops it)
helper_command = sudo env PYTHONPATH={path} privsep-helper --config-file /etc/nova/nova.conf \
  --config-file /etc/nova/nova-compute.conf --config-file {conf} \
  --privsep_context nova.privsep.sys_admin_pctxt
"""
# display rows: (label, phase or derived key, indented under the one before)
SPAWN_ROWS = [("image (cache -> instance disk)", "image"),
              ("  qemu-img info", "qemu-img info"),
              ("  copy (cp)", "copy"),
              ("  extend (resize, e2label, fsck+resize)", "extend"),
              ("guest XML", "guest XML"),
              ("plug (VIF)", "plug"),
              ("disk setup", "disk setup"),
              ("  partition table", "partition table"),
              ("  loop attach", "loop attach"),
              ("  mount", "mount"),
              ("  init check", "init check"),
              ("define", "define"),
              ("start", "start"),
              ("host umount", "host umount"),
              ("boot wait (create -> spawn returns)", "boot wait"),
              ("rest of spawn()", "rest"),
              ("  pid 1 runs, after start returned", "pid 1 after start"),
              ("  privsep daemon starts", "privsep daemon start"),
              ("  privsep calls (round trips)", "privsep calls"),
              ("  commands nova runs", "commands")]
SPAWN_PARTS = ("image", "guest XML", "plug", "disk setup", "define", "start",
               "host umount", "boot wait")
DESTROY_ROWS = [("stop", "stop"), ("umount", "umount"), ("loop detach", "loop detach"),
                ("unplug", "unplug"), ("undefine", "undefine"),
                ("instance files", "instance files"), ("rest of destroy()", "rest"),
                ("  privsep calls", "privsep calls"),
                ("  commands nova runs", "commands")]
DESTROY_PARTS = ("stop", "umount", "loop detach", "unplug", "undefine", "instance files")


def median_ms(values):
    return 1000 * statistics.median(values) if values else None


def cell(value):
    return "%10s" % ("-" if value is None else "%.1f" % value)


def daemon_starts(spans, before):
    """The privsep daemon starts among SPANS begun before BEFORE: begun by
    nova-compute's start (in the background), whenever they ended."""
    return [s for s in spans if s[0] == "privsep daemon start" and s[1] < before]


def spawn_phases(row, key):
    early = daemon_starts(row[key + "_spawn_spans"], row[key + "_requested"])
    spans = [s for s in row[key + "_spawn_spans"] if s not in early]
    out = phases.totals(spans)
    created, returned = phases.last_end(spans, "create"), phases.last_end(spans, "spawn")
    if created is not None and returned is not None:
        out["boot wait"] = returned - created
    started = phases.last_end(spans, "start")
    if started is not None and row.get(key + "_pid1_seen"):
        out["pid 1 after start"] = row[key + "_pid1_seen"] - started
    out["rest"] = out.get("spawn", 0) - sum(out.get(p, 0) for p in SPAWN_PARTS)
    return out


def destroy_phases(row, key):
    out = phases.totals(row[key + "_destroy_spans"])
    out["rest"] = out.get("destroy", 0) - sum(out.get(p, 0) for p in DESTROY_PARTS)
    return out


def phase_table(title, table, rows, keys, extract):
    print("%-38s%s" % (title, "".join("%10s%10s" % (k + " warm", k + " 1st") for k in keys)))
    per = {k: ([extract(r, k) for r in rows[1:]], extract(rows[0], k)) for k in keys}
    for label, phase in table:
        cells = []
        for key in keys:
            warm, first = per[key]
            values = [p[phase] for p in warm if phase in p]
            cells.append(cell(median_ms(values)))
            cells.append(cell(1000 * first[phase] if phase in first else None))
        if any(c.strip() != "-" for c in cells):
            print("%-38s%s" % (label, "".join(cells)))


def show(title, instance, rows, report):
    keys = ["nova"] + (["base"] if "base_start" in rows[0] else [])
    warm = rows[1:]
    print("%s: LXC instance, %s image, init %s; %d rounds (median of %d warm ones), ms"
          % (title, instance.image.upper(), instance.init_path, len(rows), len(warm)))
    if "base" in keys:
        print("  ours: the patched nova + our driver, GPT image, vrouter port (bridge, port "
              "file, agent); base: Debian's unpatched nova 26.2.2, the same rootfs as an "
              "unpartitioned image, nova's stock bridge VIF on an existing bridge")
    med = {name: statistics.median(r[name] for r in warm) for name in warm[0]
           if name.endswith(("_start", "_teardown"))}
    print("%-38s%9s%9s%9s%10s%10s" % ("", "ours", "base", "bare", "ours/base", "ours/bare"))
    for label, what in (("spawn until pid 1 runs", "start"), ("teardown", "teardown")):
        ours, bare = med["nova_" + what], med["bare_" + what]
        base = med.get("base_" + what)
        print("%-38s%9.1f%9s%9.1f%10s%9.1fx" % (
            label, 1000 * ours, "-" if base is None else "%.1f" % (1000 * base),
            1000 * bare, "-" if base is None else "%.2fx" % (ours / base), ours / bare))
    if "base" in keys:
        less = [statistics.median(r[k + "_start"] - spawn_phases(r, k).get("image", 0)
                                  for r in warm) for k in keys]
        print("%-38s%9.1f%9.1f%9s%9.2fx" % ("spawn until pid 1, less the image phase",
                                            1000 * less[0], 1000 * less[1], "",
                                            less[0] / less[1]))
    first = rows[0]
    print("%-38s%9.1f%9s%9.1f%10s%9.1fx" % (
        "first spawn after nova-compute start", 1000 * first["nova_start"],
        "%.1f" % (1000 * first["base_start"]) if "base" in keys else "-",
        1000 * first["bare_start"], "(n/c)" if "base" in keys else "-",
        first["nova_start"] / first["bare_start"]))
    print("\nspawn, per phase (ms; phases indented run inside the one above):")
    phase_table("", SPAWN_ROWS, rows, keys, spawn_phases)
    print("\ndestroy, per phase (ms):")
    phase_table("", DESTROY_ROWS, rows, keys, destroy_phases)
    for key, name in (("compute", "ours"), ("baseline_compute", "base")):
        start = report.get(key)
        if not start or "start_steps" not in start:
            continue
        steps = [("process start, import nova.cmd (eventlet)", start["launched"])] + \
            [(label, t) for label, t in start["start_steps"]]
        parts = ["%s %.0f" % (label, 1000 * (t - steps[i][1]))
                 for i, (label, t) in enumerate(steps[1:])]
        print("nova-compute start (%s), ms: %s; total %.0f" % (
            name, ", ".join(parts), 1000 * (start["answered"] - start["launched"])))
        first = "base" if name == "base" else "nova"
        early = start.get("start_spans", []) + daemon_starts(
            rows[0][first + "_spawn_spans"], rows[0][first + "_requested"])
        early = [s for s in early if s[0] == "privsep daemon start"]
        if early:
            print("  privsep daemons started with it, ms: %s (start call to daemon up; "
                  "+: up after nova-compute's start returned)" % ", ".join(
                      "%.0f (up at %+.0f)" % (1000 * (end - begin),
                                              1000 * (end - start["answered"]))
                      for _phase, begin, end in early))
        if start.get("timing_missing"):
            print("  not timed (absent from this tree): %s" % ", ".join(start["timing_missing"]))
    print("(the whole run: %.0f s, libvirtd start %.1f s)"
          % (report["host"]["seconds"], report["libvirtd_start_seconds"]))


def baseline(scratch, rootfs):
    """The unpatched nova (Debian's python3-nova, unpacked here) and its
    instance: BASE on an unpartitioned image of ROOTFS, a bridge VIF."""
    version = pins.series_pins("bookworm")["debian_version"]
    deb = debsrc.download_binaries(["python3-nova"], version,
                                   cache.cache_dir("debian-binaries"))["python3-nova"]
    tree = scratch / "baseline-nova"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    path = tree / "usr" / "lib" / "python3" / "dist-packages"
    conf = scratch / "baseline.conf"
    conf.write_text(SYS_ADMIN_HELPER.format(path=path, conf=conf))
    image = images.build_image(scratch / "images" / "base.raw", scenario.IMAGE_MIB, None,
                               [images.Part(None, "linux", fs="ext4", name="root",
                                            tree=str(rootfs))])
    spec = scenario.compute_spec(BASE, image.path)
    spec["ports"][0].update(vif_type="bridge", bridge=BASE_BRIDGE)
    return {"pythonpath": str(path), "config": str(conf), "spec": spec,
            "bridge": BASE_BRIDGE, "version": version}


def run(series, scratch, instance, with_baseline=False, **extra):
    """The bench rounds of SERIES' nova; their rows, or None (printed why)."""
    rootfs = scratch / "images" / ("%s-rootfs" % instance.name)
    spec = scenario.write_spec(scratch, instances=[instance], pings=[], bench={
        "rounds": ROUNDS, "init": instance.init_path, "rootfs": str(rootfs)},
        series=series, **extra)
    if with_baseline:
        spec["bench"]["baseline"] = baseline(scratch, rootfs)
        with open(scratch / "spec.json", "w") as f:
            json.dump(spec, f, indent=1)
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
        rows, report = run("bookworm", scratch, instance, with_baseline=True)
    if rows:
        show("bookworm (nova 26.2.2, Python 3)", instance, rows, report)
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
        show("icehouse (nova 2014.1.5, Python 2.7, rootwrap)", instance, rows, report)
        shutil.rmtree(scratch, ignore_errors=True)
    failed += rows is None
    return int(failed > 0)


if __name__ == "__main__":
    sys.exit(main())
