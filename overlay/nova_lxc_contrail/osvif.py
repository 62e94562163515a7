"""The bookworm adapter: the os-vif plugin ``contrail_bridge``.

nova 26 (with the series patch contrail-bridge-vif.patch) maps a vrouter
port of an LXC instance to a ``VIFBridge`` naming this plugin and the port's
bridge. The plugin hands it to the driver core; the core's privileged half
runs in the oslo.privsep daemon of ``nova_lxc_contrail.privsep`` (one call
per plug and per unplug). Options: ``[os_vif_contrail_bridge]``, the core's
options in the plugin's own group. The plugin imports nothing from nova.
"""
from __future__ import absolute_import

import socket

from os_vif import objects
from os_vif import plugin

from nova_lxc_contrail import bridge
from nova_lxc_contrail.config import list_opts
from nova_lxc_contrail import privsep
from nova_lxc_contrail.exception import InvalidPort
from nova_lxc_contrail.port import Port
from nova_lxc_contrail.privsep import PLUGIN_NAME


def _get(obj, name):
    return getattr(obj, name) if obj.obj_attr_is_set(name) else None


class ContrailBridgePlugin(plugin.PluginBase):
    """A Linux bridge per vrouter port, registered with the vrouter agent."""

    CONFIG_OPTS = tuple(list_opts()[0][1])     # in [os_vif_contrail_bridge]

    def __init__(self, group):
        super(ContrailBridgePlugin, self).__init__(group)
        self.bridges = bridge.BridgeDriver(group=group, local=privsep)
        # os-vif loads the plugin at nova-compute's start: the daemon's
        # start (seconds) goes there, not into the first spawn
        privsep.start_early()

    def describe(self):
        return objects.host_info.HostPluginInfo(
            plugin_name=PLUGIN_NAME,
            vif_info=[objects.host_info.HostVIFInfo(
                vif_object_name=objects.vif.VIFBridge.__name__,
                min_version='1.0', max_version='1.0')])

    def plug(self, vif, instance_info):
        self.bridges.start()     # the agent check, from the first port on
        self.bridges.plug(self._port(vif, instance_info))

    def unplug(self, vif, instance_info):
        self.bridges.start()
        self.bridges.unplug(vif.id, devname=_get(vif, 'vif_name'),
                            ifname=self._bridge_name(vif))

    @staticmethod
    def _bridge_name(vif):
        if not isinstance(vif, objects.vif.VIFBridge):
            raise InvalidPort(vif.id, '%s plugs VIFBridge, not %s'
                              % (PLUGIN_NAME, vif.obj_name()))
        return vif.bridge_name

    def _port(self, vif, instance_info):
        # os-vif calls the display name "name" and the tap "vif_name".
        return Port.from_nova(vif, instance_info, host=socket.gethostname(),
                              ifname=self._bridge_name(vif),
                              display_name=_get(instance_info, 'name') or '',
                              devname=_get(vif, 'vif_name'))
