"""The agent double's forwarding (tests/agent_double/forwarding.py), on its
own and fast: port bridges made by the driver core's netdev, registered over
the double's REST API, "containers" as network namespaces with one end of a
veth each (what libvirt-lxc does), pings with busybox. Root only.

The double forwards for active ports only (config and a running device);
the last test plugs through the driver core with each port_type and shows
that NameSpacePort registrations leave the containers unable to reach each
other: the regression this suite catches.

Net A has two ports, net B one whose address is in net A's subnet, so only
the forwarding (not the addressing) keeps it out.
"""

import os
import shutil
import subprocess
import uuid

import pytest
from pyroute2 import IPRoute, NetNS
from pyroute2 import netns as pyroute2_netns

from nova_lxc_contrail import bridge
from nova_lxc_contrail import config
from nova_lxc_contrail import netdev
from nova_lxc_contrail.agent.rest import RestClient
from nova_lxc_contrail.compat import cfg
from nova_lxc_contrail.port import Port
from tests.agent_double import AgentDouble
from tests.agent_double.forwarding import Forwarding
from tests.functional.bridge_helpers import inside_new_netns

pytestmark = pytest.mark.root
NET_A, NET_B = str(uuid.uuid4()), str(uuid.uuid4())
PORTS = [("c1", NET_A, "198.51.100.1"), ("c2", NET_A, "198.51.100.2"),
         ("c3", NET_B, "198.51.100.3")]


def ping(ns, address, count=2):
    return subprocess.run(["ip", "netns", "exec", ns, shutil.which("busybox"),
                           "ping", "-c", str(count), "-W", "1", address],
                          capture_output=True, text=True, timeout=30).returncode


@pytest.fixture
def world():
    if os.geteuid() != 0 or not shutil.which("busybox"):
        pytest.skip("SKIPPED (needs root and busybox): network namespaces")
    tag = uuid.uuid4().hex[:6]
    containers = {}
    with inside_new_netns() as host_ns:
        double = AgentDouble(netns=host_ns).start()
        forwarding = Forwarding(double)
        client = RestClient(port=double.rest_port)
        try:
            for name, net, address in PORTS:
                ns = "nlc-fwd-%s-%s" % (name, tag)
                pyroute2_netns.create(ns)
                containers[name] = ns
                port = Port(port_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
                            network_id=net, project_id=str(uuid.uuid4()),
                            mac="02:00:00:00:00:0%s" % name[1], ips=[address],
                            devname="tap" + uuid.uuid4().hex[:11])
                netdev.ensure_bridge(port.ifname)
                attach(port.ifname, ns, address)
                client.add_port(port)
                containers[name + "-port"] = port
            yield double, forwarding, client, containers
        finally:
            client.close()
            forwarding.close()
            double.stop()
            for ns in [v for k, v in containers.items() if "-" not in k]:
                pyroute2_netns.remove(ns)


def attach(bridge, ns, address):
    """A veth from the bridge into namespace ns, with address on eth0."""
    host = "vh" + uuid.uuid4().hex[:8]
    with IPRoute() as ipr:
        ipr.link("add", ifname=host, kind="veth", peer="eth0")
        ipr.link("set", index=ipr.link_lookup(ifname=host)[0], state="up",
                 master=ipr.link_lookup(ifname=bridge)[0])
        ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], net_ns_fd=ns)
    with NetNS(ns) as inside:
        index = inside.link_lookup(ifname="eth0")[0]
        inside.addr("add", index=index, address=address, prefixlen=24)
        inside.link("set", index=index, state="up")


def test_same_network_reaches_other_networks_do_not(world):
    double, forwarding, _client, c = world
    port1, port2, port3 = c["c1-port"], c["c2-port"], c["c3-port"]
    assert forwarding.members(NET_A) == sorted([port1.ifname, port2.ifname])
    assert forwarding.members(NET_B) == [port3.ifname]
    assert ping(c["c1"], "198.51.100.2") == 0
    assert ping(c["c2"], "198.51.100.1") == 0
    assert ping(c["c3"], "198.51.100.1") != 0
    assert ping(c["c1"], "198.51.100.3") != 0
    # the double forwards through nothing but tc: no device of its own on
    # the port bridges, whose only port is the container's veth
    assert all(double.is_active(p.port_id) for p in (port1, port2, port3))
    with IPRoute() as ipr:
        for port in (port1, port2, port3):
            bridge = ipr.link_lookup(ifname=port.ifname)[0]
            assert len([dev for dev in ipr.get_links()
                        if dev.get_attr("IFLA_MASTER") == bridge]) == 1


def test_unicast_needs_the_promiscuous_bridge(world):
    """Without promiscuous mode the bridge passes up broadcasts only: ARP
    still resolves, the echo requests (unicast) never reach the vrouter."""
    _double, _forwarding, _client, c = world
    bridge = c["c1-port"].ifname
    subprocess.run(["ip", "link", "set", bridge, "promisc", "off"], check=True)
    assert not netdev.link_state(bridge).promisc
    assert ping(c["c1"], "198.51.100.2") != 0
    netdev.ensure_bridge(bridge)            # the driver's repair: promisc on
    assert netdev.link_state(bridge).promisc
    assert ping(c["c1"], "198.51.100.2") == 0


def test_delete_unjoins(world):
    _double, forwarding, client, c = world
    port1, port2 = c["c1-port"], c["c2-port"]
    client.delete_port(port2.port_id)
    assert forwarding.members(NET_A) == [port1.ifname]
    assert ping(c["c1"], "198.51.100.2", count=1) != 0
    client.add_port(port2)                  # the agent gets it again
    assert ping(c["c1"], "198.51.100.2") == 0


def test_port_registered_before_its_bridge_is_joined_when_it_appears(world):
    """A driver may register a port before it makes the bridge (it sends
    the registration first and reads the answer after): the agent binds the
    port when its device appears, and so does the double."""
    _double, forwarding, client, c = world
    ns = "nlc-fwd-c4-%s" % uuid.uuid4().hex[:6]
    pyroute2_netns.create(ns)
    c["c4"] = ns                            # removed with the others
    port = Port(port_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
                network_id=NET_A, project_id=str(uuid.uuid4()),
                mac="02:00:00:00:00:04", ips=["198.51.100.4"],
                devname="tap" + uuid.uuid4().hex[:11])
    assert client.add_port(port) is True
    assert port.ifname not in forwarding.members(NET_A)     # no device yet
    netdev.ensure_bridge(port.ifname)
    attach(port.ifname, ns, "198.51.100.4")
    assert _double.wait_for(lambda: port.ifname in forwarding.members(NET_A))
    assert ping(c["c1"], "198.51.100.4") == 0
    assert ping(ns, "198.51.100.2") == 0


@pytest.mark.parametrize("port_type", ["NovaVMPort", "NameSpacePort"])
def test_port_type_decides_whether_containers_reach_each_other(port_type,
                                                               tmp_path):
    """Plugged by the driver core with [contrail_bridge] port_type: a
    NovaVMPort gets its config from the agent and is active once its
    container is up; a NameSpacePort gets none, stays inactive, and its
    container reaches no one (no linking here, as with nova)."""
    if os.geteuid() != 0 or not shutil.which("busybox"):
        pytest.skip("SKIPPED (needs root and busybox): network namespaces")
    tag = uuid.uuid4().hex[:6]
    names = []
    with inside_new_netns() as host_ns:
        double = AgentDouble(netns=host_ns).start()
        forwarding = Forwarding(double)
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], project="nova-lxc-contrail")
        for name, value in (("agent_protocol", "rest"),
                            ("agent_rest_port", double.rest_port),
                            ("ports_dir", str(tmp_path / "ports")),
                            ("port_type", port_type)):
            conf.set_override(name, value, config.GROUP)
        driver = bridge.BridgeDriver(conf)
        try:
            ports = []
            for i, address in enumerate(("198.51.100.1", "198.51.100.2")):
                ns = "nlc-pt-%d-%s" % (i, tag)
                pyroute2_netns.create(ns)
                names.append(ns)
                port = Port(port_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
                            network_id=NET_A, project_id=str(uuid.uuid4()),
                            mac="02:00:00:00:01:0%d" % i, ips=[address],
                            devname="tap" + uuid.uuid4().hex[:11])
                assert driver.plug(port) is True
                attach(port.ifname, ns, address)
                ports.append(port)
            assert double.wait_for(lambda: all(
                netdev.link_state(p.ifname).running for p in ports))
            if port_type == "NovaVMPort":
                assert double.wait_for(lambda: all(
                    double.is_active(p.port_id) for p in ports))
                assert forwarding.members(NET_A) == sorted(p.ifname for p in ports)
                assert ping(names[0], "198.51.100.2") == 0
            else:
                for port in ports:
                    assert double.port(port.port_id)["type"] == 1
                    assert double.state(port.port_id) == {
                        "active": False, "reasons": ["vn-null", "vm-null", "vrf-null"]}
                assert forwarding.members(NET_A) == []
                assert ping(names[0], "198.51.100.2") != 0
        finally:
            driver.stop()
            forwarding.close()
            double.stop()
            for ns in names:
                pyroute2_netns.remove(ns)
