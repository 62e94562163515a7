"""The privileged half of the os-vif plugin: an oslo.privsep context.

The daemon keeps CAP_NET_ADMIN only: enough for netlink (the bridge) and,
as root without CAP_DAC_OVERRIDE, for the port files in the root-owned
ports directory. One plug or unplug is one call into it, checked by
``privileged`` like the icehouse helper's; the ports directory must be the
one the daemon's own configuration names (it reads nova's config files), so
a caller cannot make it write elsewhere.

nova-compute starts the daemon through rootwrap (``privsep-helper
--privsep_context nova_lxc_contrail.privsep.vif_plug``; the filter is
etc/bookworm/rootwrap.d/contrail-bridge.filters) when os-vif loads the
plugin, at its own start, in the background (``start_early``): not within
the first plug, where sudo, rootwrap and the daemon's imports took seconds
of the first spawn. The nova.conf section ``[contrail_bridge_privileged]``
takes oslo.privsep's options (``helper_command``, ...).
"""
from __future__ import absolute_import

import logging
import threading

from oslo_config import cfg
from oslo_privsep import capabilities
from oslo_privsep import priv_context

from nova_lxc_contrail import config
from nova_lxc_contrail import privileged

PLUGIN_NAME = config.PLUGIN_NAME
GROUP = config.OS_VIF_GROUP     # the os-vif plugin's own group

LOG = logging.getLogger(__name__)

vif_plug = priv_context.PrivContext(
    'nova_lxc_contrail',
    cfg_section='contrail_bridge_privileged',
    pypath=__name__ + '.vif_plug',
    capabilities=[capabilities.CAP_NET_ADMIN],
)


def start_early():
    """Start the daemon in the background; returns the thread, or None.

    Only in a service that has loaded its configuration files (nova-compute
    has, before os-vif loads the plugins): the daemon is started with the
    same files, and reads its ports directory from them. Nothing to do when
    it runs already or when the context runs in-process (oslo.privsep's
    client mode off). The first call into the daemon waits
    for a start still under way (PrivContext.start takes a lock); a start
    that fails here is only logged: that call starts it again and raises
    what goes wrong. In nova-compute (eventlet) the thread is a green one:
    the helper process starts as soon as nova's own start waits on anything.
    """
    if not (vif_plug.client_mode and vif_plug.channel is None
            and _config_files()):
        return None
    thread = threading.Thread(target=_start, name='contrail-bridge-privsep')
    thread.daemon = True
    thread.start()
    return thread


def _config_files():
    try:
        return list(cfg.CONF.config_file)
    except cfg.NoSuchOptError:      # no configuration parsed in this process
        return []


def _start():
    try:
        vif_plug.start()
    except Exception:       # the first plug tries again, and reports it
        LOG.warning('%s: could not start the privsep daemon ahead of the '
                    'first plug', PLUGIN_NAME, exc_info=True)


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
