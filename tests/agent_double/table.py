"""The double's state: the ports it holds, with the agent's semantics.

One table serves both protocols, as in the agent (its config-interface
table, R4.0+ its port-subscribe table):

* add keyed by port id; adding a port it holds again renews its version and
  changes nothing else (contrail-controller src/vnsw/agent/cfg/cfg_intf.cc
  ``CfgIntTable::OnChange``: "Handling only version change for now";
  port_ipc/port_subscribe_table.cc ``PortSubscribeEntry::Update``: "Only
  version number is modifiable"), unless it names another instance, which
  the R4.0+ agent takes as a delete and an add (``PortSubscribeTable::
  AddVmi``);
* delete always succeeds;
* ``connect()`` (thrift ``Connect``, REST ``POST /syncports``) bumps the
  version and arms the audit that, ``audit_timeout`` seconds later, drops
  the VM ports not added again under the new version
  (``InterfaceConfigStaleCleaner``; NameSpacePort entries are exempt).

Config, as the agent gets it (contrail.md 0.1): for a VM port the agent
subscribes to the VM's configuration and the control node answers, so the
double gives every VM port its config at once; a NameSpacePort gets none
(R2.0+: "Ignore Sending Subscribe", ``VmiSubscribeEntry::OnAdd`` returns
before ``ControllerVmiSubscribeData``) unless the test ``link()``s it, as
svc-monitor links a service instance's virtual-router to its VM. A port is
active only with config and with its device UP and RUNNING (``activity``).
Validation is done by the protocol front ends; records here use the REST
body's keys.
"""
from __future__ import absolute_import

import collections
import threading

NOVA_VM_PORT = 0
NAMESPACE_PORT = 1
REMOTE_PORT = 2
IFF_UP = 0x1
IFF_RUNNING = 0x40
# What the agent's introspect shows for an interface without config
# (src/vnsw/agent/oper/interface.cc: Inactive< ... >)
NO_CONFIG = ('vn-null', 'vm-null', 'vrf-null')

Event = collections.namedtuple('Event', 'op port_id via')


def rest_type(value):
    """The agent's port type of a REST "type" (MakeAddVmiUuidRequest):
    1 NameSpacePort, 2 remote port, anything else a VM port."""
    return {1: NAMESPACE_PORT, 2: REMOTE_PORT}.get(value, NOVA_VM_PORT)


def activity(configured, flags):
    """(active, reasons) of a port: reasons as the introspect's
    ``Inactive< ... >`` words (vm_interface.cc IsActive; interface.cc
    GetOsParams: the device must be UP and RUNNING). flags: the device's
    kernel flags, None if it does not exist."""
    reasons = [] if configured else list(NO_CONFIG)
    if flags is None:
        reasons.append('no-dev')
    elif flags & (IFF_UP | IFF_RUNNING) != IFF_UP | IFF_RUNNING:
        reasons.append('os-state-down')
    return not reasons, reasons


class PortTable(object):
    def __init__(self, audit_timeout=60.0):
        self.audit_timeout = audit_timeout
        self._lock = threading.RLock()
        self._ports = {}          # port id -> record (with 'version')
        self._linked = set()      # NameSpacePorts given config by the test
        self._version = 0
        self._timer = None
        self.events = []          # every add/delete/audit, across restarts
        self._listeners = []

    # -- the agent's operations ------------------------------------------
    def add(self, record, via):
        with self._lock:
            record = dict(record)
            version = 0 if record['type'] == NAMESPACE_PORT \
                else self._version
            held = self._ports.get(record['id'])
            if held is not None and \
                    held['instance-id'] == record['instance-id']:
                record = held           # only the version changes
            record['version'] = version
            self._ports[record['id']] = record
            self.events.append(Event('add', record['id'], via))
            record = dict(record)
        self._notify('add', record)

    def delete(self, port_id, via):
        with self._lock:
            record = self._ports.pop(port_id, None)
            self.events.append(Event('delete', port_id, via))
        if record is not None:
            self._notify('delete', record)

    def connect(self, via='thrift'):
        """Connect() / syncports: new version, audit after audit_timeout."""
        with self._lock:
            self._version += 1
            self.events.append(Event('sync', None, via))
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.audit_timeout, self._audit,
                                          (self._version,))
            self._timer.daemon = True
            self._timer.start()
            return self._version

    def _audit(self, version):
        with self._lock:
            stale = [r for r in self._ports.values()
                     if r['type'] == NOVA_VM_PORT and r['version'] < version]
            for record in stale:
                del self._ports[record['id']]
                self.events.append(Event('audit', record['id'], 'audit'))
        for record in stale:
            self._notify('delete', record)

    def clear(self):
        """The agent process ended: nothing survives but the port files
        (and the links, which live in the controller's config)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            dropped = list(self._ports.values())
            self._ports.clear()
            self._version = 0
        for record in dropped:
            self._notify('delete', record)

    # -- config, as the control node gives it ----------------------------
    def link(self, port_id, linked=True):
        """Link (or unlink) the virtual-router to the port's VM, as
        svc-monitor does: a NameSpacePort then gets its config too."""
        with self._lock:
            (self._linked.add if linked else self._linked.discard)(port_id)
            record = self._ports.get(port_id)
            record = dict(record) if record is not None else None
        if record is not None:
            self._notify('add', record)

    def configured(self, port_id):
        """True if the agent has the port's VN/VM/VRF config."""
        with self._lock:
            record = self._ports.get(port_id)
            return record is not None and (
                record['type'] != NAMESPACE_PORT or port_id in self._linked)

    # -- queries -----------------------------------------------------------
    def get(self, port_id):
        with self._lock:
            record = self._ports.get(port_id)
            return dict(record) if record is not None else None

    def snapshot(self):
        with self._lock:
            return dict((k, dict(v)) for k, v in self._ports.items())

    def count(self, op, port_id=None, via=None):
        with self._lock:
            return sum(1 for e in self.events if e.op == op and
                       port_id in (None, e.port_id) and via in (None, e.via))

    # -- hook ------------------------------------------------------------
    def subscribe(self, listener):
        """listener(op, record) after each change, op 'add' or 'delete'.

        The place for behaviour beyond the agent's table, e.g. joining the
        bridges of one virtual network so their containers can talk.
        """
        self._listeners.append(listener)

    def _notify(self, op, record):
        for listener in list(self._listeners):
            listener(op, record)
