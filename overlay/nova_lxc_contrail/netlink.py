"""The rtnetlink exchange of netdev, the same on pyroute2 0.5 and 0.7.

Icehouse compute nodes run pyroute2's 0.5 line (Python 2.7), bookworm its
0.7 line: both encode and decode the messages alike, which is all that is
used of them here; the exchange itself is written out below (see
``netlink_request``). Only the privileged half needs this module.
"""
from __future__ import absolute_import

import itertools
import struct

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

__all__ = ['netlink_socket', 'netlink_request', 'netlink_request_encoded',
           'NetlinkError', 'ifinfmsg', 'ifaddrmsg',
           'RTM_NEWLINK', 'RTM_DELLINK', 'RTM_GETLINK', 'RTM_GETADDR',
           'REQUEST', 'CREATE', 'GET', 'DUMP']

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
