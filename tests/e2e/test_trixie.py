"""End to end on this machine, trixie series: the same scenario and the same
checks as tests/e2e/test_bookworm.py, with Debian 13's nova-compute (nova
31.0.0 under Python 3.13) and Debian 13's libvirtd 11.3 booting the LXC
instances.

What runs: a trixie root (build/debroot.py: mmdebstrap with Debian's
nova-compute-lxc, libvirt's LXC driver and our driver's dependencies,
cached by its inputs) overlaid per run, and in it, as an operator does,
``apt-get install nova-compute-lxc python3-nova-lxc-contrail`` from
dist/trixie (``make debs SERIES=trixie``; both built first if missing).
libvirtd and the nova-compute side (tests/e2e/compute.py: nova's own
``LibvirtDriver.init_host``, ``spawn``, ``destroy``) run chrooted in that
root inside the world's private mount and network namespaces; the agent
double, the forwarding and every check stay on the host's side of the same
namespaces (tests/e2e/trixie_node.py says what is mounted where).

The checks that do not depend on the series are test_bookworm.py's own,
run again here against this module's ``report`` (the trixie run); the
others say what is trixie's. Root only.
"""

import pytest

from build import pins
from tests.e2e import trixie_node
from tests.e2e.conftest import require_root_and_tools, run_scenario
from tests.packaging.aptinstall import dist_packages
from tests.e2e.test_bookworm import (  # noqa: F401  (run again, on trixie)
    facts, need,
    test_setup_container_mounts_the_root_partition,
    test_domain_xml_is_novas_lxc_guest_with_a_bridge_vif,
    test_vif_plugged_by_the_contrail_bridge_plugin,
    test_init_runs_as_pid_1,
    test_containers_of_one_network_ping_each_other,
    test_a_container_of_another_network_reaches_neither,
    test_flavor_limits_hold_inside_the_container,
    test_root_disk_size_is_the_images_not_a_quota,
    test_destroy_leaves_nothing,
    test_image_without_init_fails_before_libvirt,
    test_the_run_ended_cleanly)

pytestmark = pytest.mark.root
SITE = "/usr/lib/python3/dist-packages"
LIBVIRT_11_3 = 11003000         # virConnectGetLibVersion: major * 1e6 + minor * 1e3


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The scenario run once by trixie's nova and libvirtd in the root, as
    tests/e2e/conftest.py's report is by bookworm's."""
    require_root_and_tools()
    yield from run_scenario(tmp_path_factory, "e2e-trixie", series="trixie",
                            node=trixie_node.prepare)


def test_trixies_nova_and_libvirtd_run_in_the_root(report):
    """libvirtd and the nova-compute side ran chrooted in the run's root
    (their /proc/PID/root), the one libvirtd answering the host's side is
    11.3, and nova is 31.0.0 under Python 3.13: trixie's, not the host's."""
    root = report["scratch"] + "/root"
    assert need(report, "roots") == {"libvirtd": root, "compute": root}
    assert LIBVIRT_11_3 <= need(report, "libvirt_version") < 11004000
    compute = need(report, "compute")
    assert compute["python"].startswith("3.13.")
    assert compute["nova_version"].startswith(pins.series_pins("trixie")["upstream_version"])


def test_our_packages_installed_with_apt_are_under_test(report):
    """apt installed ours from dist/trixie over Debian's nova of the root:
    every nova package at our +lxccontrail version, the driver package's
    files the ones nova loaded."""
    node = need(report, "node")
    versions = node["versions"]
    compute = need(report, "compute")
    assert compute["nova"] == SITE + "/nova"
    assert compute["nova_lxc_contrail"] == SITE + "/nova_lxc_contrail"
    assert compute["os_vif_plugin"] == "nova_lxc_contrail.osvif.ContrailBridgePlugin"
    assert compute["os_vif_plugin_file"] in node["files"]["python3-nova-lxc-contrail"]
    assert compute["root_helper"] == "sudo nova-rootwrap /etc/nova/rootwrap.conf"
    assert (compute["libvirt_uri"], compute["virt_type"]) == ("lxc:///", "lxc")
    offered = dist_packages(report["spec"]["node"]["dist"])
    ours = set(versions) & set(offered)
    assert {p: versions[p] for p in ours} == {p: offered[p] for p in ours}
    assert set(trixie_node.PACKAGES) | {"python3-nova", "nova-common", "nova-compute"} <= ours
    for package in ours - {"python3-nova-lxc-contrail"}:
        assert "+lxccontrail" in versions[package], versions

