"""Opt-in forwarding for the agent double: ports of one virtual network reach
each other, ports of different networks do not, as through a vrouter.

    double = AgentDouble(...).start()
    forwarding = Forwarding(double)     # from now on, through subscribe()
    forwarding.members(vn_id)           # [device name, ...] joined now

The vrouter forwards for active ports only: a port with its VM's config
(a VM port, or a NameSpacePort the test linked) whose device is UP and
RUNNING (table.activity, as the agent's VmInterface::IsActive); an inactive
port's device gets no filter, so its container reaches no one.

The vrouter sits on the device the port is registered under: for an LXC
port, the port's bridge. It sees the frames the bridge passes up to its own
device (every frame, because the bridge is promiscuous) and delivers frames
by sending them out of that device, which floods them to the container.
The double does the same with tc on each registered device: an ingress
u32 filter matching every frame, whose mirred actions send every frame passed up to the
device out of the devices of the other ports of the same network. Nothing
else is created (no veth, no shared bridge): nothing of the double's is
enslaved to a port bridge, whose carrier stays its container's veth's, and a
bridge without promiscuous mode passes up broadcasts only: unicast between
the containers then fails, as with the real vrouter.

Filters are rewritten on every add and delete of a port, and, as the agent
binds a port whose device appears after its registration (a driver may
register before it creates the bridge), whenever a registered device
appears, is re-created or becomes active or inactive (checked every POLL
seconds until close()); a device that disappears takes its filter with it. Linux only (pyroute2, root).
"""
from __future__ import absolute_import

import errno
import threading

from pyroute2 import IPRoute
from pyroute2 import NetNS
from pyroute2.netlink.exceptions import NetlinkError

from .table import activity

INGRESS = 0xffff0000
PRIO = 49152          # one filter per device, at a fixed priority
ETH_P_ALL = 0x0003
POLL = 0.05


class Forwarding(object):
    def __init__(self, double):
        self.netns = double.netns
        self._table = double.table
        self._lock = threading.Lock()
        self._networks = {}           # vn id -> {port id: device name}
        self._wired = {}              # vn id -> what it was wired for
        self._closed = threading.Event()
        double.subscribe(self._changed)
        self._watcher = threading.Thread(target=self._watch,
                                         name='double-forwarding')
        self._watcher.daemon = True
        self._watcher.start()

    def close(self):
        self._closed.set()
        self._watcher.join(5)

    def _socket(self):
        return NetNS(self.netns) if self.netns else IPRoute()

    def _watch(self):
        sock = self._socket()
        try:
            while not self._closed.wait(POLL):
                links = _links(sock)
                with self._lock:
                    for vn_id in list(self._networks):
                        if self._wiring(vn_id, links) != \
                                self._wired.get(vn_id):
                            self._rewire(vn_id, sock, links)
        finally:
            sock.close()

    def members(self, vn_id):
        """Device names of the ports of vn_id joined now (active ones)."""
        with self._lock:
            return sorted(name for name, _index, active
                          in self._wired.get(vn_id, ()) if active)

    def _changed(self, op, record):
        vn_id, port_id = record.get('vn-id'), record['id']
        sock = self._socket()
        try:
            with self._lock:
                for other in self._networks.values():   # a port moved
                    other.pop(port_id, None)
                if op == 'add' and vn_id:
                    self._networks.setdefault(vn_id, {})[port_id] = \
                        record['system-name']
                else:       # deleted: its device forwards nothing more
                    index = _index(sock, record['system-name'])
                    if index:
                        _set_filter(sock, index, [])
                links = _links(sock)
                for vn in list(self._networks):
                    if self._wiring(vn, links) != self._wired.get(vn):
                        self._rewire(vn, sock, links)
        finally:
            sock.close()

    def _wiring(self, vn_id, links):
        """((device, index, active), ...) of vn_id's ports: the agent
        forwards for active ports only (table.activity)."""
        return tuple(sorted(
            (name,) + links.get(name, (None, None))[:1] + (activity(
                self._table.configured(port_id),
                links.get(name, (None, None))[1])[0],)
            for port_id, name in self._networks[vn_id].items()))

    def _rewire(self, vn_id, sock, links):
        wiring = self._wiring(vn_id, links)
        active = [index for _name, index, on in wiring if on]
        for _name, index, on in wiring:
            if index:
                _set_filter(sock, index,
                            [i for i in active if i != index] if on else [])
        if wiring:
            self._wired[vn_id] = wiring
        else:
            del self._networks[vn_id]
            self._wired.pop(vn_id, None)


def _links(sock):
    """{device name: (index, kernel flags)} of the namespace's devices."""
    return dict((link.get_attr('IFLA_IFNAME'), (link['index'], link['flags']))
                for link in sock.get_links())


def _index(sock, name):
    found = sock.link_lookup(ifname=name)
    return found[0] if found else None


def _set_filter(sock, index, targets):
    """Frames passed up to device index go out of every device of targets
    (none: no filter). The ingress qdisc is replaced with its filter."""
    try:
        sock.tc('del', 'ingress', index, 'ffff:')
    except NetlinkError as exc:
        if exc.code not in (errno.ENOENT, errno.EINVAL):
            raise
    if not targets:
        return
    sock.tc('add', 'ingress', index, 'ffff:')
    actions = [{'kind': 'mirred', 'direction': 'egress', 'action': 'mirror',
                'ifindex': target} for target in targets[:-1]]
    actions.append({'kind': 'mirred', 'direction': 'egress',
                    'action': 'redirect', 'ifindex': targets[-1]})
    # u32 "match u32 0 0": every frame (matchall is not in every kernel)
    sock.tc('add-filter', 'u32', index, parent=INGRESS, prio=PRIO,
            protocol=ETH_P_ALL, target=0, keys=['0x0/0x0+0'], action=actions)
