"""The double's state: the ports it holds, with the agent's semantics.

One table serves both protocols, as in the agent (its config-interface
table): add-or-change keyed by port id, delete always succeeds, ``connect()``
bumps the version and arms the audit that drops NovaVMPort entries not added
again under the new version (NameSpacePort entries are exempt).
Validation is done by the protocol front ends; records here use the REST
body's keys.
"""
from __future__ import absolute_import

import collections
import threading

NOVA_VM_PORT = 0
NAMESPACE_PORT = 1

Event = collections.namedtuple('Event', 'op port_id via')


class PortTable(object):
    def __init__(self, audit_timeout=60.0):
        self.audit_timeout = audit_timeout
        self._lock = threading.RLock()
        self._ports = {}          # port id -> record (with 'version')
        self._version = 0
        self._timer = None
        self.events = []          # every add/delete/audit, across restarts
        self._listeners = []

    # -- the agent's operations ------------------------------------------
    def add(self, record, via):
        with self._lock:
            record = dict(record)
            record['version'] = 0 if record['type'] == NAMESPACE_PORT \
                else self._version
            self._ports[record['id']] = record
            self.events.append(Event('add', record['id'], via))
        self._notify('add', record)

    def delete(self, port_id, via):
        with self._lock:
            record = self._ports.pop(port_id, None)
            self.events.append(Event('delete', port_id, via))
        if record is not None:
            self._notify('delete', record)

    def connect(self):
        """Connect(): new version, audit after audit_timeout seconds."""
        with self._lock:
            self._version += 1
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
        """The agent process ended: nothing survives but the port files."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            dropped = list(self._ports.values())
            self._ports.clear()
            self._version = 0
        for record in dropped:
            self._notify('delete', record)

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
