"""Registration with the vrouter agent that survives agent outages.

A client never loses a registration while the agent is away: ``add_port``
and ``delete_port`` return False ("pending") instead of failing when the
agent cannot be reached, and the next successful contact -- the next call or
the periodic ``check()`` -- restores the agent's view: pending deletes first,
then every persisted port (``persisted(limit=None)`` returns them, from
the port files). A restore happens only when a (re)connection was needed or the agent
shows it lost our ports, so each port reaches a returning agent once.

Bounded calls. Every exchange with the agent runs on a ``BoundedSocket``:
sending a request, and reading its whole answer, each end within the
client's ``timeout`` (``agent_timeout``) whatever the agent sends (one byte
at a time, endless ``100 Continue`` lines or empty thrift frames), and an
answer is read only up to a byte limit (the agent's answers are tiny). An
exchange that runs out of time raises AgentTimeout, an answer that is too
long or malformed AgentProtocolError (both AgentUnavailable: the port stays
pending, the connection is dropped and the next check reconnects and
restores); neither is retried within the same call, so a call ends within a
few timeouts even against a hostile agent.

Locks. ``_lock`` guards the connection: one exchange at a time on the one
socket (HTTP/1.1 answers come in order, thrift has no multiplexing) and the
connection's state (``_connected``, ``_restored``, ``_rejected``). It is
held across network waits, which the deadlines bound; callers wait for it
at most ``timeout`` and otherwise do not touch the connection at all: a
plug (or unplug) records its port as pending and returns False, a check
leaves its round out. So a check stuck on a bad agent delays a plug by at
most ``timeout``. ``_state`` guards only the pending work (ports to add, ids to
delete), which waiting callers record without the connection; it is never
held across I/O. The next check sends pending work even on a connection
that stayed up.

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

import io
import logging
import socket
import threading

from nova_lxc_contrail.compat import acquire
from nova_lxc_contrail.compat import monotonic
from nova_lxc_contrail.exception import AgentProtocolError
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import AgentTimeout
from nova_lxc_contrail.exception import AgentUnavailable

LOG = logging.getLogger(__name__)

# What one answer of the agent may take at most: its answers are a few
# dozen bytes (thrift: a bool; REST: "{}" or a port's record).
READ_LIMIT = 64 * 1024


def retryable(exc):
    """Whether a failed exchange may be tried again on a new connection
    within the same call: yes for a connection the agent closed (it
    restarted), no for an agent that is too slow or answers nonsense."""
    return not isinstance(exc, (AgentTimeout, AgentProtocolError))


class BoundedSocket(object):
    """A connected socket whose exchanges are bounded in time and size.

    ``start()`` begins an exchange: from then on every send and every read
    must end by the deadline (``timeout`` seconds on), and reads stop at
    ``limit`` bytes. Each read waits only for what is left of the deadline,
    so a slow drip ends at the deadline too, and a flood at the limit.
    ``makefile('rb')`` gives the buffered reader http.client reads from.
    """

    def __init__(self, sock, timeout, limit=READ_LIMIT):
        self._sock = sock
        self._timeout = timeout
        self._limit = limit
        self.start()

    def start(self):
        self._deadline = monotonic() + self._timeout
        self._left = self._limit

    def _wait(self):
        left = self._deadline - monotonic()
        if left <= 0:
            raise AgentTimeout('no answer within %.1f s' % self._timeout)
        self._sock.settimeout(left)

    def _room(self, size):
        if self._left <= 0:
            raise AgentProtocolError('answer longer than %d bytes'
                                     % self._limit)
        return min(size, self._left)

    def recv(self, size, flags=0):
        size = self._room(size)
        self._wait()
        try:
            data = self._sock.recv(size, flags)
        except socket.timeout:
            raise AgentTimeout('no answer within %.1f s' % self._timeout)
        self._left -= len(data)
        return data

    def recv_into(self, buf, size=0, flags=0):
        size = self._room(size or len(buf))
        self._wait()
        try:
            count = self._sock.recv_into(buf, size, flags)
        except socket.timeout:
            raise AgentTimeout('no answer within %.1f s' % self._timeout)
        self._left -= count
        return count

    def send(self, data, flags=0):
        self._wait()
        try:
            return self._sock.send(data, flags)
        except socket.timeout:
            raise AgentTimeout('request not sent within %.1f s'
                               % self._timeout)

    def sendall(self, data, flags=0):
        self._wait()
        try:
            self._sock.sendall(data, flags)
        except socket.timeout:
            raise AgentTimeout('request not sent within %.1f s'
                               % self._timeout)

    def makefile(self, mode='rb', *args, **kwargs):
        return io.BufferedReader(_Reader(self))

    def close(self):
        self._sock.close()

    def __getattr__(self, name):      # fileno, setsockopt, ...
        return getattr(self._sock, name)


class _Reader(io.RawIOBase):
    """The raw stream of a BoundedSocket (as socket.SocketIO is of a
    socket; closing it leaves the socket open, as makefile's does)."""

    def __init__(self, sock):
        io.RawIOBase.__init__(self)
        self._sock = sock

    def readable(self):
        return True

    def readinto(self, buf):
        return self._sock.recv_into(buf)


class AgentClient(object):
    """Protocol-independent part: connection state, pending work, restore."""

    protocol = None

    def __init__(self, persisted=None, timeout=5.0):
        self._persisted = persisted or (lambda limit=None: [])
        self._timeout = timeout
        self._lock = threading.Lock()    # the connection (see the docstring)
        self._state = threading.Lock()   # the pending work; no I/O under it
        self._connected = False
        self._pending_adds = {}          # port id -> Port
        self._pending_deletes = set()
        self._rejected = {}     # port id -> Port, from the last restore
        self._restored = {}

    @property
    def connected(self):
        return self._connected

    def add_port(self, port):
        """True if the agent holds the port now, False if it is pending.

        A stale connection (the agent restarted since the last call) is
        retried once on a fresh one. A connection busy for longer than the
        timeout leaves the port pending (the next check sends it)."""
        if not self._acquire('add', port.port_id):
            with self._state:
                self._pending_adds[port.port_id] = port
            return False
        try:
            return self._add_one(port)
        finally:
            self._lock.release()

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
            with self._state:
                deleting = port.port_id in self._pending_deletes
            if (self._connected and not deleting and
                    port.port_id not in self._rejected and
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
                again = retryable(exc)
            finally:
                self._lock.release()
            return self.add_port(port) if again else False
        return finish

    def delete_port(self, port_id):
        """True if the agent dropped the port now, False if it is pending."""
        with self._state:
            self._pending_deletes.add(port_id)
            self._pending_adds.pop(port_id, None)
        if not self._acquire('delete', port_id):
            return False
        try:
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
                    with self._state:
                        self._pending_deletes.discard(port_id)
                    return True
                except AgentUnavailable as exc:
                    self._lost(exc)
                    if not retryable(exc):
                        break
            return False
        finally:
            self._lock.release()

    def check(self):
        """Periodic: keep the agent's view complete; True if it is reachable.

        A call that holds the connection longer than the timeout leaves
        this round out (it ends within its own deadlines)."""
        if not acquire(self._lock, self._timeout):
            return self._connected
        try:
            if self._connected:
                try:
                    if self._probe():
                        self._flush()
                        return True
                    LOG.warning('%s agent lost our ports; sending them again',
                                self.protocol)
                    self._restore()
                    return True
                except AgentUnavailable as exc:
                    self._lost(exc)
            return self._reconnect()
        finally:
            self._lock.release()

    def close(self):
        with self._lock:
            self._connected = False
            self._close()

    # -- internals (called with the lock held, but for _acquire) -------------
    def _delete_first(self, port_id):
        # A delete of this port still pending is older than this add (the
        # driver serialises plug and unplug of one port): it goes to the
        # agent before the add, never after it (it would remove the port
        # the add registers) and is not dropped either (an agent that still
        # holds the port would take the add as a mere change: a new type
        # needs the delete).
        with self._state:
            pending = port_id in self._pending_deletes
        if pending:
            self._delete(port_id)
            with self._state:
                self._pending_deletes.discard(port_id)

    def _acquire(self, what, port_id):
        if acquire(self._lock, self._timeout):
            return True
        LOG.warning('%s agent busy for %.1f s (another call is waiting for '
                    'it): %s of port %s stays pending', self.protocol,
                    self._timeout, what, port_id)
        return False

    def _add_one(self, port):
        for _attempt in (1, 2):
            if not self._connected and not self._reconnect():
                return False
            # A restore (this call's or a concurrent plug's) may have
            # sent this very port already -- unless a delete of it came
            # after (pending still: it voids what the restore sent).
            with self._state:
                deleting = port.port_id in self._pending_deletes
            if deleting:
                self._restored.pop(port.port_id, None)
                self._rejected.pop(port.port_id, None)
            if self._rejected.pop(port.port_id, None) == port:
                raise AgentRejected('%s agent refused port %s' % (
                    self.protocol, port.port_id), [port.port_id])
            if self._restored.pop(port.port_id, None) == port:
                return True
            try:
                self._delete_first(port.port_id)
                self._add([port])
                with self._state:
                    if self._pending_adds.get(port.port_id) == port:
                        del self._pending_adds[port.port_id]
                return True
            except AgentUnavailable as exc:
                self._lost(exc)
                if not retryable(exc):
                    break
        return False

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
        self._flush(adds=False)
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
                                      for i in exc.port_ids
                                      if i in self._restored)
        self._flush(done=ports)

    def _flush(self, adds=True, done=()):
        """Send the pending work: deletes, then (adds) the ports still
        pending that are not among done (the ports a restore just sent)."""
        with self._state:
            deletes = sorted(self._pending_deletes)
        for port_id in deletes:
            self._delete(port_id)
            with self._state:
                self._pending_deletes.discard(port_id)
        if not adds:
            return
        with self._state:
            for port in done:
                if self._pending_adds.get(port.port_id) == port:
                    del self._pending_adds[port.port_id]
            ports = list(self._pending_adds.values())
        if not ports:
            return
        try:
            self._add(ports)
        except AgentRejected as exc:
            LOG.error('%s agent refused pending ports: %s', self.protocol, exc)
            self._rejected.update((p.port_id, p) for p in ports
                                  if p.port_id in exc.port_ids)
        with self._state:
            for port in ports:
                if self._pending_adds.get(port.port_id) is port:
                    del self._pending_adds[port.port_id]

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
