"""Linux bridges through rtnetlink (pyroute2), without iptables or forks.

``ensure_bridge`` creates the bridge with everything it needs in a single
RTM_NEWLINK (up, promiscuous, STP off, forward delay 0, multicast snooping
off) and repairs an existing one in place; ``delete_link`` removes a device
and treats a missing one as done. Every call opens its own netlink socket
(about 50 us), so the functions are safe from any thread, and from a
privileged helper process that runs them on behalf of the driver.
"""
from __future__ import absolute_import

import collections
import errno

from nova_lxc_contrail import compat
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
    'LinkState', 'index kind up running promisc mcast_snooping master')


def _bridge_msg(ifname=None, index=0):
    msg = compat.ifinfmsg()
    msg['index'] = index
    msg['flags'] = BRIDGE_FLAGS
    msg['change'] = BRIDGE_FLAGS
    attrs = [('IFLA_LINKINFO', {'attrs': [
        ('IFLA_INFO_KIND', 'bridge'),
        ('IFLA_INFO_DATA', {'attrs': list(BRIDGE_DATA)})]})]
    if ifname:
        attrs.insert(0, ('IFLA_IFNAME', ifname))
    msg['attrs'] = attrs
    return msg


def _get(sock, ifname):
    msg = compat.ifinfmsg()
    msg['attrs'] = [('IFLA_IFNAME', ifname)]
    try:
        return compat.netlink_request(sock, msg, compat.RTM_GETLINK,
                                      compat.GET)[0]
    except compat.NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise


def _state(link):
    info = link.get_attr('IFLA_LINKINFO')
    kind = info.get_attr('IFLA_INFO_KIND') if info else None
    data = info.get_attr('IFLA_INFO_DATA') if info else None
    snooping = data.get_attr('IFLA_BR_MCAST_SNOOPING') \
        if kind == 'bridge' and data else None
    flags = link['flags']
    return LinkState(index=link['index'], kind=kind,
                     up=bool(flags & IFF_UP),
                     running=bool(flags & IFF_RUNNING),
                     promisc=bool(flags & IFF_PROMISC),
                     mcast_snooping=snooping,
                     master=link.get_attr('IFLA_MASTER'))


def link_state(ifname):
    """LinkState of the device, or None if it does not exist."""
    sock = compat.netlink_socket()
    try:
        link = _get(sock, ifname)
        return _state(link) if link is not None else None
    finally:
        sock.close()


def ensure_bridge(ifname):
    """Create the port bridge, or bring an existing one to the same state."""
    sock = compat.netlink_socket()
    try:
        try:
            compat.netlink_request(sock, _bridge_msg(ifname),
                                   compat.RTM_NEWLINK, compat.CREATE)
            return
        except compat.NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise NetdevError('cannot create bridge %s: %s'
                                  % (ifname, exc))
        link = _get(sock, ifname)
        state = _state(link) if link is not None else None
        if state is None or state.kind != 'bridge':
            raise NetdevError('%s exists and is not a bridge (%s)'
                              % (ifname, state and state.kind))
        try:
            compat.netlink_request(sock, _bridge_msg(index=state.index),
                                   compat.RTM_NEWLINK)
        except compat.NetlinkError as exc:
            raise NetdevError('cannot set up bridge %s: %s' % (ifname, exc))
    finally:
        sock.close()


def delete_link(ifname, kinds=('bridge',)):
    """Delete the device if it exists and is of one of kinds.

    Returns True if a device was deleted, False if there was none. A device
    of another kind is left alone and reported (it is not ours).
    """
    sock = compat.netlink_socket()
    try:
        link = _get(sock, ifname)
        if link is None:
            return False
        state = _state(link)
        if state.kind not in kinds:
            raise NetdevError('%s is a %s device, not %s; not deleting it'
                              % (ifname, state.kind, '/'.join(kinds)))
        msg = compat.ifinfmsg()
        msg['index'] = state.index
        try:
            compat.netlink_request(sock, msg, compat.RTM_DELLINK)
        except compat.NetlinkError as exc:
            if exc.code == errno.ENODEV:   # removed under our feet
                return False
            raise NetdevError('cannot delete %s: %s' % (ifname, exc))
        return True
    finally:
        sock.close()
