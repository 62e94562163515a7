"""Plug and unplug of one LXC port: the only module combining the others
(the agent client with the privileged half, which it orchestrates).

A plug validates the port (before anything exists), sends the agent its
registration, does all of its privileged work in ONE call,
``privileged.plug_local`` (bridge, port file), then reads the agent's
answer. An unplug does ``privileged.unplug_local`` (port file, bridge)
first and then tells the agent, so that no restore running meanwhile can
send a port that is being removed. Adapters
that need a privileged helper (rootwrap on icehouse, privsep on bookworm)
pass ``local=`` an object whose ``plug``/``unplug`` run those two functions
there, so one plug costs one privileged call.

Both are idempotent: plugging twice equals plugging once, unplugging a port
that is not there is not an error. While the agent is away, plugs and
unplugs succeed locally and the agent client sends them when it is back.

Every port is registered with the configured ``port_type`` (NovaVMPort by
default). Ports that port files show registered with another type (earlier
versions registered NameSpacePort) are registered again, once, at the first
agent check or plug (nova plugs every running instance's ports when it
starts), whichever comes first. The agent changes nothing but the version
of a port added again under the same id (contrail-controller
``CfgIntTable::OnChange``: "Handling only version change for now"; R4.0+
``PortSubscribeEntry::Update``: "Only version number is modifiable"), so
the new type takes a delete first.

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
from nova_lxc_contrail import portfiles
from nova_lxc_contrail import privileged
from nova_lxc_contrail.compat import cfg
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import InvalidPort
from nova_lxc_contrail.port import parse_uuid
from nova_lxc_contrail.port import Port
from nova_lxc_contrail.port import PORT_TYPES
from nova_lxc_contrail.port import TYPE_NAMES

LOG = logging.getLogger(__name__)


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
        self._local = local or privileged.LocalOps
        self.client = client or agent.make_client(group, self.persisted)
        self._interval = group.agent_check_interval
        self.port_type = PORT_TYPES[group.port_type]
        self._retyped = False       # all port files have port_type
        self._retype_logged = set()
        self._retype_lock = threading.Lock()
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
        self._retype()      # before a plug rewrites an old port's file
        port = port.with_type(self.port_type)
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
        self._retype()
        return self.client.check()

    def _retype(self):
        """The upgrade: ports persisted with another type than port_type
        are registered again with it and their files rewritten, through
        the privileged half as a plug's. The agent is told delete, then add
        (see the module's docstring); the file is written before the delete
        (a restore that the delete sets off sends the new type) and, if it
        is gone, after it (an agent sharing ports_dir removes the file of a
        deleted port).
        While the agent is away the delete waits in the client and goes
        first when it is back. Runs until one pass found nothing to do."""
        if self._retyped:
            return
        with self._retype_lock:
            if self._retyped:
                return
            try:
                self._retyped = self._retype_all()
            except Exception:   # a plug or a check must not fail for it
                LOG.exception('re-registering ports of another type failed')

    def _retype_all(self):
        done = True
        for old in self.persisted():
            if old.port_type == self.port_type:
                continue
            with self._ports.hold(old.port_id):
                # An unplug may have removed the port since the listing:
                # what counts is its file now, under the port's lock.
                current = self._load(old.port_id)
                if current is None or current.port_type == self.port_type:
                    continue
                done = self._retype_one(current) and done
        return done

    def _load(self, port_id):
        record = self._files.load(port_id)
        try:
            return Port.from_record(record) if record is not None else None
        except InvalidPort:
            return None

    def _retype_one(self, old):
        port = old.with_type(self.port_type)
        if port.port_id not in self._retype_logged:
            self._retype_logged.add(port.port_id)
            LOG.warning('port %s was registered as %s (by an earlier '
                        'version); registering it as %s', port.port_id,
                        TYPE_NAMES[old.port_type],
                        TYPE_NAMES[port.port_type])
        try:
            record = port.to_record()
            self._local.plug(port.ifname, record, self.ports_dir)
            self.client.delete_port(port.port_id)
            if self._files.load(port.port_id) is None:
                self._local.plug(port.ifname, record, self.ports_dir)
            self.client.add_port(port)
        except AgentRejected as exc:
            LOG.error('agent refused port %s as %s: %s', port.port_id,
                      TYPE_NAMES[port.port_type], exc)
        except Exception as exc:    # local failure: next check again
            LOG.warning('re-registering port %s failed: %s',
                        port.port_id, exc)
            return False
        return True

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
