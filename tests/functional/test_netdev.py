"""netdev's rtnetlink sockets: reused within a namespace, never across
namespaces or processes (real sockets, namespaces of the test's own)."""
from __future__ import absolute_import

import errno
import os
import signal
import socket
import subprocess
import time

import pytest
from pyroute2 import IPRoute

from bridge_helpers import inside_new_netns
from bridge_helpers import links
from bridge_helpers import veth_on
from nova_lxc_contrail import netdev
from nova_lxc_contrail import netlink
from tests.agent_double.samples import new_id

pytestmark = [pytest.mark.root, pytest.mark.py27]


def bridge_name():
    return 'br' + new_id()[:11]


def own_netlink_sockets():
    """Inodes of this process's open netlink sockets in this namespace."""
    with open('/proc/net/netlink') as f:
        listed = set(line.split()[-1] for line in f.readlines()[1:])
    ours = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue
        if target.startswith('socket:[') and target[8:-1] in listed:
            ours.add(target[8:-1])
    return ours


def test_calls_share_an_idle_socket(netns):
    before = own_netlink_sockets()
    names = [bridge_name() for _ in range(20)]
    for name in names:
        netdev.ensure_bridge(name)
        assert netdev.link_state(name).up
    assert len(own_netlink_sockets() - before) == 1
    for name in names:
        assert netdev.delete_link(name) is True
    assert len(own_netlink_sockets() - before) == 1


def test_a_thread_in_another_namespace_gets_a_socket_there(netns):
    outer = bridge_name()
    netdev.ensure_bridge(outer)                      # pools a socket here
    with inside_new_netns():
        inner = bridge_name()
        netdev.ensure_bridge(inner)
        assert inner in links() and outer not in links()
        assert netdev.link_state(outer) is None
    assert outer in links() and inner not in links()
    assert netdev.link_state(outer).kind == 'bridge'
    assert netdev.delete_link(outer) is True


def _hung(signum, frame):
    raise AssertionError('a netlink call hung: its answer went to the '
                         'other process')


def test_a_forked_child_does_not_share_the_parents_socket(netns):
    netdev.ensure_bridge(bridge_name())              # pools a socket
    parent_names = [bridge_name() for _ in range(30)]
    child_names = [bridge_name() for _ in range(30)]
    pid = os.fork()
    if pid == 0:                                     # the child
        status = 1
        try:
            signal.alarm(20)                         # a hang kills it
            for name in child_names:
                netdev.ensure_bridge(name)
                if not netdev.link_state(name).promisc:
                    break
            else:
                status = 0
        finally:
            os._exit(status)
    previous = signal.signal(signal.SIGALRM, _hung)
    try:
        signal.alarm(20)
        try:
            for name in parent_names:                # meanwhile
                netdev.ensure_bridge(name)
                assert netdev.link_state(name).promisc
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert set(parent_names + child_names) <= set(links())


def test_a_call_interrupted_midway_does_not_return_its_socket(netns):
    netdev.ensure_bridge(bridge_name())
    with pytest.raises(RuntimeError):
        with netdev._netlink() as sock:
            interrupted = sock
            raise RuntimeError('interrupted between request and answer')
    with netdev._netlink() as sock:
        assert sock is not interrupted
    name = bridge_name()
    netdev.ensure_bridge(name)
    assert netdev.link_state(name).up


def test_an_error_answer_keeps_the_socket_usable(netns):
    name = bridge_name()
    with netdev._netlink() as sock:
        first = sock
    with pytest.raises(netdev.NetdevError):
        netdev.ensure_bridge('br' + 'x' * 20)        # the kernel: EINVAL
    with pytest.raises(netdev.NetdevError):
        netdev.delete_link('lo')                     # ours: not a bridge
    with netdev._netlink() as sock:
        assert sock is first
    netdev.ensure_bridge(name)
    assert netdev.link_state(name).up


def _getlink(name):
    msg = netlink.ifinfmsg()
    msg['attrs'] = [('IFLA_IFNAME', name)]
    return msg


def test_a_request_skips_an_answer_left_by_an_earlier_one(netns):
    first, second = bridge_name(), bridge_name()
    for name in (first, second):
        netdev.ensure_bridge(name)
    sock = netlink.netlink_socket()
    try:
        # an abandoned request: sent, its answer never read
        stale = _getlink(first)
        stale['header'].update(type=netlink.RTM_GETLINK, flags=netlink.GET,
                               sequence_number=0x7fffffff, pid=0)
        stale.encode()
        sock.sendto(stale.data, (0, 0))
        answers = netlink.netlink_request(sock, _getlink(second),
                                          netlink.RTM_GETLINK, netlink.GET)
        assert [a.get_attr('IFLA_IFNAME') for a in answers] == [second]
        # an acknowledged request: no answers, the ack consumed
        assert netlink.netlink_request(
            sock, netdev._bridge_msg(index=answers[0]['index']),
            netlink.RTM_NEWLINK) == []
        again = netlink.netlink_request(sock, _getlink(first),
                                        netlink.RTM_GETLINK, netlink.GET)
        assert [a.get_attr('IFLA_IFNAME') for a in again] == [first]
    finally:
        sock.close()


def test_a_refused_request_raises_the_kernels_errno(netns):
    name = bridge_name()
    netdev.ensure_bridge(name)
    sock = netlink.netlink_socket()
    try:
        with pytest.raises(netlink.NetlinkError) as missing:
            netlink.netlink_request(sock, _getlink(bridge_name()),
                                    netlink.RTM_GETLINK, netlink.GET)
        assert missing.value.code == errno.ENODEV
        with pytest.raises(netlink.NetlinkError) as taken:
            netlink.netlink_request(sock, netdev._bridge_msg(name),
                                    netlink.RTM_NEWLINK, netlink.CREATE)
        assert taken.value.code == errno.EEXIST
        assert netlink.netlink_request(sock, _getlink(name), netlink.RTM_GETLINK,
                                       netlink.GET)[0].get_attr(
                                           'IFLA_IFNAME') == name
    finally:
        sock.close()


@pytest.mark.parametrize('ifname', ['br0', 'brd3adbeef-12', 'b' * 15,
                                    u'br\u00e9t\u00e9'])
@pytest.mark.parametrize('build', [netdev._create_msg, netdev._up_msg],
                         ids=['create', 'up'])
def test_a_request_is_pyroute2s_encoding_of_the_name(build, ifname):
    netdev._request(build, 'x' * len(ifname))       # a template of the length
    assert netdev._request(build, ifname) == netdev._encode(build(ifname))
    assert netdev._request(build, ifname) != netdev._encode(
        build('x' * len(ifname)))


def test_bridges_of_every_name_length_are_created(netns):
    names = [('b%x' % n).ljust(n, 'q') for n in range(2, 16)]
    names += [u'br\u00e9' + new_id()[:5]]
    for name in names:
        netdev.ensure_bridge(name)
    for name in names:
        state = netdev.link_state(name)
        assert (state.kind, state.up, state.promisc) == ('bridge', True, True)
        assert state.mcast_snooping == 0


def wait_until(condition, timeout=5):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, 'timed out'
        time.sleep(0.02)


def ipv6_of(name):
    """(disable_ipv6, IPv6 addresses, IPv6 routes) of device name."""
    with open(netdev.DISABLE_IPV6 % name) as f:
        disabled = f.read().strip()
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        addrs = ipr.get_addr(family=socket.AF_INET6, index=index)
        routes = [r for r in ipr.get_routes(family=socket.AF_INET6)
                  if r.get_attr('RTA_OIF') == index]   # every table
    return disabled, len(addrs), len(routes)


def test_the_host_has_no_ipv6_on_a_bridge_even_with_a_port(netns):
    name = bridge_name()
    netdev.ensure_bridge(name)
    with veth_on(name):                              # carrier: addrconf would
        wait_until(lambda: netdev.link_state(name).running)   # run now
        assert ipv6_of(name) == ('1', 0, 0)


def test_an_existing_bridge_with_ipv6_gets_it_turned_off(netns):
    name = bridge_name()
    with IPRoute() as ipr:                           # made by someone else
        ipr.link('add', ifname=name, kind='bridge')
        ipr.link('set', index=ipr.link_lookup(ifname=name)[0], state='up')
    with veth_on(name):
        assert ipv6_of(name)[0] == '0'
        wait_until(lambda: ipv6_of(name)[1:] >= (1, 2))   # link-local address,
        #                                     fe80::/64 and ff00::/8 routes
        netdev.ensure_bridge(name)
        assert ipv6_of(name) == ('1', 0, 0)
        state = netdev.link_state(name)
        assert state.up and state.promisc and state.mcast_snooping == 0


def test_a_bridge_that_cannot_be_finished_is_deleted(netns, monkeypatch):
    name = bridge_name()
    monkeypatch.setattr(netdev, 'DISABLE_IPV6',
                        netdev.IPV6_SYSCTL + '/conf/%s/no_such_setting')
    with pytest.raises(netdev.NetdevError) as failed:
        netdev.ensure_bridge(name)
    assert name in str(failed.value) and 'no_such_setting' in str(
        failed.value)
    assert name not in links()
    monkeypatch.undo()
    netdev.ensure_bridge(name)                       # and can be made again
    assert netdev.link_state(name).up


# -- a concurrent unplug (issue 17 item 10) -----------------------------------

def _deleting_after_open(monkeypatch, name):
    """os.open of name's disable_ipv6 returns the real descriptor after the
    device was really deleted: an unplug that came in between."""
    real_open = os.open

    def open_then_unplug(path, flags, *mode):
        fd = real_open(path, flags, *mode)
        if path == netdev.DISABLE_IPV6 % name:
            subprocess.check_call(['ip', 'link', 'del', name])
        return fd
    monkeypatch.setattr(os, 'open', open_then_unplug)


@pytest.mark.parametrize('existing', [False, True], ids=['new', 'repair'])
def test_a_bridge_deleted_under_the_ipv6_write_is_a_netdev_error(
        netns, monkeypatch, existing):
    name = bridge_name()
    if existing:
        netdev.ensure_bridge(name, owner=new_id())
    _deleting_after_open(monkeypatch, name)
    with pytest.raises(netdev.NetdevError) as failed:
        netdev.ensure_bridge(name)
    monkeypatch.undo()
    assert 'cannot turn IPv6 off on %s' % name in str(failed.value)
    assert name not in links()
    netdev.ensure_bridge(name)                     # the socket still works
    assert netdev.link_state(name).up


# -- STP (issue 17 item 7) ----------------------------------------------------

def _bridge_data(name):
    with IPRoute() as ipr:
        link = ipr.get_links(ifname=name)[0]
    return link.get_attr('IFLA_LINKINFO').get_attr('IFLA_INFO_DATA')


def test_a_bridge_with_stp_on_is_repaired(netns):
    name = bridge_name()
    with IPRoute() as ipr:                           # STP on, delay 15 s
        ipr.link('add', ifname=name, kind='bridge', br_stp_state=1,
                 br_forward_delay=1500)
    assert _bridge_data(name).get_attr('IFLA_BR_STP_STATE') == 1
    netdev.ensure_bridge(name, owner=new_id())
    data = _bridge_data(name)
    assert data.get_attr('IFLA_BR_STP_STATE') == 0
    assert data.get_attr('IFLA_BR_FORWARD_DELAY') == 0
    state = netdev.link_state(name)
    assert state.up and state.promisc and state.mcast_snooping == 0


# -- only our bridges (issue 17 item 5) ---------------------------------------

def test_a_new_bridge_carries_its_port_s_mark(netns):
    name, port_id = bridge_name(), new_id()
    netdev.ensure_bridge(name, owner=port_id)
    assert netdev.link_state(name).alias == 'nova-lxc-contrail port ' + \
        port_id
    with pytest.raises(netdev.NetdevError) as other:   # another port's
        netdev.ensure_bridge(name, owner=new_id())
    assert 'not ours' in str(other.value)
    with pytest.raises(netdev.NetdevError):
        netdev.delete_link(name, owner=new_id())
    netdev.ensure_bridge(name, owner=port_id)          # its own: repaired
    assert netdev.delete_link(name, owner=port_id) is True


def _foreign_bridge(name, address=None, enslave=None):
    """A bridge someone else made: down, not promiscuous, IPv6 on."""
    with IPRoute() as ipr:
        ipr.link('add', ifname=name, kind='bridge')
        index = ipr.link_lookup(ifname=name)[0]
        if address:
            ipr.addr('add', index=index, address=address, prefixlen=24)
        if enslave:
            ipr.link('add', ifname=enslave, kind='vxlan', vxlan_id=5,
                     vxlan_port=4789)
            ipr.link('set', index=ipr.link_lookup(ifname=enslave)[0],
                     master=index)
    return netdev.link_state(name)


@pytest.mark.parametrize('address, enslave, reason', [
    ('192.0.2.1', None, 'has addresses (192.0.2.1)'),
    (None, 'vx5', 'devices of kind vxlan on it'),
], ids=['address', 'vxlan'])
def test_an_unmarked_bridge_that_is_not_a_port_s_is_left_alone(
        netns, address, enslave, reason):
    name = bridge_name()
    before = _foreign_bridge(name, address, enslave)
    for call in (lambda: netdev.ensure_bridge(name, owner=new_id()),
                 lambda: netdev.delete_link(name, owner=new_id())):
        with pytest.raises(netdev.NetdevError) as refused:
            call()
        assert reason in str(refused.value), str(refused.value)
        assert netdev.link_state(name) == before
        assert ipv6_of(name)[0] == '0'


def test_an_unmarked_port_bridge_of_an_earlier_version_is_adopted(netns):
    """Bridges made before the mark: up, IPv6 on (a link-local address),
    the container's veth on it. A replug marks it, an unplug deletes it."""
    name, port_id = bridge_name(), new_id()
    with IPRoute() as ipr:
        ipr.link('add', ifname=name, kind='bridge')
        ipr.link('set', index=ipr.link_lookup(ifname=name)[0], state='up')
    with veth_on(name):
        wait_until(lambda: ipv6_of(name)[1] >= 1)      # fe80::/64 address
        netdev.ensure_bridge(name, owner=port_id)
        state = netdev.link_state(name)
        assert state.alias == netdev.mark(port_id)
        assert state.up and state.promisc and ipv6_of(name) == ('1', 0, 0)
    other = bridge_name()                              # unplug of one
    _foreign_bridge(other)
    assert netdev.delete_link(other, owner=new_id()) is True
    assert other not in links()


@pytest.mark.parametrize('build', [netdev._create_msg, netdev._up_msg],
                         ids=['create', 'up'])
def test_a_marked_request_is_pyroute2s_encoding(build):
    name, alias = bridge_name(), netdev.mark(new_id())
    netdev._request(build, 'x' * len(name), 'y' * len(alias))
    assert netdev._request(build, name, alias) == netdev._encode(
        build(name, alias))
