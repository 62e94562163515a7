"""The shipped nova.conf snippets (etc/<series>/nova-contrail-bridge.conf)
say what the code does: every option of the driver with its default, in
the group each adapter reads, and the names setup.cfg registers."""
from __future__ import absolute_import

import io
import os
import re

import pytest

from nova_lxc_contrail import config

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

pytestmark = pytest.mark.py27


def read(*path):
    with io.open(os.path.join(TOP, *path), encoding='utf-8') as f:
        return f.read()


def sections(text):
    """{section: {option: (value, commented)}} of an ini file's lines."""
    found, current = {}, None
    for line in text.splitlines():
        header = re.match(r'^\[(\S+)\]$', line)
        option = re.match(r'^(#?)(\w+) = (.*)$', line)
        if header:
            current = found.setdefault(header.group(1), {})
        elif option and current is not None:
            current[option.group(2)] = (option.group(3),
                                        bool(option.group(1)))
    return found


def entry_point(namespace):
    block = re.search(r'^%s =\n((?:    .*\n)+)' % re.escape(namespace),
                      read('setup.cfg'), re.M).group(1)
    return dict(line.strip().split(' = ') for line in block.splitlines())


@pytest.mark.parametrize('series, group', [
    ('icehouse', config.GROUP),
    ('bookworm', 'os_vif_' + list(entry_point('os_vif'))[0]),
])
def test_snippet_lists_every_option_with_its_default(series, group):
    snippet = sections(read('etc', series, 'nova-contrail-bridge.conf'))
    assert snippet['libvirt']['virt_type'] == ('lxc', False)
    expected = dict((opt.name, (str(opt.default), True))
                    for opt in config.OPTS)
    assert snippet[group] == expected


def test_icehouse_snippet_names_the_registered_driver():
    snippet = sections(read('etc', 'icehouse', 'nova-contrail-bridge.conf'))
    name = snippet['libvirt']['vif_driver'][0]
    assert entry_point('nova.virt.libvirt.vif_drivers')[name] == \
        'nova_lxc_contrail.icehouse:ContrailBridgeVIFDriver'
    assert entry_point('os_vif') == {
        'contrail_bridge': 'nova_lxc_contrail.osvif:ContrailBridgePlugin'}


def test_icehouse_filter_pins_the_default_ports_dir():
    ports_dir = dict((o.name, o.default) for o in config.OPTS)['ports_dir']
    lines = [line for line in read('etc', 'icehouse', 'rootwrap.d',
                                   'contrail-bridge.filters').splitlines()
             if line.startswith('contrail-bridge-')]
    assert len(lines) == 3
    assert all(', %s\\Z, ' % ports_dir in line for line in lines)
