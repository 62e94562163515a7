"""The privileged half of a plug and of an unplug, with its input checked.

Both adapters run it with more rights than nova-compute has, on data
nova-compute sends: the privsep daemon (bookworm, ``privsep.py``) and the
command ``contrail-bridge-helper`` that nova's rootwrap starts (icehouse,
``main``). So nothing is taken on trust: device names (of a port's form,
``names.check_port_bridge``), the port id and the record (JSON types, size,
a complete port of that bridge) are checked, and only the validated port is
written, as ``<port uuid>`` in the ports directory. netdev then touches an
existing bridge only if it carries the port's mark (see netdev.ensure_bridge).

    contrail-bridge-helper plug PORTS_DIR BRIDGE   < port record (JSON)
    contrail-bridge-helper unplug PORTS_DIR BRIDGE PORT_ID [TAP]

One run does all privileged work of one plug or unplug (a rootwrap start
costs about half a second). Python 2.7 and 3.

That work itself is ``plug_local``/``unplug_local``, unchecked: the driver
runs them in its own process through ``LocalOps`` when it has the rights
(root, or tests). This module imports only what they and the checks need
(``names``, ``netdev``, ``portfiles``, ``port``): the helper and the privsep
daemon load neither the agent clients nor their thrift stubs.
"""
from __future__ import absolute_import
from __future__ import print_function

import argparse
import json
import numbers
import os
import sys

from nova_lxc_contrail import compat
from nova_lxc_contrail import names
from nova_lxc_contrail import netdev
from nova_lxc_contrail import netlink
from nova_lxc_contrail import portfiles
from nova_lxc_contrail.exception import ContrailBridgeError
from nova_lxc_contrail.exception import InvalidPort
from nova_lxc_contrail.port import parse_uuid
from nova_lxc_contrail.port import Port

PROG = 'contrail-bridge-helper'

# A port record is about 700 bytes; nova's names are at most 255 characters
# (12 bytes each in the worst JSON escaping).
MAX_RECORD = 16384
# The JSON type of each member the agent reads (its REST validation checks
# the same): a string (None: missing, Port says what is missing) or an
# integer, and not true/false or 1.0, which Python would take for 1.
_STRING_MEMBERS = ('id', 'instance-id', 'vn-id', 'vm-project-id',
                   'display-name', 'system-name', 'ip-address',
                   'ip6-address', 'mac-address', 'hostname', 'host',
                   'author', 'time')
_INTEGER_MEMBERS = ('type', 'rx-vlan-id', 'tx-vlan-id')


def plug_local(ifname, record, ports_dir):
    """All privileged work of a plug: the bridge (marked as the port's),
    then the port file."""
    netdev.ensure_bridge(ifname, owner=record['id'])
    portfiles.PortFiles(ports_dir).save(record)


def unplug_local(ifname, port_id, ports_dir, tap=None):
    """All privileged work of an unplug: port file, bridge, and the tap the
    2014 driver enslaved to it (if tap names one on this bridge)."""
    portfiles.PortFiles(ports_dir).remove(port_id)
    bridge = netdev.link_state(ifname)
    old_tap = netdev.link_state(tap) if tap and bridge else None
    netdev.delete_link(ifname, owner=port_id)
    if old_tap and old_tap.kind == 'tun' and old_tap.master == bridge.index:
        netdev.delete_link(tap, kinds=('tun',))


class LocalOps(object):
    """The privileged part, run in this process (root, or tests)."""
    plug = staticmethod(plug_local)
    unplug = staticmethod(unplug_local)


def _directory(path):
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        raise ValueError('ports directory is not a normalized absolute '
                         'path: %r' % (path,))
    return path


def _check_types(record):
    if not isinstance(record, dict):
        raise ValueError('the port record is not a JSON object')
    port_id = record.get('id')
    size = len(json.dumps(record))    # first: the messages below quote values
    if size > MAX_RECORD:
        raise InvalidPort(port_id, 'record of %d bytes (at most %d)'
                          % (size, MAX_RECORD))
    for key in _STRING_MEMBERS:
        value = record.get(key)
        if value is not None and not isinstance(value, compat.string_types):
            raise InvalidPort(port_id, '%s is not a string: %r' % (key, value))
    for key in _INTEGER_MEMBERS:
        value = record.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidPort(port_id, '%s is not an integer: %r'
                              % (key, value))


def plug(ifname, record, ports_dir):
    """Bridge and port file of the port record (a dict), if it is valid."""
    ifname = names.check_port_bridge(ifname)
    _check_types(record)
    port = Port.from_record(record)
    if port.ifname != ifname:
        raise InvalidPort(port.port_id, 'its bridge is %s, not %s'
                          % (port.ifname, ifname))
    plug_local(port.ifname, port.to_record(), _directory(ports_dir))


def unplug(ifname, port_id, ports_dir, tap=None):
    unplug_local(names.check_port_bridge(ifname), parse_uuid(port_id),
                 _directory(ports_dir),
                 names.check_port_tap(tap) if tap else None)


def _read_record(stdin):
    """The JSON record on stdin, at most MAX_RECORD bytes."""
    text = stdin.read(MAX_RECORD + 1)
    if len(text) > MAX_RECORD:
        raise ValueError('port record on stdin is over %d bytes' % MAX_RECORD)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError('no JSON port record on stdin (%s)' % exc)
    except RuntimeError:    # RecursionError (Python 3), 2.7's RuntimeError
        raise ValueError('no JSON port record on stdin (nested too deeply)')


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description='Set up or tear down the bridge and the port '
        'file of one LXC port on Contrail (run as root by nova-compute '
        'through rootwrap).')
    sub = parser.add_subparsers(dest='command')
    plug_cmd = sub.add_parser('plug', help='create the bridge of the port '
                              'record read from stdin, save its port file')
    unplug_cmd = sub.add_parser('unplug', help='remove the port file and '
                                'the bridge (and a 2014-era tap on it)')
    for command in (plug_cmd, unplug_cmd):
        command.add_argument('ports_dir')
        command.add_argument('bridge')
    unplug_cmd.add_argument('port_id')
    unplug_cmd.add_argument('tap', nargs='?')
    return parser


def main(argv=None, stdin=None):
    """contrail-bridge-helper; 0 on success, 1 (message on stderr) if not."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:      # Python 3 leaves subcommands optional
        parser.error('a command is required (plug or unplug)')
    try:
        if args.command == 'plug':
            plug(args.bridge, _read_record(stdin or sys.stdin),
                 args.ports_dir)
        else:
            unplug(args.bridge, args.port_id, args.ports_dir, args.tap)
    except (ValueError, ContrailBridgeError, EnvironmentError,
            netlink.NetlinkError) as exc:
        print('%s: %s failed: %s' % (PROG, args.command, exc),
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
