"""The icehouse adapter: a libvirt VIF driver for nova 2014.1 (Python 2.7).

nova.conf: ``[libvirt] vif_driver = contrail_bridge``, the name this package
registers in the ``nova.virt.libvirt.vif_drivers`` entry points (the series
patch libvirt-vif-driver-stevedore.patch makes nova load it by name).

vrouter ports of LXC instances are plugged and unplugged by the driver core;
their libvirt config comes from nova's generic driver, which the series
patch contrail-bridge-vif.patch teaches to render them as bridge interfaces
(the same bridge name, ``get_vrouter_bridge_name``). Every other port is
the generic driver's.

nova-compute is unprivileged here: the privileged half of one plug or one
unplug (bridge, port file) runs in ONE process, ``contrail-bridge-helper``
started through nova's rootwrap (etc/icehouse/rootwrap.d/).
"""
from __future__ import absolute_import

import logging

from oslo.config import cfg

from nova import exception
from nova.network import model as network_model
from nova.openstack.common import jsonutils
from nova.openstack.common import processutils
from nova import utils
from nova.virt.libvirt import vif as libvirt_vif

from nova_lxc_contrail import bridge
from nova_lxc_contrail.exception import ContrailBridgeError
from nova_lxc_contrail.port import Port

CONF = cfg.CONF
LOG = logging.getLogger(__name__)
HELPER = 'contrail-bridge-helper'


class RootwrapOps(object):
    """The core's privileged half, one rootwrapped helper run per call."""

    @staticmethod
    def plug(ifname, record, ports_dir):
        utils.execute(HELPER, 'plug', ports_dir, ifname,
                      process_input=jsonutils.dumps(record),
                      run_as_root=True)

    @staticmethod
    def unplug(ifname, port_id, ports_dir, tap=None):
        utils.execute(HELPER, 'unplug', ports_dir, ifname, port_id,
                      *([tap] if tap else []), run_as_root=True)


class ContrailBridgeVIFDriver(libvirt_vif.LibvirtGenericVIFDriver):
    """vrouter ports of LXC instances on a Linux bridge of their own."""

    def __init__(self, get_connection):
        super(ContrailBridgeVIFDriver, self).__init__(get_connection)
        self.bridges = bridge.BridgeDriver(conf=CONF, local=RootwrapOps)

    @staticmethod
    def _bridged(vif):
        return (vif['type'] == network_model.VIF_TYPE_VROUTER and
                CONF.libvirt.virt_type == 'lxc')

    def plug(self, instance, vif):
        if not self._bridged(vif):
            return super(ContrailBridgeVIFDriver, self).plug(instance, vif)
        self.bridges.start()     # the agent check, from the first port on
        try:
            self.bridges.plug(Port.from_nova(
                vif, instance, ifname=self.get_vrouter_bridge_name(vif)))
        except (ContrailBridgeError, processutils.ProcessExecutionError) as e:
            raise exception.VirtualInterfacePlugException(
                'contrail_bridge: plugging port %s failed: %s'
                % (vif['id'], e))
        except Exception as e:
            # A bug of ours, not nova's: nova gets its plug failure (which
            # it handles) and the log the traceback.
            LOG.exception('contrail_bridge: plugging port %s', vif['id'])
            raise exception.VirtualInterfacePlugException(
                'contrail_bridge: plugging port %s failed: %s: %s'
                % (vif['id'], type(e).__name__, e))

    def unplug(self, instance, vif):
        if not self._bridged(vif):
            return super(ContrailBridgeVIFDriver, self).unplug(instance, vif)
        self.bridges.start()
        try:
            self.bridges.unplug(vif['id'],
                                devname=self.get_vif_devname(vif),
                                ifname=self.get_vrouter_bridge_name(vif))
        except (ContrailBridgeError, processutils.ProcessExecutionError) as e:
            raise exception.NovaException(
                'contrail_bridge: unplugging port %s failed: %s'
                % (vif['id'], e))
        except Exception as e:
            LOG.exception('contrail_bridge: unplugging port %s', vif['id'])
            raise exception.NovaException(
                'contrail_bridge: unplugging port %s failed: %s: %s'
                % (vif['id'], type(e).__name__, e))
