"""A raw agent on 127.0.0.1 for tests of hostile agents (issue 17): it
speaks the agent's REST and thrift wire formats as far as the clients'
hello needs and lets a test decide every later answer. No pytest here: the
icehouse adapter's tests (unittest, in the icehouse venv) use it too."""
import json
import socket
import struct
import threading
import uuid

from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TMessageType
from thrift.transport import TTransport

from nova_lxc_contrail.agent.instance_service import InstanceService
from nova_lxc_contrail.agent.rest import RestClient
from nova_lxc_contrail.agent.thrift import ThriftClient
from nova_lxc_contrail.agent.thrift import tuuid

TIMEOUT = 0.5      # the clients' agent_timeout in these tests


# -- the wire, as the agent speaks it -------------------------------------
def read_rest_request(conn, buf):
    """One HTTP request from conn (buf: bytes already read); returns
    (request, rest of buf) or (None, b'') at EOF."""
    while b'\r\n\r\n' not in buf:
        data = conn.recv(65536)
        if not data:
            return None, b''
        buf += data
    head, _, buf = buf.partition(b'\r\n\r\n')
    length = 0
    for line in head.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            length = int(value)
    while len(buf) < length:
        data = conn.recv(65536)
        if not data:
            return None, b''
        buf += data
    return head + b'\r\n\r\n' + buf[:length], buf[length:]


def read_thrift_request(conn, buf):
    while len(buf) < 4 or len(buf) < 4 + struct.unpack('!i', buf[:4])[0]:
        data = conn.recv(65536)
        if not data:
            return None, b''
        buf += data
    size = 4 + struct.unpack('!i', buf[:4])[0]
    return buf[:size], buf[size:]


def http_answer(status, body=b'{}', reason=b'OK'):
    return (b'HTTP/1.1 ' + str(status).encode() + b' ' + reason +
            b'\r\nContent-Type: application/json\r\nContent-Length: ' +
            str(len(body)).encode() + b'\r\n\r\n' + body)


def thrift_call(frame):
    """(method name, seqid, decoded args) of a framed thrift call."""
    proto = TBinaryProtocol.TBinaryProtocol(
        TTransport.TMemoryBuffer(frame[4:]))
    name, _mtype, seqid = proto.readMessageBegin()
    args = getattr(InstanceService, name + '_args')()
    args.read(proto)
    return name, seqid, args


def thrift_answer(name, seqid, success=True):
    buf = TTransport.TMemoryBuffer()
    proto = TBinaryProtocol.TBinaryProtocol(buf)
    proto.writeMessageBegin(name, TMessageType.REPLY, seqid)
    getattr(InstanceService, name + '_result')(success=success).write(proto)
    proto.writeMessageEnd()
    data = buf.getvalue()
    return struct.pack('!i', len(data)) + data


def wire_id(protocol, port):
    """A port's id as an add request carries it."""
    return port.port_id if protocol == 'rest' else tuuid(port.port_id)


class Hostile(object):
    """A raw agent on 127.0.0.1: every connection's first request (the
    hello) is answered as the agent does, every later one by
    ``self.behaviour(self, conn, request)`` (None: answered as the agent
    does; False returned: close the connection). Counts what it sent and
    records the port ids it was asked to add (``wire_id``) and (thrift) to
    delete, and (REST) the ports it holds, which ``GET /port/<id>``
    answers as the agent does."""

    def __init__(self, protocol, behaviour=None):
        self.protocol = protocol
        self.behaviour = behaviour
        self.sent = 0
        self.added = []
        self.deleted = []
        self.records = {}
        self.ops = []           # ('add' | 'delete', port id), in order
        self._listener = socket.socket()
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._conns = []
        self._threads = [threading.Thread(target=self._accept)]
        self._threads[0].daemon = True
        self._threads[0].start()

    def client(self, persisted=None, timeout=TIMEOUT):
        cls = RestClient if self.protocol == 'rest' else ThriftClient
        return cls('127.0.0.1', self.port, timeout, persisted)

    def send(self, conn, data):
        conn.sendall(data)
        self.sent += len(data)

    def stop(self):
        self._stopped.set()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except socket.error:
                pass
        for thread in self._threads:
            thread.join(10)
        self._listener.close()

    def good_answer(self, request):
        """The agent's answer: yes to everything (and a note of adds)."""
        if self.protocol == 'thrift':
            name, seqid, args = thrift_call(request)
            if name == 'AddPort':
                self.added.extend(p.port_id for p in args.port_list)
                self.ops.extend(('add', str(uuid.UUID(bytes=bytes(
                    bytearray(p.port_id))))) for p in args.port_list)
            elif name == 'DeletePort':
                self.deleted.append(args.port_id)
                self.ops.append(('delete', str(uuid.UUID(bytes=bytes(
                    bytearray(args.port_id))))))
            return thrift_answer(name, seqid)
        method, path = request.split(b' ')[:2]
        port_id = path.decode().rpartition('/')[2]
        if method == b'POST' and path == b'/syncports':
            return http_answer(200)     # an R5.0+ agent: the sync is taken
        if method == b'POST':
            record = json.loads(
                request.partition(b'\r\n\r\n')[2].decode('utf-8'))
            self.added.append(record['id'])
            self.records[record['id']] = record
            self.ops.append(('add', record['id']))
        elif method == b'DELETE':
            self.records.pop(port_id, None)
            self.ops.append(('delete', port_id))
        elif method == b'GET':
            return http_answer(200, json.dumps(
                self.records.get(port_id, {})).encode())
        return http_answer(200)

    def _accept(self):
        while not self._stopped.is_set():
            try:
                conn, _addr = self._listener.accept()
            except socket.timeout:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,))
            thread.daemon = True
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn):
        read = (read_rest_request if self.protocol == 'rest'
                else read_thrift_request)
        buf, first = b'', True
        try:
            while not self._stopped.is_set():
                request, buf = read(conn, buf)
                if request is None:
                    return
                # The sync a new REST connection starts with is answered
                # well: the misbehaviours are aimed at the port requests.
                if first or self.behaviour is None or \
                        request.startswith(b'POST /syncports '):
                    self.send(conn, self.good_answer(request))
                elif self.behaviour(self, conn, request) is False:
                    return
                first = False
        except socket.error:
            pass          # the client gave up and closed: expected
        finally:
            conn.close()
