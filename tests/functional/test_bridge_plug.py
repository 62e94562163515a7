"""plug/unplug of LXC ports: real bridges and veths in a namespace of the
test's own, the agent double over real sockets, for every protocol."""
from __future__ import absolute_import

import json
import logging
import os
import threading
import time

import pytest
from pyroute2 import IPRoute

from bridge_helpers import PROTOCOLS
from bridge_helpers import links
from bridge_helpers import veth_on
from nova_lxc_contrail import netdev
from nova_lxc_contrail import privileged
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import InvalidPort
from nova_lxc_contrail.exception import NetdevError
from nova_lxc_contrail.port import Port
from tests.agent_double.samples import new_id
from tests.agent_double.samples import port_data

pytestmark = [pytest.mark.root, pytest.mark.py27]


def make_port(**overrides):
    return Port(**port_data(**overrides))


def port_file(driver, port):
    path = os.path.join(driver.ports_dir, port.port_id)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_plug_gives_an_up_promiscuous_bridge_the_agent_holds(
        protocol, make_driver, double):
    driver = make_driver(protocol)
    port = make_port(ips=['2001:db8::5'])            # IPv6 only
    assert driver.plug(port) is True
    state = netdev.link_state(port.ifname)
    assert state.kind == 'bridge' and state.up and state.promisc
    assert state.mcast_snooping == 0
    with open(netdev.DISABLE_IPV6 % port.ifname) as f:
        assert f.read().strip() == '1'               # the host stays off it
    held = double.port(port.port_id)
    assert held['system-name'] == port.ifname == 'br' + port.port_id[:11]
    assert held['type'] == 0                         # NovaVMPort
    assert held['mac-address'] == port.mac
    assert port_file(driver, port)['system-name'] == port.ifname
    assert port_file(driver, port)['type'] == 0


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_container_veth_makes_the_bridge_running_and_the_port_active(
        protocol, make_driver, double):
    driver = make_driver(protocol)
    port = make_port()
    driver.plug(port)
    with veth_on(port.ifname, peer_up=False) as peer:
        assert double.wait_for(lambda: not netdev.link_state(port.ifname)
                               .running)
        assert not double.is_active(port.port_id)
        with IPRoute() as ipr:                       # the container starts
            ipr.link('set', index=ipr.link_lookup(ifname=peer)[0],
                     state='up')
        assert double.wait_for(lambda: double.is_active(port.port_id))
        assert netdev.link_state(port.ifname).running


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_unplug_removes_bridge_port_and_file(protocol, make_driver, double):
    driver = make_driver(protocol)
    port = make_port()
    driver.plug(port)
    driver.unplug(port.port_id)
    assert netdev.link_state(port.ifname) is None
    assert double.port(port.port_id) is None
    assert port_file(driver, port) is None
    driver.unplug(port.port_id)                      # again: not an error
    driver.unplug(new_id())                          # never plugged: neither


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_plug_twice_equals_plug_once(protocol, make_driver, double):
    driver = make_driver(protocol)
    port = make_port()
    driver.plug(port)
    before = netdev.link_state(port.ifname)
    with IPRoute() as ipr:                           # someone turns it off
        ipr.link('set', index=before.index, flags=0, change=netdev.IFF_PROMISC)
    driver.plug(port)
    assert netdev.link_state(port.ifname) == before  # same device, repaired
    assert list(double.ports()) == [port.port_id]
    assert [n for n in links() if n.startswith('br')] == [port.ifname]


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_agent_down_during_plug(protocol, make_driver, double):
    driver = make_driver(protocol)
    first = make_port()
    driver.plug(first)
    double.stop()
    port = make_port()
    assert driver.plug(port) is False                # succeeds locally
    assert netdev.link_state(port.ifname).up
    assert port_file(driver, port)['system-name'] == port.ifname
    double.start()
    assert double.wait_for(lambda: port.port_id in double.ports())
    time.sleep(0.3)                                  # several more checks
    assert double.count('add', port.port_id) == 1    # exactly once
    assert sorted(double.ports()) == sorted([first.port_id, port.port_id])


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_unplug_while_agent_down_reaches_it_later(protocol, make_driver,
                                                  double):
    driver = make_driver(protocol)
    port = make_port()
    driver.plug(port)
    held = double.table.snapshot()
    double.stop()
    driver.unplug(port.port_id)                      # succeeds locally
    assert netdev.link_state(port.ifname) is None
    # The agent comes back having kept its table: seeded before it serves,
    # else the driver's reconnect can deliver the delete first (a race).
    for record in held.values():
        double.table.add(record, 'kept')
    double.start()
    assert double.wait_for(lambda: not double.ports())


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_50_concurrent_plugs(protocol, make_driver, double):
    driver = make_driver(protocol)
    ports = [make_port() for _ in range(50)]
    errors = []

    def run(action, port):
        try:
            action(port)
        except Exception as exc:   # collected, asserted below
            errors.append(exc)

    def all_at_once(action, args):
        threads = [threading.Thread(target=run, args=(action, a))
                   for a in args]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    all_at_once(driver.plug, ports)
    assert errors == []
    bridges = links()
    for port in ports:
        assert port.ifname in bridges
        assert netdev.link_state(port.ifname).promisc
        assert double.count('add', port.port_id) == 1
    assert sorted(double.ports()) == sorted(p.port_id for p in ports)
    all_at_once(lambda p: driver.unplug(p.port_id), ports)
    assert errors == [] and double.ports() == {}
    assert not [n for n in links() if n.startswith('br')]


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_replug_after_compute_restart_changes_nothing(protocol, make_driver,
                                                      double, tmp_path):
    ports_dir = str(tmp_path / 'ports')
    first = make_driver(protocol, ports_dir)
    ports = [make_port() for _ in range(5)]
    for port in ports:
        first.plug(port)
    first.stop()                                     # nova-compute stops
    with veth_on(ports[0].ifname):                   # a running container
        assert double.wait_for(lambda: double.is_active(ports[0].port_id))
        before = dict((p.ifname, netdev.link_state(p.ifname)) for p in ports)
        held = double.ports()
        second = make_driver(protocol, ports_dir)    # nova-compute starts
        for port in ports:
            assert second.plug(port) is True
        assert dict((p.ifname, netdev.link_state(p.ifname))
                    for p in ports) == before        # same devices, same state
        for port_id, record in double.ports().items():
            assert {k: v for k, v in record.items() if k != 'version'} == \
                {k: v for k, v in held[port_id].items() if k != 'version'}
        assert double.is_active(ports[0].port_id)


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_namespace_port_type_leaves_the_port_inactive(protocol, make_driver,
                                                      double):
    """port_type = NameSpacePort: the agent (R2.0+) gets no config for the
    port, so it stays inactive with its container up, until something links
    the virtual-router to the VM (svc-monitor would)."""
    driver = make_driver(protocol, port_type='NameSpacePort')
    port = make_port()
    driver.plug(port)
    assert double.port(port.port_id)['type'] == 1
    assert port_file(driver, port)['type'] == 1
    with veth_on(port.ifname):
        assert double.wait_for(lambda: netdev.link_state(port.ifname).running)
        assert double.state(port.port_id) == {
            'active': False, 'reasons': ['vn-null', 'vm-null', 'vrf-null']}
        double.link(port.port_id)
        assert double.is_active(port.port_id)


def old_version_ports(make_driver, double, ports_dir, count=3):
    """Ports plugged as the previous version did (NameSpacePort: type 1 in
    the agent and in the port files); that nova-compute stopped."""
    old = make_driver('thrift', ports_dir, port_type='NameSpacePort')
    ports = [make_port() for _ in range(count)]
    for port in ports:
        assert old.plug(port) is True
    old.stop()
    assert all(r['type'] == 1 for r in double.ports().values())
    return ports


def upgraded(driver, double, ports):
    """The agent holds every port as NovaVMPort and so do the files."""
    return all((double.port(p.port_id) or {}).get('type') == 0 and
               port_file(driver, p)['type'] == 0 for p in ports)


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_upgrade_registers_namespace_ports_again_as_vm_ports(
        protocol, make_driver, double, tmp_path, caplog):
    ports_dir = str(tmp_path / 'ports')
    ports = old_version_ports(make_driver, double, ports_dir)
    with veth_on(ports[0].ifname):                   # a running container
        assert double.wait_for(lambda: netdev.link_state(
            ports[0].ifname).running)
        assert not double.is_active(ports[0].port_id)    # no config
        bridges = dict((p.ifname, netdev.link_state(p.ifname)) for p in ports)
        caplog.set_level(logging.WARNING, logger='nova_lxc_contrail.bridge')
        new = make_driver(protocol, ports_dir)       # the upgraded package
        assert double.wait_for(lambda: upgraded(new, double, ports))
        assert double.wait_for(lambda: double.is_active(ports[0].port_id))
        time.sleep(0.3)                              # several more checks
        assert sorted(double.ports()) == sorted(p.port_id for p in ports)
        assert dict((p.ifname, netdev.link_state(p.ifname))
                    for p in ports) == bridges       # bridges untouched
    for port in ports:                               # logged once per port
        assert len([r for r in caplog.records
                    if port.port_id in r.getMessage()]) == 1
        assert double.count('delete', port.port_id) == 1


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_upgrade_before_nova_plugs_the_running_instances(
        protocol, make_driver, double, tmp_path):
    """nova-compute plugs every running instance's ports when it starts:
    the first plug does the upgrade, before it rewrites a file (an add
    alone would leave the agent's NameSpacePort as it is)."""
    ports_dir = str(tmp_path / 'ports')
    ports = old_version_ports(make_driver, double, ports_dir)
    new = make_driver(protocol, ports_dir, start=False)
    for port in ports:
        assert new.plug(port) is True
    assert upgraded(new, double, ports)


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_upgrade_while_the_agent_is_away(protocol, make_driver, double,
                                         tmp_path):
    ports_dir = str(tmp_path / 'ports')
    ports = old_version_ports(make_driver, double, ports_dir)
    held = double.table.snapshot()
    double.stop()
    new = make_driver(protocol, ports_dir)
    assert double.wait_for(lambda: all(
        port_file(new, p)['type'] == 0 for p in ports))
    for record in held.values():                     # back with its table
        double.table.add(record, 'kept')
    double.start()
    assert double.wait_for(lambda: upgraded(new, double, ports))
    assert sorted(double.ports()) == sorted(p.port_id for p in ports)


def nova_vif(network_id='net', port_id=None, mac='fa:16:3e:00:00:01'):
    network = None if network_id is None else {
        'id': new_id() if network_id == 'net' else network_id,
        'subnets': [{'ips': [{'address': '198.51.100.7'}]}]}
    return {'id': port_id or new_id(), 'address': mac, 'network': network}


INSTANCE = {'uuid': new_id(), 'project_id': new_id(), 'display_name': 'ct',
            'hostname': 'ct', 'host': 'compute-1'}


@pytest.mark.parametrize('vif,message', [
    (nova_vif(network_id=None), 'no network'),
    (nova_vif(network_id='not-a-uuid'), 'network id is not a UUID'),
    (nova_vif(port_id='1234'), 'port id is not a UUID'),
    (nova_vif(mac='fa:16:3e:00:01'), 'MAC address'),
], ids=['missing-network', 'malformed-network-id', 'malformed-port-id',
        'bad-mac'])
def test_bad_port_data_is_a_clear_error_and_leaves_nothing(
        vif, message, make_driver, double):
    driver = make_driver('thrift')
    before = sorted(links())
    with pytest.raises(InvalidPort) as info:
        driver.plug(Port.from_nova(vif, INSTANCE))
    assert message in str(info.value)
    assert sorted(links()) == before
    assert not os.path.exists(driver.ports_dir) or \
        os.listdir(driver.ports_dir) == []
    assert double.ports() == {} and double.count('add') == 0


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_port_the_agent_refuses_is_undone(protocol, make_driver, double):
    driver = make_driver(protocol)
    port = make_port()
    port.ip_address = port.mac = 'refused'   # past our checks, not the agent's
    before = sorted(links())
    with pytest.raises(AgentRejected):
        driver.plug(port)
    assert sorted(links()) == before
    assert port_file(driver, port) is None and double.ports() == {}


class WatchedLocal(object):
    """The driver's local work, noting what the agent held when it began."""

    def __init__(self, double):
        self.double = double
        self.held_before = []

    def plug(self, ifname, record, ports_dir):
        # Give the agent its time: a request sent before us arrives.
        self.double.wait_for(lambda: record['id'] in self.double.ports(),
                             timeout=2.0)
        self.held_before.append(record['id'] in self.double.ports())
        privileged.plug_local(ifname, record, ports_dir)

    unplug = staticmethod(privileged.unplug_local)


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_agent_registers_while_the_bridge_is_made(protocol, make_driver,
                                                  double):
    driver = make_driver(protocol)
    assert driver.check() is True                    # connected
    driver._local = local = WatchedLocal(double)
    port = make_port()
    assert driver.plug(port) is True
    assert local.held_before == [True]               # asked before
    assert netdev.link_state(port.ifname).up
    assert port_file(driver, port)['system-name'] == port.ifname
    assert double.count('add', port.port_id) == 1


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_failed_bridge_after_the_agent_was_asked_is_withdrawn(
        protocol, make_driver, double):
    driver = make_driver(protocol)
    assert driver.check() is True
    port = make_port()
    with IPRoute() as ipr:                           # the name is taken
        ipr.link('add', ifname=port.ifname, kind='veth',
                 peer='pe' + port.port_id[:11])
    try:
        with pytest.raises(NetdevError):
            driver.plug(port)
        assert netdev.link_state(port.ifname).kind == 'veth'
        assert port_file(driver, port) is None
        assert double.wait_for(lambda: double.count('delete', port.port_id))
        assert port.port_id not in double.ports()
        other = make_port()
        assert driver.plug(other) is True            # the client is free
        assert list(double.ports()) == [other.port_id]
    finally:
        netdev.delete_link(port.ifname, kinds=('veth',))


def _port_state(driver, double, port):
    """(bridge, port file, agent) of port: each True if it exists."""
    return (netdev.link_state(port.ifname) is not None,
            port_file(driver, port) is not None,
            double.port(port.port_id) is not None)


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_plug_and_unplug_of_one_port_at_once_agree(protocol, make_driver,
                                                   double):
    """nova may plug and unplug a port at the same time (a delete while a
    spawn or a reboot is plugging). Whichever runs last wins, entirely:
    bridge, port file and the agent's registration all exist or none does,
    and stays so (the periodic check runs every 0.05 s)."""
    driver = make_driver(protocol)
    outcomes = []
    for _round in range(10):
        port = make_port()
        driver.plug(port)                       # a replug of a known port
        errors = []
        start = threading.Barrier(2) if hasattr(threading, 'Barrier') \
            else None

        def run(call, *args):
            if start is not None:
                start.wait()
            try:
                call(*args)
            except Exception as exc:            # shown by the assert below
                errors.append(exc)
        threads = [threading.Thread(target=run, args=(driver.plug, port)),
                   threading.Thread(target=run, args=(driver.unplug,
                                                      port.port_id))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        time.sleep(0.1)                         # two periodic checks
        state = _port_state(driver, double, port)
        assert state in ((True, True, True), (False, False, False)), state
        outcomes.append(state[0])
        driver.unplug(port.port_id)
    assert _port_state(driver, double, port) == (False, False, False)
    assert driver._ports._locks == {}           # none kept per port


@pytest.mark.parametrize('protocol', ('thrift', 'rest'))
def test_replug_of_a_restored_port_after_its_unplug_reaches_the_agent(
        protocol, make_driver, double):
    """A port the driver re-sent to a restarted agent, unplugged and plugged
    again (nova's hard reboot), is held by the agent."""
    driver = make_driver(protocol)
    port = make_port()
    driver.plug(port)
    double.stop()
    double.start()                              # forgot every port
    assert double.wait_for(lambda: port.port_id in double.ports())
    driver.unplug(port.port_id)
    assert double.port(port.port_id) is None
    assert driver.plug(port) is True
    assert _port_state(driver, double, port) == (True, True, True)
