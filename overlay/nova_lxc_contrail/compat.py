"""The one place for Python 2/3 and library-version differences.

Icehouse compute nodes run Python 2.7 with the ``oslo.config`` namespace
package and pyroute2's 0.5 line; bookworm runs Python 3 with ``oslo_config``
and pyroute2 0.7. Everything else in the package imports from here instead of
testing versions itself.
"""
from __future__ import absolute_import

import itertools
import struct
import sys
import time

try:
    from oslo_config import cfg
except ImportError:  # oslo.config < 1.6 (icehouse era): namespace package
    from oslo.config import cfg

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK
from pyroute2.netlink import NLM_F_CREATE
from pyroute2.netlink import NLM_F_DUMP
from pyroute2.netlink import NLM_F_EXCL
from pyroute2.netlink import NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_DELLINK
from pyroute2.netlink.rtnl import RTM_GETADDR
from pyroute2.netlink.rtnl import RTM_GETLINK
from pyroute2.netlink.rtnl import RTM_NEWLINK
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

PY2 = sys.version_info[0] == 2

if PY2:  # pragma: no cover - exercised by the 2.7 test run
    import httplib as http_client
    text_type = unicode  # noqa: F821
    string_types = (str, unicode)  # noqa: F821
else:
    import http.client as http_client
    text_type = str
    string_types = (str,)

# The clock of deadlines: 2.7 has no monotonic clock (a step of the wall
# clock there only shortens or lengthens one deadline).
monotonic = getattr(time, 'monotonic', time.time)

if PY2:  # pragma: no cover - exercised by the 2.7 test run
    def acquire(lock, timeout):
        """lock.acquire(True, timeout) of Python 3. eventlet's green locks
        (nova-compute on icehouse) take it; 2.7's own locks take no
        timeout, so poll them with growing pauses (as 2.7's own
        Condition.wait(timeout) does)."""
        try:
            return lock.acquire(True, max(timeout, 0))
        except TypeError:     # acquire() takes at most 1 argument
            pass
        end = monotonic() + timeout
        pause = 0.0005
        while not lock.acquire(False):
            left = end - monotonic()
            if left <= 0:
                return False
            pause = min(pause * 2, left, 0.05)
            time.sleep(pause)
        return True
else:
    def acquire(lock, timeout):
        return lock.acquire(True, max(timeout, 0))

__all__ = ['cfg', 'http_client', 'text_type', 'string_types', 'PY2',
           'monotonic', 'acquire',
           'netlink_socket', 'netlink_request', 'netlink_request_encoded',
           'NetlinkError', 'ifinfmsg', 'ifaddrmsg',
           'RTM_NEWLINK', 'RTM_DELLINK', 'RTM_GETLINK', 'RTM_GETADDR']

# Request flags.
REQUEST = NLM_F_REQUEST | NLM_F_ACK
CREATE = REQUEST | NLM_F_CREATE | NLM_F_EXCL
GET = NLM_F_REQUEST
DUMP = NLM_F_REQUEST | NLM_F_DUMP

NLMSG_ERROR = 2   # an error answer, or the acknowledgement (error 0)
NLMSG_DONE = 3
NLM_F_MULTI = 2
RECV_SIZE = 65536   # far above one link's answer (a few KB)
_sequence = itertools.count(1)


def netlink_socket():
    """A new rtnetlink socket (no multicast groups), closed by the caller."""
    return IPRoute()


def netlink_request(sock, msg, msg_type, msg_flags=REQUEST):
    """Send one rtnetlink request (a pyroute2 message) and return the
    kernel's answers, decoded (none for a bare acknowledgement); an error
    answer raises NetlinkError with the errno.

    pyroute2 encodes the request and decodes the answers; the exchange
    itself is one send and the reads of its answer, without the socket's
    general request machinery (nlm_request: per-request locks, a backlog
    for other readers, message filters), which cost a third of a bridge
    creation. So one caller at a time per socket, which netdev's pool
    ensures. The messages are built here in both pyroute2 lines alike:
    0.5's IPRoute.link('del') sends NLM_F_CREATE|EXCL, which current kernels
    refuse for RTM_DELLINK."""
    header = msg['header']
    header['type'] = msg_type
    header['flags'] = msg_flags
    header['sequence_number'] = 0
    header['pid'] = 0
    msg.encode()
    return netlink_request_encoded(sock, msg.data)


def netlink_request_encoded(sock, data):
    """netlink_request() of a message already encoded, its header's type and
    flags set; the sequence number is written here. An answer of another
    sequence number (left by an abandoned request) is skipped."""
    seq = next(_sequence) & 0xffffffff
    data = bytearray(data)
    struct.pack_into('=I', data, 8, seq)
    msg_flags = struct.unpack_from('=H', data, 6)[0]
    sock.sendto(bytes(data), (0, 0))
    answers = []
    while True:
        for answer in sock.marshal.parse(sock.recv(RECV_SIZE)):
            head = answer['header']
            if head['sequence_number'] != seq:
                continue
            error = head.get('error')
            if error is not None:
                raise error
            if head['type'] in (NLMSG_ERROR, NLMSG_DONE):
                return answers
            answers.append(answer)
            if not (head['flags'] & NLM_F_MULTI or msg_flags & NLM_F_ACK):
                return answers
