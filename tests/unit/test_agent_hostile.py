"""The agent clients against hostile agents (issue 17, items 1-3).

Each agent here is a small raw-socket server on 127.0.0.1 (ephemeral port,
tests/lib/hostile_agent.py)
that answers the connection's hello (REST ``GET /port/<nil>``, thrift
``Connect``) as the agent does and then misbehaves: drips bytes, sends
``100 Continue`` or empty thrift frames without end, huge or malformed
answers. A client call must end within its deadline, read a bounded amount,
and end only as a yes (True), pending (False) or the agent's no
(AgentRejected); the port must reach the agent once it behaves again.
"""
import random
import resource
import socket
import struct
import threading
import time

import pytest
from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TApplicationException
from thrift.Thrift import TMessageType
from thrift.transport import TTransport

from nova_lxc_contrail.agent import base
from nova_lxc_contrail.exception import AgentProtocolError
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import AgentTimeout
from tests.lib.hostile_agent import Hostile
from tests.lib.hostile_agent import http_answer
from tests.lib.hostile_agent import thrift_answer
from tests.lib.hostile_agent import thrift_call
from tests.lib.hostile_agent import TIMEOUT
from tests.lib.hostile_agent import wire_id

pytestmark = pytest.mark.py27

SLACK = 0.5        # scheduling slack on a shared machine
MB = 1024 * 1024


@pytest.fixture
def agent():
    made = []

    def make(protocol, behaviour=None):
        made.append(Hostile(protocol, behaviour))
        return made[-1]
    try:
        yield make
    finally:
        for server in made:
            server.stop()


def bounded(call, limit):
    """call() in a thread; its result (or exception) if it ended within
    limit seconds, else fail (the hostile server's stop ends it later)."""
    outcome = []

    def run():
        try:
            outcome.append(('returned', call()))
        except Exception as exc:
            outcome.append(('raised', exc))
    thread = threading.Thread(target=run)
    thread.daemon = True
    start = time.time()
    thread.start()
    thread.join(limit)
    assert outcome, 'still waiting for the agent after %.1f s' % limit
    return outcome[0], time.time() - start


# -- misbehaviours -----------------------------------------------------------
def drip(server, conn, request):
    """One byte every 0.1 s, forever (of a valid answer, then of junk)."""
    for byte in iter(lambda: b'H', None):
        if server._stopped.wait(0.1):
            return False
        server.send(conn, byte)


def endless_continue(server, conn, request):
    while not server._stopped.is_set():
        server.send(conn, b'HTTP/1.1 100 Continue\r\n\r\n' * 64)


def endless_empty_frames(server, conn, request):
    """A reply's header, then empty frames: the result is never complete
    (thrift's framed transport reads frame after frame for it)."""
    name, seqid, _args = thrift_call(request)
    buf = TTransport.TMemoryBuffer()
    TBinaryProtocol.TBinaryProtocol(buf).writeMessageBegin(
        name, TMessageType.REPLY, seqid)
    server.send(conn, struct.pack('!i', len(buf.getvalue())) +
                buf.getvalue())
    while not server._stopped.is_set():
        server.send(conn, b'\0\0\0\0' * 1024)


def huge(size, chunked=False):
    """An answer announcing a body of size bytes, streamed as it is read."""
    def answer(server, conn, request):
        block = b'x' * 65536
        if server.protocol == 'thrift':
            server.send(conn, struct.pack('!i', size))
        elif chunked:
            server.send(conn, b'HTTP/1.1 200 OK\r\n'
                        b'Transfer-Encoding: chunked\r\n\r\n')
            block = b'10000\r\n' + block + b'\r\n'
        else:
            server.send(conn, b'HTTP/1.1 200 OK\r\nContent-Length: ' +
                        str(size).encode() + b'\r\n\r\n')
        left = size
        while left > 0 and not server._stopped.is_set():
            server.send(conn, block)
            left -= 65536
        return False
    return answer


MISBEHAVIOURS = [('rest', drip), ('thrift', drip),
                 ('rest', endless_continue), ('thrift', endless_empty_frames)]


@pytest.mark.parametrize('protocol,behaviour', MISBEHAVIOURS,
                         ids=lambda v: getattr(v, '__name__', v))
def test_add_port_ends_by_the_deadline_and_stays_pending(
        protocol, behaviour, agent, make_port):
    server = agent(protocol)
    port = make_port()
    ports = []
    client = server.client(persisted=lambda limit=None: ports[:limit])
    assert client.check() is True                 # connected
    server.behaviour = behaviour
    ports.append(port)                            # its port file
    (how, result), took = bounded(lambda: client.add_port(port), 10)
    assert (how, result) == ('returned', False)   # pending
    assert took < TIMEOUT + SLACK, took
    assert not client.connected
    # The agent behaves again: the next check reconnects and restores.
    server.behaviour = None
    assert client.check() is True
    assert wire_id(protocol, port) in server.added
    client.close()


@pytest.mark.parametrize('protocol', ['rest', 'thrift'])
def test_a_check_stuck_on_a_bad_agent_does_not_hold_up_plugs(
        protocol, agent, make_port):
    server = agent(protocol)
    early, late = make_port(), make_port()
    ports = [early]
    client = server.client(persisted=lambda limit=None: ports[:limit])
    assert client.add_port(early) is True
    server.behaviour = drip
    checking = threading.Thread(target=client.check)
    checking.daemon = True
    checking.start()
    time.sleep(0.1)                         # the check waits for the agent
    ports.append(late)                      # the driver saves the port file
    (how, result), took = bounded(lambda: client.add_port(late), 10)
    assert (how, result) == ('returned', False)
    assert took < TIMEOUT + SLACK, took
    checking.join(10)
    assert not checking.is_alive()
    server.behaviour = None
    assert client.check() is True
    assert wire_id(protocol, late) in server.added
    client.close()


def test_a_port_pending_on_a_busy_connection_is_sent_without_reconnect(
        agent, make_port):
    # A slow but valid REST agent: a restore of three ports (a GET and a
    # POST each) holds the connection for 6 x 0.6 timeouts; a plug
    # meanwhile gives up after one timeout, and the connection stays up.
    # Its port must not wait for a reconnect that never comes: the call
    # holding the connection, or the next check, sends it.
    def slow(server, conn, request):
        time.sleep(0.6 * TIMEOUT)
        server.send(conn, server.good_answer(request))

    server = agent('rest')
    held = [make_port() for _ in range(3)]
    late = make_port()
    client = server.client(persisted=lambda limit=None: held[:limit])
    assert client.check() is True          # connects and restores
    server.records.clear()                 # the agent lost our ports
    server.behaviour = slow
    restoring = threading.Thread(target=client.check)
    restoring.daemon = True
    restoring.start()
    time.sleep(0.1)
    (how, result), took = bounded(lambda: client.add_port(late), 10)
    assert (how, result) == ('returned', False)
    assert took < TIMEOUT + SLACK, took
    restoring.join(10)
    assert client.connected
    server.behaviour = None
    assert client.check() is True
    assert sorted(server.records) == sorted(
        [p.port_id for p in held] + [late.port_id])
    assert client.check() is True             # sent once
    assert server.added.count(late.port_id) == 1
    client.close()


@pytest.mark.parametrize('protocol', ['rest', 'thrift'])
def test_a_delete_left_pending_does_not_undo_a_later_add(protocol, agent,
                                                         make_port):
    # A plug's local work holds the client (begin_add ... finish) longer
    # than the timeout; an unplug of another port meanwhile stays pending.
    # That port plugged again afterwards must stay with the agent when the
    # next check delivers pending work: the delete, older, goes first (or
    # not at all), never after the add.
    server = agent(protocol)
    busy, again = make_port(), make_port()
    client = server.client()
    assert client.add_port(again) is True
    finish = client.begin_add(busy)
    assert finish is not None
    assert client.delete_port(again.port_id) is False    # pending
    assert finish() is True
    assert client.add_port(again) is True                # plugged again
    assert client.check() is True
    ops = [op for op, port_id in server.ops if port_id == again.port_id]
    assert ops[-1] == 'add', ops
    assert ops.count('delete') <= 1, ops
    if protocol == 'rest':
        assert again.port_id in server.records
    client.close()


@pytest.mark.parametrize('protocol,chunked', [('rest', False), ('rest', True),
                                              ('thrift', False)])
def test_a_huge_answer_is_not_read(protocol, chunked, agent, make_port):
    server = agent(protocol, huge(100 * MB, chunked))
    port = make_port()
    client = server.client(timeout=5.0)
    assert client.check() is True
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB
    (how, result), took = bounded(lambda: client.add_port(port), 30)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert (how, result) == ('returned', False)
    # Read: the limit; sent: that and what the sockets' buffers took.
    assert server.sent < 16 * MB, server.sent
    assert grown < 32 * 1024, grown
    client.close()


@pytest.mark.parametrize('status,body,expected', [
    (200, b'[' * 50000, False),             # RecursionError in json
    (200, b'\xff\xfe not UTF-8', False),
    (200, b'not json', False),
    (200, b'[1, 2]', False),                # JSON, but no object
    (302, b'{}', False),                    # no yes and no no
    (500, b'[' * 50000, AgentRejected),     # a no, whatever its body
    (500, b'{"error": "bad vn"}', AgentRejected),
], ids=['deep', 'not-utf8', 'not-json', 'list', '302', '500-deep', '500'])
def test_rest_answer_that_is_not_a_yes(status, body, expected, agent,
                                       make_port):
    server = agent('rest', lambda s, conn, request: s.send(
        conn, http_answer(status, body)))
    client = server.client()
    assert client.check() is True
    (how, result), _took = bounded(lambda: client.add_port(make_port()), 10)
    if expected is AgentRejected:
        assert how == 'raised' and isinstance(result, AgentRejected), result
    else:
        assert (how, result) == ('returned', expected)
    client.close()


def random_thrift_reply(rng, request):
    name, seqid, _args = thrift_call(request)
    kind = rng.randrange(6)
    if kind == 4:             # a valid answer, yes or no
        return thrift_answer(name, seqid, rng.choice([True, False]))
    if kind == 5:             # a valid exception reply: the agent's no
        buf = TTransport.TMemoryBuffer()
        proto = TBinaryProtocol.TBinaryProtocol(buf)
        proto.writeMessageBegin(name, TMessageType.EXCEPTION, seqid)
        TApplicationException(rng.randrange(10), 'no').write(proto)
        body = buf.getvalue()
        return struct.pack('!i', len(body)) + body
    junk = bytearray(rng.getrandbits(8) for _ in range(rng.randrange(64)))
    if kind == 0:             # any bytes in a frame
        body = bytes(junk)
    else:                     # a reply's header, then junk
        buf = TTransport.TMemoryBuffer()
        proto = TBinaryProtocol.TBinaryProtocol(buf)
        proto.writeMessageBegin(name if kind != 3 else 'KeepAliveCheck',
                                rng.choice([TMessageType.REPLY,
                                            TMessageType.EXCEPTION,
                                            rng.randrange(256)]), seqid)
        body = buf.getvalue() + bytes(junk)
    if rng.randrange(8) == 0:     # a frame size that lies
        return struct.pack('!i', rng.randrange(-2 ** 31, 2 ** 31)) + body
    return struct.pack('!i', len(body)) + body


def random_rest_reply(rng, request):
    junk = bytes(bytearray(rng.getrandbits(8)
                           for _ in range(rng.randrange(64))))
    body = rng.choice([junk, b'[' * rng.randrange(2000, 60000), b'{}',
                       b'{"error": ' + junk + b'}', b'"\\ud800"', b'null'])
    kind = rng.randrange(4)
    if kind == 0:
        return junk                                  # no HTTP at all
    status = rng.choice([200, 200, 100, 101, 204, 302, 404, 500, 999])
    if kind == 1:
        return http_answer(status, body)
    if kind == 2:                                    # chunked, maybe lying
        size = rng.choice([b'%x' % len(body), b'-5', b'zz', b'ffffffff'])
        return (b'HTTP/1.1 ' + str(status).encode() + b' OK\r\n'
                b'Transfer-Encoding: chunked\r\n\r\n' + size + b'\r\n' +
                body + b'\r\n0\r\n\r\n')
    return (b'HTTP/1.1 ' + str(status).encode() + b' OK\r\n' + junk +
            b'\r\n\r\n' + body)


@pytest.mark.parametrize('protocol', ['thrift', 'rest'])
def test_random_answers_end_only_as_yes_pending_or_no(protocol, agent,
                                                      make_port):
    rng = random.Random(17)
    reply = random_thrift_reply if protocol == 'thrift' else \
        random_rest_reply

    replies = []

    def answer(server, conn, request):
        replies.append(reply(rng, request))
        server.send(conn, replies[-1])
        return False                         # and close: no waiting

    server = agent(protocol, answer)
    outcomes = {}
    for _ in range(300):
        client = server.client(timeout=0.3)
        try:
            result = client.add_port(make_port())
            outcome = 'yes' if result is True else 'pending'
            assert result in (True, False)
        except AgentRejected:
            outcome = 'no'
        finally:
            client.close()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # Every call met a random answer (not an early failure), and the valid
    # ones among them were taken as such.
    assert len(replies) >= 300
    assert sorted(outcomes) == ['no', 'pending', 'yes'], outcomes


def test_bounded_socket_limits_each_exchange():
    # The unit the clients stand on: reads stop at the limit and at the
    # deadline, and start() begins a new exchange.
    left, right = socket.socketpair()
    try:
        sock = base.BoundedSocket(left, 0.3, limit=10)
        right.sendall(b'0123456789ab')
        assert sock.recv(100) == b'0123456789'
        with pytest.raises(AgentProtocolError):
            sock.recv(100)
        sock.start()
        assert sock.recv(100) == b'ab'
        sock = base.BoundedSocket(left, 0.3, limit=1000)
        start = time.time()
        with pytest.raises(AgentTimeout):
            while True:                        # a byte every 0.05 s
                right.sendall(b'.')
                sock.recv(1)
                time.sleep(0.05)
        assert 0.25 < time.time() - start < 0.3 + SLACK
    finally:
        left.close()
        right.close()
