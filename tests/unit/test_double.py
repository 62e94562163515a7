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
    assert held['vn-id'] == port.network_id and held['type'] == 0
    assert list(double.ports()) == [port.port_id]


def test_adding_a_held_port_again_changes_only_its_version(double, thrift,
                                                           make_port):
    """CfgIntTable::OnChange / PortSubscribeEntry::Update: a new type or
    device name under a held port id does not reach the agent."""
    port = make_port(port_type=1)
    thrift.AddPort([to_thrift(port)])
    changed = port.with_type(0)
    changed.ifname = 'brchanged'
    thrift.Connect()
    assert thrift.AddPort([to_thrift(changed)]) is True
    held = double.port(port.port_id)
    assert (held['type'], held['system-name']) == (1, port.ifname)
    assert held['version'] == 1                       # renewed, no more
    thrift.DeletePort(tuuid(port.port_id))            # delete, then add:
    thrift.AddPort([to_thrift(changed)])
    held = double.port(port.port_id)
    assert (held['type'], held['system-name']) == (0, 'brchanged')


def test_adding_a_held_port_for_another_instance_replaces_it(double,
                                                             make_port):
    port = make_port()
    assert http(double, 'POST', '/port', json.dumps(port.to_record()))[0] \
        == 200
    other = make_port(port_id=port.port_id, port_type=1)
    assert http(double, 'POST', '/port', json.dumps(other.to_record()))[0] \
        == 200
    held = double.port(port.port_id)
    assert (held['instance-id'], held['type']) == (other.instance_id, 1)


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
    vm, ns = make_port(port_type=0), make_port(port_type=1)
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
    ({'type': 0, 'vn-id': '00000000-0000-0000-0000-000000000000'},
     'invalid VN uuid'),
    ({'type': 7, 'vn-id': ''}, 'invalid VN uuid'),      # else: a VM port
    ({'vn-id': 5}, 'vn-id is missing'),
    ({'rx-vlan-id': '-1'}, 'rx-vlan-id is missing'),
    ({'mac-address': '00:00:00:00:00:00'}, 'Invalid MAC'),
    ({'id': '00000000-0000-0000-0000-000000000000'}, 'invalid port uuid'),
    ({'rx-vlan-id': 5}, 'TX vlan not set'),
])
def test_rest_post_validation(double, make_port, change, error):
    record = make_port().to_record()
    record.update(change)
    status, answer = http(double, 'POST', '/port', json.dumps(record))
    assert status == 500 and error in answer['error']
    assert double.ports() == {}


@pytest.mark.parametrize('port_type', [1, 2])
def test_rest_namespace_and_remote_ports_may_omit_the_network(
        double, make_port, port_type):
    record = make_port().to_record()
    record.update({'vn-id': '', 'vm-project-id': '', 'type': port_type})
    assert http(double, 'POST', '/port', json.dumps(record)) == (200, {})
    assert double.port(record['id'])['type'] == port_type


def test_rest_other_types_are_vm_ports(double, make_port):
    record = make_port().to_record()
    record['type'] = 7
    assert http(double, 'POST', '/port', json.dumps(record)) == (200, {})
    assert http(double, 'GET', '/port/' + record['id'])[1]['type'] == 0


def test_syncports_arms_the_audit_of_vm_ports_not_sent_again(double,
                                                             make_port):
    """PortIpcHandler::SyncHandler: new version, stale-interface audit."""
    stale, again, ns = make_port(), make_port(), make_port(port_type=1)
    for port in (stale, again, ns):
        http(double, 'POST', '/port', json.dumps(port.to_record()))
    assert http(double, 'POST', '/syncports', '{}') == (200, {})
    http(double, 'POST', '/port', json.dumps(again.to_record()))
    assert double.wait_for(lambda: len(double.ports()) == 2)
    time.sleep(0.1)
    assert sorted(double.ports()) == sorted([again.port_id, ns.port_id])
    assert double.count('audit', stale.port_id) == 1
    assert double.count('sync', via='rest') == 1


def test_agent_without_syncports_answers_404(make_port):
    with AgentDouble(audit_timeout=0.1, syncports=False) as agent:
        port = make_port()
        http(agent, 'POST', '/port', json.dumps(port.to_record()))
        assert http(agent, 'POST', '/syncports', '{}') == \
            (404, {'error': 'Unknown Request'})
        time.sleep(0.3)
        assert list(agent.ports()) == [port.port_id]
        assert agent.rest_requests()[-1] == ('POST', '/syncports', 404)


def test_vm_port_has_config_namespace_port_only_when_linked(double,
                                                            make_port):
    """Both on lo (UP and RUNNING): only the VM port is active; a
    NameSpacePort has no config (vn-null vm-null vrf-null) until linked."""
    vm, ns = make_port(ifname='lo'), make_port(ifname='lo', port_type=1)
    for port in (vm, ns):
        http(double, 'POST', '/port', json.dumps(port.to_record()))
    assert double.state(vm.port_id) == {'active': True, 'reasons': []}
    assert double.state(ns.port_id) == {
        'active': False, 'reasons': ['vn-null', 'vm-null', 'vrf-null']}
    assert not double.is_active(ns.port_id)
    double.link(ns.port_id)                 # svc-monitor's link
    assert double.is_active(ns.port_id)
    double.link(ns.port_id, False)
    assert not double.is_active(ns.port_id)


def test_state_of_a_port_without_device(double, make_port):
    port = make_port(ifname='nosuchdev0')
    http(double, 'POST', '/port', json.dumps(port.to_record()))
    assert double.state(port.port_id) == {'active': False,
                                          'reasons': ['no-dev']}
    assert double.state(make_port().port_id) is None     # not held


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


def test_introspect_shows_each_ports_state(make_port):
    """GET /Snh_ItfReq?uuid= on the optional introspect port: the state a
    test in another process (the icehouse flow) can assert."""
    with AgentDouble(introspect_port=0) as agent:
        vm, ns = make_port(ifname='lo'), make_port(ifname='lo', port_type=1)
        for port in (vm, ns):
            http(agent, 'POST', '/port', json.dumps(port.to_record()))
        conn = http_client.HTTPConnection('127.0.0.1', agent.introspect_port)
        try:
            answers = []
            for port_id in (vm.port_id, ns.port_id, make_port().port_id):
                conn.request('GET', '/Snh_ItfReq?uuid=' + port_id)
                response = conn.getresponse()
                answers.append((response.status,
                                json.loads(response.read().decode('utf-8'))))
        finally:
            conn.close()
        assert answers[0] == (200, {'active': True, 'reasons': []})
        assert answers[1] == (200, {'active': False, 'reasons': [
            'vn-null', 'vm-null', 'vrf-null']})
        assert answers[2][0] == 404
