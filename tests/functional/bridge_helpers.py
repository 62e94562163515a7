"""Kernel helpers of the functional tests: a network namespace per test,
device listings, and veths standing in for libvirt-lxc's container end."""
from __future__ import absolute_import

import contextlib
import ctypes
import os
import uuid

from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from nova_lxc_contrail import netdev

CLONE_NEWNET = 0x40000000
PROTOCOLS = ('thrift', 'rest', 'library')
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def inside_new_netns():
    """Create a named netns and move this thread into it (threads it starts
    later are born there too); back home and namespace removed at the end."""
    name = 'nlc-test-%s' % uuid.uuid4().hex[:8]
    pyroute2_netns.create(name)
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    try:
        target = os.open('/run/netns/%s' % name, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            with IPRoute() as ipr:     # 127.0.0.1 for the agent double
                ipr.link('set', index=ipr.link_lookup(ifname='lo')[0],
                         state='up')
            yield name
        finally:
            _setns(home)
    finally:
        os.close(home)
        pyroute2_netns.remove(name)


def links():
    """{name: LinkState-ish dict} of every device in this namespace."""
    with IPRoute() as ipr:
        return dict((l.get_attr('IFLA_IFNAME'), l) for l in ipr.get_links())


@contextlib.contextmanager
def veth_on(bridge_name, peer_up=True):
    """A veth pair, one end on bridge_name (up), the peer up or down: what
    libvirt-lxc does with the container's interface."""
    host, peer = 'vh%s' % uuid.uuid4().hex[:8], 'vp%s' % uuid.uuid4().hex[:8]
    with IPRoute() as ipr:
        ipr.link('add', ifname=host, kind='veth', peer=peer)
        master = ipr.link_lookup(ifname=bridge_name)[0]
        ipr.link('set', index=ipr.link_lookup(ifname=host)[0], master=master,
                 state='up')
        peer_index = ipr.link_lookup(ifname=peer)[0]
        if peer_up:
            ipr.link('set', index=peer_index, state='up')
    try:
        yield peer
    finally:
        netdev.delete_link(host, kinds=('veth',))
