"""The privileged half of both adapters (nova_lxc_contrail.privileged) and
the icehouse helper command around it: everything nova-compute sends is
checked before anything is created. No root: netlink (the only part that
needs CAP_NET_ADMIN) is replaced by a recorder; port files are real."""
from __future__ import absolute_import

import io
import json
import os
import subprocess
import sys

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
    (['plug', '/tmp/p', 'br0123456789a'], u'[1, 2]', 'not a JSON object'),
    (['unplug', '/tmp/p', 'br/../eth0', '6c5fae53-8a41-4a6e-9d43-'
      '2b1c1b1bd2a1'], None, 'not the name of a port bridge'),
    (['unplug', '/tmp/p', 'br0123456789a', 'not-a-uuid'], None,
     'not a UUID'),
    (['unplug', '/tmp/p', 'br0123456789a', '6c5fae53-8a41-4a6e-9d43-'
      '2b1c1b1bd2a1', 'a b'], None, 'not the name of a port device'),
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


# -- strict input (issue 17 item 9) and port names only (item 5) -------------

@pytest.mark.parametrize('change, message', [
    ({'type': True}, 'type is not an integer: True'),
    ({'type': False}, 'type is not an integer: False'),
    ({'type': 1.0}, 'type is not an integer: 1.0'),
    ({'rx-vlan-id': '-1'}, 'rx-vlan-id is not an integer'),
    ({'display-name': 7}, 'display-name is not a string: 7'),
    ({'hostname': ['vm']}, 'hostname is not a string'),
])
def test_members_of_the_wrong_type_or_size_are_refused(kernel, ports_dir,
                                                       make_port, capsys,
                                                       change, message):
    port = make_port()
    record = dict(port.to_record(), **change)
    assert helper(['plug', ports_dir, port.ifname], json.dumps(record)) == 1
    assert message in capsys.readouterr().err
    assert kernel == [] and not os.path.exists(ports_dir)
    with pytest.raises(ValueError) as through_privsep:    # the same checks
        privileged.plug(port.ifname, record, ports_dir)
    assert message in str(through_privsep.value)


def test_a_record_over_the_size_cap_is_refused(kernel, ports_dir,
                                               make_port):
    port = make_port()
    record = dict(port.to_record(), **{'display-name': u'x' * 5000000})
    with pytest.raises(ValueError) as refused:       # the privsep path
        privileged.plug(port.ifname, record, ports_dir)
    assert 'bytes (at most %d)' % privileged.MAX_RECORD in str(refused.value)
    assert kernel == [] and not os.path.exists(ports_dir)


@pytest.mark.parametrize('stdin, message', [
    (u'[' * 100000, 'over 16384 bytes'),
    (u'[' * 10000, 'nested too deeply'),
    (u'{"display-name": "%s"}' % (u'x' * 5000000), 'over 16384 bytes'),
], ids=['100000 [', '10000 [', '5 MB'])
def test_hostile_stdin_is_a_clear_refusal(kernel, make_port, ports_dir,
                                          capsys, stdin, message):
    assert helper(['plug', ports_dir, make_port().ifname], stdin) == 1
    err = capsys.readouterr().err
    assert err.startswith('contrail-bridge-helper: plug failed: ')
    assert message in err
    assert kernel == []


@pytest.mark.parametrize('bridge', ['eth0', 'br-ex', 'br0123456789',
                                    'brABCDEF01234', 'br0123456789ab',
                                    'virbr0'])
def test_devices_not_named_as_a_port_s_are_refused(kernel, ports_dir,
                                                   make_port, capsys, bridge):
    port = make_port(ifname=bridge)
    assert helper(['plug', ports_dir, bridge],
                  json.dumps(port.to_record())) == 1
    assert helper(['unplug', ports_dir, bridge, port.port_id]) == 1
    assert capsys.readouterr().err.count('not the name of a port bridge') == 2
    assert kernel == [] and not os.path.exists(ports_dir)


def _filters(series):
    """The shipped rootwrap filters of series, loaded by oslo.rootwrap."""
    filters = pytest.importorskip(
        'oslo_rootwrap.filters', reason='SKIPPED: oslo.rootwrap is not '
        'installed here: the shipped filters were not checked')
    from oslo_rootwrap import wrapper
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), 'etc', series, 'rootwrap.d')
    assert filters
    return wrapper.load_filters([path])


def _allowed(filters, argv):
    """Whether one of the shipped RegExpFilters allows argv (oslo.rootwrap
    adds filters of its own, e.g. for privsep-helper)."""
    return any(f.match(argv) for f in filters
               if type(f).__name__ == 'RegExpFilter')


def test_the_icehouse_filter_refuses_arguments_ending_in_a_newline():
    filters = _filters('icehouse')
    port_id = '6c5fae53-8a41-4a6e-9d43-2b1c1b1bd2a1'
    good = [['contrail-bridge-helper', 'plug', '/var/lib/contrail/ports',
             'br6c5fae53-8a'],
            ['contrail-bridge-helper', 'unplug', '/var/lib/contrail/ports',
             'br6c5fae53-8a', port_id],
            ['contrail-bridge-helper', 'unplug', '/var/lib/contrail/ports',
             'br6c5fae53-8a', port_id, 'tap6c5fae53-8a']]
    for argv in good:
        assert _allowed(filters, argv), argv
        for i in range(2, len(argv)):           # every argument but the verb
            bad = list(argv)
            bad[i] += '\n'
            assert not _allowed(filters, bad), bad


def test_the_bookworm_filter_refuses_arguments_ending_in_a_newline():
    filters = _filters('bookworm')
    argv = ['privsep-helper', '--config-file', '/etc/nova/nova.conf',
            '--privsep_context', 'nova_lxc_contrail.privsep.vif_plug',
            '--privsep_sock_path', '/tmp/tmpab12cd/privsep.sock']
    assert _allowed(filters, argv)
    for i in (2, 6):
        bad = list(argv)
        bad[i] += '\n'
        assert not _allowed(filters, bad), bad


# What a fresh interpreter has loaded after importing one module: run in a
# child so that no module of this test run counts.
_LOADED = """
import sys
import %s
print('\\n'.join(sorted(sys.modules)))
"""


def loaded_by(module):
    overlay = os.path.dirname(os.path.dirname(os.path.abspath(
        privileged.__file__)))
    env = dict(os.environ, PYTHONPATH=overlay)
    out = subprocess.check_output([sys.executable, '-c', _LOADED % module],
                                  env=env)
    return set(out.decode('ascii').split())


def agent_side(modules):
    return sorted(m for m in modules if m == 'thrift' or
                  m.startswith(('thrift.', 'nova_lxc_contrail.agent')))


@pytest.mark.parametrize('module', [
    'nova_lxc_contrail.privileged',     # contrail-bridge-helper (icehouse)
    'nova_lxc_contrail.privsep',        # the privsep daemon (bookworm)
])
def test_the_privileged_half_loads_no_agent_client(module):
    if module.endswith('privsep'):
        pytest.importorskip('oslo_privsep',
                            reason='the privsep adapter is bookworm\'s')
    # The check itself sees the agent's modules where they are loaded.
    assert 'nova_lxc_contrail.agent.thrift' in \
        agent_side(loaded_by('nova_lxc_contrail.bridge'))
    modules = loaded_by(module)
    assert module in modules and 'nova_lxc_contrail.netdev' in modules
    assert agent_side(modules) == []
    assert 'nova_lxc_contrail.bridge' not in modules
