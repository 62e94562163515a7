"""Disk images for the LXC tests: raw images with or without a partition
table, holding busybox root filesystems, built WITHOUT root.

Tables come from sfdisk (MBR, with logical partitions) and sgdisk (GPT);
filesystems are written straight into the image file at their partition's
offset (``mkfs.ext4 -E offset=... -d DIR``, ``mkfs.vfat --offset``), so no
loop device or mount is involved in building.  Every filesystem carries a
marker file naming it, for tests to check which one got mounted.

    rootfs = make_rootfs(tmp / "root", init=Symlink("/bin/busybox"))
    image = build_image(tmp / "disk.raw", 256, "gpt", [
        Part(1, "bios-boot"), Part(16, "efi", fs="vfat"),
        Part(None, "linux", fs="ext4", tree=rootfs, name="root")])
    image.partitions   # [(number, start, size, name)...] as the table says

Debian packages: fdisk, gdisk, e2fsprogs, dosfstools, busybox-static,
qemu-utils (see build/apt/rootfs.txt).
"""

import collections
import json
import os
import shutil
import subprocess
import tempfile

MiB = 1024 * 1024
BUSYBOX = "/bin/busybox"
MARKER = ".nlc-marker"
INIT = "/sbin/init"
APPLETS = ("sh", "ash", "cat", "echo", "ls", "mkdir", "mount", "sleep", "ip",
           "ping", "hostname", "ifconfig", "date", "ps", "kill", "true")
DIRS = ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root",
        "var/log")

# A minimal init: leave proof of life, then stay up as pid 1.
INIT_SCRIPT = """#!/bin/sh
echo "init started pid=$$" > /var/log/marker
exec sleep 100000
"""

# Type codes: sfdisk's (MBR) and sgdisk's (GPT).
TYPES = {
    "linux": ("83", "8300"),
    "swap": ("82", "8200"),
    "efi": ("ef", "EF00"),
    "bios-boot": (None, "EF02"),
    "linux-home": (None, "8302"),
    "data": ("0c", "0700"),
}

EXTENDED = ("5", "f", "85")

Part = collections.namedtuple("Part", "size type fs tree name logical")
Part.__new__.__defaults__ = (None, None, None, None, None, False)
Part.__doc__ = """A partition: size in MiB (None: the rest of the disk or of the
extended partition), type (a key of TYPES), fs ("ext4", "vfat" or None),
tree (a directory copied into an ext4 filesystem), name (written into the
marker file, default "p<number>"), logical (MBR: inside the extended
partition, numbered from 5)."""


class Script(str):
    """The text of an executable file."""


class Symlink(str):
    """The target of a symbolic link."""


class Image(collections.namedtuple("Image", "path size label partitions")):
    """A built image: partitions are (number, start, size, name) in bytes."""

    def partition(self, number):
        for part in self.partitions:
            if part[0] == number:
                return part
        raise KeyError(number)


def run(*cmd, **kwargs):
    """Run CMD and return its stdout; RuntimeError with its stderr if it
    fails."""
    cmd = [str(c) for c in cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if res.returncode:
        raise RuntimeError("%s failed (exit %d): %s" % (
            " ".join(cmd), res.returncode, res.stderr.strip()))
    return res.stdout


def _put(root, path, what):
    dest = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):
        os.remove(dest)
    if isinstance(what, Symlink):
        os.symlink(what, dest)
    elif what is not None:
        with open(dest, "w") as f:
            f.write(what)
        os.chmod(dest, 0o755 if isinstance(what, Script) else 0o644)


def make_rootfs(root, init=Script(INIT_SCRIPT), init_path=INIT, files=None):
    """Fill directory ROOT with a busybox root filesystem and return it.

    init is the Script or Symlink put at init_path (None: no init);
    files maps more paths to Script, Symlink or plain text.
    """
    root = str(root)
    for d in DIRS:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    for applet in APPLETS:
        _put(root, "/bin/" + applet, Symlink("busybox"))
    _put(root, init_path, init)
    for path, what in (files or {}).items():
        _put(root, path, what)
    return root


# A networked guest (tests/e2e): rcS configures lo and eth0 with the address
# in /etc/nlc/address and leaves /var/log/nlc-ready; the init runs it and
# stays up as pid 1, either this script or busybox's own init (inittab).
RCS = "/etc/nlc/rcS"
READY = "/var/log/nlc-ready"
RCS_SCRIPT = """#!/bin/sh
address=$(cat /etc/nlc/address)
ip link set lo up && ip addr add "$address" dev eth0 && ip link set eth0 up
echo "ready $address rc=$?" > %s
""" % READY
NET_INIT_SCRIPT = """#!/bin/sh
trap 'exit 0' TERM
%s
while :; do sleep 3600 & wait $!; done
""" % RCS


def make_net_rootfs(root, address, init="script", init_path=INIT):
    """A busybox root filesystem in ROOT whose init gives eth0 ADDRESS (CIDR,
    e.g. "198.51.100.11/24") and stays up. init: "script" (a shell script
    at init_path) or "busybox" (init_path an absolute symlink to
    /bin/busybox, which runs rcS from /etc/inittab)."""
    files = {RCS: Script(RCS_SCRIPT), "/etc/nlc/address": address + "\n"}
    if init == "busybox":
        files["/etc/inittab"] = "::sysinit:%s\n" % RCS
        return make_rootfs(root, init=Symlink(BUSYBOX), init_path=init_path,
                           files=files)
    if init != "script":
        raise ValueError("unknown init %r" % init)
    return make_rootfs(root, init=Script(NET_INIT_SCRIPT), init_path=init_path,
                       files=files)


def _mbr_script(parts):
    lines = ["label: dos"]
    extended = False
    for part in parts:
        if part.logical and not extended:
            lines.append("type=5")
            extended = True
        size = "size=%dMiB, " % part.size if part.size else ""
        lines.append("%stype=%s" % (size, TYPES[part.type][0]))
    return "\n".join(lines) + "\n"


def _gpt_args(parts):
    args = []
    for number, part in enumerate(parts, 1):
        size = "+%dM" % part.size if part.size else "0"
        args += ["-n", "%d:0:%s" % (number, size),
                 "-t", "%d:%s" % (number, TYPES[part.type][1])]
    return args


def _table(path):
    """[(number, start, size)] in bytes of the partitions that hold data
    (not an extended container), as sfdisk reads the table."""
    table = json.loads(run("sfdisk", "-J", path))["partitiontable"]
    sector = table.get("sectorsize", 512)
    return [(int(e["node"][len(path):]), e["start"] * sector,
             e["size"] * sector)
            for e in table.get("partitions", ())
            if e["type"].lower() not in EXTENDED]


def _mkfs(path, fs, offset, size, tree, name):
    with tempfile.TemporaryDirectory(prefix="nlc-fs-") as scratch:
        if tree is None:
            tree = scratch
        marker = os.path.join(tree, MARKER)
        with open(marker, "w") as f:
            f.write(name + "\n")
        try:
            if fs == "ext4":
                run("mkfs.ext4", "-q", "-F", "-L", name[:16], "-d", tree, "-E",
                    "offset=%d,lazy_itable_init=0,lazy_journal_init=0" % offset,
                    path, "%dk" % (size // 1024))
            elif fs == "vfat":
                fat = 32 if size >= 512 * MiB else 16 if size >= 16 * MiB \
                    else 12
                run("mkfs.vfat", "--offset=%d" % (offset // 512), "-F", fat,
                    "-n", name[:11].upper(), path, size // 1024)
                run("mcopy", "-i", "%s@@%d" % (path, offset), marker, "::")
            else:
                raise ValueError("no mkfs for %r" % fs)
        finally:
            if tree != scratch:
                os.remove(marker)


def build_image(path, size_mib, label, parts=()):
    """Build a sparse raw image of size_mib MiB at PATH and return its Image.

    label: "dos", "gpt" or None (one filesystem on the whole image: parts
    holds one Part, whose size and type are ignored).
    """
    path = str(path)
    with open(path, "wb") as f:
        f.truncate(size_mib * MiB)
    if label is None:
        part = parts[0]
        _mkfs(path, part.fs, 0, size_mib * MiB, part.tree, part.name or "whole")
        return Image(path, size_mib * MiB, None, [])
    if label == "dos":
        run("sfdisk", "-q", path, input=_mbr_script(parts))
    elif label == "gpt":
        run("sgdisk", *(_gpt_args(parts) + [path]))
    else:
        raise ValueError("unknown label %r" % label)
    partitions = []
    for part, (number, start, size) in zip(parts, _table(path)):
        name = part.name or "p%d" % number
        if part.fs:
            _mkfs(path, part.fs, start, size, part.tree, name)
        partitions.append((number, start, size, name))
    return Image(path, size_mib * MiB, label, partitions)


def to_qcow2(raw, qcow2):
    """A qcow2 copy of a raw image (qemu-img)."""
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2)
    return str(qcow2)
