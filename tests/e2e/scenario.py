"""The end-to-end scenario as data: three LXC instances on two Contrail
virtual networks, and one whose image has no init.

Net A holds a1 and a2; b1 is on net B with an address in net A's subnet,
so only the forwarding (the vrouter's job: the agent double's here), not
the addressing, keeps it away from them. Addresses are TEST-NET-2 and exist
only inside the containers' network namespaces.

The images cover the layouts an operator meets: a GPT cloud image (BIOS
boot and EFI system partitions beside the root), an MBR image whose first
partition is a Linux filesystem WITHOUT the init (a /boot) so the root is
the one holding the init (there an absolute symlink to busybox, whose own
init runs), and a filesystem on the whole device whose init lives where the
image property os_init_path says.
"""

import collections
import json
import os

from tests.lib import images
from tests.lib.images import Part

Flavor = collections.namedtuple("Flavor", "memory_mb vcpus root_gb extra_specs")
Instance = collections.namedtuple(
    "Instance", "name id uuid image network address init init_path properties "
                "flavor port mac")

NETWORKS = {
    "A": {"id": "5b0e8ab0-7a3f-4c55-9d2e-0a0a0a0a000a", "label": "e2e-net-a",
          "cidr": "198.51.100.0/24", "gateway": "198.51.100.1"},
    "B": {"id": "5b0e8ab0-7a3f-4c55-9d2e-0b0b0b0b000b", "label": "e2e-net-b",
          "cidr": "198.51.100.0/24", "gateway": "198.51.100.1"},
}
PROJECT = "9a1f4b7c2d3e4f5a8b9c0d1e2f3a4b5c"
PREFIX = 24

SMALL = Flavor(memory_mb=64, vcpus=1, root_gb=1, extra_specs={})
# nova 26 writes <cputune> only from the flavor's quota:cpu_* extra specs
# (no default shares per vCPU any more): an operator who wants the CPU to
# follow the vCPUs says so, as relative shares (1024 per vCPU) and as a
# hard CFS cap (vCPUs x period).
LARGE = Flavor(memory_mb=96, vcpus=2, root_gb=1,
               extra_specs={"quota:cpu_shares": "2048",
                            "quota:cpu_period": "100000",
                            "quota:cpu_quota": "200000"})

INSTANCES = [
    Instance("a1", 1, "e2e00001-0000-4000-8000-0000000000a1", "gpt", "A",
             "198.51.100.11", "script", images.INIT, {}, SMALL,
             "0e2e0001-0000-4000-8000-0000000000a1", "02:e2:00:00:00:a1"),
    Instance("a2", 2, "e2e00002-0000-4000-8000-0000000000a2", "mbr", "A",
             "198.51.100.12", "busybox", images.INIT, {}, LARGE,
             "0e2e0002-0000-4000-8000-0000000000a2", "02:e2:00:00:00:a2"),
    Instance("b1", 3, "e2e00003-0000-4000-8000-0000000000b1", "whole", "B",
             "198.51.100.13", "script", "/usr/sbin/nlc-init",
             {"os_init_path": "/usr/sbin/nlc-init"}, SMALL,
             "0e2e0003-0000-4000-8000-0000000000b1", "02:e2:00:00:00:b1"),
]
# The same GPT layout as a1, with no init at all.
NO_INIT = Instance("noinit", 4, "e2e00004-0000-4000-8000-00000000000f", "gpt",
                   "A", "198.51.100.14", None, images.INIT, {}, SMALL,
                   "0e2e0004-0000-4000-8000-00000000000f", "02:e2:00:00:00:0f")
NO_INIT_ERROR = "init /sbin/init: /sbin/init does not exist"

# ping: (from, to, should it answer)
PINGS = [("a1", "a2", True), ("a2", "a1", True),
         ("b1", "a1", False), ("b1", "a2", False), ("a1", "b1", False)]

IMAGE_MIB = 64
LAYOUTS = {
    "gpt": ("gpt", [Part(1, "bios-boot"), Part(16, "efi", fs="vfat", name="efi"),
                    Part(None, "linux", fs="ext4", name="root")]),
    "mbr": ("dos", [Part(8, "linux", fs="ext4", name="boot"),
                    Part(None, "linux", fs="ext4", name="root")]),
    "whole": (None, [Part(None, "linux", fs="ext4", name="root")]),
}


def image_id(instance):
    return "1a6e0000-0000-4000-8000-%012x" % instance.id


def build_image(instance, workdir):
    """Build the instance's image in workdir; returns tests.lib.images.Image."""
    root = workdir / ("%s-rootfs" % instance.name)
    root.mkdir()
    if instance.init is None:
        images.make_rootfs(root, init=None)
    else:
        images.make_net_rootfs(root, "%s/%d" % (instance.address, PREFIX),
                               init=instance.init, init_path=instance.init_path)
    label, parts = LAYOUTS[instance.image]
    parts = [p._replace(tree=str(root)) if p.name == "root" else p for p in parts]
    return images.build_image(workdir / ("%s.raw" % instance.name), IMAGE_MIB,
                              label, parts)


def compute_spec(instance, image_path):
    """What tests/e2e/compute.py needs to build nova's objects."""
    net = NETWORKS[instance.network]
    return {"name": instance.name, "id": instance.id, "uuid": instance.uuid,
            "project_id": PROJECT, "image_id": image_id(instance),
            "image_path": str(image_path),
            "image_properties": dict(instance.properties),
            "flavor": instance.flavor._asdict(),
            "ports": [{"id": instance.port, "mac": instance.mac,
                       "network_id": net["id"], "label": net["label"],
                       "cidr": net["cidr"], "gateway": net["gateway"],
                       "ip": instance.address}]}


def devname(instance):
    return "tap" + instance.port[:11]


def bridge(instance):
    """The port's bridge: "br" + devname[3:] (nova's and the driver's)."""
    return "br" + devname(instance)[3:]


def write_spec(scratch, instances=INSTANCES, no_init=NO_INIT, pings=PINGS, **extra):
    """Build the images below SCRATCH and write SCRATCH/spec.json for
    tests/e2e/world.py (extra: more keys, e.g. bench); returns the spec."""
    workdir = scratch / "images"
    workdir.mkdir()
    specs, layouts = [], {}
    for instance in list(instances) + [no_init]:
        image = build_image(instance, workdir)
        specs.append(compute_spec(instance, image.path))
        layouts[instance.name] = {"label": image.label,
                                  "partitions": image.partitions}
    spec = {"instances": specs[:-1], "no_init": specs[-1], "images": layouts,
            "pings": pings,
            "addresses": dict((i.name, i.address) for i in instances)}
    spec.update(extra)
    with open(os.path.join(str(scratch), "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return spec
