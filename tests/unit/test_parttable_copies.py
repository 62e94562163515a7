"""The modules our patches add to nova (the partition table reader and the
in-root path resolver) and their nova unit tests are one file each: the
icehouse and bookworm copies are byte-identical, added once and never
modified by a later patch, and the shipped copies run on this Python (the
py2.7 stage runs them on 2.7, the icehouse compute nodes' Python)."""
from __future__ import absolute_import

import struct

import pytest

from tests.lib import patchfiles

MODULE = 'nova/virt/disk/parttable.py'
ROOTPATH = 'nova/virt/disk/rootpath.py'
# The same file under both series' paths.
SHARED = [
    (MODULE, MODULE),
    ('nova/tests/virt/disk/test_parttable.py',
     'nova/tests/unit/virt/disk/test_parttable.py'),
    (ROOTPATH, ROOTPATH),
    ('nova/tests/virt/disk/test_rootpath.py',
     'nova/tests/unit/virt/disk/test_rootpath.py'),
]


# the Debian series (nova's newer tree layout: the second path of SHARED)
DEBIAN_SERIES = ('bookworm', 'trixie')


@pytest.mark.parametrize('debian', DEBIAN_SERIES)
@pytest.mark.parametrize('icehouse, newer', SHARED)
def test_copies_are_identical(icehouse, newer, debian):
    ice = patchfiles.added_file('icehouse', icehouse)
    assert ice == patchfiles.added_file(debian, newer)
    assert ice.count('\n') > 50


@pytest.mark.parametrize('series, path', [
    (series, pair[min(i, 1)]) for pair in SHARED
    for i, series in enumerate(('icehouse',) + DEBIAN_SERIES)])
def test_added_once_never_modified(series, path):
    assert len(patchfiles.touching(series, path)) == 1


def _mbr(entries):
    sector = bytearray(512)
    for i, (ptype, lba, count) in enumerate(entries):
        struct.pack_into('<B3sB3sII', sector, 446 + 16 * i, 0, b'\0' * 3,
                         ptype, b'\0' * 3, lba, count)
    sector[510:512] = b'\x55\xaa'
    return bytes(sector)


def test_shipped_module_runs_on_this_python():
    parttable = patchfiles.load_module('bookworm', MODULE)
    image = _mbr([(0x82, 2048, 2048), (0x83, 4096, 8192)]) + b'\0' * (
        12288 * 512 - 512)
    table = parttable.read_table(
        lambda offset, length: image[offset:offset + length], len(image))
    assert table.scheme == 'mbr'
    assert [(p.number, p.kind) for p in table.partitions] == [
        (1, parttable.SWAP), (2, parttable.LINUX)]
    assert [p.number for p in table.root_candidates()] == [2]
    with pytest.raises(parttable.PartitionOutOfRange):
        parttable.read_table(lambda offset, length: image[offset:offset +
                                                          length], 8192 * 512)


def test_shipped_rootpath_runs_on_this_python(tmp_path):
    rootpath = patchfiles.load_module('icehouse', ROOTPATH)
    root = tmp_path / 'root'
    (root / 'bin').mkdir(parents=True)
    (root / 'bin' / 'init').write_bytes(b'\x7fELF')
    (root / 'bin' / 'init').chmod(0o755)
    (root / 'sbin').mkdir()
    (root / 'sbin' / 'init').symlink_to('/bin/init')
    (root / 'sbin' / 'loop').symlink_to('loop')
    assert rootpath.check_executable(str(root), '/sbin/init') == '/bin/init'
    with pytest.raises(rootpath.RootPathError):
        rootpath.check_executable(str(root), '/sbin/loop')
