"""The agent double behaves as the agent does (contrail.md 2a, 2c)."""
import json
import time

import pytest
from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket
from thrift.transport import TTransport

from nova_lxc_contrail.agent.instance_service import InstanceService
from nova_lxc_contrail.agent.thrift import to_thrift
from nova_lxc_contrail.agent.thrift import tuuid
from nova_lxc_contrail.compat import http_client
from tests.agent_double import AgentDouble

pytestmark = pytest.mark.py27


@pytest.fixture
def thrift(double):
    transport = TTransport.TFramedTransport(
        TSocket.TSocket('127.0.0.1', double.thrift_port))
    transport.open()
    try:
        yield InstanceService.Client(TBinaryProtocol.TBinaryProtocol(transport))
    finally:
        transport.close()


def http(double, method, path, body=None):
    conn = http_client.HTTPConnection('127.0.0.1', double.rest_port)
    try:
        conn.request(method, path, body)
        response = conn.getresponse()
        return response.status, json.loads(response.read().decode('utf-8'))
    finally:
        conn.close()


def test_addport_holds_the_port_by_id(double, thrift, make_port):
    port = make_port()
    assert thrift.AddPort([to_thrift(port)]) is True
    held = double.port(port.port_id)
    assert held['system-name'] == port.ifname
    assert held['vn-id'] == port.network_id and held['type'] == 1
    port.ifname = 'brchanged'
    assert thrift.AddPort([to_thrift(port)]) is True      # add-or-change
    assert list(double.ports()) == [port.port_id]
    assert double.port(port.port_id)['system-name'] == 'brchanged'


@pytest.mark.parametrize('field,value', [('port_id', [1] * 15),
                                         ('vn_id', [1] * 17),
                                         ('ip_address', 'nope')])
def test_addport_refuses_and_stops_at_a_bad_port(double, thrift, make_port,
                                                field, value):
    good, bad, after = make_port(), to_thrift(make_port()), make_port()
    setattr(bad, field, value)
    assert thrift.AddPort([to_thrift(good), bad, to_thrift(after)]) is False
    assert list(double.ports()) == [good.port_id]


def test_deleteport_is_always_true(double, thrift, make_port):
    port = make_port()
    thrift.AddPort([to_thrift(port)])
    assert thrift.DeletePort(tuuid(port.port_id)) is True
    assert thrift.DeletePort(tuuid(port.port_id)) is True
    assert double.ports() == {} and thrift.KeepAliveCheck() is True


def test_connect_audit_drops_vm_ports_but_not_namespace_ports(
        double, thrift, make_port):
    vm, ns = make_port(port_type=0), make_port()
    thrift.AddPort([to_thrift(vm), to_thrift(ns)])
    assert thrift.Connect() is True                   # audit after 0.3 s
    assert double.wait_for(lambda: list(double.ports()) == [ns.port_id])
    assert double.count('audit', vm.port_id) == 1


def test_vm_port_added_again_after_connect_survives_the_audit(
        double, thrift, make_port):
    vm = make_port(port_type=0)
    thrift.AddPort([to_thrift(vm)])
    thrift.Connect()
    thrift.AddPort([to_thrift(vm)])
    time.sleep(0.5)
    assert list(double.ports()) == [vm.port_id]


def test_rest_post_get_delete(double, make_port):
    port = make_port(ips=['2001:db8::5'])
    assert http(double, 'POST', '/port', json.dumps(port.to_record())) \
        == (200, {})
    status, held = http(double, 'GET', '/port/' + port.port_id)
    assert status == 200 and held['system-name'] == port.ifname
    assert held['ip-address'] == '0.0.0.0' and held['ip6-address'] == \
        '2001:db8::5'
    assert http(double, 'DELETE', '/port/' + port.port_id) == (200, {})
    assert http(double, 'GET', '/port/' + port.port_id) == (200, {})


@pytest.mark.parametrize('change,error', [
    ({'type': '1'}, 'type is missing'),
    ({'vn-id': None}, 'vn-id is missing'),
    ({'mac-address': '02:00:00:00:01'}, 'Invalid MAC'),
    ({'ip-address': 'x', 'ip6-address': ''}, 'Neither Ipv4 nor IPv6'),
    ({'type': 0, 'vn-id': ''}, 'invalid VN uuid'),
    ({'id': '00000000-0000-0000-0000-000000000000'}, 'invalid port uuid'),
    ({'rx-vlan-id': 5}, 'TX vlan not set'),
])
def test_rest_post_validation(double, make_port, change, error):
    record = make_port().to_record()
    record.update(change)
    status, answer = http(double, 'POST', '/port', json.dumps(record))
    assert status == 500 and error in answer['error']
    assert double.ports() == {}


def test_rest_namespace_port_may_omit_network_and_project(double, make_port):
    record = make_port().to_record()
    record.update({'vn-id': '', 'vm-project-id': ''})
    assert http(double, 'POST', '/port', json.dumps(record)) == (200, {})


def test_rest_unknown_requests(double, make_port):
    port_id = make_port().port_id
    for method, path in (('DELETE', '/port/' + port_id.upper()),
                         ('GET', '/ports'), ('POST', '/vm')):
        assert http(double, method, path, '{}') == \
            (404, {'error': 'Unknown Request'})


def test_restart_keeps_port_numbers_and_forgets_ports(double, thrift,
                                                      make_port):
    ports = (double.thrift_port, double.rest_port)
    thrift.AddPort([to_thrift(make_port())])
    double.restart()
    assert (double.thrift_port, double.rest_port) == ports
    assert double.ports() == {}
    with pytest.raises(TTransport.TTransportException):
        thrift.KeepAliveCheck()                   # the old connection died


def test_port_files_are_reloaded_at_start(tmp_path, make_port):
    present = make_port(ifname='lo')               # exists in any namespace
    absent = make_port(ifname='nosuchdev0')
    agent = AgentDouble(ports_dir=str(tmp_path))
    for port in (present, absent):
        with open(str(tmp_path / port.port_id), 'w') as f:
            json.dump(port.to_record(), f)
    with agent:
        assert list(agent.ports()) == [present.port_id]
        assert agent.count('add', via='file') == 1
        assert agent.is_active(present.port_id)   # lo is UP and RUNNING
        http(agent, 'DELETE', '/port/' + present.port_id)
        assert not (tmp_path / present.port_id).exists()


def test_listeners_see_changes(double, thrift, make_port):
    seen = []
    double.subscribe(lambda op, record: seen.append((op, record['id'])))
    port = make_port()
    thrift.AddPort([to_thrift(port)])
    thrift.DeletePort(tuuid(port.port_id))
    assert seen == [('add', port.port_id), ('delete', port.port_id)]
