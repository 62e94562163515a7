"""Client of the agent's REST port API (127.0.0.1:9091, agents >= R2.20).

``POST /port`` carries every member the agent requires, typed as it checks
them (strings, and ints for ``type`` and the VLAN ids); ``DELETE
/port/<uuid>`` removes a port.

The requests share one persistent HTTP/1.1 connection: the agent's server
answers with a Content-Length and keeps the connection open for the next
request (contrail-controller ``src/http/http_session.cc``,
``port_ipc/rest_common.cc``), which saves a TCP connection, and on the
agent's side a session, per request. A connection the agent has closed
fails the request that finds it; the base class then reconnects and
restores, and requests are idempotent (POST /port adds or changes by port
id), so sending one again is harmless. The API itself keeps no session:
a restart is also noticed by asking for one of our ports (``GET
/port/<uuid>`` answers ``{}`` for ports it does not hold); a restore sends
only what the agent is missing.

Agents that have ``POST /syncports`` (the newer REST agents) get a sync at
the restore of each new connection (an agent restart cuts it): it bumps the
agent's version and arms the audit that, after the stale-interface timeout
(60 s by default), deletes the VM ports not added again since
(``PortIpcHandler::SyncHandler``, port_ipc_handler.cc). So the sync goes
first and every persisted port is sent after it, held or not (adding a
held port again only renews its version). An agent that answers 404 has no
sync: the client remembers that and does not ask again.
"""
from __future__ import absolute_import

import json
import logging
import socket

from nova_lxc_contrail.agent import base
from nova_lxc_contrail.compat import http_client
from nova_lxc_contrail.exception import AgentProtocolError
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import AgentUnavailable

LOG = logging.getLogger(__name__)
NIL_UUID = '00000000-0000-0000-0000-000000000000'
HEADERS = {'Content-Type': 'application/json'}
# What the agent stores and answers in GET; a difference means "send again".
COMPARED = ('instance-id', 'vn-id', 'system-name', 'mac-address')
BODY_LIMIT = base.READ_LIMIT
ANSWER_LIMIT = 2 * BODY_LIMIT      # + status lines, headers, chunk sizes
NOT_JSON = None                    # the answer of a body that is not JSON


class _Connection(http_client.HTTPConnection):
    """An HTTPConnection whose socket bounds each exchange."""

    def connect(self):
        http_client.HTTPConnection.connect(self)
        self.sock = base.BoundedSocket(self.sock, self.timeout, ANSWER_LIMIT)


def _decode(data):
    """The JSON of an answer's body; NOT_JSON if it is not JSON."""
    try:
        return json.loads(data.decode('utf-8')) if data else {}
    except (ValueError, RuntimeError):   # RuntimeError: RecursionError
        return NOT_JSON


def _shown(answer):
    """An answer for a message (they may be long)."""
    text = repr(answer)
    return text if len(text) <= 200 else text[:200] + '...'


def _said_no(status):
    return 400 <= status < 600


class RestClient(base.AgentClient):
    """Answers are bounded (``base.BoundedSocket``): each must arrive within
    the timeout and its body take at most BODY_LIMIT bytes (chunked or not;
    the whole answer with status lines and headers at most ANSWER_LIMIT).
    A yes is status 200 with a JSON object; a 4xx/5xx status is the agent's
    no; anything else (another status, a body that is not JSON, too deep or
    too long) is AgentProtocolError, and the connection is replaced."""

    protocol = 'rest'

    def __init__(self, host='127.0.0.1', port=9091, timeout=5.0,
                 persisted=None):
        super(RestClient, self).__init__(persisted)
        self._address = (host, port)
        self._timeout = timeout
        self._conn = None
        self._syncports = True      # until the agent says 404
        self._sync_due = False      # a new connection's restore syncs

    def _request(self, method, path, body=None):
        return self._send(method, path, body)()

    def _send(self, method, path, body=None):
        """Send a request on the connection; return the function that
        reads its answer as (status, decoded JSON or NOT_JSON)."""
        conn = self._conn
        if conn is None:
            raise AgentUnavailable('REST %s %s: not connected'
                                   % (method, path))
        try:
            if conn.sock is None:       # http.client closed it after an
                conn.connect()          # answer that ended the connection
            conn.sock.start()
            conn.request(method, path, body, HEADERS)
        except (socket.error, http_client.HTTPException) as exc:
            raise AgentUnavailable('REST %s %s: %s' % (method, path, exc))

        def receive():
            if conn.sock is None:
                raise AgentUnavailable('REST %s %s: connection closed'
                                       % (method, path))
            try:
                conn.sock.start()
                response = conn.getresponse()
                # The whole body, unless it is longer than the limit.
                data = response.read(BODY_LIMIT + 1)
            except (socket.error, http_client.HTTPException) as exc:
                raise AgentUnavailable('REST %s %s: %s' % (method, path, exc))
            except ValueError as exc:   # e.g. a chunk size that is no number
                raise AgentProtocolError('REST %s %s: malformed answer: %s'
                                         % (method, path, exc))
            if len(data) > BODY_LIMIT:
                raise AgentProtocolError('REST %s %s: answer longer than %d '
                                         'bytes' % (method, path, BODY_LIMIT))
            return response.status, _decode(data)
        return receive

    def _held(self, port_id):
        status, answer = self._request('GET', '/port/%s' % port_id)
        if status == 200 and isinstance(answer, dict):
            return answer
        raise AgentProtocolError('REST GET /port/%s: not a port (%s: %s)'
                                 % (port_id, status, _shown(answer)))

    def _open(self):
        # Connected here rather than by the first request: an agent that
        # is down fails the (re)connection itself.
        self._close()
        conn = _Connection(*self._address, timeout=self._timeout)
        try:
            conn.connect()
        except socket.error as exc:
            conn.close()
            raise AgentUnavailable('REST agent at %s:%d: %s'
                                   % (self._address + (exc,)))
        self._conn = conn
        self._held(NIL_UUID)
        self._sync_due = True

    def _close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _add(self, ports):
        refused, ids = [], []
        for port in ports:
            try:
                self._send_add(port)()
            except AgentRejected as exc:
                refused.append(str(exc))
                ids.extend(exc.port_ids)
        if refused:
            raise AgentRejected('; '.join(refused), ids)

    def _send_add(self, port):
        receive = self._send('POST', '/port', json.dumps(port.to_record()))

        def check():
            status, answer = receive()
            if status == 200 and isinstance(answer, dict):
                return
            if _said_no(status):
                error = answer.get('error', answer) if isinstance(
                    answer, dict) else answer
                raise AgentRejected('REST agent refused %s (%s: %s)' % (
                    port.port_id, status, _shown(error)), [port.port_id])
            raise AgentProtocolError('REST POST /port %s: not an answer '
                                     '(%s: %s)' % (port.port_id, status,
                                                   _shown(answer)))
        return check

    def _delete(self, port_id):
        # The agent refuses a delete only for the nil UUID; a refusal is
        # logged, not kept pending (it would be refused at every restore).
        status, answer = self._request('DELETE', '/port/%s' % port_id)
        if _said_no(status):
            LOG.warning('REST agent refused to delete %s (%s: %s)',
                        port_id, status, _shown(answer))
        elif status != 200:
            raise AgentProtocolError('REST DELETE /port/%s: not an answer '
                                     '(%s: %s)' % (port_id, status,
                                                   _shown(answer)))

    def _probe(self):
        ports = self._persisted(limit=1)
        if not ports:
            self._held(NIL_UUID)
            return True
        return self._same(ports[0], self._held(ports[0].port_id))

    def _missing(self, ports):
        if self._sync_due and self._sync():
            return ports    # the audit spares only ports sent after the sync
        # A restarted agent may have reloaded our port files already; send
        # only what it lacks, so that each port reaches it once.
        return [p for p in ports if not self._same(p, self._held(p.port_id))]

    def _sync(self):
        """POST /syncports; False if the agent has none (404, remembered).
        Not for a probe's restore on a kept connection: that agent did not
        restart (a port file written just before its registration looks
        lost for a moment) and only what it lacks is sent."""
        self._sync_due = False
        if not self._syncports:
            return False
        status, answer = self._request('POST', '/syncports', '{}')
        if status == 404:
            LOG.info('REST agent has no /syncports; not asking again')
            self._syncports = False
            return False
        if status != 200:
            LOG.warning('REST agent answered /syncports with %s: %s',
                        status, answer)
        return True

    @staticmethod
    def _same(port, held):
        record = port.to_record()
        return bool(held) and all(
            str(held.get(k, '')).lower() == str(record[k]).lower()
            for k in COMPARED)
