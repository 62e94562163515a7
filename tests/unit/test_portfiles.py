import errno
import json
import os
import resource
import stat
import subprocess

import pytest

from nova_lxc_contrail.exception import PortFileError
from nova_lxc_contrail.portfiles import PortFiles

pytestmark = pytest.mark.py27


def test_save_load_remove(tmp_path, make_port):
    files = PortFiles(str(tmp_path / 'ports'))       # created on demand
    port = make_port()
    files.save(port.to_record())
    assert files.ids() == [port.port_id]
    with open(files.path(port.port_id)) as f:
        assert json.load(f)['system-name'] == port.ifname
    assert files.load(port.port_id)['id'] == port.port_id
    assert files.remove(port.port_id) is True
    assert files.remove(port.port_id) is False        # missing: fine
    assert files.ids() == [] and files.load(port.port_id) is None


def test_replace_is_atomic_and_leaves_no_temporary(tmp_path, make_port):
    files = PortFiles(str(tmp_path))
    port = make_port()
    for name in (u'a', u'b'):
        port.display_name = name
        files.save(port.to_record())
    assert os.listdir(str(tmp_path)) == [port.port_id]
    assert files.load(port.port_id)['display-name'] == 'b'


def test_only_uuid_names_are_ports_and_bad_files_are_skipped(tmp_path,
                                                             make_port):
    files = PortFiles(str(tmp_path))
    good = make_port()
    files.save(good.to_record())
    bad = make_port().port_id
    (tmp_path / bad).write_text(u'{not json')
    (tmp_path / 'README').write_text(u'{}')
    (tmp_path / ('.%s.1.2.tmp' % good.port_id)).write_text(u'{}')
    assert files.ids() == sorted([good.port_id, bad])
    assert [r['id'] for r in files.load_all()] == [good.port_id]


def test_missing_directory_has_no_ports(tmp_path):
    assert PortFiles(str(tmp_path / 'nowhere')).ids() == []


# -- a failing disk: the old file stays, no temporary file is left -----------

def _record(make_port, port_id=None, name_size=0):
    port = make_port(**({'port_id': port_id} if port_id else {}))
    port.display_name = u'n' * name_size
    return port.to_record()


def _saved_in_child(files, record, fsize_limit):
    """files.save(record) in a child process under RLIMIT_FSIZE; 'saved',
    or the text of the PortFileError it raised (anything else: 'crash')."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                       # the child
        outcome = b'crash'
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (fsize_limit, resource.RLIM_INFINITY))
            files.save(record)
            outcome = b'saved'
        except PortFileError as exc:
            outcome = str(exc).encode('utf-8')
        finally:
            os.write(write_end, outcome)
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, 'rb') as pipe:
            return pipe.read().decode('utf-8')
    finally:
        os.waitpid(pid, 0)


def test_a_save_beyond_rlimit_fsize_keeps_the_old_file(tmp_path, make_port):
    files = PortFiles(str(tmp_path))
    old = _record(make_port)
    files.save(old)
    new = _record(make_port, old['id'], name_size=20000)
    outcome = _saved_in_child(files, new, 4096)       # a short write first
    assert outcome.startswith('cannot save port file %s' % files.path(
        old['id'])) and 'too large' in outcome, outcome
    assert files.load(old['id']) == old
    assert os.listdir(str(tmp_path)) == [old['id']]
    assert _saved_in_child(files, new, 65536) == 'saved'
    assert files.load(old['id']) == new


@pytest.fixture
def small_fs(tmp_path):
    """A 256 KiB tmpfs of the test's own (needs root)."""
    if os.geteuid() != 0:
        pytest.skip('SKIPPED (needs root): mounts a small tmpfs to fill')
    mnt = str(tmp_path / 'small')
    os.mkdir(mnt)
    subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=256k',
                           'nlc-test', mnt])
    try:
        yield mnt
    finally:
        subprocess.check_call(['umount', mnt])


def _fill(path):
    """Fill the filesystem of path; return the open filler file."""
    filler = open(path, 'wb', 0)
    chunk = b'\0' * PAGE
    try:
        while True:
            filler.write(chunk)
    except (IOError, OSError) as exc:
        assert exc.errno == errno.ENOSPC
    return filler


PAGE = 4096


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(small_fs,
                                                                make_port):
    ports = os.path.join(small_fs, 'ports')
    files = PortFiles(ports)
    old = _record(make_port)
    files.save(old)
    new = _record(make_port, old['id'], name_size=3 * PAGE)
    filler = _fill(os.path.join(small_fs, 'filler'))
    try:
        size = os.fstat(filler.fileno()).st_size
        # 0 bytes free: the first write fails; then one page free: the
        # first write is short and the second fails
        for free in (0, PAGE):
            os.ftruncate(filler.fileno(), size - free)
            with pytest.raises(PortFileError) as failed:
                files.save(new)
            assert files.path(old['id']) in str(failed.value)
            assert 'No space left on device' in str(failed.value)
            assert files.load(old['id']) == old
            assert os.listdir(ports) == [old['id']]
        os.ftruncate(filler.fileno(), 0)
        files.save(new)                                # room again
        assert files.load(old['id']) == new
    finally:
        filler.close()


def test_data_and_directory_are_synced_around_the_rename(tmp_path,
                                                         make_port,
                                                         monkeypatch):
    """The real fsync and rename run; the order of the calls is recorded."""
    calls = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        mode = os.fstat(fd).st_mode
        calls.append('fsync ' + ('dir' if stat.S_ISDIR(mode) else
                                 'file %d' % os.fstat(fd).st_size))
        return real_fsync(fd)

    def rename(src, dst):
        calls.append('rename')
        return real_rename(src, dst)

    files = PortFiles(str(tmp_path))
    record = _record(make_port)
    size = len(json.dumps(record, sort_keys=True).encode('utf-8'))
    monkeypatch.setattr(os, 'fsync', fsync)
    monkeypatch.setattr(os, 'rename', rename)
    files.save(record)
    assert calls == ['fsync file %d' % size, 'rename', 'fsync dir']
    del calls[:]
    files.remove(record['id'])
    assert calls == ['fsync dir']
