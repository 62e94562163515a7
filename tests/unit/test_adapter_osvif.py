"""The os-vif plugin contrail_bridge (bookworm adapter): what it tells
os-vif, and a plug/unplug of a VIFBridge as nova 26 with the series patch
makes it, against the agent double over real sockets. No root: the privsep
context runs in-process (oslo.privsep's client mode off) with netlink
replaced by a recorder; the port files and the checks are real."""
from __future__ import absolute_import

import json
import os

import pytest

osv_objects = pytest.importorskip('os_vif.objects')
pytest.importorskip('oslo_privsep')

from oslo_config import cfg  # noqa: E402

from nova_lxc_contrail import osvif  # noqa: E402
from nova_lxc_contrail import privsep  # noqa: E402
from nova_lxc_contrail.exception import InvalidPort  # noqa: E402
from tests.agent_double.samples import new_id  # noqa: E402


@pytest.fixture
def plugin(double, tmp_path, kernel):
    """The plugin as os_vif.initialize() loads it, its group pointed at
    the double and a ports directory of the test's own."""
    osv_objects.register_all()
    cfg.CONF.register_opts(osvif.ContrailBridgePlugin.CONFIG_OPTS,
                           group=privsep.GROUP)     # as load() does
    overrides = dict(agent_protocol='rest', agent_rest_port=double.rest_port,
                     agent_check_interval=0.05,
                     ports_dir=str(tmp_path / 'ports'))
    for name, value in overrides.items():
        cfg.CONF.set_override(name, value, privsep.GROUP)
    privsep.vif_plug.set_client_mode(False)   # before load: no daemon to start
    plugin = osvif.ContrailBridgePlugin.load(privsep.PLUGIN_NAME)
    try:
        yield plugin
    finally:
        plugin.bridges.stop()
        privsep.vif_plug.set_client_mode(True)
        for name in overrides:
            cfg.CONF.clear_override(name, privsep.GROUP)


def vif_bridge(**kwargs):
    port_id = new_id()
    subnet = osv_objects.subnet.Subnet(
        cidr='192.0.2.0/24',
        ips=osv_objects.fixed_ip.FixedIPList(objects=[
            osv_objects.fixed_ip.FixedIP(address='192.0.2.5')]))
    fields = dict(
        id=port_id, address='02:00:c0:00:02:05', plugin='contrail_bridge',
        vif_name=('tap' + port_id)[:14], bridge_name='br' + port_id[:11],
        network=osv_objects.network.Network(
            id=new_id(),
            subnets=osv_objects.subnet.SubnetList(objects=[subnet])))
    fields.update(kwargs)
    return osv_objects.vif.VIFBridge(**fields)


def instance_info():
    return osv_objects.instance_info.InstanceInfo(
        uuid=new_id(), name='instance-00000001',
        project_id='2f37d7f6e51a4a1f8b6eb0917ffc8390')


def test_describe_offers_vif_bridge(plugin):
    info = plugin.describe()
    assert info.plugin_name == 'contrail_bridge'
    assert info.get_vif('VIFBridge').max_version == '1.0'
    assert list(plugin.CONFIG_OPTS) and \
        cfg.CONF[privsep.GROUP].ports_dir == plugin.bridges.ports_dir


def test_plug_and_unplug(plugin, double, kernel):
    vif, info = vif_bridge(), instance_info()
    plugin.plug(vif, info)
    assert kernel == [('ensure', vif.bridge_name)]
    held = double.port(vif.id)
    assert held['system-name'] == vif.bridge_name
    assert held['type'] == 0                      # NovaVMPort
    assert (held['instance-id'], held['vn-id'], held['mac-address'],
            held['ip-address'], held['display-name']) == (
        info.uuid, vif.network.id, vif.address, '192.0.2.5', info.name)
    with open(os.path.join(plugin.bridges.ports_dir, vif.id)) as f:
        assert json.load(f)['system-name'] == vif.bridge_name

    plugin.unplug(vif, info)
    assert kernel[-1] == ('delete', vif.bridge_name)
    assert double.port(vif.id) is None
    assert os.listdir(plugin.bridges.ports_dir) == []


def test_port_without_subnets_registers_without_ipv4(plugin, double):
    vif = vif_bridge(network=osv_objects.network.Network(id=new_id()))
    plugin.plug(vif, instance_info())
    assert double.port(vif.id)['ip-address'] == '0.0.0.0'


def test_only_vif_bridge_is_plugged(plugin, kernel):
    generic = osv_objects.vif.VIFGeneric(
        id=new_id(), address='02:00:c0:00:02:05', vif_name='tap0',
        network=osv_objects.network.Network(id=new_id()))
    with pytest.raises(InvalidPort, match='plugs VIFBridge, not VIFGeneric'):
        plugin.plug(generic, instance_info())
    assert kernel == []


def test_privileged_side_keeps_to_its_ports_dir(plugin, kernel, tmp_path):
    vif = vif_bridge()
    with pytest.raises(ValueError, match='not the configured one'):
        privsep.plug(vif.bridge_name, {'id': vif.id}, str(tmp_path))
    with pytest.raises(ValueError, match='not the configured one'):
        privsep.unplug(vif.bridge_name, vif.id, '/etc')
    assert kernel == []


@pytest.mark.parametrize('config_files', [
    ['/etc/nova/nova.conf'],
    ['/etc/nova/nova.conf', '/etc/nova/nova-compute.conf'],   # Debian's
])
def test_rootwrap_filter_allows_starting_the_daemon(monkeypatch,
                                                    config_files):
    """The command oslo.privsep builds when nova-compute (root helper
    "sudo nova-rootwrap ...") starts the daemon passes the shipped filter."""
    wrapper = pytest.importorskip('oslo_rootwrap.wrapper')
    from oslo_privsep import priv_context
    conf = cfg.ConfigOpts()
    conf.register_opts(priv_context.OPTS, group=privsep.vif_plug.cfg_section)
    conf(args=[], default_config_files=[])
    conf.set_override('config_file', config_files)
    root_helper = ['sudo', 'nova-rootwrap', '/etc/nova/rootwrap.conf']
    monkeypatch.setattr(priv_context.cfg, 'CONF', conf)
    monkeypatch.setattr(priv_context, '_HELPER_COMMAND_PREFIX', root_helper)
    cmd = privsep.vif_plug.helper_command('/tmp/tmpq1w2e3/privsep.sock')
    assert cmd[:3] == root_helper
    # oslo.rootwrap (6.3 in bookworm) adds an allow-all "privsep-helper"
    # filter of its own; ours are what an explicit (or older) one needs
    ours = [f for f in wrapper.load_filters([os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        'etc', 'bookworm', 'rootwrap.d')]) if f.name != 'privsep-helper']
    assert len(ours) == 2
    assert [f.name for f in ours if f.match(cmd[3:])] == [
        'privsep-rootwrap-contrail_bridge' + ('-2' if len(config_files) > 1
                                              else '')]
    other = cmd[3:]
    other[other.index('--privsep_context') + 1] = 'os_brick.privileged.default'
    assert not any(f.match(other) for f in ours)
