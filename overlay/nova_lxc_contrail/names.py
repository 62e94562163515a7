"""Device names of a port, within the kernel's IFNAMSIZ.

nova names a port's host device ``tap`` + the first 11 characters of the port
id (``NIC_NAME_LEN`` = 14). The bridge of an LXC port takes the same suffix:
``br`` + devname[3:] (13 characters), the 2014 driver's scheme. Bridge names
collide exactly when nova's own device names collide, so the scheme adds no
collision of its own, and it keeps bridges made by the 2014 driver
recognisable on upgraded hosts.
"""
import re

from nova_lxc_contrail.compat import string_types

IFNAMSIZ = 16                 # including the terminating NUL
MAX_IFNAME_LEN = IFNAMSIZ - 1
NIC_NAME_LEN = 14             # nova.network.model.NIC_NAME_LEN
TAP_PREFIX = 'tap'
BRIDGE_PREFIX = 'br'

# What dev_valid_name() accepts, restricted to printable ASCII.
_IFNAME = re.compile(r'^[A-Za-z0-9_.+@-]{1,%d}\Z' % MAX_IFNAME_LEN)
# The devices of a port as nova names them: 11 characters of a port UUID
# after the prefix. The privileged half touches no device of another name
# (the icehouse rootwrap filter requires the same forms).
_PORT_BRIDGE = re.compile(r'^br[0-9a-f-]{11}\Z')
_PORT_TAP = re.compile(r'^(tap|nic)[0-9a-f-]{11}\Z')


def tap_name(port_id):
    """nova's device name of a port (``tap`` + 11 characters)."""
    return (TAP_PREFIX + port_id)[:NIC_NAME_LEN]


def bridge_name(port_id=None, devname=None):
    """The port's bridge: ``br`` + devname[3:]; devname defaults to nova's."""
    dev = devname or tap_name(port_id)
    return check_ifname(BRIDGE_PREFIX + dev[len(TAP_PREFIX):])


def check_ifname(name):
    """Return name if the kernel accepts it as a device name, else raise."""
    if not isinstance(name, string_types) or not _IFNAME.match(name) or \
            name in ('.', '..'):
        raise ValueError('not a usable device name (1-%d characters of '
                         '[A-Za-z0-9_.+@-]): %r' % (MAX_IFNAME_LEN, name))
    return str(name)


def check_port_bridge(name):
    """Return name if it has the form of a port's bridge (br + 11
    characters of a port UUID), else raise ValueError."""
    if not isinstance(name, string_types) or not _PORT_BRIDGE.match(name):
        raise ValueError('not the name of a port bridge (br + 11 of '
                         '[0-9a-f-]): %r' % (name,))
    return str(name)


def check_port_tap(name):
    """Return name if it has the form of nova's device of a port (tap or
    nic + 11 characters of a port UUID), else raise ValueError."""
    if not isinstance(name, string_types) or not _PORT_TAP.match(name):
        raise ValueError('not the name of a port device (tap/nic + 11 of '
                         '[0-9a-f-]): %r' % (name,))
    return str(name)
