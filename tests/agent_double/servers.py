"""The double's two front ends on real sockets: thrift and REST.

Both run in daemon threads and stop completely: listening socket closed,
open client connections cut (as when the agent process dies), so a client
sees exactly what it would see with the real agent gone.
"""
from __future__ import absolute_import

import json
import logging
import re
import socket
import threading

from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket
from thrift.transport import TTransport

from nova_lxc_contrail.agent.instance_service import InstanceService

from . import checks

try:  # Python 3
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn
except ImportError:  # Python 2.7
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer
    from SocketServer import ThreadingMixIn

LOG = logging.getLogger(__name__)


class ThriftHandler(object):
    """InstanceService with the agent's semantics."""

    def __init__(self, table):
        self.table = table

    def AddPort(self, port_list):
        for port in port_list:
            try:
                record = checks.thrift_port(port)
            except checks.Refused as exc:
                LOG.info('AddPort refused: %s', exc)
                return False        # the rest of the list is not processed
            self.table.add(record, 'thrift')
        return True

    def DeletePort(self, port_id):
        try:
            self.table.delete(checks._tuuid(port_id), 'thrift')
        except checks.Refused:
            pass
        return True

    def KeepAliveCheck(self):
        return True

    def Connect(self):
        # InstanceServiceAsyncHandler::Connect: new version, audit armed
        self.table.connect('thrift')
        return True


class ThriftServer(object):
    def __init__(self, table, host, port):
        self._processor = InstanceService.Processor(ThriftHandler(table))
        # A plain listening socket: TServerSocket resolves with
        # AI_ADDRCONFIG, which fails in a namespace that has only lo.
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen.bind((host, port))
        self._listen.listen(128)
        self.port = self._listen.getsockname()[1]
        self._clients = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = _daemon(self._accept_loop, 'double-thrift')

    def _accept_loop(self):
        while not self._stopping:
            try:
                conn = self._listen.accept()[0]
            except socket.error:
                break
            if self._stopping:
                conn.close()
                break
            client = TSocket.TSocket()
            client.setHandle(conn)
            with self._lock:
                self._clients.add(client)
            _daemon(self._serve, 'double-thrift-client', client)

    def _serve(self, client):
        transport = TTransport.TFramedTransport(client)
        protocol = TBinaryProtocol.TBinaryProtocol(transport)
        try:
            while not self._stopping:
                self._processor.process(protocol, protocol)
        except (TTransport.TTransportException, socket.error, EOFError):
            pass
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def cut_connections(self):
        """Cut the open client connections (the agent keeps its table)."""
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            _shutdown(client.handle)

    def stop(self):
        self._stopping = True
        _shutdown(self._listen)
        self._listen.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            _shutdown(client.handle)
        self._thread.join(5)


UUID_PATH = re.compile(r'^/port/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
                       r'[0-9a-f]{4}-[0-9a-f]{12})$')
NIL_UUID = '00000000-0000-0000-0000-000000000000'
PUBLIC = ('id', 'instance-id', 'vn-id', 'vm-project-id', 'display-name',
          'system-name', 'ip-address', 'ip6-address', 'mac-address', 'type',
          'rx-vlan-id', 'tx-vlan-id')


class RestHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    # One write per answer, as the agent's REST::SendResponse: status line,
    # headers and body buffered and flushed together at the end of the
    # request. Written piecewise, a persistent connection would wait out
    # the client's delayed ACK (40 ms) before the body went out (Nagle).
    wbufsize = -1
    agent = None        # set on the server class: (table, portfiles or None)

    def log_message(self, fmt, *args):
        LOG.debug('REST ' + fmt, *args)

    def _answer(self, code, doc):
        self.server.requests.append((self.command, self.path, code))
        body = json.dumps(doc).encode('utf-8')
        self.send_response(code)
        self.send_header('Content-Type', 'application/json; charset=UTF-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _unknown(self):
        self._answer(404, {'error': 'Unknown Request'})

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length).decode('utf-8')
        if self.path == '/syncports' and self.server.syncports:
            # PortIpcHandler::SyncHandler: new version, audit armed
            self.server.table.connect('rest')
            return self._answer(200, {})
        if self.path != '/port':
            return self._unknown()
        try:
            record = checks.rest_port(body)
        except checks.Refused as exc:
            return self._answer(500, {'error': '{ %s }' % exc})
        self.server.table.add(record, 'rest')
        self.server.write_file(record)
        self._answer(200, {})

    def do_DELETE(self):
        match = UUID_PATH.match(self.path)
        if not match:
            return self._unknown()
        port_id = match.group(1)
        if port_id == NIL_UUID:
            return self._answer(500, {'error': 'Invalid port uuid ' + port_id})
        self.server.table.delete(port_id, 'rest')
        self.server.remove_file(port_id)
        self._answer(200, {})

    def do_GET(self):
        match = UUID_PATH.match(self.path)
        if not match:
            return self._unknown()
        record = self.server.table.get(match.group(1))
        self._answer(200, dict((k, record[k]) for k in PUBLIC)
                     if record else {})


class RestServer(ThreadingMixIn, HTTPServer):
    """HTTP/1.1 with persistent connections, as the agent's server: a
    connection stays open after an answer until the client closes it, or
    until stop() cuts it (the agent process ends)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, table, host, port, write_file, remove_file,
                 syncports=True):
        HTTPServer.__init__(self, (host, port), RestHandler)
        self.table = table
        self.syncports = syncports      # False: an agent before /syncports
        self.write_file = write_file
        self.remove_file = remove_file
        self.port = self.server_address[1]
        self.connections = 0            # accepted since start
        self.requests = []              # (method, path, status) answered
        self._open = set()
        self._lock = threading.Lock()
        self._thread = _daemon(self.serve_forever, 'double-rest', 0.05)

    def process_request(self, request, client_address):
        with self._lock:
            self.connections += 1
            self._open.add(request)
        ThreadingMixIn.process_request(self, request, client_address)

    def shutdown_request(self, request):
        with self._lock:
            self._open.discard(request)
        HTTPServer.shutdown_request(self, request)

    def cut_connections(self):
        with self._lock:
            cut = list(self._open)
        for conn in cut:
            _shutdown(conn)

    def stop(self):
        self.shutdown()
        self.server_close()
        self.cut_connections()
        self._thread.join(5)


class IntrospectHandler(BaseHTTPRequestHandler):
    """The agent's introspect (HTTP 8085, ``Snh_ItfReq``) reduced to what
    tests ask: ``GET /Snh_ItfReq?uuid=<port id>`` answers the port's state
    as JSON, ``{"active": bool, "reasons": [...]}`` (the introspect's
    ``Active`` / ``Inactive< ... >``), or 404 if the agent does not hold
    the port. Sandesh's XML is left out."""
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        LOG.debug('introspect ' + fmt, *args)

    def do_GET(self):
        match = re.match(r'^/Snh_ItfReq\?uuid=([0-9a-f-]{36})$', self.path)
        state = self.server.state(match.group(1)) if match else None
        body = json.dumps(state if state is not None else
                          {'error': 'no such interface'}).encode('utf-8')
        self.send_response(200 if state is not None else 404)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class IntrospectServer(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state, host, port):
        HTTPServer.__init__(self, (host, port), IntrospectHandler)
        self.state = state
        self.port = self.server_address[1]
        self._thread = _daemon(self.serve_forever, 'double-introspect', 0.05)

    def stop(self):
        self.shutdown()
        self.server_close()
        self._thread.join(5)


def _daemon(target, name, *args):
    thread = threading.Thread(target=target, name=name, args=args)
    thread.daemon = True
    thread.start()
    return thread


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except (socket.error, AttributeError):
        pass
