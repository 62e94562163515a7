"""nova-compute's part of the end-to-end test on icehouse: nova 2014.1.5 and
our driver as PACKAGED (the payload of the icehouse .debs, unpacked by
tests/e2e/test_icehouse.py), under Python 2.7, as user nova. The analogue of
tests/e2e/compute.py, with the same JSON protocol, run by tests/e2e/world.py
inside the test's namespaces, where the node looks as a trusty compute node
does: /etc/nova from the packages (nova.conf the test's), /usr/bin/nova-rootwrap
and contrail-bridge-helper, sudo's nova_sudoers, nova in libvirtd's group.

Set-up, as nova/cmd/compute.py: eventlet monkey patching, config files
/etc/nova/nova.conf and /etc/nova/nova-compute.conf (nova-compute-lxc's:
compute_driver and virt_type=lxc); privileged commands through nova's
root helper, ``sudo nova-rootwrap /etc/nova/rootwrap.conf`` with the
installed filters (nova-compute is not root here). Then
``LibvirtDriver.init_host`` and, per instance, ``spawn`` and ``destroy``,
against the real libvirtd over lxc:///.

What stands in for the cloud (nothing else is faked): nova's database (the
virt API keeps instance updates in memory; the objects' conductor answers
the flavor and PCI look-ups), glance (the image is put into nova's image
cache, where the driver finds it and downloads nothing), neutron
(network_info built in memory as the compute manager receives it).

Protocol: one JSON request per line on stdin, one JSON answer per line on
the original stdout; everything else (nova's logging) goes to files.
"""
from __future__ import print_function

import nova.cmd  # noqa: F401  (eventlet monkey patching, as nova-compute)

import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import phases  # noqa: E402  (tests/e2e/phases.py: world.py copies it beside us)

CONFIG_FILES = ["/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"]


class VirtAPI(object):
    """nova-compute's virt API, minus the database: updates kept in memory."""

    def __init__(self, instances):
        self.instances = instances

    def instance_update(self, context, instance_uuid, updates):
        self.instances[instance_uuid].update(updates)
        return self.instances[instance_uuid], self.instances[instance_uuid]

    @contextlib.contextmanager
    def wait_for_instance_event(self, instance, event_names, deadline=300,
                                error_callback=None):
        """No neutron to send vif-plugged events: icehouse waits for them
        only on kvm/qemu, so an LXC spawn asks for none."""
        if event_names:
            raise RuntimeError('no neutron here to send %s' % event_names)
        yield


class Conductor(object):
    """The objects' indirection API: the flavors and instances of the run
    (as the database would have them), no PCI devices; saves change nothing."""

    def __init__(self, instances):
        self.flavors = {}
        self.instances = instances
        self.gone = {}              # destroyed instances (read_deleted='yes')
        self.calls = []

    def object_class_action(self, context, objname, objmethod, objver, args, kwargs):
        self.calls.append('%s.%s' % (objname, objmethod))
        if (objname, objmethod) == ('Flavor', 'get_by_id'):
            return self.flavors[args[0]]
        if (objname, objmethod) == ('Instance', 'get_by_uuid'):
            from nova.objects import instance as instance_obj
            found = self.instances.get(args[0]) or self.gone[args[0]]
            inst = instance_obj.Instance()
            for field in ('id', 'uuid', 'system_metadata'):
                setattr(inst, field, found[field])
            inst.cleaned = False
            inst.obj_reset_changes()
            return inst
        if (objname, objmethod) == ('PciDeviceList', 'get_by_instance_uuid'):
            from nova.objects import pci_device
            devices = pci_device.PciDeviceList()
            devices.objects = []
            return devices
        raise RuntimeError('no database here: %s.%s' % (objname, objmethod))

    def object_action(self, context, objinst, objmethod, args, kwargs):
        self.calls.append('%s.%s' % (objinst.obj_name(), objmethod))
        if objmethod == 'save':
            return {}, None
        raise RuntimeError('no database here: %s.%s' % (objinst.obj_name(), objmethod))


class Recorder(object):
    """The driver's libvirt connection, recording the name of every call."""

    def __init__(self, conn, calls):
        self._conn, self._calls = conn, calls

    def __getattr__(self, name):
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self._calls.append(name)
            return attr(*args, **kwargs)
        return call


class Compute(object):
    def __init__(self):
        self.instances = {}          # uuid -> instance (dict, as icehouse's driver takes it)
        self.network_info = {}       # uuid -> NetworkInfo
        self.recorder = None

    def start(self, log_file, timed=False, config_files=()):
        """As tests/e2e/compute.py's (TIMED: the bench's phase recorder)."""
        steps = [('entered', time.time())]
        from oslo.config import cfg
        from nova import config, utils, version
        from nova.objects import base as objects_base
        from nova.openstack.common import log as logging
        from nova.virt.libvirt import driver as libvirt_driver
        steps.append(('imports', time.time()))
        if timed:
            self.recorder = phases.Recorder(phases.ICEHOUSE)
        argv = ['nova-compute']
        for path in CONFIG_FILES + list(config_files):
            argv += ['--config-file', path]
        config.parse_args(argv)
        self.conf = cfg.CONF
        self.conf.set_override('log_file', log_file)
        self.conf.set_override('log_dir', None)
        logging.setup('nova')
        steps.append(('config', time.time()))
        self.conductor = Conductor(self.instances)
        objects_base.NovaObject.indirection_api = self.conductor
        self.virtapi = VirtAPI(self.instances)
        self.driver = libvirt_driver.LibvirtDriver(self.virtapi, False)
        self.driver.init_host(self.conf.host)
        steps.append(('init_host', time.time()))
        resources = self.driver.get_available_resource(self.conf.host)
        vif_driver = type(self.driver.vif_driver)
        import nova
        import nova_lxc_contrail
        return {'nova': os.path.dirname(nova.__file__),
                'nova_version': version.version_string_with_package(),
                'nova_lxc_contrail': os.path.dirname(nova_lxc_contrail.__file__),
                'vif_driver': '%s.%s' % (vif_driver.__module__, vif_driver.__name__),
                'vif_driver_file': sys.modules[vif_driver.__module__].__file__,
                'root_helper': utils._get_root_helper(),
                'libvirt_uri': self.driver.uri(),
                'virt_type': self.conf.libvirt.virt_type,
                'user': pwd.getpwuid(os.geteuid()).pw_name,
                'python': '%d.%d.%d' % sys.version_info[:3],
                'libvirt_binding': sys.modules['libvirt'].__file__,
                'hypervisor_type': resources['hypervisor_type'],
                'memory_mb': resources['memory_mb'],
                'start_steps': steps,
                'timing_missing': self.recorder.missing if self.recorder else [],
                'start_spans': self._spans()}

    def _spans(self):
        return self.recorder.take() if self.recorder else []

    # -- what the compute manager hands the driver ----------------------------
    def _objects(self, spec):
        from nova.compute import flavors
        from nova import utils
        from nova.network import model
        from nova.objects import flavor as flavor_obj
        flavor = flavor_obj.Flavor(
            id=spec['id'], flavorid='e2e-%s' % spec['name'], name='e2e.' + spec['name'],
            memory_mb=spec['flavor']['memory_mb'], vcpus=spec['flavor']['vcpus'],
            root_gb=spec['flavor']['root_gb'], ephemeral_gb=0, swap=0,
            rxtx_factor=1.0, vcpu_weight=None, disabled=False, is_public=True,
            extra_specs=spec['flavor']['extra_specs'])
        self.conductor.flavors[spec['id']] = flavor
        props = spec['image_properties']
        # what the compute API keeps with the instance: flavor and image properties
        system_metadata = flavors.save_flavor_info({}, flavor)
        system_metadata.update((utils.SM_IMAGE_PROP_PREFIX + k, v) for k, v in props.items())
        instance = {
            'uuid': spec['uuid'], 'name': 'instance-%08x' % spec['id'],
            'id': spec['id'], 'image_ref': spec['image_id'],
            'instance_type_id': spec['id'], 'project_id': spec['project_id'],
            'user_id': 'e2e-user', 'display_name': spec['name'],
            'hostname': spec['name'], 'host': self.conf.host, 'node': self.conf.host,
            'os_type': None, 'vm_mode': None, 'kernel_id': '', 'ramdisk_id': '',
            'config_drive': '', 'root_device_name': None, 'key_data': None,
            'memory_mb': flavor.memory_mb, 'vcpus': flavor.vcpus,
            'root_gb': flavor.root_gb, 'ephemeral_gb': 0, 'architecture': None,
            'metadata': {}, 'system_metadata': system_metadata,
            'info_cache': {'network_info': []}, 'launched_at': None,
            'task_state': None, 'vm_state': 'building', 'power_state': 0}
        image_meta = {'id': spec['image_id'], 'name': spec['name'] + '-image',
                      'disk_format': 'raw', 'container_format': 'bare',
                      'min_disk': 0, 'min_ram': 0, 'status': 'active',
                      'size': os.path.getsize(spec['image_path']), 'properties': props}
        vifs = []
        for port in spec['ports']:
            subnet = model.Subnet(cidr=port['cidr'], version=4,
                                  gateway=model.IP(address=port['gateway'], type='gateway'),
                                  ips=[model.FixedIP(address=port['ip'])])
            network = model.Network(id=port['network_id'], label=port['label'],
                                    bridge=None, subnets=[subnet],
                                    meta={'tenant_id': spec['project_id'],
                                          'injected': False})
            vifs.append(model.VIF(id=port['id'], address=port['mac'], network=network,
                                  type=model.VIF_TYPE_VROUTER,
                                  devname='tap' + port['id'][:11], details={},
                                  active=True))
        return instance, image_meta, model.NetworkInfo(vifs)

    def _seed_image_cache(self, spec):
        """glance's part: the image is in nova's cache (written by nova's
        user, as a download is) before the spawn."""
        from nova.virt.libvirt import imagecache
        base = os.path.join(self.conf.instances_path, self.conf.image_cache_subdirectory_name)
        if not os.path.isdir(base):
            os.makedirs(base)
        cached = os.path.join(base, imagecache.get_cache_fname(
            {'image_id': spec['image_id']}, 'image_id'))
        if not os.path.exists(cached):
            shutil.copyfile(spec['image_path'], cached + '.part')
            os.rename(cached + '.part', cached)
        return cached

    def _context(self, spec):
        from nova import context
        return context.RequestContext('e2e-user', spec['project_id'], is_admin=True)

    # -- operations -------------------------------------------------------------
    def spawn(self, spec, record_libvirt=False):
        instance, image_meta, network_info = self._objects(spec)
        self.instances[spec['uuid']] = instance
        self.network_info[spec['uuid']] = network_info
        cached = self._seed_image_cache(spec)
        calls = []
        if record_libvirt:
            conn = self.driver._conn
            self.driver._wrapped_conn = Recorder(conn, calls)
        started = time.time()
        try:
            self.driver.spawn(self._context(spec), instance, image_meta,
                              injected_files=[], admin_password=None,
                              network_info=network_info, block_device_info=None)
        except Exception as exc:
            failed = {'error': type(exc).__name__, 'message': u'%s' % exc,
                      'traceback': traceback.format_exc(), 'libvirt_calls': list(calls),
                      'seconds': time.time() - started, 'image_cache': cached}
            # what icehouse's compute manager does with a failed spawn
            # (_reschedule_or_error -> _shutdown_instance): the driver's destroy
            self.destroy(spec['uuid'])
            failed['instance_dir'] = os.path.exists(self._instance_dir(instance))
            failed['libvirt_calls_destroy'] = calls[len(failed['libvirt_calls']):]
            return failed
        finally:
            if record_libvirt:
                self.driver._wrapped_conn = conn
        seconds = time.time() - started
        domain = self.driver._lookup_by_name(instance['name'])
        return {'seconds': seconds, 'domain': domain.name(), 'xml': domain.XMLDesc(0),
                'spans': self._spans(),
                'rootfs_device': instance['root_device_name'], 'image_cache': cached,
                'instance_dir': self._instance_dir(instance),
                'conductor': list(self.conductor.calls)}

    def destroy(self, uuid):
        instance = self.conductor.gone[uuid] = self.instances.pop(uuid)
        network_info = self.network_info.pop(uuid)
        started = time.time()
        self.driver.destroy(self._context(instance), instance, network_info,
                            block_device_info=None, destroy_disks=True)
        return {'seconds': time.time() - started, 'spans': self._spans(),
                'instance_dir': os.path.exists(self._instance_dir(instance))}

    @staticmethod
    def _instance_dir(instance):
        from nova.virt.libvirt import utils as libvirt_utils
        return libvirt_utils.get_instance_path(instance)


def main():
    out = os.fdopen(os.dup(sys.stdout.fileno()), 'w')
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())   # stray prints: not ours
    compute = Compute()
    for line in iter(sys.stdin.readline, ''):
        request = json.loads(line)
        op = request.pop('op')
        if op == 'quit':
            break
        try:
            answer = getattr(compute, op)(**request)
        except Exception as exc:
            answer = {'error': type(exc).__name__, 'message': u'%s' % exc,
                      'traceback': traceback.format_exc()}
        out.write(json.dumps(answer) + '\n')
        out.flush()


if __name__ == '__main__':
    main()
