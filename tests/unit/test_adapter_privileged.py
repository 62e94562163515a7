"""The privileged half of both adapters (nova_lxc_contrail.privileged) and
the icehouse helper command around it: everything nova-compute sends is
checked before anything is created. No root: netlink (the only part that
needs CAP_NET_ADMIN) is replaced by a recorder; port files are real."""
from __future__ import absolute_import

import io
import json
import os

import pytest

from nova_lxc_contrail import privileged

pytestmark = pytest.mark.py27


@pytest.fixture
def ports_dir(tmp_path):
    return str(tmp_path / 'ports')


def helper(argv, stdin=u''):
    if isinstance(stdin, bytes):      # json.dumps on Python 2
        stdin = stdin.decode('ascii')
    return privileged.main(argv, stdin=io.StringIO(stdin))


def test_plug_writes_the_validated_port(kernel, ports_dir, make_port):
    port = make_port()
    record = dict(port.to_record(), extra='dropped')
    assert helper(['plug', ports_dir, port.ifname],
                  json.dumps(record)) == 0
    assert kernel == [('ensure', port.ifname)]
    with open(os.path.join(ports_dir, port.port_id)) as f:
        saved = json.load(f)
    assert 'extra' not in saved
    assert saved['system-name'] == port.ifname
    assert saved['id'] == port.port_id and saved['type'] == 0


def test_unplug_removes_file_and_bridge(kernel, ports_dir, make_port):
    port = make_port()
    helper(['plug', ports_dir, port.ifname], json.dumps(port.to_record()))
    assert helper(['unplug', ports_dir, port.ifname, port.port_id,
                   'tap' + port.port_id[:11]]) == 0
    assert kernel[-1] == ('delete', port.ifname)
    assert os.listdir(ports_dir) == []
    # unplugging a port that is not there is not an error
    assert helper(['unplug', ports_dir, port.ifname, port.port_id]) == 0


@pytest.mark.parametrize('change, message', [
    (dict(id='../../etc/x'), 'port id is not a UUID'),
    (dict(mac='01:00:5e:00:00:01'), 'not a unicast'),
    ({'system-name': 'eth0'}, 'its bridge is eth0'),
    ({'vn-id': None}, 'no network'),
])
def test_bad_records_create_nothing(kernel, ports_dir, make_port, capsys,
                                    change, message):
    port = make_port()
    record = port.to_record()
    record.update(change)
    if 'mac' in change:
        record['mac-address'] = record.pop('mac')
    assert helper(['plug', ports_dir, port.ifname], json.dumps(record)) == 1
    assert message in capsys.readouterr().err
    assert kernel == [] and not os.path.exists(ports_dir)


@pytest.mark.parametrize('argv, stdin, message', [
    (['plug', 'relative/ports', 'br0123456789a'], None, 'absolute'),
    (['plug', '/var/lib/x/../../etc', 'br0123456789a'], None, 'normalized'),
    (['plug', '/tmp/p', 'br0123456789a'], u'{not json', 'no JSON'),
    (['plug', '/tmp/p', 'br0123456789a'], u'[1, 2]', 'incomplete record'),
    (['unplug', '/tmp/p', 'br/../eth0', '6c5fae53-8a41-4a6e-9d43-'
      '2b1c1b1bd2a1'], None, 'not a usable device name'),
    (['unplug', '/tmp/p', 'br0123456789a', 'not-a-uuid'], None,
     'not a UUID'),
    (['unplug', '/tmp/p', 'br0123456789a', '6c5fae53-8a41-4a6e-9d43-'
      '2b1c1b1bd2a1', 'a b'], None, 'not a usable device name'),
])
def test_bad_arguments_are_refused(kernel, make_port, capsys, argv, stdin,
                                   message):
    if stdin is None:
        stdin = json.dumps(make_port(ifname=argv[2]).to_record()) \
            if argv[0] == 'plug' else u''
    assert helper(argv, stdin) == 1
    err = capsys.readouterr().err
    assert err.startswith('contrail-bridge-helper: %s failed: ' % argv[0])
    assert message in err
    assert kernel == []


def test_usage_errors_exit_2(capsys):
    for argv in ([], ['frobnicate'], ['unplug', '/tmp/p', 'br0']):
        with pytest.raises(SystemExit) as exc:
            helper(argv)
        assert exc.value.code == 2
    assert 'usage: contrail-bridge-helper' in capsys.readouterr().err
