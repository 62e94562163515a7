"""End to end on this machine (bookworm series): three LXC instances booted
by the INSTALLED patched nova 26.2.2 and our driver package, on Contrail
bridges, with real libvirt LXC, two virtual networks and the vrouter agent
double forwarding between the ports of one network.

What is driven: nova's own ``LibvirtDriver.init_host``, ``spawn`` and
``destroy`` (tests/e2e/compute.py; nova's database, glance and neutron are
the only stand-ins), so everything below them is nova's and ours as
installed by apt: image cache -> instance disk, the patched setup_container
(partition table read, root partition chosen, loop device at its offset,
init checked inside the rootfs), the guest XML from nova's config classes,
the VIF mapped to os-vif's VIFBridge for our contrail_bridge plugin, plugged
in its privsep daemon (started through nova-rootwrap with our filters), the
agent told about the bridge, libvirt starting the container. The checks
look at the result from the outside: the kernel, libvirt, the agent
double, and the containers themselves (nsenter, their own busybox).

One scenario run (conftest.py ``report``) serves every test; its facts
are in the report, each test checks one promise.
"""

import xml.etree.ElementTree as ET

import pytest

from build import pins
from tests.e2e import scenario

pytestmark = pytest.mark.root
INSTANCES = {i.name: i for i in scenario.INSTANCES}
MiB = 1024 * 1024
NOVA_NS = "{http://openstack.org/xmlns/libvirt/nova/1.1}"
# What runs as pid 1 (argv): the init scripts under busybox's sh, and
# busybox's own init (it names itself "init") behind /sbin/init -> /bin/busybox
PID1 = {"script": lambda i: ["/bin/sh", i.init_path], "busybox": lambda i: ["init"]}
EMPTY = {"domains": [], "mounts": [], "loops": [], "links": [], "agent_ports": [],
         "port_files": [], "instance_dirs": [], "controllers": [], "cgroups": []}


def facts(report, name):
    """The facts of one instance; fails with the run's own errors."""
    found = report.get("instances", {}).get(name)
    if not found or "init_pid" not in found:
        pytest.fail("no facts about %s: %s"
                    % (name, "\n".join(report["errors"]) or found))
    return found


def need(report, key):
    if key not in report:
        pytest.fail("the run did not get to %s: %s" % (key, "\n".join(report["errors"])))
    return report[key]


def series(report):
    return report["spec"].get("series", "bookworm")


def domain_xml(report, name):
    return ET.fromstring(facts(report, name)["spawn"]["xml"])


def test_the_installed_packages_are_under_test(report, bookworm_nova):
    compute = need(report, "compute")
    assert compute["nova"] == "/usr/lib/python3/dist-packages/nova"
    assert compute["nova_lxc_contrail"] == "/usr/lib/python3/dist-packages/nova_lxc_contrail"
    assert compute["os_vif_plugin"] == "nova_lxc_contrail.osvif.ContrailBridgePlugin"
    assert compute["os_vif_plugin_file"] in bookworm_nova.files["python3-nova-lxc-contrail"]
    assert compute["root_helper"] == "sudo nova-rootwrap /etc/nova/rootwrap.conf"
    assert (compute["libvirt_uri"], compute["virt_type"]) == ("lxc:///", "lxc")
    assert "+lxccontrail" in bookworm_nova.versions["python3-nova"]
    assert {"python3-nova", "python3-nova-lxc-contrail"} <= set(bookworm_nova.ours)


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_setup_container_mounts_the_root_partition(report, name):
    """The filesystem mounted is the root one (its marker says "root"), on a
    loop device at exactly that partition's offset and size."""
    found = facts(report, name)
    assert found["root_marker"] == "root"
    offset, sizelimit, backing = found["loop"]
    assert backing == found["spawn"]["instance_dir"] + "/disk"
    layout = report["spec"]["images"][name]
    root = [p for p in layout["partitions"] if p[3] == "root"]
    if layout["label"] is None:
        assert (offset, sizelimit) == (0, 0)          # the whole device
    else:
        assert [(offset, sizelimit)] == [(start, size) for _n, start, size, _ in root]
        assert offset > 0


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_domain_xml_is_novas_lxc_guest_with_a_bridge_vif(report, name):
    instance = INSTANCES[name]
    dom = domain_xml(report, name)
    assert dom.get("type") == "lxc"
    assert dom.find("metadata/%sinstance/%spackage" % (NOVA_NS, NOVA_NS)).get(
        "version") == pins.series_pins(series(report))["upstream_version"]
    assert dom.findtext("os/type") == "exe"
    assert dom.findtext("os/init") == instance.init_path     # option or image property
    fs = dom.find("devices/filesystem")
    assert (fs.get("type"), fs.find("target").get("dir")) == ("mount", "/")
    assert fs.find("source").get("dir") == facts(report, name)["spawn"]["instance_dir"] + "/rootfs"
    [iface] = dom.findall("devices/interface")
    assert iface.get("type") == "bridge"
    assert iface.find("source").get("bridge") == scenario.bridge(instance)
    assert iface.find("target").get("dev") == scenario.devname(instance)
    assert iface.find("mac").get("address") == instance.mac
    assert int(dom.findtext("memory")) == instance.flavor.memory_mb * 1024


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_vif_plugged_by_the_contrail_bridge_plugin(report, name):
    """Bridge up and promiscuous, the container's veth on it and RUNNING,
    the agent holding the port under the bridge's name, and active."""
    instance = INSTANCES[name]
    found = facts(report, name)
    bridge = scenario.bridge(instance)
    assert found["bridge"] == {"up": True, "running": True, "promisc": True, "master": None}
    assert found["host_veth"]["master"] == bridge
    port = found["agent_port"]
    assert (port["id"], port["system-name"], port["type"]) == (instance.port, bridge, 0)
    assert port["vn-id"] == scenario.NETWORKS[instance.network]["id"]
    assert (port["ip-address"], port["mac-address"]) == (instance.address, instance.mac)
    assert found["agent_active"] and found["port_file"]
    assert found["agent_state"] == {"active": True, "reasons": []}   # NovaVMPort: config


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_init_runs_as_pid_1(report, name):
    instance = INSTANCES[name]
    found = facts(report, name)
    assert found["nspid"][-1] == "1"                   # pid 1 in its namespace
    argv = found["pid1_cmdline"]
    while argv and not argv[-1]:        # busybox init blanks its own argv
        argv = argv[:-1]
    assert argv == PID1[instance.init](instance)
    assert found["pid1_exe"] == "/bin/busybox"
    assert found["ready"] == "ready %s/%d rc=0" % (instance.address, scenario.PREFIX)


def test_containers_of_one_network_ping_each_other(report):
    pings = [p for p in need(report, "pings") if p["expected"]]
    assert [(p["from"], p["to"]) for p in pings] == [("a1", "a2"), ("a2", "a1")]
    for ping in pings:
        assert ping["answered"], ping["output"]


def test_a_container_of_another_network_reaches_neither(report):
    """b1's address is in net A's subnet: only the forwarding separates it."""
    pings = [p for p in need(report, "pings") if not p["expected"]]
    assert sorted((p["from"], p["to"]) for p in pings) == [
        ("a1", "b1"), ("b1", "a1"), ("b1", "a2")]
    for ping in pings:
        assert not ping["answered"], ping["output"]
    assert facts(report, "b1")["agent_active"]         # b1 itself is up
    members = facts(report, "a2")["network_members"]
    assert members == sorted([scenario.bridge(INSTANCES["a1"]), scenario.bridge(INSTANCES["a2"])])
    assert facts(report, "b1")["network_members"] == [scenario.bridge(INSTANCES["b1"])]


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_flavor_limits_hold_inside_the_container(report, name):
    """Memory: the container's memory cgroup limit and its /proc/meminfo are
    the flavor's RAM. CPU: nova (26.2.2, and 31.0.0 on trixie) writes
    <cputune> only from the flavor's quota:cpu_shares/period/quota extra
    specs; the container's cpu
    cgroup has exactly those values, and the kernel's defaults (shares
    1024, no CFS quota) where nova sets nothing. vCPUs are not a CPU count
    for LXC: the cpuset is the host's."""
    instance = INSTANCES[name]
    found = facts(report, name)
    values = found["cgroup_values"]
    assert int(values["memory.limit_in_bytes"]) == instance.flavor.memory_mb * MiB
    assert found["meminfo"].split()[1:] == [str(instance.flavor.memory_mb * 1024), "kB"]
    cputune = domain_xml(report, name).find("cputune")
    specs = instance.flavor.extra_specs
    shares = cputune.findtext("shares") if cputune is not None else None
    quota = cputune.findtext("quota") if cputune is not None else None
    assert shares == specs.get("quota:cpu_shares")
    assert quota == specs.get("quota:cpu_quota")
    assert values["cpu.shares"] == (shares or "1024")
    assert values["cpu.cfs_quota_us"] == (quota or "-1")
    if quota:
        assert values["cpu.cfs_period_us"] == specs["quota:cpu_period"]
    with open("/sys/fs/cgroup/cpuset/cpuset.cpus") as f:
        assert values["cpuset.cpus"] == f.read().strip()


def test_root_disk_size_is_the_images_not_a_quota(report):
    """LXC has no disk quota; the root filesystem is the image's. nova grows
    the instance disk file to the flavor's root_gb, and the filesystem with
    it only when it fills the whole device (resize2fs): the partitioned
    images keep their partition's size (documented in the README)."""
    for name, instance in INSTANCES.items():
        found = facts(report, name)
        size = int(found["df"][1]) * 1024
        flavor = instance.flavor.root_gb * 1024 * MiB
        if report["spec"]["images"][name]["label"] is None:
            assert scenario.IMAGE_MIB * MiB < size <= flavor
        else:
            assert size <= found["loop"][1] < scenario.IMAGE_MIB * MiB < flavor


def test_destroy_leaves_nothing(report):
    """No domain, mount, loop device, bridge, veth, agent port, port file,
    instance directory, controller process or cgroup after destroy."""
    for name in INSTANCES:
        assert facts(report, name)["destroy"]["instance_dir"] is False
    assert need(report, "leftovers_before") == EMPTY
    assert need(report, "leftovers_after_destroy") == EMPTY


def test_image_without_init_fails_before_libvirt(report):
    answer = need(report, "no_init")
    assert answer.get("error") == "ImageUnacceptable", answer
    message = answer["message"]
    assert scenario.NO_INIT_ERROR in message
    assert scenario.image_id(scenario.NO_INIT) in message
    assert "instance disk " in message
    asked = set(answer["libvirt_calls"])
    assert not asked & {"defineXML", "defineXMLFlags", "createXML", "createXMLWithFiles"}
    assert answer["instance_dir"] is False
    assert need(report, "leftovers_after_no_init") == EMPTY


def test_the_run_ended_cleanly(report):
    """Nothing had to be removed by force: everything above was removed by
    nova and the driver themselves, and the host is as before."""
    assert report["errors"] == []
    assert report["cleanup"] == {}
    host = report["host"]
    assert host["exit"] == 0
    assert (host["stopped_containers"], host["loops"], host["machine_cgroups_left"]) == (
        [], [], [])
    print("e2e: %.1f s in all; spawn %s s; destroy %s s" % (
        host["seconds"],
        ", ".join("%s %.2f" % (n, facts(report, n)["spawn"]["seconds"]) for n in INSTANCES),
        ", ".join("%s %.2f" % (n, facts(report, n)["destroy"]["seconds"]) for n in INSTANCES)))
