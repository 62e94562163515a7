"""Registration with the vrouter agent that survives agent outages.

A client never loses a registration while the agent is away: ``add_port``
and ``delete_port`` return False ("pending") instead of failing when the
agent cannot be reached, and the next successful contact -- the next call or
the periodic ``check()`` -- restores the agent's view: pending deletes first,
then every persisted port (``persisted(limit=None)`` returns them, from
the port files). A restore happens only when a (re)connection was needed or the agent
shows it lost our ports, so each port reaches a returning agent once.

Protocols implement five primitives, each raising AgentUnavailable when the
agent cannot be reached:

* ``_open()``/``_close()``: (re)connect and forget a connection,
* ``_add(ports)``: send every port; raise AgentRejected at the end naming
  the ports the agent refused,
* ``_delete(port_id)``,
* ``_probe()``: True while the agent still holds what we sent.

A protocol whose request and answer can be split may also offer
``_send_add(port)``: send the request, return a function that reads the
answer (raising as ``_add`` does). ``begin_add`` then lets the caller do its
local work (bridge, port file) while the agent handles the request.
"""
from __future__ import absolute_import

import logging
import threading

from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import AgentUnavailable

LOG = logging.getLogger(__name__)


class AgentClient(object):
    """Protocol-independent part: connection state, pending work, restore."""

    protocol = None

    def __init__(self, persisted=None):
        self._persisted = persisted or (lambda limit=None: [])
        self._lock = threading.Lock()
        self._connected = False
        self._pending_deletes = set()
        self._rejected = {}     # port id -> Port, from the last restore
        self._restored = {}

    @property
    def connected(self):
        return self._connected

    def add_port(self, port):
        """True if the agent holds the port now, False if it is pending.

        A stale connection (the agent restarted since the last call) is
        retried once on a fresh one."""
        with self._lock:
            for _attempt in (1, 2):
                if not self._connected and not self._reconnect():
                    return False
                # A restore (this call's or a concurrent plug's) may have
                # sent this very port already.
                if self._rejected.pop(port.port_id, None) == port:
                    raise AgentRejected('%s agent refused port %s' % (
                        self.protocol, port.port_id), [port.port_id])
                if self._restored.pop(port.port_id, None) == port:
                    return True
                try:
                    self._add([port])
                    return True
                except AgentUnavailable as exc:
                    self._lost(exc)
            return False

    def begin_add(self, port):
        """Send port's registration now and return finish(), which reads
        the agent's answer and returns or raises as add_port(port) does; or
        return None, and the caller calls add_port(port) when it is ready.

        Only a connected client that no other call is using sends early
        (finish() must then be called: the client is held until it is). A
        connection lost meanwhile is retried in finish() as in add_port.
        """
        if self._send_add is None or not self._lock.acquire(False):
            return None
        receive = None
        try:
            if (self._connected and port.port_id not in self._rejected and
                    port.port_id not in self._restored):
                try:
                    receive = self._send_add(port)
                except AgentUnavailable as exc:
                    self._lost(exc)
        finally:
            if receive is None:
                self._lock.release()
        if receive is None:
            return None

        def finish():
            try:
                receive()
                return True
            except AgentUnavailable as exc:
                self._lost(exc)
            finally:
                self._lock.release()
            return self.add_port(port)
        return finish

    def delete_port(self, port_id):
        """True if the agent dropped the port now, False if it is pending."""
        with self._lock:
            self._pending_deletes.add(port_id)
            # What a restore sent or saw refused is void once the port is
            # deleted: a later add_port of it must send it again.
            self._restored.pop(port_id, None)
            self._rejected.pop(port_id, None)
            for _attempt in (1, 2):
                if not self._connected:
                    # A restore delivers the pending deletes first.
                    return self._reconnect()
                try:
                    self._delete(port_id)
                    self._pending_deletes.discard(port_id)
                    return True
                except AgentUnavailable as exc:
                    self._lost(exc)
            return False

    def check(self):
        """Periodic: keep the agent's view complete; True if it is reachable."""
        with self._lock:
            if self._connected:
                try:
                    if self._probe():
                        return True
                    LOG.warning('%s agent lost our ports; sending them again',
                                self.protocol)
                    self._restore()
                    return True
                except AgentUnavailable as exc:
                    self._lost(exc)
            return self._reconnect()

    def close(self):
        with self._lock:
            self._connected = False
            self._close()

    # -- internals (called with the lock held) -----------------------------
    def _lost(self, exc):
        LOG.warning('%s agent connection lost: %s', self.protocol, exc)
        self._connected = False
        self._close()

    def _reconnect(self):
        try:
            self._open()
            self._restore()
        except AgentUnavailable as exc:
            LOG.debug('%s agent unavailable: %s', self.protocol, exc)
            self._close()
            return False
        LOG.info('%s agent connected', self.protocol)
        self._connected = True
        return True

    def _restore(self):
        for port_id in sorted(self._pending_deletes):
            self._delete(port_id)
            self._pending_deletes.discard(port_id)
        ports = self._persisted()
        self._restored = dict((p.port_id, p) for p in ports)
        self._rejected = {}
        missing = self._missing(ports)
        if missing:
            try:
                self._add(missing)
            except AgentRejected as exc:
                LOG.error('%s agent refused persisted ports: %s',
                          self.protocol, exc)
                self._rejected = dict((i, self._restored.pop(i))
                                      for i in exc.port_ids)

    # -- protocol primitives ----------------------------------------------
    def _missing(self, ports):
        """Of the persisted ports, those a restore must send (all)."""
        return ports

    def _open(self):
        raise NotImplementedError

    def _close(self):
        pass

    def _add(self, ports):
        raise NotImplementedError

    _send_add = None     # optional: see the module's docstring

    def _delete(self, port_id):
        raise NotImplementedError

    def _probe(self):
        raise NotImplementedError
