"""The patched nova (bookworm series) mounting LXC root filesystems from real
images, as root: nova.virt.disk.api.setup_container / clean_lxc_namespace /
teardown_container run for real ("mount -o loop" at the partition's offset,
through nova's privsep entrypoints run in-process), on images built with
sfdisk, sgdisk and mkfs. A running container is stood in for by a process
holding a copy of the mounts in its own namespace, as libvirt's LXC
controller does. After each test nothing of it stays mounted or attached.
"""

import json
import os
import subprocess
import threading

import pytest

from tests.lib import images
from tests.lib.images import Part
from tests.lib.mountns import MountHolder
from tests.lib.nova_tree import import_patched_nova

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def nova():
    """The patched nova's disk API and image model."""
    if os.geteuid() != 0:
        pytest.skip("SKIPPED (needs root): loop devices and mounts")
    import_patched_nova()
    from nova import exception
    from nova.virt.disk import api
    from nova.virt.image import model
    return api, model, exception


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    return images.make_rootfs(tmp_path_factory.mktemp("rootfs") / "root")


def loops_of(path):
    """Loop devices whose backing file is PATH: [(name, offset, size)]."""
    out = subprocess.run(["losetup", "-J"], capture_output=True, text=True,
                         check=True).stdout
    return [(d["name"], int(d.get("offset") or 0),
             int(d.get("sizelimit") or 0))
            for d in (json.loads(out)["loopdevices"] if out.strip() else ())
            if (d.get("back-file") or "").split(" (deleted)")[0] == str(path)]


def autoclear(device):
    """Whether the kernel detaches the loop device with its last unmount."""
    with open("/sys/block/%s/loop/autoclear" % os.path.basename(device)) as f:
        return f.read().strip() == "1"


def mounted_at(path):
    with open("/proc/mounts") as f:
        return [line.split()[0] for line in f
                if line.split()[1] == os.path.realpath(str(path))]


@pytest.fixture
def container_dir(tmp_path):
    """The instance's rootfs dir; whatever a failing test leaves mounted or
    attached is released afterwards (and reported by the assertions)."""
    path = tmp_path / "rootfs"
    path.mkdir()
    yield path
    while mounted_at(path):
        subprocess.run(["umount", str(path)], check=False)
    for image in tmp_path.glob("*.raw"):
        for name, _offset, _size in loops_of(image):
            subprocess.run(["losetup", "-d", name], check=False)


def marker(path):
    with open(os.path.join(str(path), images.MARKER)) as f:
        return f.read().strip()


LAYOUTS = {
    # name: (label, parts, the partition number auto must choose)
    "mbr-one-partition": ("dos", lambda root: [
        Part(None, "linux", "ext4", root, "root")], 1),
    "mbr-root-in-logical": ("dos", lambda root: [
        Part(8, "swap"), Part(None, "linux", "ext4", root, "root",
                              logical=True)], 5),
    "mbr-init-on-second-linux": ("dos", lambda root: [
        Part(16, "linux", "ext4", None, "boot"),
        Part(8, "swap"),
        Part(16, "linux", "ext4", None, "data", logical=True),
        Part(None, "linux", "ext4", root, "root", logical=True)], 6),
    "gpt-cloud-image": ("gpt", lambda root: [
        Part(1, "bios-boot"), Part(16, "efi", "vfat", None, "esp"),
        Part(None, "linux", "ext4", root, "root")], 3),
}


def build(tmp_path, rootfs, layout):
    label, parts, number = LAYOUTS[layout]
    return images.build_image(tmp_path / "disk.raw", 96, label,
                              parts(rootfs)), number


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_root_partition_mounted_and_released(nova, rootfs, tmp_path,
                                             container_dir, layout):
    api, model, _exc = nova
    image, number = build(tmp_path, rootfs, layout)
    _n, start, size, name = image.partition(number)

    device = api.setup_container(model.LocalFileImage(image.path, "raw"),
                                 str(container_dir), partition="auto")

    assert name == "root" and marker(container_dir) == "root"
    assert os.path.exists(os.path.join(str(container_dir), "sbin", "init"))
    assert loops_of(image.path) == [(device, start, size)]
    assert autoclear(device)
    assert mounted_at(container_dir) == [device]
    with MountHolder() as container:
        # The container runs: nova unmounts the host's view, the device
        # stays in use by the container's copy of the mount.
        api.clean_lxc_namespace(str(container_dir))
        assert mounted_at(container_dir) == []
        assert loops_of(image.path) == [(device, start, size)]
        # Destroy: the container stops, and with its mount the kernel
        # detaches the device; teardown finds nothing left to release.
        container.stop()
        assert loops_of(image.path) == []
        api.teardown_container(str(container_dir), device)
    assert loops_of(image.path) == []


def test_unpartitioned_ext4_image_used_whole(nova, rootfs, tmp_path,
                                             container_dir):
    api, model, _exc = nova
    image = images.build_image(tmp_path / "disk.raw", 64, None,
                               [Part(fs="ext4", tree=rootfs, name="whole")])
    device = api.setup_container(model.LocalFileImage(image.path, "raw"),
                                 str(container_dir), partition="auto")
    assert marker(container_dir) == "whole"
    assert loops_of(image.path) == [(device, 0, 0)] and autoclear(device)
    # A container that never started: teardown while still mounted.
    api.teardown_container(str(container_dir))
    assert mounted_at(container_dir) == []
    assert loops_of(image.path) == []


def test_explicit_partition_wins(nova, rootfs, tmp_path, container_dir):
    api, model, _exc = nova
    image, _auto = build(tmp_path, rootfs, "mbr-init-on-second-linux")
    device = api.setup_container(model.LocalFileImage(image.path, "raw"),
                                 str(container_dir), partition=5)
    assert marker(container_dir) == "data"
    api.teardown_container(str(container_dir), device)
    assert loops_of(image.path) == [] and mounted_at(container_dir) == []


@pytest.fixture
def commands(nova, monkeypatch):
    """The names of the commands nova runs (they still run, for real)."""
    from oslo_concurrency import processutils
    run = []
    execute = processutils.execute

    def spy(*cmd, **kwargs):
        run.append(cmd[0])
        return execute(*cmd, **kwargs)
    monkeypatch.setattr(processutils, "execute", spy)
    return run


def test_a_cycle_runs_two_commands(nova, rootfs, tmp_path, container_dir,
                                   commands):
    """setup, clean_lxc_namespace, teardown of a partitioned image: one
    mount (which attaches the loop device) and one umount (after which the
    kernel detaches it); no losetup, kpartx or udevadm."""
    api, model, _exc = nova
    image, _n = build(tmp_path, rootfs, "gpt-cloud-image")
    device = api.setup_container(model.LocalFileImage(image.path, "raw"),
                                 str(container_dir), partition="auto",
                                 init_path="/sbin/init")
    api.clean_lxc_namespace(str(container_dir))
    api.teardown_container(str(container_dir), device)
    assert commands == ["mount", "umount"]
    assert loops_of(image.path) == [] and mounted_at(container_dir) == []


def test_a_failed_mount_leaves_no_loop_device(nova, rootfs, tmp_path,
                                              container_dir, commands):
    """mount -o loop on a partition without a filesystem (the BIOS boot
    one, asked for explicitly) fails, and mount releases the loop device
    it attached: nothing is left for nova to undo, no losetup runs."""
    api, model, exc = nova
    image, _n = build(tmp_path, rootfs, "gpt-cloud-image")
    with pytest.raises(exc.NovaException) as err:
        api.setup_container(model.LocalFileImage(image.path, "raw"),
                            str(container_dir), partition=1)
    assert "Failed to mount partition 1" in str(err.value)
    assert commands == ["mount"]
    assert loops_of(image.path) == [] and mounted_at(container_dir) == []


def test_a_loop_device_attached_by_losetup_is_still_detached(
        nova, rootfs, tmp_path, container_dir):
    """An instance started by an older nova: its loop device was attached
    by losetup (no autoclear) and is detached by teardown_container."""
    api, _model, _exc = nova
    image, number = build(tmp_path, rootfs, "gpt-cloud-image")
    _n, start, size, _name = image.partition(number)
    device = subprocess.run(
        ["losetup", "--find", "--show", "--offset", str(start),
         "--sizelimit", str(size), image.path], capture_output=True,
        text=True, check=True).stdout.strip()
    assert not autoclear(device)
    subprocess.run(["mount", device, str(container_dir)], check=True)
    api.clean_lxc_namespace(str(container_dir))
    assert loops_of(image.path) == [(device, start, size)]
    api.teardown_container(str(container_dir), device)
    assert loops_of(image.path) == []


def _corrupt_ebr_chain(image):
    """Point the first logical partition's record at itself."""
    ext_start = 18432 * 512           # sfdisk: p1 (8 MiB) ends at 18432
    with open(image.path, "r+b") as f:
        f.seek(ext_start + 446 + 16 + 8)
        f.write((0).to_bytes(4, "little"))
        f.seek(ext_start + 446 + 16 + 4)
        f.write(bytes([0x05]))
        f.seek(ext_start + 446 + 16 + 12)
        f.write((2048).to_bytes(4, "little"))


@pytest.mark.parametrize("case, reason", [
    ("corrupt-table", "loops back to sector"),
    ("past-end", "ends past the end of the image"),
    ("no-usable-fs", "no usable filesystem"),
    ("missing-partition", "partition 4 does not exist"),
])
def test_errors_leave_nothing_behind(nova, rootfs, tmp_path, container_dir,
                                     case, reason):
    api, model, exc = nova
    partition = "auto"
    if case == "no-usable-fs":
        image = images.build_image(tmp_path / "disk.raw", 64, "gpt", [
            Part(8, "swap"), Part(None, "efi", "vfat")])
    else:
        image, _n = build(tmp_path, rootfs, "mbr-root-in-logical")
    if case == "corrupt-table":
        _corrupt_ebr_chain(image)
    elif case == "past-end":
        os.truncate(image.path, 48 * images.MiB)
    elif case == "missing-partition":
        partition = 4

    with pytest.raises(exc.ImageUnacceptable) as err:
        api.setup_container(model.LocalFileImage(image.path, "raw"),
                            str(container_dir), partition=partition)
    assert image.path in str(err.value) and reason in str(err.value)
    assert mounted_at(container_dir) == [] and loops_of(image.path) == []


def test_table_read_through_a_block_device(nova, rootfs, tmp_path):
    """The path of qcow2 (through nbd) and volume-backed images: the table
    is read from a block device by the privsep entrypoint."""
    api, model, _exc = nova
    image, _n = build(tmp_path, rootfs, "gpt-cloud-image")
    loop = subprocess.run(["losetup", "--find", "--show", image.path],
                          capture_output=True, text=True,
                          check=True).stdout.strip()
    try:
        via_device = api._read_partition_table(model.LocalBlockImage(loop))
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)
    via_file = api._read_partition_table(model.LocalFileImage(image.path,
                                                              "raw"))
    assert via_device == via_file
    assert [p.number for p in via_device.root_candidates()] == [3]


def test_read_block_device_refuses_a_fifo_without_waiting(nova, tmp_path):
    """The privsep entrypoint is given a FIFO nobody writes to: it refuses
    it at once instead of waiting in open() for a writer (which would hold
    a privsep thread forever)."""
    from nova.privsep import fs as privsep_fs
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    outcome = []

    def read():
        try:
            outcome.append(privsep_fs.read_block_device(str(fifo), 0, 512))
        except Exception as exc:    # what the test checks
            outcome.append(exc)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    try:
        assert not reader.is_alive(), "read_block_device waits on a FIFO"
    finally:
        if reader.is_alive():
            # Let the blocked open() return: a writer comes and goes.
            os.close(os.open(str(fifo), os.O_WRONLY | os.O_NONBLOCK))
            reader.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], ValueError)
    assert str(outcome[0]) == "%s is not a block device" % fifo


def test_qcow2_over_partitioned_raw(nova, rootfs, tmp_path, container_dir):
    if not os.path.exists("/sys/block/nbd0"):
        pytest.skip("SKIPPED: this kernel has no nbd devices "
                    "(/sys/block/nbd0 is absent, qemu-nbd cannot connect "
                    "/dev/nbd0): nova's qcow2 path cannot run here")
    api, model, _exc = nova
    image, number = build(tmp_path, rootfs, "gpt-cloud-image")
    qcow2 = images.to_qcow2(image.path, tmp_path / "disk.qcow2")
    device = api.setup_container(model.LocalFileImage(qcow2, "qcow2"),
                                 str(container_dir), partition="auto")
    try:
        assert marker(container_dir) == "root"
        assert device.startswith("/dev/nbd")
        api.clean_lxc_namespace(str(container_dir))
    finally:
        api.teardown_container(str(container_dir), device)
    assert mounted_at(container_dir) == []
    assert not os.path.exists("/sys/block/%s/pid" % os.path.basename(device))
