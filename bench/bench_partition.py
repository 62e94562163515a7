"""make bench: LXC root partition detect + mount + teardown with the patched
nova (bookworm series), on 1 GiB and 10 GiB sparse GPT cloud images (BIOS
boot, EFI system, ext4 root on the rest), in one run, as root.

One cycle is what nova does for a container: setup_container (read the
table, choose the root partition, attach it with losetup --offset
--sizelimit, mount, check the init inside the rootfs), clean_lxc_namespace
(unmount), teardown_container (release the loop device). The 1 GiB image
is the baseline: the 10 GiB / 1 GiB ratio must stay near 1 (the time must
not grow with the image), and a cycle should take < 100 ms. The same
kernel work done by the bare commands is printed beside it, to tell nova's
overhead from the machine's load.
"""

import os
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


def cycle(api, model, path, rootfs_dir):
    image = model.LocalFileImage(path, "raw")
    t0 = time.perf_counter()
    table = api._read_partition_table(image)
    t1 = time.perf_counter()
    device = api.setup_container(image, rootfs_dir, partition="auto",
                                 init_path="/sbin/init")
    t2 = time.perf_counter()
    api.clean_lxc_namespace(rootfs_dir)
    api.teardown_container(rootfs_dir, device)
    t3 = time.perf_counter()
    assert len(table.partitions) == 3 and not os.path.ismount(rootfs_dir)
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3


def bare_cycle(path, rootfs_dir, start, size):
    """The same kernel work without nova: the commands alone."""
    t0 = time.perf_counter()
    device = subprocess.run(
        ["losetup", "--find", "--show", "--offset", str(start),
         "--sizelimit", str(size), path],
        check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["mount", device, rootfs_dir], check=True)
    subprocess.run(["umount", rootfs_dir], check=True)
    subprocess.run(["losetup", "--detach", device], check=True)
    return (time.perf_counter() - t0) * 1e3


def measure(api, model, path, rootfs_dir):
    cycle(api, model, path, rootfs_dir)          # warm the caches
    runs = [cycle(api, model, path, rootfs_dir) for _ in range(CYCLES)]
    detect, setup, teardown = (statistics.median(col) for col in zip(*runs))
    return detect, setup, teardown, statistics.median(
        sum(run[1:]) for run in runs)


def main():
    if os.geteuid() != 0:
        print("SKIPPED (needs root): loop devices and mounts")
        return 0
    import_patched_nova()
    from nova.virt.disk import api
    from nova.virt.image import model
    results = {}
    with tempfile.TemporaryDirectory(prefix="nlc-bench-", dir="/var/tmp") as tmp:
        root = images.make_rootfs(os.path.join(tmp, "tree"))
        rootfs_dir = os.path.join(tmp, "rootfs")
        os.mkdir(rootfs_dir)
        for gib in (1, 10):
            path = os.path.join(tmp, "disk-%dg.raw" % gib)
            image = images.build_image(path, gib * 1024, "gpt", [
                images.Part(1, "bios-boot"),
                images.Part(16, "efi", "vfat"),
                images.Part(None, "linux", "ext4", root, "root")])
            results[gib] = measure(api, model, path, rootfs_dir)
            if gib == 1:
                _n, start, size, _name = image.partition(3)
                bare = statistics.median(
                    bare_cycle(path, rootfs_dir, start, size)
                    for _ in range(CYCLES))
            os.unlink(path)
    print("cycle = setup_container + clean_lxc_namespace + teardown_container"
          " (median of %d)" % CYCLES)
    print("%-8s %12s %12s %12s %12s"
          % ("image", "detect ms", "setup ms", "teardown ms", "cycle ms"))
    for gib, (detect, setup, teardown, total) in sorted(results.items()):
        print("%-8s %12.3f %12.1f %12.1f %12.1f"
              % ("%d GiB" % gib, detect, setup, teardown, total))
    ratio = results[10][3] / results[1][3]
    worst = max(r[3] for r in results.values())
    print("ratio 10 GiB / 1 GiB: %.2f (baseline: the 1 GiB image)" % ratio)
    print("the bare commands (losetup, mount, umount, losetup -d) on the "
          "1 GiB image: %.1f ms; nova's cycle / bare: %.2f"
          % (bare, results[1][3] / bare))
    print("goal < %.0f ms per cycle: %s (worst %.1f ms)"
          % (GOAL_MS, "met" if worst < GOAL_MS else "NOT met", worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
