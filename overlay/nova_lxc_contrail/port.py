"""One port as the vrouter agent sees it, validated before anything exists.

Port data comes from nova (or a port file) and is checked completely here, so
that a bad port raises ``InvalidPort`` before a device or a file is created.
The record form is the agent's REST body, which is also its port-file format
(``/var/lib/contrail/ports/<uuid>``).
"""
from __future__ import absolute_import

import copy
import datetime
import re
import socket
import uuid

from nova_lxc_contrail import names
from nova_lxc_contrail.compat import string_types
from nova_lxc_contrail.compat import text_type
from nova_lxc_contrail.exception import InvalidPort

# The agent's port types (thrift PortTypes, REST "type"). An instance's port
# is a NovaVMPort: from R2.0 on the agent asks the control node for the VM's
# configuration (VN, VRF, IPs, security groups) only for that type; a
# NameSpacePort gets none unless something links the virtual-router to the VM
# (svc-monitor does, nova does not) and stays inactive (contrail.md 0.1).
NOVA_VM_PORT = 0
NAMESPACE_PORT = 1
PORT_TYPES = {'NovaVMPort': NOVA_VM_PORT, 'NameSpacePort': NAMESPACE_PORT}
TYPE_NAMES = dict((v, k) for k, v in PORT_TYPES.items())
NO_IPV4 = '0.0.0.0'     # what the agent takes as "no IPv4 address"
NO_VLAN = -1
AUTHOR = 'nova-lxc-contrail'

_MAC = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z')
# A lone UTF-16 surrogate is a str on Python 3 (JSON's "\ud800" decodes to
# one) but no UTF-8 encoder takes it: the thrift client would fail on it at
# every restore.
_SURROGATE = re.compile(u'[\ud800-\udfff]')


def _field(obj, name, default=None):
    """Read name from a dict-like (nova's network model and objects), an
    object, or an os-vif (versioned) object, whose unset fields raise on
    access instead of being missing."""
    try:
        value = obj[name]
    except (KeyError, TypeError, IndexError, AttributeError):
        fields = getattr(obj, 'obj_fields', None)    # a versioned object's
        if fields is None or name in fields and obj.obj_attr_is_set(name):
            value = getattr(obj, name, default)
        else:
            value = default
    return default if value is None else value


def _address(value):
    """An IP address as text (os-vif's are netaddr.IPAddress objects)."""
    return value if value is None or isinstance(value, string_types) \
        else str(value)


def parse_uuid(value, what='port id'):
    """The canonical (lowercase, dashed) form of a UUID; raises ValueError."""
    try:
        parsed = uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise ValueError('%s is not a UUID: %r' % (what, value))
    if parsed.int == 0:
        raise ValueError('%s is the nil UUID' % what)
    return str(parsed)


def parse_mac(value):
    """A unicast MAC address as xx:xx:xx:xx:xx:xx; raises ValueError."""
    mac = value.lower() if isinstance(value, string_types) else None
    if mac is None or not _MAC.match(mac):
        raise ValueError('MAC address is not xx:xx:xx:xx:xx:xx: %r' % (value,))
    if int(mac[:2], 16) & 1 or mac == '00:00:00:00:00:00':
        raise ValueError('MAC address %s is not a unicast address' % mac)
    return str(mac)


def _text(value, what):
    if isinstance(value, bytes):
        try:
            value = value.decode('utf-8')
        except UnicodeDecodeError:
            raise ValueError('%s is not UTF-8' % what)
    if not isinstance(value, string_types):
        raise ValueError('%s is not text: %r' % (what, value))
    value = text_type(value)
    if _SURROGATE.search(value):
        raise ValueError('%s has a lone surrogate (not encodable text): %r'
                         % (what, value))
    return value


def _address_family(address):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, address)
        except (socket.error, ValueError, TypeError):
            continue
        return family, socket.inet_ntop(family, packed)
    return None, None


class Port(object):
    """A validated port registration; raises InvalidPort on bad data."""

    def __init__(self, port_id, instance_id, network_id, project_id, mac,
                 ips=(), display_name='', hostname='', host='', ifname=None,
                 devname=None, port_type=NOVA_VM_PORT):
        problems = []

        def check(parse, *args):
            try:
                return parse(*args)
            except ValueError as exc:
                problems.append(str(exc))

        self.port_id = check(parse_uuid, port_id, 'port id')
        self.instance_id = check(parse_uuid, instance_id, 'instance id')
        self.network_id = check(parse_uuid, network_id, 'network id') \
            if network_id else problems.append('no network')
        self.project_id = check(parse_uuid, project_id, 'project id')
        self.mac = check(parse_mac, mac)
        self.ip_address, self.ip6_address = self._ips(ips, problems)
        self.display_name = check(_text, display_name, 'display name')
        self.hostname = check(_text, hostname, 'hostname')
        self.host = check(_text, host, 'host')
        if ifname:
            self.ifname = check(names.check_ifname, ifname)
        else:
            self.ifname = check(names.bridge_name, self.port_id, devname) \
                if devname or self.port_id else None
        if port_type not in TYPE_NAMES:
            problems.append('unknown port type %r' % (port_type,))
        self.port_type = port_type
        if problems:
            raise InvalidPort(port_id, '; '.join(problems))

    @classmethod
    def from_nova(cls, vif, instance, host=None, **kwargs):
        """Build from nova's VIF and instance: the network model's VIF and
        an instance (icehouse), or os-vif's VIF and InstanceInfo (bookworm,
        which names some members differently: the caller passes those, as
        keyword arguments, which override what is read here).

        Ports without a subnet or without IPv4 are valid: they register with
        ``NO_IPV4`` (the 2014 driver crashed on ``subnets[0]['ips'][0]``).
        """
        network = _field(vif, 'network')
        ips = []
        for subnet in _field(network, 'subnets', ()) if network else ():
            ips.extend(_address(_field(ip, 'address'))
                       for ip in _field(subnet, 'ips', ()))
        fields = dict(
            port_id=_field(vif, 'id'),
            instance_id=_field(instance, 'uuid'),
            network_id=_field(network, 'id') if network else None,
            project_id=_field(instance, 'project_id'),
            mac=_field(vif, 'address'),
            ips=ips,
            display_name=_field(instance, 'display_name', ''),
            hostname=_field(instance, 'hostname', ''),
            host=host if host is not None else _field(instance, 'host', ''),
            devname=_field(vif, 'devname'))
        fields.update(kwargs)
        return cls(**fields)

    @classmethod
    def from_record(cls, record):
        """Build from a port file / REST body; raises InvalidPort."""
        try:
            ips = [record[k] for k in ('ip-address', 'ip6-address')
                   if record.get(k) not in (None, '', NO_IPV4, 'None')]
            return cls(port_id=record['id'],
                       instance_id=record['instance-id'],
                       network_id=record['vn-id'],
                       project_id=record['vm-project-id'],
                       mac=record['mac-address'],
                       ips=ips,
                       display_name=record.get('display-name', ''),
                       hostname=record.get('hostname', ''),
                       host=record.get('host', ''),
                       ifname=record['system-name'],
                       port_type=record.get('type', NOVA_VM_PORT))
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidPort(getattr(record, 'get', dict().get)('id'),
                              'incomplete record (%s)' % exc)

    def to_record(self):
        """The agent's REST body / port-file content for this port."""
        return {
            'id': self.port_id,
            'instance-id': self.instance_id,
            'vn-id': self.network_id,
            'vm-project-id': self.project_id,
            'display-name': self.display_name,
            'system-name': self.ifname,
            'ip-address': self.ip_address or NO_IPV4,
            'ip6-address': self.ip6_address or '',
            'mac-address': self.mac,
            'type': self.port_type,
            'rx-vlan-id': NO_VLAN,
            'tx-vlan-id': NO_VLAN,
            'hostname': self.hostname,
            'host': self.host,
            'author': AUTHOR,
            'time': datetime.datetime.utcnow().isoformat(),
        }

    def with_type(self, port_type):
        """This port as port_type (a copy; self is left as it is)."""
        if port_type not in TYPE_NAMES:
            raise InvalidPort(self.port_id, 'unknown port type %r'
                              % (port_type,))
        port = copy.copy(self)
        port.port_type = port_type
        return port

    def __eq__(self, other):
        return isinstance(other, Port) and vars(self) == vars(other)

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __repr__(self):
        return 'Port(%s on %s)' % (self.port_id, self.ifname)

    @staticmethod
    def _ips(ips, problems):
        found = {}
        for address in ips:
            family, canonical = _address_family(address)
            if family is None:
                problems.append('not an IP address: %r' % (address,))
            else:
                found.setdefault(family, canonical)
        return found.get(socket.AF_INET), found.get(socket.AF_INET6)
