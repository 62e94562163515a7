"""Registration through Contrail's own ``contrail_vrouter_api`` library.

The library exists in several eras (thrift up to R3.1, ``vrouter-port-control``
from R3.2) with one stable surface: ``ContrailVRouterApi(...)``,
``add_port(vm_uuid, vif_uuid, ifname, mac, **kwargs)``, ``delete_port(vif_uuid)``
and ``periodic_connection_check()``. The library keeps ports it failed to add
and re-sends them itself from ``periodic_connection_check()``, so this client
only translates; unknown keyword arguments are ignored by every era.
"""
from __future__ import absolute_import

import logging

from nova_lxc_contrail.port import NO_IPV4
from nova_lxc_contrail.port import TYPE_NAMES

LOG = logging.getLogger(__name__)

try:
    from contrail_vrouter_api.vrouter_api import ContrailVRouterApi
except ImportError:
    ContrailVRouterApi = None


def available():
    return ContrailVRouterApi is not None


class LibraryClient(object):
    protocol = 'library'

    def __init__(self, port=9090, api=None):
        if api is None:
            if ContrailVRouterApi is None:
                raise ImportError('contrail_vrouter_api is not installed')
            try:
                api = ContrailVRouterApi(server_port=port, doconnect=True)
            except TypeError:      # R1.06: no constructor arguments
                api = ContrailVRouterApi()
        self._api = api

    @property
    def connected(self):
        return None   # the library does not tell

    def add_port(self, port):
        kwargs = dict(ip_address=port.ip_address or NO_IPV4,
                      vn_id=port.network_id,
                      display_name=port.display_name,
                      hostname=port.hostname,
                      host=port.host,
                      vm_project_id=port.project_id,
                      # by name, always: the library's default is
                      # NameSpacePort from R2.0 on (contrail.md 2b)
                      port_type=TYPE_NAMES[port.port_type])
        if port.ip6_address:
            kwargs['ip6_address'] = port.ip6_address
        return self._guard('add_port', port.instance_id, port.port_id,
                           port.ifname, port.mac, **kwargs)

    def begin_add(self, port):
        return None     # the library's add_port cannot be split

    def delete_port(self, port_id):
        return self._guard('delete_port', port_id)

    def check(self):
        return self._guard('periodic_connection_check')

    def close(self):
        pass

    def _guard(self, method, *args, **kwargs):
        # Era-dependent failures (TApplicationException, OSError from the
        # port-control script...) are the library's to retry: log them.
        try:
            result = getattr(self._api, method)(*args, **kwargs)
        except Exception as exc:
            LOG.warning('contrail_vrouter_api %s failed: %s', method, exc)
            return False
        return result is not False
