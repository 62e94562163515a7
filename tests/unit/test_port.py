# -*- coding: utf-8 -*-
import json

import pytest

from nova_lxc_contrail.exception import InvalidPort
from nova_lxc_contrail.port import Port
from tests.agent_double import checks
from tests.agent_double.samples import new_id
from tests.agent_double.samples import port_data

pytestmark = pytest.mark.py27


def nova_vif(port_id, network, devname=None):
    """The shape of nova's network model (VIF/Network/Subnet/FixedIP)."""
    vif = {'id': port_id, 'address': 'fa:16:3e:11:22:33', 'network': network}
    if devname:
        vif['devname'] = devname
    return vif


def network(*subnets):
    return {'id': new_id(), 'subnets': [
        {'cidr': None, 'ips': [{'address': a} for a in addresses]}
        for addresses in subnets]}


class Instance(object):
    def __init__(self):
        self.uuid = new_id()
        self.project_id = 'a3c47b3e2c7e4b9b9a9f1f9e8d7c6b5a'
        self.display_name = u'web-ü'
        self.hostname = 'web'
        self.host = 'compute-1'


def test_valid_port_is_canonical(make_port):
    port = make_port(mac='02:AB:CD:00:00:01', ips=['2001:DB8::0:5', '192.0.2.5'])
    assert port.mac == '02:ab:cd:00:00:01'
    assert port.ip_address == '192.0.2.5'
    assert port.ip6_address == '2001:db8::5'
    assert len(port.project_id) == 36 and port.project_id.count('-') == 4
    assert port.ifname == 'br' + port.port_id[:11]
    assert port.port_type == 0       # NovaVMPort


def test_from_nova_reads_the_network_model():
    inst = Instance()
    vif = nova_vif(new_id(), network(['192.0.2.9'], ['2001:db8::9']),
                   devname='tapfeedbeef-01')
    port = Port.from_nova(vif, inst)
    assert (port.port_id, port.instance_id) == (vif['id'], inst.uuid)
    assert port.network_id == vif['network']['id']
    assert port.ip_address == '192.0.2.9'
    assert port.ip6_address == '2001:db8::9'
    assert port.ifname == 'brfeedbeef-01'
    assert port.display_name == u'web-ü'
    assert port.host == 'compute-1'


@pytest.mark.parametrize('subnets', [(), ([],), (['2001:db8::7'],)],
                         ids=['no-subnet', 'no-ip', 'ipv6-only'])
def test_ports_without_ipv4_register_with_zero_address(subnets):
    port = Port.from_nova(nova_vif(new_id(), network(*subnets)), Instance())
    assert port.ip_address is None
    record = port.to_record()
    assert record['ip-address'] == '0.0.0.0'
    # The agent accepts it (REST validation of the double = the agent's).
    assert checks.rest_port(json.dumps(record))['id'] == port.port_id


@pytest.mark.parametrize('field,value,message', [
    ('network_id', None, 'no network'),
    ('port_id', 'not-a-uuid', 'port id is not a UUID'),
    ('instance_id', '00000000-0000-0000-0000-000000000000', 'nil UUID'),
    ('project_id', 'abc', 'project id is not a UUID'),
    ('mac', '02:00:00:00:00', 'MAC address is not'),
    ('mac', '02-00-00-00-00-01', 'MAC address is not'),
    ('mac', '01:00:5e:00:00:01', 'not a unicast'),
    ('mac', None, 'MAC address is not'),
    ('ips', ['192.0.2.300'], 'not an IP address'),
    ('display_name', 7, 'display name is not text'),
    ('ifname', 'a-name-that-is-too-long', 'not a usable device name'),
])
def test_bad_port_data_is_a_clear_error(field, value, message):
    data = port_data(**{field: value})
    with pytest.raises(InvalidPort) as info:
        Port(**data)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_network_from_nova():
    vif = nova_vif(new_id(), None)
    with pytest.raises(InvalidPort) as info:
        Port.from_nova(vif, Instance())
    assert vif['id'] in str(info.value) and 'no network' in str(info.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidPort) as info:
        Port(**port_data(port_id='x', mac='y', network_id=None))
    text = str(info.value)
    assert 'port id' in text and 'MAC' in text and 'no network' in text


def test_record_round_trip(make_port):
    port = make_port(ips=['192.0.2.5', '2001:db8::5'], display_name=u'ü')
    again = Port.from_record(json.loads(json.dumps(port.to_record())))
    assert again == port


def test_record_has_every_member_the_agent_requires(make_port):
    record = make_port().to_record()
    for key, kind in checks.REST_MEMBERS:
        assert key in record and checks._is(record[key], kind), key
    assert record['type'] == 0 and record['rx-vlan-id'] == -1


def test_incomplete_record_is_invalid(make_port):
    record = make_port().to_record()
    del record['mac-address']
    with pytest.raises(InvalidPort):
        Port.from_record(record)


def test_with_type_is_a_copy_of_another_type(make_port):
    port = make_port()
    namespace = port.with_type(1)
    assert (port.port_type, namespace.port_type) == (0, 1)
    assert namespace != port and namespace.with_type(0) == port
    assert Port.from_record(namespace.to_record()).port_type == 1
    with pytest.raises(InvalidPort):
        port.with_type(2)
    with pytest.raises(InvalidPort):
        make_port(port_type=2)


@pytest.mark.parametrize('field', ['display-name', 'hostname', 'host'])
@pytest.mark.parametrize('escaped', [u'\\ud800', u'x\\udfffy',
                                     u'\\ude00\\ud83d'])
def test_a_lone_surrogate_is_not_text(make_port, field, escaped):
    """JSON decodes "\\ud800" to a lone surrogate, which no UTF-8 encoder
    takes (the thrift client at every restore): refused at validation."""
    text = json.dumps(make_port().to_record())
    record = json.loads(text.replace(
        '"%s": ' % field, '"%s": "%s", "x-%s": ' % (field, escaped, field), 1))
    with pytest.raises(InvalidPort) as info:
        Port.from_record(record)
    assert 'lone surrogate' in str(info.value)


def test_a_surrogate_pair_is_one_character(make_port):
    record = json.loads(json.dumps(make_port().to_record()).replace(
        '"display-name": ', '"display-name": "\\ud83d\\ude00", "x": ', 1))
    port = Port.from_record(record)
    assert port.display_name == u'\U0001f600'
    assert port.display_name.encode('utf-8') == b'\xf0\x9f\x98\x80'
