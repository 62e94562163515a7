"""Clients of the vrouter agent, one per protocol, chosen by configuration."""
from __future__ import absolute_import

from nova_lxc_contrail.agent import base
from nova_lxc_contrail.agent import library
from nova_lxc_contrail.agent import rest
from nova_lxc_contrail.agent import thrift
from nova_lxc_contrail.exception import AgentUnavailable


class AutoClient(base.AgentClient):
    """REST or thrift, whichever answers first; kept once chosen."""

    protocol = 'auto'

    def __init__(self, candidates, persisted=None):
        super(AutoClient, self).__init__(
            persisted, max(c._timeout for c in candidates))
        self._candidates = candidates
        self._impl = None

    def _open(self):
        for client in [self._impl] if self._impl else self._candidates:
            try:
                client._open()
            except AgentUnavailable:
                client._close()
                continue
            self._impl = client
            self.protocol = 'auto/' + client.protocol
            return
        raise AgentUnavailable('no agent answers (tried %s)' % ', '.join(
            c.protocol for c in self._candidates))

    def _close(self):
        if self._impl is not None:
            self._impl._close()

    def _add(self, ports):
        self._impl._add(ports)

    @property
    def _send_add(self):
        # The chosen protocol's early send, so that begin_add overlaps the
        # agent's work with the caller's as it does for that protocol.
        return self._impl._send_add if self._impl is not None else None

    def _delete(self, port_id):
        self._impl._delete(port_id)

    def _probe(self):
        return self._impl._probe()

    def _missing(self, ports):
        return self._impl._missing(ports)


def make_client(group, persisted=None):
    """The client that ``[contrail_bridge] agent_protocol`` selects."""
    proto = group.agent_protocol
    if proto == 'library' or (proto == 'auto' and library.available()):
        return library.LibraryClient(port=group.agent_thrift_port)
    clients = {
        'rest': rest.RestClient(group.agent_host, group.agent_rest_port,
                                group.agent_timeout, persisted),
        'thrift': thrift.ThriftClient(group.agent_host,
                                      group.agent_thrift_port,
                                      group.agent_timeout, persisted),
    }
    if proto == 'auto':
        return AutoClient([clients['rest'], clients['thrift']], persisted)
    return clients[proto]
