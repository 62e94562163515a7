"""Options of the driver, in its own group ``[contrail_bridge]`` (icehouse)
or in the os-vif plugin's, ``[os_vif_contrail_bridge]`` (bookworm).

The nova.conf snippets the packages install are generated from ``OPTS`` by
oslo-config-generator through the ``oslo.config.opts`` entry points below
(debian/nova-conf-snippet).
"""
from __future__ import absolute_import

import copy

from nova_lxc_contrail.compat import cfg

GROUP = 'contrail_bridge'
PLUGIN_NAME = 'contrail_bridge'            # of the os-vif plugin (setup.cfg)
OS_VIF_GROUP = 'os_vif_' + PLUGIN_NAME     # os-vif's group for its options
PROTOCOLS = ('auto', 'library', 'thrift', 'rest')
PORT_TYPES = ('NovaVMPort', 'NameSpacePort')

OPTS = [
    cfg.StrOpt('agent_protocol', default='auto', choices=PROTOCOLS,
               help='How ports are registered with the vrouter agent: '
                    '"library" (contrail_vrouter_api), "thrift" '
                    '(InstanceService, agents up to R3.1), "rest" (port '
                    'API, agents from R2.20), or "auto": the library when '
                    'it is importable, else whichever of REST and thrift '
                    'answers first.'),
    cfg.StrOpt('agent_host', default='127.0.0.1',
               help='Address of the vrouter agent.'),
    cfg.IntOpt('agent_thrift_port', default=9090,
               help='TCP port of the agent\'s thrift InstanceService.'),
    cfg.IntOpt('agent_rest_port', default=9091,
               help='TCP port of the agent\'s REST port API.'),
    cfg.FloatOpt('agent_timeout', default=5.0,
                 help='Seconds to wait for the agent to connect or answer.'),
    cfg.FloatOpt('agent_check_interval', default=2.0,
                 help='Seconds between checks of the agent connection; '
                      'pending registrations are sent when it comes back.'),
    cfg.StrOpt('port_type', default='NovaVMPort', choices=PORT_TYPES,
               help='Port type the instances\' ports are registered with. '
                    'NovaVMPort (the default) makes the agent ask the '
                    'control node for the instance\'s configuration, as '
                    'for any nova VM; from agent R2.0 on a NameSpacePort '
                    'gets none (no network, DHCP answer, routes, metadata '
                    'or security groups) unless the deployment links the '
                    'virtual-router to the VM itself, as svc-monitor does '
                    'for service instances: only then is NameSpacePort '
                    'right. Ports registered with the other type (port '
                    'files of an earlier version) are registered again '
                    'with this one at the next agent check. The bridge '
                    'design is for kernel-mode vrouters: on DPDK or '
                    'SmartNIC vrouters a VM port is a PMD (vhost-user) '
                    'port, which a Linux bridge is not.'),
    cfg.StrOpt('ports_dir', default='/var/lib/contrail/ports',
               help='Directory of the persisted port registrations (the '
                    'agent\'s port-file layout, one JSON file per port).'),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)
    return getattr(conf, GROUP)


def list_opts():
    """For oslo-config-generator (entry point ``oslo.config.opts``)."""
    return [(GROUP, copy.deepcopy(OPTS))]


def list_os_vif_opts():
    """The same options in the os-vif plugin's group, for
    oslo-config-generator (``nova_lxc_contrail.os_vif``)."""
    return [(OS_VIF_GROUP, copy.deepcopy(OPTS))]
