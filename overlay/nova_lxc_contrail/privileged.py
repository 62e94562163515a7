"""The privileged half of a plug and of an unplug, with its input checked.

Both adapters run it with more rights than nova-compute has, on data
nova-compute sends: the privsep daemon (bookworm, ``privsep.py``) and the
command ``contrail-bridge-helper`` that nova's rootwrap starts (icehouse,
``main``). So nothing is taken on trust: device names, the port id and the
record as a complete port of that bridge are checked, and only the
validated port is written, as ``<port uuid>`` in the ports directory.

    contrail-bridge-helper plug PORTS_DIR BRIDGE   < port record (JSON)
    contrail-bridge-helper unplug PORTS_DIR BRIDGE PORT_ID [TAP]

One run does all privileged work of one plug or unplug (a rootwrap start
costs about half a second). Python 2.7 and 3.
"""
from __future__ import absolute_import
from __future__ import print_function

import argparse
import json
import os
import sys

from nova_lxc_contrail import bridge
from nova_lxc_contrail import compat
from nova_lxc_contrail import names
from nova_lxc_contrail.exception import ContrailBridgeError
from nova_lxc_contrail.exception import InvalidPort
from nova_lxc_contrail.port import parse_uuid
from nova_lxc_contrail.port import Port

PROG = 'contrail-bridge-helper'


def _directory(path):
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        raise ValueError('ports directory is not a normalized absolute '
                         'path: %r' % (path,))
    return path


def plug(ifname, record, ports_dir):
    """Bridge and port file of the port record (a dict), if it is valid."""
    port = Port.from_record(record)
    if port.ifname != names.check_ifname(ifname):
        raise InvalidPort(port.port_id, 'its bridge is %s, not %s'
                          % (port.ifname, ifname))
    bridge.plug_local(port.ifname, port.to_record(), _directory(ports_dir))


def unplug(ifname, port_id, ports_dir, tap=None):
    bridge.unplug_local(names.check_ifname(ifname), parse_uuid(port_id),
                        _directory(ports_dir),
                        names.check_ifname(tap) if tap else None)


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
            try:
                record = json.loads((stdin or sys.stdin).read())
            except ValueError as exc:
                raise ValueError('no JSON port record on stdin (%s)' % exc)
            plug(args.bridge, record, args.ports_dir)
        else:
            unplug(args.bridge, args.port_id, args.ports_dir, args.tap)
    except (ValueError, ContrailBridgeError, EnvironmentError,
            compat.NetlinkError) as exc:
        print('%s: %s failed: %s' % (PROG, args.command, exc),
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
