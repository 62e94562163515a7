"""nova-compute's part of the end-to-end test: the INSTALLED nova's libvirt
driver, set up as nova-compute sets it up and driven as its compute manager
drives it. Run by tests/e2e/world.py with Debian's python3 from / (so only
installed packages are importable), inside the test's namespaces.

Set-up, as nova/cmd/compute.py: eventlet monkey patching, config files
/etc/nova/nova.conf (the test's, bind-mounted in the private mount
namespace) and /etc/nova/nova-compute.conf (Debian's: virt_type=lxc),
privsep daemons started through ``sudo nova-rootwrap /etc/nova/rootwrap.conf``
with the installed filters, os-vif initialised (its plugins loaded through
stevedore), database access disabled, objects remoted to a conductor. Then
``LibvirtDriver.init_host`` and, per instance, ``spawn`` and ``destroy``.

What stands in for the cloud (nothing else is faked): the conductor (an
in-memory one answering save with no changes and the host's instance list
with none: nova's database), the virt API (nova's own FakeVirtAPI: no
external events), glance (the image is put into nova's image cache, where
the driver finds it and downloads nothing), neutron (network_info built in
memory as the compute manager receives it).

Protocol: one JSON request per line on stdin, one JSON answer per line on
the original stdout; everything else (nova's logging) goes to files.
"""

import nova.cmd  # noqa: F401  (eventlet monkey patching, as nova-compute)

import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import phases  # noqa: E402  (tests/e2e/phases.py, beside this script)

CONFIG_FILES = ["/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"]


class Conductor(object):
    """nova-compute's indirection API, minus the database behind it."""

    def __init__(self):
        self.calls = []
        self.vifs = {}      # instance uuid -> VirtualInterfaceList (its ports)

    def object_action(self, context, objinst, objmethod, args, kwargs):
        self.calls.append("%s.%s" % (objinst.obj_name(), objmethod))
        if objmethod == "save":
            return {}, None
        raise RuntimeError("no database here: %s.%s" % (objinst.obj_name(), objmethod))

    def object_class_action_versions(self, context, objname, objmethod,
                                     object_versions, args, kwargs):
        from nova import objects
        self.calls.append("%s.%s" % (objname, objmethod))
        if (objname, objmethod) == ("InstanceList", "get_by_host"):
            return objects.InstanceList(objects=[])          # no instances yet
        if (objname, objmethod) == ("VirtualInterfaceList", "get_by_instance_uuid"):
            return self.vifs[args[0]]
        if (objname, objmethod) == ("BlockDeviceMappingList", "get_by_instance_uuid"):
            return objects.BlockDeviceMappingList(objects=[])   # no volumes
        if (objname, objmethod) == ("ShareMappingList", "get_by_instance_uuid"):
            return objects.ShareMappingList(objects=[])   # no shares (nova >= 29)
        if (objname, objmethod) == ("Service", "get_by_compute_host"):
            return objects.Service(context=context, host=args[0], disabled=False,
                                   disabled_reason=None, binary="nova-compute")
        raise RuntimeError("no database here: %s.%s" % (objname, objmethod))

    def object_backport_versions(self, context, objinst, object_versions):
        return objinst


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
        self.instances = {}          # uuid -> (instance, network_info)
        self.recorder = None

    def start(self, log_file, timed=False, config_files=()):
        """nova-compute's start; TIMED: the bench's phase recorder on nova's
        and our functions (tests/e2e/phases.py), and the start's own steps
        (wall-clock times, for the bench: its child was started at a time
        it knows)."""
        steps = [("entered", time.time())]
        from oslo_log import log as logging
        from oslo_privsep import priv_context
        import os_vif
        from nova import config, objects, utils, version
        import nova.conf
        import nova.db.main.api
        from nova.objects import base as objects_base
        from nova.virt import fake
        from nova.virt.libvirt import driver as libvirt_driver
        steps.append(("imports", time.time()))
        if timed:
            self.recorder = phases.Recorder(phases.BOOKWORM)
        argv = ["nova-compute"]
        for path in CONFIG_FILES + list(config_files):
            argv += ["--config-file", path]
        config.parse_args(argv, configure_db=False, init_rpc=False)
        self.conf = nova.conf.CONF
        self.conf.set_override("log_file", log_file)
        logging.setup(self.conf, "nova")
        priv_context.init(root_helper=shlex.split(utils.get_root_helper()))
        objects.register_all()
        steps.append(("config", time.time()))
        os_vif.initialize()
        steps.append(("os-vif plugins", time.time()))
        nova.db.main.api.DISABLE_DB_ACCESS = True
        self.conductor = Conductor()
        objects_base.NovaObject.indirection_api = self.conductor
        self.driver = libvirt_driver.LibvirtDriver(fake.FakeVirtAPI(), False)
        self.driver.init_host(self.conf.host)
        steps.append(("init_host", time.time()))
        plugin = os_vif._EXT_MANAGER["contrail_bridge"].obj
        import nova_lxc_contrail
        return {"nova": os.path.dirname(nova.__file__),
                "nova_version": version.version_string_with_package(),
                "nova_lxc_contrail": os.path.dirname(nova_lxc_contrail.__file__),
                "os_vif_plugin": "%s.%s" % (type(plugin).__module__,
                                            type(plugin).__name__),
                "os_vif_plugin_file": sys.modules[type(plugin).__module__].__file__,
                "root_helper": utils.get_root_helper(),
                "libvirt_uri": self.driver._uri(),
                "virt_type": self.conf.libvirt.virt_type,
                "python": platform.python_version(),
                "start_steps": steps,
                "timing_missing": self.recorder.missing if self.recorder else [],
                "start_spans": self._spans()}

    def _spans(self):
        return self.recorder.take() if self.recorder else []

    # -- nova objects, as the compute manager receives them ---------------
    def _context(self):
        from nova import context
        return context.RequestContext(user_id="e2e-user", project_id=self.project,
                                      is_admin=True)

    def _objects(self, spec):
        from nova import objects, utils
        from nova.network import model
        ctx = self._context()
        flavor = objects.Flavor(
            id=spec["id"], flavorid="e2e-%s" % spec["name"], name="e2e." + spec["name"],
            memory_mb=spec["flavor"]["memory_mb"], vcpus=spec["flavor"]["vcpus"],
            root_gb=spec["flavor"]["root_gb"], ephemeral_gb=0, swap=0,
            rxtx_factor=1.0, vcpu_weight=None, is_public=True, disabled=False,
            extra_specs=spec["flavor"]["extra_specs"], description=None)
        image = {"id": spec["image_id"], "name": spec["name"] + "-image",
                 "disk_format": "raw", "container_format": "bare",
                 "min_disk": 0, "min_ram": 0, "status": "active",
                 "size": os.path.getsize(spec["image_path"]),
                 "properties": spec["image_properties"]}
        image_meta = objects.ImageMeta.from_dict(image)
        instance = objects.Instance(
            context=ctx, id=spec["id"], uuid=spec["uuid"],
            display_name=spec["name"], hostname=spec["name"],
            project_id=self.project, user_id="e2e-user",
            host=self.conf.host, node=self.conf.host,
            image_ref=spec["image_id"], kernel_id="", ramdisk_id="",
            flavor=flavor, instance_type_id=flavor.id,
            memory_mb=flavor.memory_mb, vcpus=flavor.vcpus,
            root_gb=flavor.root_gb, ephemeral_gb=0,
            system_metadata=utils.get_system_metadata_from_image(image, flavor),
            numa_topology=None, pci_requests=objects.InstancePCIRequests(requests=[]),
            pci_devices=objects.PciDeviceList(objects=[]), resources=None,
            config_drive="", os_type=None, vm_mode=None, task_state=None,
            vm_state="building", power_state=0, launched_at=None, metadata={},
            device_metadata=None, trusted_certs=None, migration_context=None,
            ephemeral_key_uuid=None, key_data=None, vcpu_model=None,
            keypairs=objects.KeyPairList(objects=[]), root_device_name=None,
            availability_zone=None, cleaned=False, old_flavor=None,
            new_flavor=None)
        vifs = []
        for port in spec["ports"]:
            subnet = model.Subnet(cidr=port["cidr"], version=4,
                                  gateway=model.IP(address=port["gateway"], type="gateway"),
                                  ips=[model.FixedIP(address=port["ip"])])
            network = model.Network(id=port["network_id"], label=port["label"],
                                    bridge=None, subnets=[subnet],
                                    meta={"tenant_id": self.project, "injected": False})
            network["bridge"] = port.get("bridge")
            vifs.append(model.VIF(id=port["id"], address=port["mac"], network=network,
                                  type=port.get("vif_type", model.VIF_TYPE_VROUTER),
                                  vnic_type=model.VNIC_TYPE_NORMAL,
                                  devname="tap" + port["id"][:11], details={},
                                  profile={}, active=True, ovs_interfaceid=None))
        network_info = model.NetworkInfo(vifs)
        self.conductor.vifs[instance.uuid] = objects.VirtualInterfaceList(objects=[
            objects.VirtualInterface(uuid=vif["id"], address=vif["address"],
                                     instance_uuid=instance.uuid, tag=None)
            for vif in vifs])
        instance.info_cache = objects.InstanceInfoCache(
            instance_uuid=instance.uuid, network_info=network_info)
        return ctx, instance, image_meta, network_info

    def _seed_image_cache(self, spec):
        """glance's part: the image is in nova's cache before the spawn."""
        from nova.virt.libvirt import imagecache
        base = os.path.join(self.conf.instances_path,
                            self.conf.image_cache.subdirectory_name)
        os.makedirs(base, exist_ok=True)
        cached = os.path.join(base, imagecache.get_cache_fname(spec["image_id"]))
        if not os.path.exists(cached):
            os.link(spec["image_path"], cached)
        return cached

    # -- operations ---------------------------------------------------------
    def spawn(self, spec, record_libvirt=False):
        self.project = spec["project_id"]
        ctx, instance, image_meta, network_info = self._objects(spec)
        self.instances[spec["uuid"]] = (instance, network_info)
        cached = self._seed_image_cache(spec)
        calls = []
        host = self.driver._host
        if record_libvirt:
            get_connection = host.get_connection
            host.get_connection = lambda: Recorder(get_connection(), calls)
        started = time.time()
        try:
            self.driver.spawn(ctx, instance, image_meta, injected_files=[],
                              admin_password=None, allocations={},
                              network_info=network_info)
        except Exception as exc:
            return {"error": type(exc).__name__, "message": str(exc),
                    "traceback": traceback.format_exc(), "libvirt_calls": calls,
                    "seconds": time.time() - started,
                    "image_cache": cached,
                    "instance_dir": os.path.exists(self._instance_dir(instance))}
        finally:
            if record_libvirt:
                del host.get_connection
        seconds = time.time() - started
        guest = host.get_guest(instance)
        return {"seconds": seconds, "domain": guest.name, "spans": self._spans(),
                "xml": guest.get_xml_desc(),
                "rootfs_device": instance.system_metadata.get("rootfs_device_name"),
                "image_cache": cached, "instance_dir": self._instance_dir(instance),
                "conductor": list(self.conductor.calls)}

    def destroy(self, uuid):
        instance, network_info = self.instances.pop(uuid)
        self.project = instance.project_id
        started = time.time()
        self.driver.destroy(self._context(), instance, network_info,
                            block_device_info=None, destroy_disks=True)
        return {"seconds": time.time() - started, "spans": self._spans(),
                "instance_dir": os.path.exists(self._instance_dir(instance))}

    @staticmethod
    def _instance_dir(instance):
        from nova.virt.libvirt import utils as libvirt_utils
        return libvirt_utils.get_instance_path(instance)


def main():
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())   # stray prints: not ours
    compute = Compute()
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            break
        try:
            answer = getattr(compute, op)(**request)
        except Exception as exc:
            answer = {"error": type(exc).__name__, "message": str(exc),
                      "traceback": traceback.format_exc()}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
