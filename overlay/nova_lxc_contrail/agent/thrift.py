"""Client of the agent's thrift InstanceService (127.0.0.1:9090).

Framed transport, binary protocol, as every Contrail client used. Each new
connection starts with ``Connect()`` and is followed at once by a restore of
all persisted ports: ``Connect()`` bumps the agent's version and arms its
audit, which 60 s later deletes the NovaVMPort entries not added again under
the new version (``InterfaceConfigStaleCleaner``, contrail.md 2a); ours all
are. UUIDs travel as lists of 16 byte values.
"""
from __future__ import absolute_import

import socket
import uuid

from thrift.Thrift import TApplicationException
from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket
from thrift.transport import TTransport

from nova_lxc_contrail.agent import base
from nova_lxc_contrail.agent.instance_service import InstanceService
from nova_lxc_contrail.agent.instance_service import ttypes
from nova_lxc_contrail.exception import AgentProtocolError
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.exception import AgentUnavailable
from nova_lxc_contrail.port import NO_IPV4

_UNREACHABLE = (TTransport.TTransportException, socket.error, EOFError)
# No string or list in an answer comes near these.
STRING_LIMIT = 4096
CONTAINER_LIMIT = 256


def tuuid(value):
    """A UUID string as the agent's ``list<i16>`` of its 16 bytes."""
    return list(bytearray(uuid.UUID(value).bytes))


def to_thrift(port):
    return ttypes.Port(port_id=tuuid(port.port_id),
                       instance_id=tuuid(port.instance_id),
                       tap_name=port.ifname,
                       ip_address=port.ip_address or NO_IPV4,
                       vn_id=tuuid(port.network_id),
                       mac_address=port.mac,
                       display_name=port.display_name,
                       hostname=port.hostname,
                       host=port.host,
                       vm_project_id=tuuid(port.project_id),
                       port_type=port.port_type,
                       ip6_address=port.ip6_address)


class ThriftClient(base.AgentClient):
    """Answers are bounded (``base.BoundedSocket``): each must arrive within
    the timeout and take at most ``base.READ_LIMIT`` bytes, frames and all
    (the thrift library's framed transport has no frame size limit in the
    0.13 and 0.17 lines we run on; its protocol's string and container
    limits are set too). A yes is ``True``, the agent's no ``False`` or an
    exception reply; anything the generated client cannot decode is
    AgentProtocolError."""

    protocol = 'thrift'

    def __init__(self, host='127.0.0.1', port=9090, timeout=5.0,
                 persisted=None):
        super(ThriftClient, self).__init__(persisted)
        self._address = (host, port)
        self._timeout = timeout
        self._socket = None
        self._transport = None
        self._service = None

    def _open(self):
        # Connect the socket here rather than in TSocket.open(), which
        # resolves with AI_ADDRCONFIG and so fails on a host (or namespace)
        # that has only loopback addresses.
        try:
            conn = socket.create_connection(self._address, self._timeout)
        except socket.error as exc:
            raise AgentUnavailable('thrift agent at %s:%d: %s'
                                   % (self._address + (exc,)))
        self._socket = base.BoundedSocket(conn, self._timeout)
        sock = TSocket.TSocket()
        sock.setHandle(self._socket)
        self._transport = TTransport.TFramedTransport(sock)
        protocol = TBinaryProtocol.TBinaryProtocolAccelerated(
            self._transport, string_length_limit=STRING_LIMIT,
            container_length_limit=CONTAINER_LIMIT)
        self._service = InstanceService.Client(protocol)
        self._call('Connect')

    def _close(self):
        if self._transport is not None:
            self._transport.close()
        self._transport = self._service = self._socket = None

    def _call(self, method, *args):
        """One exchange (a call and its answer, or either half: send_X,
        recv_X) within the timeout."""
        if self._service is None:
            raise AgentUnavailable('thrift %s: not connected' % method)
        self._socket.start()
        try:
            return getattr(self._service, method)(*args)
        except AgentUnavailable:
            raise
        except _UNREACHABLE as exc:
            raise AgentUnavailable('thrift %s: %s' % (method, exc))
        except TApplicationException as exc:
            if exc.type == TApplicationException.MISSING_RESULT:
                raise AgentProtocolError('thrift %s: answer without a '
                                         'result' % method)
            raise AgentRejected('thrift %s failed: %r' % (method, exc))
        except Exception as exc:
            # What garbage makes the decoder raise (TypeError,
            # UnicodeDecodeError, TProtocolException, ...).
            raise AgentProtocolError('thrift %s: not an answer: %s: %r'
                                     % (method, type(exc).__name__, exc))

    def _yes(self, method, *args):
        """True for the agent's yes, False for its no."""
        answer = self._call(method, *args)
        if isinstance(answer, bool):
            return answer
        raise AgentProtocolError('thrift %s: answer %r is no bool'
                                 % (method, answer))

    def _add(self, ports):
        if self._yes('AddPort', [to_thrift(p) for p in ports]):
            return
        # The agent stops at the first port it refuses: find out which.
        refused = [p.port_id for p in ports
                   if len(ports) == 1 or
                   not self._yes('AddPort', [to_thrift(p)])]
        if refused:
            raise AgentRejected('thrift agent refused %s' % ', '.join(refused),
                                refused)

    def _send_add(self, port):
        self._call('send_AddPort', [to_thrift(port)])

        def receive():
            if not self._yes('recv_AddPort'):
                raise AgentRejected('thrift agent refused %s' % port.port_id,
                                    [port.port_id])
        return receive

    def _delete(self, port_id):
        self._yes('DeletePort', tuuid(port_id))

    def _probe(self):
        # A restarted agent breaks the connection; the reconnect restores.
        self._yes('KeepAliveCheck')
        return True
