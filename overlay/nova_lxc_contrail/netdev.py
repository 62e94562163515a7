"""Linux bridges through rtnetlink (pyroute2), without iptables or forks.

``ensure_bridge`` creates the bridge down with everything it needs in one
RTM_NEWLINK (promiscuous, STP off, forward delay 0, multicast snooping off),
turns IPv6 off on it and brings it up with its mark; it repairs an existing
one in place. ``delete_link`` removes a device and treats a missing one as
done.

Only our bridges are touched when the caller names the port (``owner``, as
the driver always does): a bridge we create carries the mark ``MARK`` + port
id as its ifalias, and an existing bridge is repaired or deleted only if it
carries that mark, or carries none and looks like a port's bridge (see
``_check_ours``; bridges made before the mark existed are adopted so). Why
the ifalias: it exists since Linux 2.6.31 (icehouse's trusty runs 3.13;
alternative names need 5.5), it is free text that takes the port id, it is
shown by ``ip link`` (an operator sees whose bridge it is), and it is not a
name, so it cannot collide with another device's. Any process with
CAP_NET_ADMIN can set it, as it can delete the bridge: the mark keeps the
driver from touching what it did not make, it is no defence against root.

The functions are safe from any thread and from a privileged helper process
that runs them for the driver: a call takes a netlink socket of its own from
a small pool of idle ones (opening one costs about 0.1 ms, a third of a
bridge creation) and returns it when the kernel has answered. pyroute2
encodes the requests and decodes the answers; the requests of a plug, which
differ between bridges only in the name, are encoded once per name length.
"""
from __future__ import absolute_import

import collections
import contextlib
import errno
import os
import socket
import threading

from nova_lxc_contrail import netlink
from nova_lxc_contrail.exception import NetdevError

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_PROMISC = 0x100
BRIDGE_FLAGS = IFF_UP | IFF_PROMISC

# STP off and forward delay 0: a port forwards as soon as it has carrier.
# Multicast snooping off: the bridge floods multicast like a hub, so the
# vrouter (attached to the bridge device) sees the container's multicast.
BRIDGE_DATA = (('IFLA_BR_FORWARD_DELAY', 0),
               ('IFLA_BR_STP_STATE', 0),
               ('IFLA_BR_MCAST_SNOOPING', 0))

LinkState = collections.namedtuple(
    'LinkState', 'index kind up running promisc mcast_snooping master '
    'stp_state alias')

# The ifalias of a port's bridge: MARK + the port id.
MARK = 'nova-lxc-contrail port '
# What an unmarked bridge may have enslaved and still be adopted: the
# container's veth (libvirt-lxc), the 2014 driver's tap.
ADOPTABLE_PORT_KINDS = ('veth', 'tun')
RT_SCOPE_LINK = 253

# The host has no business on a port's bridge: it is the L2 path between
# the container and the vrouter. With IPv6 on, bringing it up gives the host
# a link-local address there and sends its MLD reports, router solicitations
# and DAD probes into the tenant's port, and every bridge adds two routes to
# the host's IPv6 table (a plug then costs more the more ports there are).
# os-vif's Linux bridge plugin turns it off for the same reason (launchpad
# bug 1302080). It has to be off before the bridge goes up; the creation
# request cannot carry it.
IPV6_SYSCTL = '/proc/sys/net/ipv6'
DISABLE_IPV6 = IPV6_SYSCTL + '/conf/%s/disable_ipv6'


MAX_IDLE_SOCKETS = 4
# A netlink socket belongs to the namespace it was opened in (and keeps it
# alive), and setns() moves one thread: the pool holds sockets of one
# (process, namespace of the calling thread) and is emptied when that
# changes. Kernels without /proc/thread-self (< 3.17) get a new socket for
# every call.
THREAD_NETNS = '/proc/thread-self/ns/net'
_pool = {'owner': None, 'idle': []}
_pool_lock = threading.Lock()


def _owner():
    try:
        return os.getpid(), os.stat(THREAD_NETNS).st_ino
    except OSError:
        return None


@contextlib.contextmanager
def _netlink():
    """A netlink socket for one call. It goes back to the pool if the call
    ended with the kernel's answer read (an error answer included); after
    anything else (an interrupted request) it is closed."""
    owner = _owner()
    sock, stale = None, []
    with _pool_lock:
        if _pool['owner'] != owner:
            # Another namespace: start over (a forked child leaves the
            # sockets it inherited to the parent).
            if _pool['owner'] and _pool['owner'][0] == os.getpid():
                stale = _pool['idle']
            _pool['owner'], _pool['idle'] = owner, []
        elif _pool['idle']:
            sock = _pool['idle'].pop()
    for old in stale:
        old.close()
    if sock is None:
        sock = netlink.netlink_socket()
    in_sync = False
    try:
        yield sock
        in_sync = True
    except (netlink.NetlinkError, NetdevError):
        in_sync = True
        raise
    finally:
        if in_sync and owner is not None:
            with _pool_lock:
                if (_pool['owner'] == owner and
                        len(_pool['idle']) < MAX_IDLE_SOCKETS):
                    _pool['idle'].append(sock)
                    sock = None
        if sock is not None:
            sock.close()


def mark(port_id):
    """The ifalias of port_id's bridge."""
    return MARK + port_id


def _bridge_msg(ifname=None, index=0, flags=BRIDGE_FLAGS, alias=None,
                data=BRIDGE_DATA):
    msg = netlink.ifinfmsg()
    msg['index'] = index
    msg['flags'] = flags
    msg['change'] = flags
    attrs = [('IFLA_LINKINFO', {'attrs': [
        ('IFLA_INFO_KIND', 'bridge'),
        ('IFLA_INFO_DATA', {'attrs': list(data)})]})]
    if ifname:
        attrs.insert(0, ('IFLA_IFNAME', ifname))
    if alias:
        attrs.append(('IFLA_IFALIAS', alias))
    msg['attrs'] = attrs
    return msg


def _create_msg(ifname, alias=None):
    """RTM_NEWLINK creating bridge ifname: promiscuous, not yet up (the
    kernel ignores an ifalias in a creation: it comes with the up)."""
    msg = _bridge_msg(ifname, flags=IFF_PROMISC)
    msg['header']['flags'] = netlink.CREATE
    return msg


def _up_msg(ifname, alias=None):
    """RTM_NEWLINK (a change) bringing device ifname up, marked alias."""
    msg = netlink.ifinfmsg()
    msg['flags'] = msg['change'] = IFF_UP
    msg['attrs'] = [('IFLA_IFNAME', ifname)]
    if alias:
        msg['attrs'].append(('IFLA_IFALIAS', alias))
    msg['header']['flags'] = netlink.REQUEST
    return msg


# The requests of a plug differ between bridges only in the bytes of the
# name and of the mark: pyroute2 encodes each once per length of the two (a
# fifth of a bridge creation otherwise), they are written into a copy.
_templates = {}


def _request(build, ifname, alias=None):
    """build(ifname, alias) encoded, through the template of their
    lengths."""
    try:
        values = [ifname.encode('ascii'), (alias or '').encode('ascii')]
    except UnicodeError:   # not one of our names: encoded as it is
        return _encode(build(ifname, alias))
    key = (build,) + tuple(len(v) for v in values)
    template = _templates.get(key)
    if template is None:
        holders = [b'#' * len(values[0]), b'%' * len(values[1])]
        encoded = _encode(build(*[h.decode('ascii') or None
                                  for h in holders]))
        # (a request that does not carry a value has no offset for it)
        offsets = [encoded.find(h + b'\0') if h else -1 for h in holders]
        template = _templates[key] = (encoded, offsets)
    encoded, offsets = template
    for value, offset in zip(values, offsets):
        if offset >= 0:
            encoded = encoded[:offset] + value + encoded[offset + len(value):]
    return encoded


def _encode(msg):
    msg['header']['type'] = netlink.RTM_NEWLINK
    msg.encode()
    return bytes(msg.data)


def _disable_ipv6(ifname):
    """IPv6 off on the device (see DISABLE_IPV6); nothing to do on a kernel
    without IPv6. /proc/sys/net is the calling thread's namespace."""
    try:
        fd = os.open(DISABLE_IPV6 % ifname, os.O_WRONLY)
    except OSError as exc:
        if exc.errno == errno.ENOENT and not os.path.isdir(IPV6_SYSCTL):
            return
        raise NetdevError('cannot turn IPv6 off on %s: %s' % (ifname, exc))
    try:
        os.write(fd, b'1')
    except OSError as exc:   # the device was deleted meanwhile (ENOENT)
        raise NetdevError('cannot turn IPv6 off on %s: %s' % (ifname, exc))
    finally:
        os.close(fd)


def _get(sock, ifname):
    msg = netlink.ifinfmsg()
    msg['attrs'] = [('IFLA_IFNAME', ifname)]
    try:
        return netlink.netlink_request(sock, msg, netlink.RTM_GETLINK,
                                       netlink.GET)[0]
    except netlink.NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise


def _state(link):
    info = link.get_attr('IFLA_LINKINFO')
    kind = info.get_attr('IFLA_INFO_KIND') if info else None
    data = info.get_attr('IFLA_INFO_DATA') if info else None
    bridge_data = data if kind == 'bridge' and data else None
    flags = link['flags']
    return LinkState(index=link['index'], kind=kind,
                     up=bool(flags & IFF_UP),
                     running=bool(flags & IFF_RUNNING),
                     promisc=bool(flags & IFF_PROMISC),
                     mcast_snooping=bridge_data.get_attr(
                         'IFLA_BR_MCAST_SNOOPING') if bridge_data else None,
                     master=link.get_attr('IFLA_MASTER'),
                     stp_state=bridge_data.get_attr('IFLA_BR_STP_STATE')
                     if bridge_data else None,
                     alias=link.get_attr('IFLA_IFALIAS') or None)


def link_state(ifname):
    """LinkState of the device, or None if it does not exist."""
    with _netlink() as sock:
        link = _get(sock, ifname)
        return _state(link) if link is not None else None


def ensure_bridge(ifname, owner=None):
    """Create the port bridge, or bring an existing one to the same state.

    owner: the port id. The bridge is marked with it, and an existing
    device is touched only if it is that port's bridge (``_check_ours``);
    otherwise NetdevError, and the device is left as it is. Without owner
    (tests, tools) any existing bridge is repaired.

    A bridge this call created and could not finish is deleted again."""
    alias = mark(owner) if owner else None
    with _netlink() as sock:
        try:
            netlink.netlink_request_encoded(
                sock, _request(_create_msg, ifname, alias))
        except netlink.NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise NetdevError('cannot create bridge %s: %s'
                                  % (ifname, exc))
        else:
            try:
                _disable_ipv6(ifname)
                netlink.netlink_request_encoded(
                    sock, _request(_up_msg, ifname, alias))
                return
            except (netlink.NetlinkError, NetdevError) as exc:
                _delete(sock, ifname)
                raise NetdevError('cannot bring bridge %s up: %s'
                                  % (ifname, exc))
        link = _get(sock, ifname)
        state = _state(link) if link is not None else None
        if state is None or state.kind != 'bridge':
            raise NetdevError('%s exists and is not a bridge (%s)'
                              % (ifname, state and state.kind))
        if alias:
            _check_ours(sock, ifname, state, alias)
        _disable_ipv6(ifname)
        try:
            if state.stp_state:
                # The kernel applies the forward delay before the STP state
                # whatever their order, and refuses a delay of 0 (ERANGE)
                # while STP is on: STP goes off in a request of its own.
                netlink.netlink_request(
                    sock, _bridge_msg(index=state.index, flags=0,
                                      data=[('IFLA_BR_STP_STATE', 0)]),
                    netlink.RTM_NEWLINK)
            netlink.netlink_request(
                sock, _bridge_msg(index=state.index, alias=alias),
                netlink.RTM_NEWLINK)
        except netlink.NetlinkError as exc:
            raise NetdevError('cannot set up bridge %s: %s' % (ifname, exc))


def _check_ours(sock, ifname, state, alias):
    """Raise NetdevError unless bridge ifname (its LinkState) is the port's
    of mark alias: it carries that mark, or it carries none and looks like
    a port's bridge made before the mark existed: no address but IPv6
    link-local ones (bridges of earlier versions had IPv6 on) and nothing
    enslaved but veths and taps. A bridge carrying the host's networking has
    an address or a physical device, a VLAN or a bond on it."""
    if state.alias == alias:
        return
    if state.alias:
        raise NetdevError('%s is marked %r, not %r: not ours, left alone'
                          % (ifname, state.alias, alias))
    addresses = [a for a in netlink.netlink_request(
        sock, netlink.ifaddrmsg(), netlink.RTM_GETADDR, netlink.DUMP)
        if a['index'] == state.index and not (
            a['family'] == socket.AF_INET6 and a['scope'] == RT_SCOPE_LINK)]
    if addresses:
        raise NetdevError('%s has no mark and has addresses (%s): not ours, '
                          'left alone' % (ifname, ', '.join(
                              str(a.get_attr('IFA_ADDRESS'))
                              for a in addresses)))
    enslaved = [_state(link) for link in netlink.netlink_request(
        sock, netlink.ifinfmsg(), netlink.RTM_GETLINK, netlink.DUMP)
        if link.get_attr('IFLA_MASTER') == state.index]
    foreign = [s for s in enslaved if s.kind not in ADOPTABLE_PORT_KINDS]
    if foreign:
        raise NetdevError('%s has no mark and has devices of kind %s on it: '
                          'not ours, left alone' % (ifname, ', '.join(
                              sorted(set(str(s.kind) for s in foreign)))))


def _delete(sock, ifname):
    """Best effort: delete device ifname (the cleanup of a failed call)."""
    msg = netlink.ifinfmsg()
    msg['attrs'] = [('IFLA_IFNAME', ifname)]
    try:
        netlink.netlink_request(sock, msg, netlink.RTM_DELLINK)
    except netlink.NetlinkError:
        pass


def delete_link(ifname, kinds=('bridge',), owner=None):
    """Delete the device if it exists and is of one of kinds.

    Returns True if a device was deleted, False if there was none. A device
    of another kind is left alone and reported (it is not ours), as is a
    bridge that is not owner's (a port id, see ensure_bridge).
    """
    with _netlink() as sock:
        link = _get(sock, ifname)
        if link is None:
            return False
        state = _state(link)
        if state.kind not in kinds:
            raise NetdevError('%s is a %s device, not %s; not deleting it'
                              % (ifname, state.kind, '/'.join(kinds)))
        if owner:
            _check_ours(sock, ifname, state, mark(owner))
        msg = netlink.ifinfmsg()
        msg['index'] = state.index
        try:
            netlink.netlink_request(sock, msg, netlink.RTM_DELLINK)
        except netlink.NetlinkError as exc:
            if exc.code == errno.ENODEV:   # removed under our feet
                return False
            raise NetdevError('cannot delete %s: %s' % (ifname, exc))
        return True
