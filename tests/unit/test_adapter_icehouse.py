"""The icehouse adapter (nova_lxc_contrail.icehouse) inside nova 2014.1.

Needs Python 2.7 and nova 2014.1 with the nova-lxc-contrail series, so it is
skipped by the plain py3/py2.7 runs; tests/functional/
test_adapters_installed.py runs it with the icehouse venv against an
installed copy of the overlay. unittest style: that venv has no pytest.

Real parts: nova's VIF model and config classes, the agent double over
real sockets, icehouse's own oslo.rootwrap matching the shipped filter file.
Recorded instead of run: nova's utils.execute (sudo nova-rootwrap).
"""
from __future__ import absolute_import

import json
import os
import unittest
import uuid

try:
    from nova.virt.libvirt import vif as libvirt_vif
    libvirt_vif.LibvirtGenericVIFDriver.get_vrouter_bridge_name
    from nova_lxc_contrail import icehouse
except (ImportError, AttributeError) as exc:
    raise unittest.SkipTest(
        'needs nova 2014.1 with the nova-lxc-contrail series (Python 2.7; '
        'run by tests/functional/test_adapters_installed.py): %s' % exc)

from lxml import etree  # noqa: E402
import mock  # noqa: E402
from oslo.config import cfg  # noqa: E402
from oslo.rootwrap import wrapper  # noqa: E402

from nova import exception  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from nova.openstack.common import processutils  # noqa: E402
from nova import utils  # noqa: E402

from nova_lxc_contrail import config  # noqa: E402
from nova_lxc_contrail import names  # noqa: E402
from nova_lxc_contrail.port import Port  # noqa: E402
from tests.agent_double import AgentDouble  # noqa: E402
from tests.lib.hostile_agent import Hostile  # noqa: E402
from tests.lib.hostile_agent import http_answer  # noqa: E402
from tests.lib.hostile_agent import TIMEOUT  # noqa: E402

FILTERS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'etc', 'icehouse', 'rootwrap.d')
PORTS_DIR = '/var/lib/contrail/ports'    # the default, pinned by the filter
CONF = cfg.CONF


def new_vif(vif_type=network_model.VIF_TYPE_VROUTER, **kwargs):
    port_id = str(uuid.uuid4())
    fields = dict(
        id=port_id, address='02:00:c0:00:02:05', type=vif_type,
        devname=('tap' + port_id)[:network_model.NIC_NAME_LEN],
        network=network_model.Network(
            id=str(uuid.uuid4()), bridge='br100', subnets=[
                network_model.Subnet(cidr='192.0.2.0/24', ips=[
                    network_model.FixedIP(address='192.0.2.5')])]))
    fields.update(kwargs)
    return network_model.VIF(**fields)


INSTANCE = {'uuid': str(uuid.uuid4()), 'name': 'instance-00000001',
            'project_id': uuid.uuid4().hex, 'display_name': 'vm-1',
            'hostname': 'vm-1', 'host': 'compute-1'}


class IcehouseAdapterTestCase(unittest.TestCase):

    def setUp(self):
        self.double = AgentDouble(audit_timeout=0.3).start()
        self.addCleanup(self.double.stop)
        config.register_opts(CONF)
        self._override('virt_type', 'lxc', 'libvirt')
        for name, value in (('agent_protocol', 'rest'),
                            ('agent_rest_port', self.double.rest_port),
                            ('agent_check_interval', 0.05),
                            ('ports_dir', PORTS_DIR)):
            self._override(name, value, config.GROUP)
        self.executed = []
        patcher = mock.patch.object(utils, 'execute', side_effect=self._run)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.driver = icehouse.ContrailBridgeVIFDriver(lambda: None)
        self.addCleanup(self.driver.bridges.stop)
        self.filters = wrapper.load_filters([FILTERS])

    def _override(self, name, value, group):
        CONF.set_override(name, value, group)
        self.addCleanup(CONF.clear_override, name, group)

    def _run(self, *cmd, **kwargs):
        self.executed.append((cmd, kwargs))
        return '', ''

    def allowed(self, cmd):
        """Would icehouse's nova-rootwrap run cmd with the shipped file?"""
        return any(f.match(list(cmd)) for f in self.filters)

    def test_plug_is_one_rootwrapped_helper_run(self):
        vif = new_vif()
        bridge = 'br' + vif['id'][:11]
        self.driver.plug(INSTANCE, vif)
        self.assertEqual(1, len(self.executed))
        cmd, kwargs = self.executed[0]
        self.assertEqual(('contrail-bridge-helper', 'plug', PORTS_DIR,
                          bridge), cmd)
        self.assertTrue(kwargs['run_as_root'])
        self.assertTrue(self.allowed(cmd))
        # the record is one the helper accepts for this bridge
        port = Port.from_record(json.loads(kwargs['process_input']))
        self.assertEqual((vif['id'], bridge, INSTANCE['uuid']),
                         (port.port_id, port.ifname, port.instance_id))
        # nova's rule (the patch) and the core's name the same bridge
        self.assertEqual(bridge, names.bridge_name(vif['id'], vif['devname']))
        held = self.double.port(vif['id'])
        self.assertEqual(bridge, held['system-name'])
        self.assertEqual(0, held['type'])                # NovaVMPort
        self.assertEqual('192.0.2.5', held['ip-address'])

    def test_unplug_is_one_rootwrapped_helper_run(self):
        vif = new_vif()
        self.driver.plug(INSTANCE, vif)
        self.driver.unplug(INSTANCE, vif)
        self.assertEqual(2, len(self.executed))
        cmd, kwargs = self.executed[1]
        self.assertEqual(('contrail-bridge-helper', 'unplug', PORTS_DIR,
                          'br' + vif['id'][:11], vif['id'], vif['devname']),
                         cmd)
        self.assertTrue(kwargs['run_as_root'])
        self.assertTrue(self.allowed(cmd))
        self.assertIsNone(self.double.port(vif['id']))

    def test_config_is_a_bridge_interface_on_the_plugged_bridge(self):
        vif = new_vif()
        self.driver.plug(INSTANCE, vif)
        flavor = {'extra_specs': {'quota:vif_inbound_average': '100'}}
        node = etree.fromstring(self.driver.get_config(
            INSTANCE, vif, None, flavor).to_xml())
        self.assertEqual('bridge', node.get('type'))
        self.assertEqual(self.executed[0][0][3],
                         node.find('source').get('bridge'))
        self.assertIsNone(node.find('target'))
        self.assertEqual('100', node.find('bandwidth/inbound').get('average'))

    def test_rootwrap_filter_allows_nothing_else(self):
        vif = new_vif()
        bridge, tap = 'br' + vif['id'][:11], vif['devname']
        helper = ('contrail-bridge-helper',)
        for cmd in (helper + ('plug', '/tmp', bridge),
                    helper + ('plug', PORTS_DIR, 'eth0'),
                    helper + ('plug', PORTS_DIR, bridge, 'extra'),
                    helper + ('unplug', PORTS_DIR, bridge, '../../etc'),
                    helper + ('unplug', PORTS_DIR, bridge, vif['id'], 'eth0'),
                    ('ip', 'link', 'del', bridge)):
            self.assertFalse(self.allowed(cmd), cmd)
        self.assertTrue(self.allowed(
            helper + ('unplug', PORTS_DIR, bridge, vif['id'], tap)))

    def test_other_ports_are_the_generic_drivers(self):
        vif = new_vif(network_model.VIF_TYPE_BRIDGE)
        generic = libvirt_vif.LibvirtGenericVIFDriver
        with mock.patch.object(generic, 'plug_bridge') as plug, \
                mock.patch.object(generic, 'unplug_bridge') as unplug:
            self.driver.plug(INSTANCE, vif)
            self.driver.unplug(INSTANCE, vif)
        plug.assert_called_once_with(INSTANCE, vif)
        unplug.assert_called_once_with(INSTANCE, vif)
        self.assertEqual([], self.executed)

    def test_vrouter_ports_elsewhere_fail_as_before(self):
        self._override('virt_type', 'kvm', 'libvirt')
        vif = new_vif()
        self.assertRaises(exception.VirtualInterfacePlugException,
                          self.driver.plug, INSTANCE, vif)
        self.assertRaises(exception.NovaException,
                          self.driver.get_config, INSTANCE, vif, None, {})
        self.assertEqual([], self.executed)
        self.assertIsNone(self.double.port(vif['id']))

    def test_bad_port_data_fails_before_anything_runs(self):
        vif = new_vif(address='not-a-mac')
        try:
            self.driver.plug(INSTANCE, vif)
            self.fail('plug accepted a bad MAC address')
        except exception.VirtualInterfacePlugException as exc:
            self.assertIn('MAC address', str(exc))
        self.assertEqual([], self.executed)

    def test_helper_failure_is_a_plug_failure(self):
        vif = new_vif()
        utils.execute.side_effect = processutils.ProcessExecutionError(
            exit_code=1, stderr='contrail-bridge-helper: plug failed: boom')
        try:
            self.driver.plug(INSTANCE, vif)
            self.fail('plug ignored the helper failing')
        except exception.VirtualInterfacePlugException as exc:
            self.assertIn('plug failed: boom', str(exc))
        self.assertIsNone(self.double.port(vif['id']))
        self.assertRaises(exception.NovaException,
                          self.driver.unplug, INSTANCE, vif)

    def _hostile_agent(self, answer):
        """A REST agent that answers every request after its hello with
        answer; the driver is made anew to talk to it."""
        agent = Hostile('rest', lambda server, conn, request: server.send(
            conn, answer))
        self.addCleanup(agent.stop)
        self._override('agent_rest_port', agent.port, config.GROUP)
        self._override('agent_timeout', TIMEOUT, config.GROUP)
        self.driver = icehouse.ContrailBridgeVIFDriver(lambda: None)
        self.addCleanup(self.driver.bridges.stop)

    def test_malformed_agent_answer_leaves_the_port_pending(self):
        # 50,000 '[' made the JSON decoder raise RecursionError, which
        # reached nova raw; it is a protocol error: the plug succeeds
        # locally and the port stays pending.
        self._hostile_agent(http_answer(200, b'[' * 50000))
        self.driver.plug(INSTANCE, new_vif())
        self.assertEqual(['plug'], [cmd[1] for cmd, _kw in self.executed])

    def test_agent_no_is_a_plug_failure_and_undone(self):
        self._hostile_agent(http_answer(500, b'{"error": "no"}'))
        self.assertRaises(exception.VirtualInterfacePlugException,
                          self.driver.plug, INSTANCE, new_vif())
        self.assertEqual(['plug', 'unplug'],
                         [cmd[1] for cmd, _kw in self.executed])

    def test_unexpected_error_reaches_nova_as_a_plug_failure(self):
        # Whatever escapes the core (a bug of ours) is still the plug
        # failure nova handles, not a raw exception.
        with mock.patch.object(self.driver.bridges, 'plug',
                               side_effect=TypeError('a bug')):
            try:
                self.driver.plug(INSTANCE, new_vif())
                self.fail('plug swallowed the error')
            except exception.VirtualInterfacePlugException as exc:
                self.assertIn('TypeError: a bug', str(exc))


if __name__ == '__main__':
    unittest.main()
