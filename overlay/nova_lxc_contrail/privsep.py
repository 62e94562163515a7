"""The privileged half of the os-vif plugin: an oslo.privsep context.

The daemon keeps CAP_NET_ADMIN only: enough for netlink (the bridge) and,
as root without CAP_DAC_OVERRIDE, for the port files in the root-owned
ports directory. One plug or unplug is one call into it, checked by
``privileged`` like the icehouse helper's; the ports directory must be the
one the daemon's own configuration names (it reads nova's config files), so
a caller cannot make it write elsewhere.

nova-compute starts the daemon through rootwrap (``privsep-helper
--privsep_context nova_lxc_contrail.privsep.vif_plug``; the filter is
etc/bookworm/rootwrap.d/contrail-bridge.filters). The nova.conf section
``[contrail_bridge_privileged]`` takes oslo.privsep's options
(``helper_command``, ...).
"""
from __future__ import absolute_import

from oslo_config import cfg
from oslo_privsep import capabilities
from oslo_privsep import priv_context

from nova_lxc_contrail import config
from nova_lxc_contrail import privileged

PLUGIN_NAME = config.PLUGIN_NAME
GROUP = config.OS_VIF_GROUP     # the os-vif plugin's own group

vif_plug = priv_context.PrivContext(
    'nova_lxc_contrail',
    cfg_section='contrail_bridge_privileged',
    pypath=__name__ + '.vif_plug',
    capabilities=[capabilities.CAP_NET_ADMIN],
)


def _ports_dir(requested):
    cfg.CONF.register_opts(config.list_opts()[0][1], group=GROUP)
    configured = cfg.CONF[GROUP].ports_dir
    if requested != configured:
        raise ValueError('ports directory %r is not the configured one (%r)'
                         % (requested, configured))
    return configured


@vif_plug.entrypoint
def plug(ifname, record, ports_dir):
    privileged.plug(ifname, record, _ports_dir(ports_dir))


@vif_plug.entrypoint
def unplug(ifname, port_id, ports_dir, tap=None):
    privileged.unplug(ifname, port_id, _ports_dir(ports_dir), tap)
