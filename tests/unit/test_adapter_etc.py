"""The shipped nova.conf snippets say what the code does: every option of
the driver with its default, in the group each adapter reads, and the names
setup.cfg registers. Their option sections are oslo-config-generator's
sample through the entry points (debian/nova-conf-snippet): bookworm's is
generated at package build, icehouse's is committed
(etc/icehouse/nova-contrail-bridge.conf) and must equal a fresh one."""
from __future__ import absolute_import

import io
import os
import re
import subprocess
import sys

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


# The oslo.config.opts namespace of each series' snippet.
NAMESPACES = {'icehouse': 'nova_lxc_contrail',
              'bookworm': 'nova_lxc_contrail.os_vif',
              'trixie': 'nova_lxc_contrail.os_vif'}


def generated(series, tmp_path):
    """The snippet debian/nova-conf-snippet makes of the series' template,
    the entry points being setup.cfg's (as pbr installs them)."""
    if sys.version_info[0] == 2:
        pytest.skip('oslo-config-generator runs on Python 3 (the bookworm '
                    'package build); the 2.7 run checks the committed file')
    site = tmp_path / 'site'
    info = site / 'nova_lxc_contrail-0.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(
        u'Metadata-Version: 2.1\nName: nova-lxc-contrail\nVersion: 0\n')
    (info / 'entry_points.txt').write_text(u'[oslo.config.opts]\n' + u''.join(
        u'%s = %s\n' % item
        for item in sorted(entry_point('oslo.config.opts').items())))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / 'cache'),
               PYTHONPATH=os.pathsep.join([str(site),
                                           os.path.join(TOP, 'overlay')]))
    return subprocess.check_output(
        ['/usr/bin/python3', os.path.join(TOP, 'debian', 'nova-conf-snippet'),
         os.path.join(TOP, 'etc', 'nova-contrail-bridge.%s.conf.in' % series),
         NAMESPACES[series]], env=env, cwd=str(tmp_path)).decode('utf-8')


def snippet_text(series, tmp_path):
    """What the series' package installs as /etc/nova/nova-contrail-bridge.conf."""
    if series == 'icehouse':
        return read('etc', 'icehouse', 'nova-contrail-bridge.conf')
    return generated(series, tmp_path)


def test_icehouse_snippet_is_the_generated_one(tmp_path):
    """A change of the options without the committed snippet fails here:
    regenerate it as debian/nova-conf-snippet says."""
    assert generated('icehouse', tmp_path) == \
        read('etc', 'icehouse', 'nova-contrail-bridge.conf')


@pytest.mark.parametrize('series, group', [
    ('icehouse', config.GROUP),
    ('bookworm', 'os_vif_' + list(entry_point('os_vif'))[0]),
    ('trixie', 'os_vif_' + list(entry_point('os_vif'))[0]),
])
def test_snippet_lists_every_option_with_its_default(series, group,
                                                     tmp_path):
    snippet = sections(snippet_text(series, tmp_path))
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
