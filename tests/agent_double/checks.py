"""The agent's validation of incoming ports, per protocol.

Each check returns a record (REST body keys) or raises Refused with the
agent's message. Sources: the agent's thrift handler (AddPort) and its REST
handler, R2.20 (PortIpcHandler::HasAllMembers / CanAdd) and R4.0+
(port_ipc_handler.cc MakeAddVmiUuidRequest: every member present with its
JSON type; "type" 1 NameSpacePort, 2 remote port, anything else a VM port;
a nil "vn-id" refused for VM ports; an all-zero MAC refused), see
shared/research/contrail.md sections 0.1 and 2. Where the releases differ
the double refuses what any of them refuses.
"""
from __future__ import absolute_import

import json
import socket
import uuid

from .table import NOVA_VM_PORT
from .table import rest_type

try:
    string_types = (str, unicode)  # noqa: F821  (Python 2)
except NameError:
    string_types = (str,)

NIL = uuid.UUID(int=0)

REST_MEMBERS = (('id', 'str'), ('instance-id', 'str'), ('vn-id', 'str'),
                ('vm-project-id', 'str'), ('display-name', 'str'),
                ('system-name', 'str'), ('ip-address', 'str'),
                ('ip6-address', 'str'), ('mac-address', 'str'),
                ('type', 'int'), ('rx-vlan-id', 'int'), ('tx-vlan-id', 'int'))


class Refused(Exception):
    pass


def _is(value, kind):
    if kind == 'int':
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, string_types)


def _parses(family, address):
    try:
        socket.inet_pton(family, address)
        return True
    except (socket.error, ValueError, TypeError):
        return False


def _uuid_or_nil(text):
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return NIL


def rest_port(body):
    """POST /port body (text) -> record; Refused like the agent."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise Refused('Invalid Json string ==> %s' % body)
    if not isinstance(doc, dict):
        raise Refused('Unexpected Json string ==> %s' % body)
    for key, kind in REST_MEMBERS:
        if key not in doc or not _is(doc[key], kind):
            raise Refused('Json string does not have all required members, '
                          '%s is missing ==> %s' % (key, body))
    errors = []
    v4 = _parses(socket.AF_INET, doc['ip-address'])
    v6 = _parses(socket.AF_INET6, doc['ip6-address'])
    if not v4 and not v6:
        errors.append('Neither Ipv4 nor IPv6 address is correct')
    if _uuid_or_nil(doc['id']) == NIL:
        errors.append('invalid port uuid')
    if _uuid_or_nil(doc['instance-id']) == NIL:
        errors.append('invalid instance uuid')
    port_type = rest_type(doc['type'])
    if port_type == NOVA_VM_PORT:
        if _uuid_or_nil(doc['vn-id']) == NIL:
            errors.append('invalid VN uuid')
        if _uuid_or_nil(doc['vm-project-id']) == NIL:
            errors.append('invalid VM project uuid')
    mac = doc['mac-address']
    if not mac or mac.count(':') != 5 or \
            not mac.replace(':', '').strip('0'):    # R4.0+: not all-zero
        errors.append('Invalid MAC, Use xx:xx:xx:xx:xx:xx format')
    if doc['rx-vlan-id'] != -1 and doc['tx-vlan-id'] == -1:
        errors.append('Invalid request. RX (isolated) vlan set, '
                      'but TX vlan not set')
    if errors:
        raise Refused(', '.join(errors))
    record = dict((key, doc[key]) for key, _ in REST_MEMBERS)
    record['id'] = str(_uuid_or_nil(doc['id']))
    record['type'] = port_type
    record['hostname'] = doc.get('hostname', '')
    return record


def _tuuid(value):
    if value is None or len(value) != 16:
        raise Refused('Port/instance/vn id not valid uuids, size check failed')
    return str(uuid.UUID(bytes=bytes(bytearray(b & 0xff for b in value))))


def thrift_port(port):
    """A thrift ttypes.Port -> record; Refused where AddPort returns false."""
    port_id = _tuuid(port.port_id)
    instance_id = _tuuid(port.instance_id)
    vn_id = _tuuid(port.vn_id)
    address = port.ip_address
    if not (_parses(socket.AF_INET, address) or
            _parses(socket.AF_INET6, address)):
        raise Refused('ip address %r does not parse' % (address,))
    project = port.vm_project_id
    return {
        'id': port_id, 'instance-id': instance_id, 'vn-id': vn_id,
        'vm-project-id': _tuuid(project) if project else str(NIL),
        'display-name': port.display_name or '',
        'system-name': port.tap_name,
        'ip-address': address,
        'ip6-address': port.ip6_address or '',
        'mac-address': port.mac_address,
        'type': 1 if port.port_type == 1 else 0,
        'rx-vlan-id': -1,
        'tx-vlan-id': port.vlan_id if port.vlan_id is not None else -1,
        'hostname': port.hostname or '',
    }
