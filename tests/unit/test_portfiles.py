import json
import os

import pytest

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
