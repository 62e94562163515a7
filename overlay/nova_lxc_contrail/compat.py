"""The one place for Python 2/3 and library-version differences.

Icehouse compute nodes run Python 2.7 with the ``oslo.config`` namespace
package and pyroute2's 0.5 line; bookworm runs Python 3 with ``oslo_config``
and pyroute2 0.7. Everything else in the package imports from here instead of
testing versions itself.
"""
from __future__ import absolute_import

import sys

try:
    from oslo_config import cfg
except ImportError:  # oslo.config < 1.6 (icehouse era): namespace package
    from oslo.config import cfg

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK
from pyroute2.netlink import NLM_F_CREATE
from pyroute2.netlink import NLM_F_EXCL
from pyroute2.netlink import NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_DELLINK
from pyroute2.netlink.rtnl import RTM_GETLINK
from pyroute2.netlink.rtnl import RTM_NEWLINK
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

__all__ = ['cfg', 'http_client', 'text_type', 'string_types', 'PY2',
           'netlink_socket', 'netlink_request', 'NetlinkError', 'ifinfmsg',
           'RTM_NEWLINK', 'RTM_DELLINK', 'RTM_GETLINK']

# Request flags. pyroute2 0.5's IPRoute.link('del') sends NLM_F_CREATE|EXCL,
# which current kernels refuse for RTM_DELLINK, so messages are built here
# and sent with nlm_request(), which both lines implement alike.
REQUEST = NLM_F_REQUEST | NLM_F_ACK
CREATE = REQUEST | NLM_F_CREATE | NLM_F_EXCL
GET = NLM_F_REQUEST


def netlink_socket():
    """A new rtnetlink socket (no multicast groups), closed by the caller."""
    return IPRoute()


def netlink_request(sock, msg, msg_type, msg_flags=REQUEST):
    """Send one rtnetlink message; returns the answers as a list."""
    return list(sock.nlm_request(msg, msg_type=msg_type, msg_flags=msg_flags))
