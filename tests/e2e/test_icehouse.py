"""End to end on this machine, icehouse series: the same scenario and the
same checks as tests/e2e/test_bookworm.py, with nova 2014.1.5 under Python
2.7 booting real LXC containers through a real libvirtd.

What runs: the payload of the icehouse .debs that ``make debs
SERIES=icehouse`` builds (python-nova, nova-common, nova-compute,
nova-compute-libvirt, nova-compute-lxc and python-nova-lxc-contrail,
unpacked with dpkg-deb -x: Debian 12 has no Python 2 to install them into),
made into a trusty-like node inside the world's namespaces
(tests/e2e/world.py ``IcehouseNode``), and icehouse's own
``LibvirtDriver.init_host``, ``spawn`` and ``destroy`` in a nova-compute
process running as user nova (tests/e2e/compute_icehouse.py) with
``[libvirt] virt_type = lxc``, ``connection_uri = lxc:///``, ``vif_driver =
contrail_bridge``; every privileged command goes through ``sudo
nova-rootwrap /etc/nova/rootwrap.conf`` with the installed filters. The
libvirt binding is libvirt-python 5.10.0 built by build/py27env.py.

The checks that do not depend on the series are test_bookworm.py's own,
run here against this module's ``report`` (the icehouse run); the others
say what icehouse does differently. Root only; without the icehouse tree
the module is skipped, saying so.
"""

import pytest

from build import series as series_recipes
from tests.e2e import icehouse_node, scenario
from tests.e2e.conftest import require_root_and_tools, run_scenario
from tests.e2e.test_bookworm import (  # noqa: F401  (run again, on icehouse)
    facts, need, domain_xml,
    test_setup_container_mounts_the_root_partition,
    test_init_runs_as_pid_1,
    test_containers_of_one_network_ping_each_other,
    test_a_container_of_another_network_reaches_neither,
    test_flavor_limits_hold_inside_the_container,
    test_root_disk_size_is_the_images_not_a_quota,
    test_destroy_leaves_nothing,
    test_image_without_init_fails_before_libvirt,
    test_the_run_ended_cleanly)
from tests.e2e.world import IcehouseNode

pytestmark = pytest.mark.root
if series_recipes.get("icehouse").unavailable():
    pytest.skip(series_recipes.get("icehouse").skip("icehouse nova did not boot containers"),
                allow_module_level=True)
INSTANCES = {i.name: i for i in scenario.INSTANCES}
PYDIR = IcehouseNode.HOME + "/prefix/usr/lib/python2.7/dist-packages"
# the privileged commands of a spawn and destroy of an LXC instance
PRIVILEGED = {"losetup", "mount", "umount", "contrail-bridge-helper"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The scenario run once by icehouse nova, as tests/e2e/conftest.py's
    report is by bookworm's."""
    require_root_and_tools()
    yield from run_scenario(tmp_path_factory, "e2e-icehouse", series="icehouse",
                            node=icehouse_node.prepare)


def test_the_packaged_icehouse_nova_runs_as_nova_under_python27(report):
    compute = need(report, "compute")
    assert compute["nova"] == PYDIR + "/nova"
    assert compute["nova_version"].startswith("2014.1.5")
    assert compute["nova_lxc_contrail"] == PYDIR + "/nova_lxc_contrail"
    assert compute["vif_driver"] == "nova_lxc_contrail.icehouse.ContrailBridgeVIFDriver"
    assert compute["vif_driver_file"].startswith(PYDIR + "/nova_lxc_contrail/")
    assert compute["root_helper"] == "sudo nova-rootwrap /etc/nova/rootwrap.conf"
    assert (compute["libvirt_uri"], compute["virt_type"]) == ("lxc:///", "lxc")
    assert (compute["user"], compute["python"][:4]) == ("nova", "2.7.")
    assert "/py27/venvs/icehouse-" in compute["libvirt_binding"]
    assert compute["hypervisor_type"] == "LXC" and compute["memory_mb"] > 0
    assert set(report["spec"]["node"]["packages"]) == set(icehouse_node.PACKAGES)


def test_privileged_commands_went_through_rootwrap(report):
    """nova-compute is not root: nova's log shows each privileged command
    run as ``sudo nova-rootwrap /etc/nova/rootwrap.conf CMD`` (the filters
    of nova-compute and of python-nova-lxc-contrail), none as root directly."""
    commands = need(report, "commands")
    rootwrapped = {c.split()[3] for c in commands
                   if c.startswith("sudo nova-rootwrap /etc/nova/rootwrap.conf ")}
    assert PRIVILEGED <= rootwrapped, commands
    direct = {c.split()[0] for c in commands if not c.startswith("sudo ")}
    assert not direct & PRIVILEGED, commands


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_domain_xml_is_icehouses_lxc_guest_with_a_bridge_vif(report, name):
    instance = INSTANCES[name]
    dom = domain_xml(report, name)
    assert dom.get("type") == "lxc"
    assert dom.findtext("name") == "instance-%08x" % instance.id
    assert dom.findtext("os/type") == "exe"
    assert dom.findtext("os/init") == instance.init_path     # option or image property
    fs = dom.find("devices/filesystem")
    assert (fs.get("type"), fs.find("target").get("dir")) == ("mount", "/")
    assert fs.find("source").get("dir") == facts(report, name)["spawn"]["instance_dir"] + "/rootfs"
    [iface] = dom.findall("devices/interface")
    assert iface.get("type") == "bridge"
    assert iface.find("source").get("bridge") == scenario.bridge(instance)
    assert iface.find("mac").get("address") == instance.mac
    assert int(dom.findtext("memory")) == instance.flavor.memory_mb * 1024


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_vif_plugged_by_the_contrail_bridge_driver(report, name):
    """Bridge up, promiscuous and RUNNING with the container's veth on it
    (libvirt names it: icehouse's driver gives no target), the agent
    holding the port under the bridge's name, and active."""
    instance = INSTANCES[name]
    found = facts(report, name)
    bridge = scenario.bridge(instance)
    assert found["bridge"] == {"up": True, "running": True, "promisc": True, "master": None}
    [veth] = found["bridge_members"]
    dom = domain_xml(report, name)
    assert dom.find("devices/interface/target").get("dev") == veth
    port = found["agent_port"]
    assert (port["id"], port["system-name"], port["type"]) == (instance.port, bridge, 0)   # NovaVMPort
    assert port["vn-id"] == scenario.NETWORKS[instance.network]["id"]
    assert (port["ip-address"], port["mac-address"]) == (instance.address, instance.mac)
    assert found["agent_active"] and found["port_file"]
    assert found["agent_state"] == {"active": True, "reasons": []}   # NovaVMPort: config


def test_failed_spawn_is_cleaned_up_by_destroy_as_the_manager_does(report):
    """icehouse's spawn leaves its instance directory and plugged port
    behind when it fails; its compute manager then calls the driver's
    destroy (_reschedule_or_error -> _shutdown_instance), as the child
    does: that destroy did reach libvirt (the recorder saw it), the spawn
    did not (test_image_without_init_fails_before_libvirt)."""
    answer = need(report, "no_init")
    assert "lookupByName" in answer["libvirt_calls_destroy"]
    assert need(report, "leftovers_after_no_init")["instance_dirs"] == []
