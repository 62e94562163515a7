"""Property tests of the partition table reader our patches add to nova
(nova/virt/disk/parttable.py, loaded from the bookworm patch): on random
bytes, random tables and corrupted real images (sfdisk/sgdisk) it returns a
table or raises PartitionTableError, nothing else, reads only inside the
image, and never hangs (every example has a deadline)."""

import shutil
import struct

import pytest

try:
    from hypothesis import given, HealthCheck, settings, strategies as st
except ImportError:     # the py2.7 stage: no hypothesis for 2.7 here
    pytest.skip("SKIPPED: hypothesis is not installed for this Python "
                "(Debian's python3 has python3-hypothesis)",
                allow_module_level=True)

from tests.lib import images
from tests.lib import patchfiles

pt = patchfiles.load_module("bookworm", "nova/virt/disk/parttable.py")
SECTOR = 512
PROPERTY = settings(max_examples=300, deadline=2000,
                    suppress_health_check=[HealthCheck.too_slow])


def reader(data, log=None):
    """read(offset, length) over DATA that checks it stays in bounds."""
    def read(offset, length):
        assert 0 <= offset and offset + length <= len(data), (offset, length)
        if log is not None:
            log.append((offset, length))
        return bytes(data[offset:offset + length])
    return read


def parse(data):
    """The table of DATA, or None when the reader rejected it."""
    try:
        table = pt.read_table(reader(data), len(data))
    except pt.PartitionTableError:
        return None
    assert table.scheme in (None, "mbr", "gpt")
    numbers = [p.number for p in table.partitions]
    assert len(numbers) == len(set(numbers))
    for part in table.partitions:
        assert part.size > 0 and part.end <= len(data)
        assert part.kind in (pt.LINUX, pt.LINUX_DATA, pt.SWAP, pt.EXTENDED,
                             pt.EFI_SYSTEM, pt.BIOS_BOOT, pt.OTHER)
    return table


@PROPERTY
@given(st.binary(min_size=0, max_size=16 * SECTOR))
def test_random_bytes(data):
    parse(data)


@PROPERTY
@given(st.binary(min_size=512, max_size=512), st.integers(0, 1 << 20))
def test_random_boot_sector_with_a_signature(sector, extra):
    parse(sector[:510] + b"\x55\xaa" + b"\0" * extra)


ENTRY = st.tuples(st.sampled_from([0, 0x05, 0x0f, 0x85, 0x83, 0x82, 0xee,
                                   0xef, 0x0c]),
                  st.integers(0, 300), st.integers(0, 300))


def mbr(entries, flags=0):
    sector = bytearray(SECTOR)
    for i, (ptype, lba, count) in enumerate(entries):
        struct.pack_into("<B3sB3sII", sector, 446 + 16 * i, flags, b"\0" * 3,
                         ptype, b"\0" * 3, lba, count)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


@PROPERTY
@given(st.lists(st.lists(ENTRY, max_size=4), min_size=1, max_size=40),
       st.integers(64, 320))
def test_random_tables_and_logical_chains(records, sectors):
    """A boot sector and extended boot records everywhere: chains that
    loop, leave their extended partition or run off the image."""
    data = bytearray(sectors * SECTOR)
    for lba, entries in enumerate(records):
        at = (lba * 7) % sectors * SECTOR
        data[at:at + SECTOR] = mbr(entries)
    table = parse(data)
    if table is not None and table.scheme == "mbr":
        logical = [p.number for p in table.partitions if p.number > 4]
        assert logical == list(range(5, 5 + len(logical)))


# -- corrupted real images ------------------------------------------------

@pytest.fixture(scope="module")
def real_images(tmp_path_factory):
    if not (shutil.which("sfdisk") and shutil.which("sgdisk")):
        pytest.skip("SKIPPED: sfdisk/sgdisk missing (build/apt/rootfs.txt)")
    tmp = tmp_path_factory.mktemp("tables")
    built = {
        "mbr": images.build_image(tmp / "mbr.raw", 16, "dos", [
            images.Part(1, "swap"), images.Part(2, "linux", logical=True),
            images.Part(1, "data", logical=True),
            images.Part(None, "linux", logical=True)]),
        "gpt": images.build_image(tmp / "gpt.raw", 8, "gpt", [
            images.Part(1, "bios-boot"), images.Part(2, "efi"),
            images.Part(None, "linux")]),
    }
    out = {}
    for name, image in built.items():
        with open(image.path, "rb") as f:
            data = f.read()
        out[name] = (data, pt.read_table(reader(data), len(data)))
    return out


def test_real_images_read_as_sfdisk_made_them(real_images):
    data, table = real_images["mbr"]
    assert [p.number for p in table.partitions] == [1, 2, 5, 6, 7]
    assert [p.number for p in table.root_candidates()] == [5, 6, 7]
    data, table = real_images["gpt"]
    assert [p.kind for p in table.partitions] == [
        pt.BIOS_BOOT, pt.EFI_SYSTEM, pt.LINUX]


CORRUPTION = st.lists(st.tuples(st.integers(0, 1 << 30),
                                st.binary(min_size=1, max_size=16)),
                      min_size=1, max_size=8)


def corrupt(data, changes, pick):
    data = bytearray(data)
    for where, junk in changes:
        at = pick(where) % (len(data) - len(junk))
        data[at:at + len(junk)] = junk
    return data


def near_tables(size):
    """Map an integer to an offset where the tables live: the first 64 KiB
    (MBR, primary GPT), the sectors at each MiB (extended boot records) and
    the last 17 KiB (backup GPT)."""
    regions = [(0, 65536), (size - 17 * 1024, size)]
    regions += [(mib << 20, (mib << 20) + SECTOR)
                for mib in range(1, size >> 20)]

    def pick(where):
        lo, hi = regions[where % len(regions)]
        return lo + (where // len(regions)) % (hi - lo)
    return pick


@PROPERTY
@given(changes=CORRUPTION, name=st.sampled_from(["mbr", "gpt"]))
def test_corrupted_real_images(real_images, changes, name):
    data, _table = real_images[name]
    parse(corrupt(data, changes, near_tables(len(data))))


@PROPERTY
@given(changes=CORRUPTION)
def test_damaged_primary_gpt_falls_back_to_the_backup(real_images, changes):
    data, table = real_images["gpt"]
    primary = (SECTOR, 34 * SECTOR)     # header + entry array

    def pick(where):
        return primary[0] + where % (primary[1] - primary[0] - 16)
    assert parse(corrupt(data, changes, pick)) == table
