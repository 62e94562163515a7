"""The adapters as they are deployed: loaded through stevedore / os-vif from
an INSTALLED copy of the overlay (pip into a throwaway venv or --target
directory, run from a directory where the checkout is not importable), and
their privileged halves doing real work in a network namespace.

bookworm: Debian's python3 with its os-vif, oslo.privsep and stevedore
(``--system-site-packages``). icehouse: the icehouse venv of build.py27env
(Python 2.7, stevedore 1.3.0, oslo.rootwrap 1.3.0) with nova 2014.1.5 and
our series applied; it also runs the icehouse adapter's unit tests
(tests/unit/test_adapter_icehouse.py), which need exactly that.
"""
from __future__ import absolute_import

import contextlib
import json
import os
import re
import shutil
import subprocess
import textwrap
import uuid

import pytest

from build import py27env
from build import quilt
from build import series as series_recipes
from build.cache import TOP
from build.cache import cache_dir
from tests.agent_double.samples import new_id

PY3 = '/usr/bin/python3'
SOURCE_FILES = ('overlay', 'setup.py', 'setup.cfg', 'requirements.txt',
                'README.md')
VERSION = re.search(r'^version\s*=\s*(\S+)',
                    (TOP / 'setup.cfg').read_text(), re.M).group(1)


def _source_copy(dest):
    """The overlay's sources without the checkout's state (pbr writes
    AUTHORS/ChangeLog and egg-info where it builds)."""
    for name in SOURCE_FILES:
        src = TOP / name
        if src.is_dir():
            shutil.copytree(str(src), str(dest / name), ignore=shutil.
                            ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copy2(str(src), str(dest / name))
    return dest


def _run(cmd, **kw):
    env = dict(kw.pop('env', os.environ), PYTHONDONTWRITEBYTECODE='1',
               PBR_VERSION=VERSION)
    env.pop('PYTHONPATH', None)
    env.update(kw.pop('extra_env', {}))
    res = subprocess.run([str(c) for c in cmd], capture_output=True,
                         text=True, env=env, **kw)
    assert res.returncode == 0, '%s failed (%d):\n%s\n%s' % (
        ' '.join(str(c) for c in cmd), res.returncode, res.stdout[-3000:],
        res.stderr[-3000:])
    return res


def _probe(python, script, cwd, **kw):
    """Run script with python in cwd; its last stdout line is JSON."""
    out = _run([python, '-c', textwrap.dedent(script)], cwd=str(cwd), **kw)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- bookworm -----------------------------------------------------------------

@pytest.fixture(scope='module')
def bookworm_venv(tmp_path_factory):
    """A venv over Debian's python3 with the overlay pip-installed into it."""
    tmp = tmp_path_factory.mktemp('bookworm')
    src = _source_copy(tmp / 'src')
    _run([PY3, '-m', 'venv', '--system-site-packages', tmp / 'venv'])
    python = tmp / 'venv' / 'bin' / 'python'
    _run([python, '-m', 'pip', 'install', '--no-deps', '--no-index',
          '--no-build-isolation', '-q', src])
    return python


def test_os_vif_loads_the_installed_plugin(bookworm_venv, tmp_path):
    found = _probe(bookworm_venv, '''
        import json, sys, os_vif, stevedore.driver
        from oslo_utils import importutils
        os_vif.initialize()
        plugin = os_vif._EXT_MANAGER['contrail_bridge'].obj
        info = plugin.describe()
        driver = stevedore.driver.DriverManager('os_vif', 'contrail_bridge')
        context = importutils.import_class(
            'nova_lxc_contrail.privsep.vif_plug')
        cls = type(plugin)
        print(json.dumps({
            'file': sys.modules[cls.__module__].__file__,
            'class': cls.__name__, 'same': driver.driver is cls,
            'name': info.plugin_name,
            'vifs': [v.vif_object_name for v in info.vif_info],
            'ports_dir': plugin.bridges.ports_dir, 'context': context.pypath,
            'caps': context.conf.capabilities}))
        ''', tmp_path)
    assert found['file'].startswith(str(bookworm_venv.parent.parent))
    assert (found['class'], found['same'], found['name'], found['vifs']) == (
        'ContrailBridgePlugin', True, 'contrail_bridge', ['VIFBridge'])
    assert found['ports_dir'] == '/var/lib/contrail/ports'
    assert found['context'] == 'nova_lxc_contrail.privsep.vif_plug'
    assert found['caps'] == [12]                         # CAP_NET_ADMIN


def test_nova_and_the_core_name_bridges_alike(tmp_path):
    """The bridge nova 26 (with the series) puts into the VIFBridge is the
    one the core would name for the port."""
    tree, _report = quilt.apply('bookworm', dest=tmp_path / 'trees')
    found = _probe(PY3, '''
        import json, uuid
        from nova.network import model, os_vif_util
        from nova_lxc_contrail import names
        pairs = []
        for devname in (None, ('tap%s' % uuid.uuid4())[:14]):
            vif = model.VIF(id=str(uuid.uuid4()), devname=devname)
            pairs.append((os_vif_util._get_contrail_bridge_name(vif),
                          names.bridge_name(vif['id'], devname)))
        print(json.dumps(pairs))
        ''', tmp_path, extra_env={
        'PYTHONPATH': os.pathsep.join([str(tree), str(TOP / 'overlay')])})
    assert len(found) == 2 and all(a == b for a, b in found), found


# -- icehouse -----------------------------------------------------------------

def _core_pins(*names):
    text = (TOP / 'build' / 'py27' / 'requirements-core.txt').read_text()
    return [re.search(r'^%s==\S+' % re.escape(n), text, re.M).group(0)
            for n in names]


@pytest.fixture(scope='module')
def icehouse(tmp_path_factory):
    """(python, site dir, nova tree): the icehouse venv, the overlay and its
    two dependencies pip-installed with --target into site, and nova
    2014.1.5 with our series applied."""
    recipe = series_recipes.get('icehouse')
    if recipe.unavailable():
        pytest.skip(recipe.skip('the icehouse adapter did not run'))
    tmp = tmp_path_factory.mktemp('icehouse')
    tree, _report = quilt.apply('icehouse', dest=tmp / 'trees')
    python = py27env.ensure_venv('icehouse')
    site, deps = tmp / 'site', tmp / 'deps'
    pip = [python, '-m', 'pip', 'install', '-q', '--no-deps',
           '--disable-pip-version-check']
    _run(pip + ['--no-index', '--target', site,
                _source_copy(tmp / 'src')])
    _run(pip + ['--target', deps] + _core_pins('pyroute2', 'thrift'),
         extra_env={'PIP_CACHE_DIR': str(cache_dir('py27') / 'pip')})
    return python, site, deps, tree


def _icehouse_env(site, deps, tree, *more):
    # deps last: pyroute2's wheel carries a top-level "tests" package
    return {'PYTHONPATH': os.pathsep.join(
        [str(site), str(tree)] + [str(m) for m in more] + [str(deps)]),
        'EVENTLET_NO_GREENDNS': 'yes'}


def test_nova_loads_the_installed_driver_by_name(icehouse, tmp_path):
    python, site, deps, tree = icehouse
    found = _probe(python, '''
        import json, sys
        import stevedore.driver
        from nova.virt.libvirt import driver
        vif_driver = driver.load_vif_driver('contrail_bridge', lambda: None)
        manager = stevedore.driver.DriverManager(
            driver.VIF_DRIVER_NAMESPACE, 'contrail_bridge')
        cls = type(vif_driver)
        print(json.dumps({'file': sys.modules[cls.__module__].__file__,
                          'class': cls.__name__,
                          'same': manager.driver is cls}))
        ''', tmp_path, extra_env=_icehouse_env(site, deps, tree))
    assert found['file'].startswith(str(site))
    assert (found['class'], found['same']) == ('ContrailBridgeVIFDriver', True)


def test_icehouse_adapter_unit_tests(icehouse):
    python, site, deps, tree = icehouse
    module = 'test_adapter_icehouse'
    res = _run([python, '-m', 'testtools.run', module],
               cwd=str(TOP / 'tests' / 'unit'),
               extra_env=_icehouse_env(site, deps, tree, TOP))
    out = res.stdout + res.stderr
    ran = int(re.search(r'Ran (\d+) tests?', out).group(1))
    defined = len(re.findall(r'^    def test_', (
        TOP / 'tests' / 'unit' / (module + '.py')).read_text(), re.M))
    assert ran == defined > 0 and re.search(r'^OK', out, re.M), out[-3000:]


# -- privileged halves in a network namespace (root) --------------------------

def _record(port_id, bridge):
    from nova_lxc_contrail.port import Port
    from tests.agent_double.samples import port_data
    return Port(**port_data(port_id=port_id, ifname=bridge)).to_record()


@pytest.mark.root
def test_icehouse_rootwrap_runs_the_helper(icehouse, netns, tmp_path):
    """nova's rootwrap call, end to end: icehouse's oslo.rootwrap, the
    shipped filter (ports dir moved to the test's own), the installed
    helper, a real bridge."""
    from nova_lxc_contrail import netdev
    python, site, deps, tree = icehouse
    ports_dir = str(tmp_path / 'ports')
    filters = tmp_path / 'rootwrap.d'
    filters.mkdir()
    shipped = (TOP / 'etc' / 'icehouse' / 'rootwrap.d' /
               'contrail-bridge.filters').read_text()
    (filters / 'contrail-bridge.filters').write_text(
        shipped.replace('/var/lib/contrail/ports', ports_dir))
    conf = tmp_path / 'rootwrap.conf'
    conf.write_text('[DEFAULT]\nfilters_path=%s\nexec_dirs=%s\n'
                    % (filters, site / 'bin'))
    port_id = new_id()
    bridge = 'br' + port_id[:11]
    rootwrap = [python, '-c', 'from oslo.rootwrap.cmd import main; main()',
                conf, 'contrail-bridge-helper']
    env = _icehouse_env(site, deps, tree)
    _run(rootwrap + ['plug', ports_dir, bridge],
         input=json.dumps(_record(port_id, bridge)), extra_env=env)
    state = netdev.link_state(bridge)
    assert state.kind == 'bridge' and state.up and state.promisc
    assert open(netdev.DISABLE_IPV6 % bridge).read().strip() == '1'
    assert json.load(open(os.path.join(ports_dir, port_id)))['id'] == port_id
    _run(rootwrap + ['unplug', ports_dir, bridge, port_id, 'tap' +
                     port_id[:11]], extra_env=env)
    assert netdev.link_state(bridge) is None and os.listdir(ports_dir) == []
    for args in (['plug', '/etc', bridge],
                 ['plug', ports_dir + '\n', bridge],     # oslo's "$"
                 ['plug', ports_dir, 'eth0']):
        refused = subprocess.run([str(c) for c in rootwrap + args],
                                 capture_output=True, text=True,
                                 env=dict(os.environ, **env))
        assert refused.returncode == 99 and 'Unauthorized' in \
            refused.stderr, args
    # a bridge of a port's name that the driver did not make (no mark, an
    # address): the helper neither reconfigures nor deletes it
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        ipr.link('add', ifname=bridge, kind='bridge')
        ipr.addr('add', index=ipr.link_lookup(ifname=bridge)[0],
                 address='192.0.2.1', prefixlen=24)
    before = _bridge_facts(bridge)
    for args, stdin in ((['plug', ports_dir, bridge],
                         json.dumps(_record(port_id, bridge))),
                        (['unplug', ports_dir, bridge, port_id], None)):
        refused = subprocess.run([str(c) for c in rootwrap + args],
                                 input=stdin, capture_output=True, text=True,
                                 env=dict(os.environ, **env))
        assert refused.returncode == 1, refused.stderr
        assert 'has no mark and has addresses' in refused.stderr
    assert _bridge_facts(bridge) == before


@contextlib.contextmanager
def _privsep_daemon(**overrides):
    """The plugin's privsep daemon, forked in this test's namespace, with
    overrides in the plugin's group; yields the daemon's pid."""
    from oslo_config import cfg
    from oslo_privsep import priv_context
    from nova_lxc_contrail import osvif
    from nova_lxc_contrail import privsep
    cfg.CONF.register_opts(osvif.ContrailBridgePlugin.CONFIG_OPTS,
                           group=privsep.GROUP)
    for name, value in overrides.items():
        cfg.CONF.set_override(name, value, privsep.GROUP)
    children = set(_children())
    privsep.vif_plug.start(method=priv_context.Method.FORK)
    try:
        daemon, = set(_children()) - children
        yield daemon
    finally:
        privsep.vif_plug.stop()
        for name in overrides:
            cfg.CONF.clear_override(name, privsep.GROUP)


@pytest.mark.root
def test_privsep_daemon_plugs_with_cap_net_admin_only(netns, double,
                                                      tmp_path):
    os_vif_objects = pytest.importorskip('os_vif.objects')
    from nova_lxc_contrail import netdev
    from nova_lxc_contrail import osvif
    from nova_lxc_contrail import privsep
    os_vif_objects.register_all()
    with _privsep_daemon(agent_protocol='rest',
                         agent_rest_port=double.rest_port,
                         ports_dir=str(tmp_path / 'ports')) as daemon:
        plugin = osvif.ContrailBridgePlugin.load(privsep.PLUGIN_NAME)
        try:
            assert _effective_caps(daemon) == 1 << 12      # CAP_NET_ADMIN
            port_id = new_id()
            vif = os_vif_objects.vif.VIFBridge(
                id=port_id, address='02:00:c0:00:02:05',
                plugin='contrail_bridge', vif_name='tap' + port_id[:11],
                bridge_name='br' + port_id[:11],
                network=os_vif_objects.network.Network(id=new_id()))
            info = os_vif_objects.instance_info.InstanceInfo(
                uuid=str(uuid.uuid4()), name='instance-00000001',
                project_id=uuid.uuid4().hex)
            plugin.plug(vif, info)
            state = netdev.link_state(vif.bridge_name)
            assert state.kind == 'bridge' and state.up and state.promisc
            assert state.alias == netdev.mark(port_id)
            with open(netdev.DISABLE_IPV6 % vif.bridge_name) as f:
                assert f.read().strip() == '1'
            assert double.port(port_id)['system-name'] == vif.bridge_name
            plugin.unplug(vif, info)
            assert netdev.link_state(vif.bridge_name) is None
            assert double.port(port_id) is None
        finally:
            plugin.bridges.stop()


def _bridge_facts(name):
    """What plug would change on bridge name (None if it is gone)."""
    from pyroute2 import IPRoute
    from nova_lxc_contrail import netdev
    with IPRoute() as ipr:
        found = ipr.get_links(ifname=name) if ipr.link_lookup(
            ifname=name) else []
    if not found:
        return None
    data = found[0].get_attr('IFLA_LINKINFO').get_attr('IFLA_INFO_DATA')
    with open(netdev.DISABLE_IPV6 % name) as f:
        return (netdev.link_state(name), f.read().strip(),
                data.get_attr('IFLA_BR_FORWARD_DELAY'))


@pytest.mark.root
def test_privsep_daemon_touches_only_our_bridges(netns, tmp_path):
    """Through the real daemon: a bridge not named as a port's, or named so
    but not marked as ours and carrying an address, or marked as another
    port's, is neither reconfigured by plug nor deleted by unplug; an
    unmarked bridge of an earlier version is adopted."""
    pytest.importorskip('oslo_privsep')
    from pyroute2 import IPRoute
    from nova_lxc_contrail import netdev
    from nova_lxc_contrail import privsep
    from nova_lxc_contrail.exception import InvalidPort
    from nova_lxc_contrail.exception import NetdevError
    ports_dir = str(tmp_path / 'ports')
    port_id, other_id = new_id(), new_id()
    ours, marked = 'br' + port_id[:11], 'br' + other_id[:11]
    with IPRoute() as ipr:
        for name in ('br-ex', ours):            # the host's: down, IPv6 on
            ipr.link('add', ifname=name, kind='bridge')
            ipr.addr('add', index=ipr.link_lookup(ifname=name)[0],
                     address='192.0.2.1' if name == ours else '198.51.100.1',
                     prefixlen=24)
    netdev.ensure_bridge(marked, owner=new_id())      # a third port's
    with _privsep_daemon(ports_dir=ports_dir):
        # a bad record comes back as the daemon raised it
        with pytest.raises(InvalidPort) as invalid:
            privsep.plug(ours, dict(_record(port_id, ours), type=True),
                         ports_dir)
        assert 'type is not an integer: True' in str(invalid.value)
        assert invalid.value.port_id == port_id
        for name, pid, error, message in (
                ('br-ex', port_id, ValueError, 'not the name of a port '
                 'bridge'),
                (ours, port_id, NetdevError, 'has no mark and has '
                 'addresses (192.0.2.1)'),
                (marked, other_id, NetdevError, 'is marked')):
            before = _bridge_facts(name)
            with pytest.raises(error) as plugged:
                privsep.plug(name, _record(pid, name), ports_dir)
            with pytest.raises(error) as unplugged:
                privsep.unplug(name, pid, ports_dir)
            assert message in str(plugged.value), str(plugged.value)
            assert message in str(unplugged.value), str(unplugged.value)
            assert _bridge_facts(name) == before, name
        assert not os.path.exists(ports_dir) or os.listdir(ports_dir) == []
        # upgrade: a port's bridge made before the mark, IPv6 on, up
        with IPRoute() as ipr:
            ipr.addr('del', index=ipr.link_lookup(ifname=ours)[0],
                     address='192.0.2.1', prefixlen=24)
            ipr.link('set', index=ipr.link_lookup(ifname=ours)[0],
                     state='up')
        privsep.plug(ours, _record(port_id, ours), ports_dir)
        state, ipv6, delay = _bridge_facts(ours)
        assert state.alias == netdev.mark(port_id) and state.promisc
        assert (ipv6, delay) == ('1', 0)
        assert os.listdir(ports_dir) == [port_id]
        privsep.unplug(ours, port_id, ports_dir)
        assert _bridge_facts(ours) is None and os.listdir(ports_dir) == []


def _children():
    me = str(os.getpid())
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % pid) as f:
                if f.read().rsplit(')', 1)[1].split()[1] == me:
                    yield int(pid)
        except (IOError, OSError, IndexError, ValueError):
            continue


def _effective_caps(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(re.search(r'^CapEff:\s*([0-9a-f]+)', f.read(), re.M)
                   .group(1), 16)
