import pytest

from nova_lxc_contrail import config
from nova_lxc_contrail.compat import cfg

pytestmark = pytest.mark.py27


def test_defaults_are_the_agents():
    fresh = cfg.ConfigOpts()
    group = config.register_opts(fresh)
    fresh([])
    assert group.agent_protocol == 'auto'
    assert (group.agent_host, group.agent_thrift_port,
            group.agent_rest_port) == ('127.0.0.1', 9090, 9091)
    assert group.ports_dir == '/var/lib/contrail/ports'


def test_list_opts_names_the_drivers_group():
    [(group, opts)] = config.list_opts()
    assert group == 'contrail_bridge'
    assert set(o.name for o in opts) == set(o.name for o in config.OPTS)
    assert opts[0] is not config.OPTS[0]     # copies, as the generator wants


def test_unknown_protocol_is_refused(tmp_path):
    ini = tmp_path / 'nova.conf'
    ini.write_text(u'[contrail_bridge]\nagent_protocol = carrier-pigeon\n')
    fresh = cfg.ConfigOpts()
    group = config.register_opts(fresh)
    fresh(['--config-file', str(ini)])
    with pytest.raises((ValueError, cfg.ConfigFileValueError)):
        group.agent_protocol


def test_options_read_from_a_file(tmp_path):
    ini = tmp_path / 'nova.conf'
    ini.write_text(u'[contrail_bridge]\nagent_protocol = rest\n'
                   u'agent_rest_port = 19091\nports_dir = /srv/ports\n')
    fresh = cfg.ConfigOpts()
    group = config.register_opts(fresh)
    fresh(['--config-file', str(ini)])
    assert (group.agent_protocol, group.agent_rest_port, group.ports_dir) \
        == ('rest', 19091, '/srv/ports')
