"""The plugin's privsep daemon starts when os-vif loads the plugin in a
configured service (nova-compute), in the background: the first plug finds
it running instead of paying sudo, rootwrap and the daemon's imports
(seconds of the first spawn). Real processes: a python3 that parses a
configuration and loads the plugin as os_vif.initialize() does, in a
network namespace of its own (unshare -n), starting the real privsep-helper
as root (the test's helper_command, without sudo/rootwrap)."""
from __future__ import absolute_import

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip('oslo_privsep')
pytest.importorskip('os_vif')

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
OVERLAY = os.path.join(TOP, 'overlay')
HELPER = '/usr/bin/privsep-helper'
CAP_NET_ADMIN = 1 << 12

PROBE = textwrap.dedent('''
    import json, os, sys, time
    from oslo_config import cfg
    conf, wait = sys.argv[1], float(sys.argv[2])
    if conf:
        cfg.CONF([], project='nova', default_config_files=[conf])
    from nova_lxc_contrail import osvif, privsep
    t0 = time.monotonic()
    plugin = osvif.ContrailBridgePlugin.load(privsep.PLUGIN_NAME)
    loaded = time.monotonic() - t0
    channel_at_load = privsep.vif_plug.channel is not None
    up = None
    while True:
        if privsep.vif_plug.channel is not None:
            up = time.monotonic() - t0
            break
        if time.monotonic() - t0 > wait:
            break
        time.sleep(0.01)
    # the daemon detaches from us: found by its command in our namespace
    netns = os.readlink('/proc/self/ns/net')
    daemons = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\\0')
            if (b'nova_lxc_contrail.privsep.vif_plug' not in argv
                    or os.readlink('/proc/%s/ns/net' % pid) != netns
                    or not any(a.endswith(b'privsep-helper') for a in argv)):
                continue
            with open('/proc/%s/status' % pid) as f:
                caps = [l.split()[1] for l in f if l.startswith('CapEff')]
        except OSError:
            continue
        daemons.append({'pid': pid, 'caps': int(caps[0], 16)})
    # the first unplug (nothing to remove: an empty namespace) uses it
    if up is not None:
        port_id = '0e2e0099-0000-4000-8000-000000000099'
        privsep.unplug('br' + port_id[:11], port_id,
                       cfg.CONF[privsep.GROUP].ports_dir)
        privsep.vif_plug.stop()
    print(json.dumps({'loaded': loaded, 'up': up, 'daemons': daemons,
                      'channel_at_load': channel_at_load}))
''')


def probe(tmp_path, configured=True, wait=60):
    conf = ''
    os.mkdir(str(tmp_path / 'ports'))
    if configured:
        conf = str(tmp_path / 'nova.conf')
        with open(conf, 'w') as f:
            f.write('[os_vif_contrail_bridge]\nports_dir = %s\n\n'
                    '[contrail_bridge_privileged]\nhelper_command = env '
                    'PYTHONPATH=%s %s --config-file %s --privsep_context '
                    'nova_lxc_contrail.privsep.vif_plug\n'
                    % (tmp_path / 'ports', OVERLAY, HELPER, conf))
    res = subprocess.run(
        ['unshare', '--net', sys.executable, '-c', PROBE, conf, str(wait)],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=OVERLAY))
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.splitlines()[-1])


@pytest.mark.root
def test_loading_the_plugin_starts_the_daemon_in_the_background(tmp_path):
    if not os.path.exists(HELPER):
        pytest.skip('SKIPPED: %s (python3-oslo.privsep) is not installed'
                    % HELPER)
    found = probe(tmp_path)
    assert found['up'] is not None, found        # started, with no plug yet
    assert not found['channel_at_load']          # load did not wait for it
    caps = [d['caps'] for d in found['daemons']]
    assert caps == [CAP_NET_ADMIN], found


@pytest.mark.root
def test_no_daemon_without_a_configuration(tmp_path):
    """A process that only loads the plugin (no service: no configuration
    files for the daemon to read) starts nothing."""
    if not os.path.exists(HELPER):
        pytest.skip('SKIPPED: %s (python3-oslo.privsep) is not installed'
                    % HELPER)
    found = probe(tmp_path, configured=False, wait=2)
    assert found['up'] is None and found['daemons'] == [], found
