"""make bench: LXC root partition detect + mount + teardown with the patched
nova (bookworm series), on 1 GiB and 10 GiB sparse GPT cloud images (BIOS
boot, EFI system, ext4 root on the rest), in one run, as root.

One cycle is what nova does for a container: setup_container (read the
table, choose the root partition, attach and mount it, check the init
inside the rootfs), clean_lxc_namespace (unmount), teardown_container
(release the loop device). The 1 GiB image is the baseline: the 10 GiB /
1 GiB ratio must stay near 1 (the time must not grow with the image), and
a cycle should take < 100 ms.

The baseline of the cycle is the same kernel work done by the bare
commands (losetup --find --show --offset --sizelimit, mount, umount,
losetup --detach), run from this same process in the same run, timed per
command; the goal is a cycle within 2x of them. Printed beside it, the
floor of the two-command cycle nova runs since it mounts with "mount -o
loop,offset=N,sizelimit=M" (util-linux attaches the loop device itself,
with autoclear, and the kernel detaches it at the umount): the bare
mount -o loop + umount. Each phase of nova's cycle is timed by wrapping
the function that does it (partition table read, loop attach, mount,
init check, umount, loop detach: "attach" and "detach" are the losetup
runs of the older four-command cycle, which the same script measures on
that code); "nova's own" is what is left: nova's Python around them
(/proc/mounts and sysfs reads, its objects, logs). The processes and
privsep calls of one cycle are counted.

privsep: the cycle is measured twice. First in-process (privsep client
mode off, as the functional tests run it: no privsep process boundary;
the commands are forked from this process, which holds all of nova), then
through a real privsep daemon (privsep-helper, started once, as
nova-compute does on a node: each privileged call is a round trip over
its socket and the commands are forked by the daemon). The second is what
a node pays.
"""

import collections
import functools
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.lib import images  # noqa: E402
from tests.lib.nova_tree import import_patched_nova  # noqa: E402

CYCLES = 15
GOAL_MS = 100.0
GOAL_RATIO = 2.0
PHASES = ("table", "loop attach", "mount", "init check", "umount",
          "loop detach")
HEADS = {"loop attach": "attach", "init check": "init",
         "loop detach": "detach", "nova's own": "nova"}


class Probe(object):
    """Times the phases of a cycle and counts its processes and privsep
    calls, by wrapping the functions that do them."""

    def __init__(self):
        self.times = collections.defaultdict(float)
        self.privsep = 0
        self.processes = 0
        self._undo = []

    def wrap(self, module, name, phase=None, privsep=False):
        original = getattr(module, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if phase:
                    self.times[phase] += (time.perf_counter() - t0) * 1e3
                self.privsep += privsep

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    def count_processes(self):
        popen_init = subprocess.Popen.__init__

        def counted(popen, *args, **kwargs):
            self.processes += 1
            return popen_init(popen, *args, **kwargs)

        subprocess.Popen.__init__ = counted
        self._undo.append((subprocess.Popen, "__init__", popen_init))

    def reset(self):
        self.times.clear()
        self.privsep = self.processes = 0

    def remove(self):
        for module, name, original in reversed(self._undo):
            setattr(module, name, original)


def install_probe():
    import nova.privsep
    import nova.privsep.fs
    from nova.virt.disk import parttable
    from nova.virt.disk import rootpath
    probe = Probe()
    probe.wrap(parttable, "read_file_table", "table")
    probe.wrap(rootpath, "check_executable", "init check")
    phases = {"loopsetup": "loop attach", "mount": "mount",
              "umount": "umount", "loopremove": "loop detach",
              "read_block_device": "table", "blockdev_size": "table"}
    for name in dir(nova.privsep.fs):
        if nova.privsep.sys_admin_pctxt.is_entrypoint(
                getattr(nova.privsep.fs, name)):
            probe.wrap(nova.privsep.fs, name, phases.get(name), privsep=True)
    probe.count_processes()
    return probe


def cycle(api, model, probe, path, rootfs_dir):
    probe.reset()
    image = model.LocalFileImage(path, "raw")
    t0 = time.perf_counter()
    device = api.setup_container(image, rootfs_dir, partition="auto",
                                 init_path="/sbin/init")
    api.clean_lxc_namespace(rootfs_dir)
    api.teardown_container(rootfs_dir, device)
    total = (time.perf_counter() - t0) * 1e3
    assert not os.path.ismount(rootfs_dir)
    row = dict(probe.times, total=total)
    row["nova's own"] = total - sum(probe.times.values())
    return row, probe.privsep, probe.processes


def bare_cycle(path, rootfs_dir, start, size):
    """The same kernel work without nova: the commands alone, timed each."""
    row = {}

    def run(phase, cmd):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True,
                             text=True).stdout
        row[phase] = (time.perf_counter() - t0) * 1e3
        return out

    device = run("loop attach", [
        "losetup", "--find", "--show", "--offset", str(start),
        "--sizelimit", str(size), path]).strip()
    run("mount", ["mount", device, rootfs_dir])
    run("umount", ["umount", rootfs_dir])
    run("loop detach", ["losetup", "--detach", device])
    row["total"] = sum(row.values())
    return row


def bare_loop_mount_cycle(path, rootfs_dir, start, size):
    """The floor of nova's two-command cycle: mount -o loop + umount."""
    row = {}
    t0 = time.perf_counter()
    subprocess.run(["mount", "-o", "loop,offset=%d,sizelimit=%d"
                    % (start, size), path, rootfs_dir], check=True,
                   capture_output=True)
    row["mount"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    subprocess.run(["umount", rootfs_dir], check=True, capture_output=True)
    row["umount"] = (time.perf_counter() - t0) * 1e3
    row["total"] = row["mount"] + row["umount"]
    return row


def start_daemon(tree):
    """Run nova's privileged calls through a real privsep-helper daemon
    (as root, so without sudo/rootwrap), importing the patched tree."""
    import nova.privsep
    from oslo_config import cfg
    env = "env PYTHONPATH=%s OS_NOVA_DISABLE_EVENTLET_PATCHING=1" % (
        shlex.quote(tree))
    cfg.CONF.set_override("helper_command", env + " privsep-helper",
                          group="nova_sys_admin")
    ctx = nova.privsep.sys_admin_pctxt
    ctx.set_client_mode(True)
    ctx.start()
    return ctx


def stop_daemon(ctx):
    ctx.stop()
    ctx.set_client_mode(False)


def fmt_row(label, row, keys):
    return "%-24s" % label + "".join(
        "%9.1f" % row[key] if key in row else "%9s" % "-" for key in keys)


BARE, FLOOR = "bare commands, 1 GiB", "bare mount -o loop"
LABELS = (BARE, FLOOR, "in-process, 1 GiB", "in-process, 10 GiB",
          "privsep daemon, 1 GiB", "privsep daemon, 10 GiB")


def run_rounds(api, model, probe, ctx, paths, rootfs_dir, start, size):
    """CYCLES rounds, each running every kind of cycle once in turn, so
    that the load of a shared machine falls on all of them alike.

    Returns {label: median row} and {label: (privsep calls, processes)}.
    """
    samples = collections.OrderedDict((label, []) for label in LABELS)
    counts = {}

    def once(label):
        probe.reset()
        if label == BARE:
            row = bare_cycle(paths[1], rootfs_dir, start, size)
        elif label == FLOOR:
            row = bare_loop_mount_cycle(paths[1], rootfs_dir, start, size)
        else:
            ctx.set_client_mode(label.startswith("privsep daemon"))
            gib = int(label.split()[-2])
            row = cycle(api, model, probe, paths[gib], rootfs_dir)[0]
        counts[label] = (probe.privsep, probe.processes)
        return row

    for label in LABELS:
        once(label)                 # warm the caches
    for _ in range(CYCLES):
        for label in LABELS:
            samples[label].append(once(label))
    keys = PHASES + ("nova's own", "total")
    medians = collections.OrderedDict(
        (label, {key: statistics.median(row[key] for row in rows)
                 for key in keys if key in rows[0]})
        for label, rows in samples.items())
    return medians, counts


def main():
    if os.geteuid() != 0:
        print("SKIPPED (needs root): loop devices and mounts")
        return 0
    tree = import_patched_nova()
    from nova.virt.disk import api
    from nova.virt.image import model
    probe = install_probe()
    ctx = None
    try:
        with tempfile.TemporaryDirectory(prefix="nlc-bench-",
                                         dir="/var/tmp") as tmp:
            root = images.make_rootfs(os.path.join(tmp, "tree"))
            rootfs_dir = os.path.join(tmp, "rootfs")
            os.mkdir(rootfs_dir)
            paths = {}
            for gib in (1, 10):
                paths[gib] = os.path.join(tmp, "disk-%dg.raw" % gib)
                image = images.build_image(paths[gib], gib * 1024, "gpt", [
                    images.Part(1, "bios-boot"),
                    images.Part(16, "efi", "vfat"),
                    images.Part(None, "linux", "ext4", root, "root")])
                if gib == 1:
                    _n, start, size, _name = image.partition(3)
            ctx = start_daemon(tree)
            results, counts = run_rounds(api, model, probe, ctx, paths,
                                         rootfs_dir, start, size)
    finally:
        if ctx is not None:
            stop_daemon(ctx)
        probe.remove()
    bare, floor = results.pop(BARE), results.pop(FLOOR)
    keys = PHASES + ("nova's own", "total")
    print("partition cycle = setup_container + clean_lxc_namespace + "
          "teardown_container; ms, median of %d rounds (each round runs "
          "every row once, in turn)" % CYCLES)
    print("%-24s" % "" + "".join("%9s" % HEADS.get(key, key) for key in keys)
          + "  privsep procs")
    print(fmt_row(BARE, bare, keys) + "  %7d %5d" % counts[BARE])
    print(fmt_row(FLOOR, floor, keys) + "  %7d %5d" % counts[FLOOR])
    for label, row in results.items():
        privsep, processes = counts[label]
        line = fmt_row(label, row, keys)
        if label.startswith("in-process"):
            line += "  %7d %5d" % (privsep, processes)
        else:
            line += "  %7d %5s" % (privsep, "(in the daemon)")
        print(line)
    print("table: partition table read; attach: losetup --offset "
          "--sizelimit; mount: mount (with -o loop,offset,sizelimit it "
          "attaches the loop device too); init: init check; detach: "
          "losetup --detach (none with mount -o loop: the kernel detaches "
          "at the umount); nova: nova's own Python around them")
    print("in-process: privsep client mode off, the commands forked from "
          "this process (all of nova loaded), no privsep socket; privsep "
          "daemon: a real privsep-helper started once, as on a node")
    flat = (results["in-process, 10 GiB"]["total"]
            / results["in-process, 1 GiB"]["total"])
    print("ratio 10 GiB / 1 GiB (in-process): %.2f" % flat)
    print("bare mount -o loop + umount / bare four commands: %.2f"
          % (floor["total"] / bare["total"]))
    worst = 0.0
    for label, row in results.items():
        ratio = row["total"] / bare["total"]
        worst = max(worst, row["total"])
        print("%-24s cycle / bare commands: %.2f (goal < %.0f: %s); "
              "/ bare mount -o loop: %.2f"
              % (label, ratio, GOAL_RATIO,
                 "met" if ratio < GOAL_RATIO else "NOT met",
                 row["total"] / floor["total"]))
    print("goal < %.0f ms per cycle: %s (worst %.1f ms)"
          % (GOAL_MS, "met" if worst < GOAL_MS else "NOT met", worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
