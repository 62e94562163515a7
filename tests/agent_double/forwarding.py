"""Opt-in forwarding for the agent double: ports of one virtual network reach
each other, ports of different networks do not, as through a vrouter.

    double = AgentDouble(...).start()
    forwarding = Forwarding(double)     # from now on, through subscribe()
    forwarding.members(vn_id)           # [device name, ...] joined now

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
register before it creates the bridge), whenever a registered device appears
or is re-created (checked every POLL seconds until close()); a device that
disappears takes its filter with it. Linux only (pyroute2, root).
"""
from __future__ import absolute_import

import errno
import threading

from pyroute2 import IPRoute
from pyroute2 import NetNS
from pyroute2.netlink.exceptions import NetlinkError

INGRESS = 0xffff0000
PRIO = 49152          # one filter per device, at a fixed priority
ETH_P_ALL = 0x0003
POLL = 0.05


class Forwarding(object):
    def __init__(self, double):
        self.netns = double.netns
        self._lock = threading.Lock()
        self._networks = {}           # vn id -> {port id: device name}
        self._wired = {}              # device name -> index it was wired at
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
                indexes = dict((link.get_attr('IFLA_IFNAME'), link['index'])
                               for link in sock.get_links())
                with self._lock:
                    for ports in self._networks.values():
                        devices = sorted(ports.values())
                        if any(indexes.get(d) != self._wired.get(d)
                               for d in devices):
                            self._rewire(devices, sock)
        finally:
            sock.close()

    def members(self, vn_id):
        """Device names of the ports of vn_id joined now."""
        with self._lock:
            return sorted(self._networks.get(vn_id, {}).values())

    def _changed(self, op, record):
        vn_id, port_id = record.get('vn-id'), record['id']
        with self._lock:
            ports = self._networks.setdefault(vn_id, {})
            for other in self._networks.values():   # a port moved networks
                other.pop(port_id, None)
            if op == 'add' and vn_id:
                ports[port_id] = record['system-name']
            if not ports:
                del self._networks[vn_id]
            self._rewire(sorted(ports.values()))

    def _rewire(self, devices, sock=None):
        own = sock is None
        sock = self._socket() if own else sock
        try:
            index = dict((name, _index(sock, name)) for name in devices)
            present = [name for name in devices if index[name]]
            for name in present:
                others = [index[o] for o in present if o != name]
                _set_filter(sock, index[name], others)
            for name in devices:
                self._wired[name] = index[name]
        finally:
            if own:
                sock.close()


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
