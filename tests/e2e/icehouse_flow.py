"""The icehouse half of the end-to-end test, as far as it can go on this
machine: Python 2.7 (the icehouse venv of build.py27env), nova 2014.1.5
with our series applied, the overlay installed into a site directory, run
as root inside ``unshare -m -n --propagation private`` by test_icehouse.py.

    python2.7 icehouse_flow.py SCRATCH      (SCRATCH/spec.json -> report.json)

Per instance, icehouse's own LibvirtDriver code does what spawn and destroy
do around the libvirt calls: ``_create_domain_setup_lxc`` (the patched
setup_container: partition table read, root partition chosen, loop device
at its offset, init checked inside the rootfs), ``to_xml`` (the guest
config: the patched <init> and, through the stevedore-loaded
``[libvirt] vif_driver = contrail_bridge``, the bridge interface),
``plug_vifs`` (our icehouse VIF driver: bridge, port file, the agent double
told), then ``unplug_vifs`` and ``_create_domain_cleanup_lxc`` (teardown).

What cannot run here, and why: icehouse's driver talks to libvirt through
the Python 2.7 libvirt binding, which Debian 12 does not ship (python3-libvirt
only; libvirt-python's last 2.7 line would have to be built against libvirt
9, far newer than any libvirt icehouse was released with). So its connection is nova's own
test double of the binding (nova.tests.virt.libvirt.fakelibvirt), no
container is started from icehouse and no veth lands on the bridge: the
bookworm run proves those steps with a real libvirtd. As
root, icehouse's utils.execute runs commands without rootwrap, so the
helper runs directly (its rootwrap filter is tested in
tests/functional/test_adapters_installed.py). The database is an in-memory
stand-in (virtapi and the objects' conductor), glance is the image copied
into the instance directory.
"""
from __future__ import print_function

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback

NOTE = ("icehouse: LibvirtDriver.spawn/destroy against a real libvirtd did not "
        "run: no libvirt binding for Python 2.7 on Debian 12 (python3-libvirt "
        "only; libvirt-python's last 2.7 line, 5.x, would have to be built "
        "against libvirt 9, not attempted), so the connection is nova's "
        "fakelibvirt and no container is started (no pid 1, ping or cgroup "
        "checks); setup_container, the init check, the domain XML, plug and "
        "unplug, teardown ran for real")

CONF_TEXT = """[DEFAULT]
instances_path = %(scratch)s/instances
state_path = %(scratch)s/state
lock_path = %(scratch)s/locks
use_cow_images = false
firewall_driver = nova.virt.firewall.NoopFirewallDriver
network_api_class = nova.network.neutronv2.api.API

[libvirt]
virt_type = lxc
vif_driver = contrail_bridge
# fakelibvirt's own URI (it accepts no lxc:///): the connection is the double
connection_uri = test:///default

[contrail_bridge]
ports_dir = %(scratch)s/ports
agent_timeout = 30
"""


class VirtAPI(object):
    """nova-compute's virt API, minus the database: updates kept in memory."""

    def __init__(self, instances):
        self.instances = instances
        self.updates = []

    def instance_update(self, context, instance_uuid, updates):
        self.updates.append((instance_uuid, sorted(updates)))
        self.instances[instance_uuid].update(updates)
        return self.instances[instance_uuid], self.instances[instance_uuid]


class Conductor(object):
    """The objects' indirection API: the flavors the test defines."""

    def __init__(self, flavors):
        self.flavors = flavors

    def object_class_action(self, context, objname, objmethod, objver, args, kwargs):
        if (objname, objmethod) == ('Flavor', 'get_by_id'):
            return self.flavors[args[0]]
        if (objname, objmethod) == ('PciDeviceList', 'get_by_instance_uuid'):
            from nova.objects import pci_device
            devices = pci_device.PciDeviceList()             # no PCI devices
            devices.objects = []
            return devices
        raise RuntimeError('no database here: %s.%s' % (objname, objmethod))

    def object_action(self, context, objinst, objmethod, args, kwargs):
        raise RuntimeError('no database here: %s.%s' % (objinst.obj_name(), objmethod))


def mounts_below(path):
    with open('/proc/self/mounts') as f:
        return sorted(line.split()[1] for line in f
                      if line.split()[1].startswith(path + os.sep))


def loops_below(path):
    out = subprocess.check_output(['losetup', '-J', '-O', 'NAME,OFFSET,BACK-FILE'])
    devices = json.loads(out.decode())['loopdevices'] if out.strip() else []
    return dict((d['name'], int(d.get('offset') or 0)) for d in devices
                if (d.get('back-file') or '').startswith(path + os.sep))


def agent_port(port_id):
    """The port as the agent double holds it (GET /port/<id>), None if not."""
    import httplib
    conn = httplib.HTTPConnection('127.0.0.1', 9091, timeout=30)
    try:
        conn.request('GET', '/port/%s' % port_id)
        return json.loads(conn.getresponse().read()) or None
    finally:
        conn.close()


def links():
    from pyroute2 import IPRoute
    ipr = IPRoute()
    try:
        return dict((dev.get_attr('IFLA_IFNAME'), dev['flags']) for dev in ipr.get_links())
    finally:
        ipr.close()


class Flow(object):
    def __init__(self, scratch, spec):
        self.scratch, self.spec = scratch, spec
        self.report = {'note': NOTE, 'errors': [], 'instances': {}}
        self.instances = {}

    def setup(self):
        from pyroute2 import IPRoute
        ipr = IPRoute()
        ipr.link('set', index=ipr.link_lookup(ifname='lo')[0], state='up')
        ipr.close()
        for sub in ('instances', 'state', 'locks', 'ports'):
            os.makedirs(os.path.join(self.scratch, sub))
        conf = os.path.join(self.scratch, 'nova.conf')
        with open(conf, 'w') as f:
            f.write(CONF_TEXT % {'scratch': self.scratch})
        # the agent double in a process of its own (this one is monkey
        # patched by eventlet, as nova-compute is); asked over its REST API
        self.double = subprocess.Popen(
            [sys.executable, '-m', 'tests.agent_double', '--thrift-port', '9090',
             '--rest-port', '9091'], stdout=subprocess.PIPE)
        if not self.double.stdout.readline().startswith(b'ready'):
            raise RuntimeError('the agent double did not start')
        from nova.tests.virt.libvirt import fakelibvirt
        sys.modules['libvirt'] = fakelibvirt
        from oslo.config import cfg
        from nova import config
        config.parse_args(['nova-compute', '--config-file', conf])
        self.conf = cfg.CONF
        from nova.objects import base as objects_base
        from nova.objects import flavor as flavor_obj
        flavors = {}
        for spec in self.spec['instances'] + [self.spec['no_init']]:
            flavor = spec['flavor']
            flavors[spec['id']] = flavor_obj.Flavor(
                id=spec['id'], flavorid='e2e-%s' % spec['name'], name=spec['name'],
                memory_mb=flavor['memory_mb'], vcpus=flavor['vcpus'],
                root_gb=flavor['root_gb'], ephemeral_gb=0, swap=0, rxtx_factor=1.0,
                vcpu_weight=None, disabled=False, is_public=True,
                extra_specs=flavor['extra_specs'])
        self.conductor = Conductor(flavors)
        objects_base.NovaObject.indirection_api = self.conductor
        from nova.virt.libvirt import driver as libvirt_driver
        self.virtapi = VirtAPI(self.instances)
        self.driver = libvirt_driver.LibvirtDriver(self.virtapi, False)
        vif_driver = type(self.driver.vif_driver)
        self.report['vif_driver'] = '%s.%s' % (vif_driver.__module__, vif_driver.__name__)
        self.report['vif_driver_file'] = sys.modules[vif_driver.__module__].__file__
        import nova
        self.report['nova'] = os.path.dirname(nova.__file__)

    def objects(self, spec):
        from nova.compute import flavors
        from nova import utils
        from nova.network import model
        props = spec['image_properties']
        # what the compute API keeps with the instance: flavor and image props
        system_metadata = flavors.save_flavor_info(
            {}, self.conductor.flavors[spec['id']])
        system_metadata.update((utils.SM_IMAGE_PROP_PREFIX + k, v)
                               for k, v in props.items())
        instance = {
            'uuid': spec['uuid'], 'name': 'instance-%08x' % spec['id'],
            'id': spec['id'], 'image_ref': spec['image_id'],
            'instance_type_id': spec['id'], 'project_id': spec['project_id'],
            'user_id': 'e2e-user', 'display_name': spec['name'],
            'hostname': spec['name'], 'host': 'nlc-e2e', 'os_type': None,
            'vm_mode': None, 'kernel_id': '', 'ramdisk_id': '', 'config_drive': '',
            'root_device_name': None, 'ephemeral_gb': 0, 'root_gb': 1,
            'system_metadata': system_metadata}
        self.instances[spec['uuid']] = instance
        image_meta = {'id': spec['image_id'], 'disk_format': 'raw',
                      'container_format': 'bare', 'properties': props}
        vifs = []
        for port in spec['ports']:
            subnet = model.Subnet(cidr=port['cidr'], version=4,
                                  gateway=model.IP(address=port['gateway'],
                                                   type='gateway'),
                                  ips=[model.FixedIP(address=port['ip'])])
            network = model.Network(id=port['network_id'], label=port['label'],
                                    bridge=None, subnets=[subnet],
                                    meta={'tenant_id': spec['project_id']})
            vifs.append(model.VIF(id=port['id'], address=port['mac'], network=network,
                                  type=model.VIF_TYPE_VROUTER,
                                  devname='tap' + port['id'][:11], details={}))
        return instance, image_meta, model.NetworkInfo(vifs)

    def spawn(self, spec):
        """What icehouse's spawn does, minus the libvirt calls."""
        from nova import context
        from nova.virt.libvirt import blockinfo
        from nova.virt.libvirt import utils as libvirt_utils
        instance, image_meta, network_info = self.objects(spec)
        instance_dir = libvirt_utils.get_instance_path(instance)
        os.makedirs(instance_dir)
        shutil.copyfile(spec['image_path'], os.path.join(instance_dir, 'disk'))
        facts = {'instance_dir': instance_dir}
        started = time.time()
        try:
            disk_info = blockinfo.get_disk_info('lxc', instance, None, image_meta)
            facts['xml'] = self.driver.to_xml(context.get_admin_context(), instance,
                                              network_info, disk_info, image_meta)
            self.driver.plug_vifs(instance, network_info)
            self.driver._create_domain_setup_lxc(instance)
        except Exception as exc:
            facts.update(error=type(exc).__name__, message=u'%s' % exc,
                         traceback=traceback.format_exc())
            self.driver.unplug_vifs(instance, network_info, ignore_errors=True)
            shutil.rmtree(instance_dir, ignore_errors=True)
            facts.update(self.state(spec))
            return facts
        facts['seconds'] = time.time() - started
        rootfs = os.path.join(instance_dir, 'rootfs')
        with open(os.path.join(rootfs, '.nlc-marker')) as f:
            facts['root_marker'] = f.read().strip()
        facts['init_target'] = os.readlink(os.path.join(rootfs, 'sbin', 'init')) \
            if os.path.islink(os.path.join(rootfs, 'sbin', 'init')) else None
        facts['root_device_name'] = instance['root_device_name']
        facts.update(self.state(spec))
        facts['loop_offset'] = facts['loops'].get(instance['root_device_name'])
        started = time.time()
        self.driver.unplug_vifs(instance, network_info)
        self.driver._create_domain_cleanup_lxc(instance)
        shutil.rmtree(instance_dir)
        facts['teardown_seconds'] = time.time() - started
        facts['after'] = self.state(spec)
        return facts

    def state(self, spec):
        port = spec['ports'][0]
        bridge = 'br' + port['id'][:11]
        devices = links()
        flags = devices.get(bridge)
        return {'mounts': mounts_below(self.scratch),
                'loops': loops_below(self.scratch),
                'bridge': None if flags is None else {
                    'up': bool(flags & 0x1), 'running': bool(flags & 0x40),
                    'promisc': bool(flags & 0x100)},
                'links': sorted(d for d in devices if d != 'lo'),
                'agent_port': agent_port(port['id']),
                'port_files': sorted(os.listdir(os.path.join(self.scratch, 'ports')))}

    def run(self):
        self.setup()
        for spec in self.spec['instances']:
            self.report['instances'][spec['name']] = self.spawn(spec)
        self.report['no_init'] = self.spawn(self.spec['no_init'])

    def cleanup(self):
        for point in reversed(mounts_below(self.scratch)):
            subprocess.call(['umount', '-l', point])
        for device in loops_below(self.scratch):
            subprocess.call(['losetup', '-d', device])
        if getattr(self, 'double', None):
            self.double.terminate()
            self.double.wait()


def main(scratch):
    with open(os.path.join(scratch, 'spec.json')) as f:
        spec = json.load(f)
    logging.basicConfig(filename=os.path.join(scratch, 'flow.log'), level=logging.INFO)
    flow = Flow(scratch, spec)
    try:
        flow.run()
    except BaseException as exc:
        flow.report['errors'].append('%s: %s\n%s' % (type(exc).__name__, exc,
                                                     traceback.format_exc()))
    finally:
        flow.cleanup()
        with open(os.path.join(scratch, 'report.json'), 'w') as f:
            json.dump(flow.report, f, indent=1, default=str)
    return 1 if flow.report['errors'] else 0


if __name__ == '__main__':
    sys.exit(main(os.path.abspath(sys.argv[1])))
