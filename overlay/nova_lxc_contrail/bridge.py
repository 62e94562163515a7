"""Plug and unplug of one LXC port: the only module combining the others.

A plug validates the port (before anything exists), sends the agent its
registration, does all of its privileged work in ONE call, ``plug_local``
(bridge, port file), then reads the agent's answer. An unplug does
``unplug_local`` (port file, bridge) first and then tells the agent, so that
no restore running meanwhile can send a port that is being removed. Adapters
that need a privileged helper (rootwrap on icehouse, privsep on bookworm)
pass ``local=`` an object whose ``plug``/``unplug`` run those two functions
there, so one plug costs one privileged call.

Both are idempotent: plugging twice equals plugging once, unplugging a port
that is not there is not an error. While the agent is away, plugs and
unplugs succeed locally and the agent client sends them when it is back.

A plug and an unplug of the same port never overlap (one lock per port id,
``_PortLocks``): interleaved, the unplug's local work could fall between the
plug's agent request and its port file, leaving a bridge and file the agent
does not know, or the reverse. Serialised, whichever comes last wins
entirely. Different ports do not wait for each other.
"""
from __future__ import absolute_import

import contextlib
import logging
import threading

from nova_lxc_contrail import agent
from nova_lxc_contrail import config
from nova_lxc_contrail import names
from nova_lxc_contrail import netdev
from nova_lxc_contrail import portfiles
from nova_lxc_contrail.compat import cfg
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import InvalidPort
from nova_lxc_contrail.port import parse_uuid
from nova_lxc_contrail.port import Port

LOG = logging.getLogger(__name__)


def plug_local(ifname, record, ports_dir):
    """All privileged work of a plug: the bridge (marked as the port's),
    then the port file."""
    netdev.ensure_bridge(ifname, owner=record['id'])
    portfiles.PortFiles(ports_dir).save(record)


def unplug_local(ifname, port_id, ports_dir, tap=None):
    """All privileged work of an unplug: port file, bridge, and the tap the
    2014 driver enslaved to it (if tap names one on this bridge)."""
    portfiles.PortFiles(ports_dir).remove(port_id)
    bridge = netdev.link_state(ifname)
    old_tap = netdev.link_state(tap) if tap and bridge else None
    netdev.delete_link(ifname, owner=port_id)
    if old_tap and old_tap.kind == 'tun' and old_tap.master == bridge.index:
        netdev.delete_link(tap, kinds=('tun',))


class LocalOps(object):
    """The privileged part, run in this process (root, or tests)."""
    plug = staticmethod(plug_local)
    unplug = staticmethod(unplug_local)


class _PortLocks(object):
    """A lock per port id, kept only while someone holds or awaits it."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks = {}      # port id -> [lock, holders and waiters]

    @contextlib.contextmanager
    def hold(self, port_id):
        with self._guard:
            entry = self._locks.setdefault(port_id, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if not entry[1]:
                    del self._locks[port_id]


class BridgeDriver(object):
    """Plugs and unplugs ports; keeps the agent's view complete."""

    def __init__(self, conf=None, client=None, local=None, group=None):
        """group: the options as an already registered group (an os-vif
        plugin's own); otherwise they are registered in conf (default
        cfg.CONF) as [contrail_bridge]."""
        if group is None:
            group = config.register_opts(
                conf if conf is not None else cfg.CONF)
        self.ports_dir = group.ports_dir
        self._files = portfiles.PortFiles(group.ports_dir)
        self._local = local or LocalOps
        self.client = client or agent.make_client(group, self.persisted)
        self._interval = group.agent_check_interval
        self._stopped = threading.Event()
        self._thread = None
        self._ports = _PortLocks()

    def plug(self, port):
        """Set up port (a Port); True if the agent holds it now, False if
        it is pending until the agent is back. Raises AgentRejected (after
        undoing the local work) if the agent refuses the port.

        The registration is sent before the local work and its answer read
        after it, so the agent works while the bridge is made (the agent
        takes a port whose device does not exist yet, and binds it when the
        device appears, as with nova's own taps)."""
        with self._ports.hold(port.port_id):
            return self._plug(port)

    def _plug(self, port):
        finish = self.client.begin_add(port)
        done = False
        try:
            self._local.plug(port.ifname, port.to_record(), self.ports_dir)
            done = True
        finally:
            if not done and finish is not None:
                self._take_back(port, finish)
        try:
            return finish() if finish is not None else \
                self.client.add_port(port)
        except AgentRejected:
            self._local.unplug(port.ifname, port.port_id, self.ports_dir)
            raise

    def _take_back(self, port, finish):
        """The local work failed after the agent was asked: withdraw."""
        try:
            finish()
        except AgentRejected:
            return
        except Exception as exc:   # the local error is the one to raise
            LOG.warning('agent registration of %s: %s', port.port_id, exc)
        try:
            self.client.delete_port(port.port_id)
        except Exception as exc:
            LOG.warning('agent withdrawal of %s: %s', port.port_id, exc)

    def unplug(self, port_id, devname=None, ifname=None):
        """Tear down the port's bridge and registration; missing is fine."""
        try:
            port_id = parse_uuid(port_id)
        except ValueError as exc:
            raise InvalidPort(port_id, str(exc))
        tap = devname or names.tap_name(port_id)
        ifname = ifname or names.bridge_name(port_id, devname)
        with self._ports.hold(port_id):
            self._local.unplug(ifname, port_id, self.ports_dir, tap)
            self.client.delete_port(port_id)

    def persisted(self, limit=None):
        """The ports of the port files (unreadable files are skipped)."""
        ports = []
        for port_id in self._files.ids():
            record = self._files.load(port_id)
            try:
                ports.append(Port.from_record(record))
            except InvalidPort as exc:
                LOG.warning('ignoring port file %s: %s',
                            self._files.path(port_id), exc)
            if limit and len(ports) >= limit:
                break
        return ports

    def check(self):
        """One round of the periodic agent check (the adapters may drive it
        from their own timer instead of start())."""
        return self.client.check()

    def start(self):
        """Run check() every agent_check_interval seconds in a thread."""
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run,
                                            name='contrail-bridge-agent')
            self._thread.daemon = True
            self._thread.start()

    def stop(self):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.client.close()

    def _run(self):
        while not self._stopped.wait(self._interval):
            try:
                self.check()
            except Exception:   # keep checking whatever happened
                LOG.exception('agent check failed')
