"""Fixtures of the functional tests: real bridges, veths and sockets, each
test inside a network namespace of its own (root only)."""
from __future__ import absolute_import

import os
import sys

import pytest

from bridge_helpers import inside_new_netns
from nova_lxc_contrail import bridge
from nova_lxc_contrail import config
from nova_lxc_contrail.agent import library
from nova_lxc_contrail.compat import cfg
from tests.agent_double import AgentDouble

STANDIN = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                       'agent_double', 'standin')


@pytest.fixture
def netns():
    """Run the test inside a fresh network namespace (needs root)."""
    if os.geteuid() != 0:
        pytest.skip('SKIPPED (needs root): creates network namespaces, '
                    'bridges and veths')
    with inside_new_netns() as name:
        yield name


@pytest.fixture
def double(netns):
    agent = AgentDouble(audit_timeout=0.5, netns=netns).start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def vrouter_api_standin():
    """Make the TEST DOUBLE of contrail_vrouter_api importable (and the
    driver's library module see it) for one test."""
    sys.path.insert(0, STANDIN)
    _reload_library()
    try:
        assert library.available()
        yield
    finally:
        sys.path.remove(STANDIN)
        _reload_library()


def _reload_library():
    for name in [m for m in sys.modules if m.startswith('contrail_vrouter_api')]:
        del sys.modules[name]
    try:
        from importlib import reload
    except ImportError:   # Python 2
        from imp import reload
    reload(library)


@pytest.fixture
def make_driver(double, tmp_path, request):
    """make_driver(protocol) -> a started BridgeDriver talking to double
    (start=False: not started; options: more [contrail_bridge] values)."""
    drivers = []

    def make(protocol, ports_dir=None, start=True, **options):
        if protocol == 'library' and not library.available():
            request.getfixturevalue('vrouter_api_standin')
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], project='nova-lxc-contrail')
        for name, value in (
                ('agent_protocol', protocol),
                ('agent_thrift_port', double.thrift_port),
                ('agent_rest_port', double.rest_port),
                ('agent_timeout', 10.0),
                ('agent_check_interval', 0.05),
                ('ports_dir', ports_dir or str(tmp_path / 'ports'))) + \
                tuple(options.items()):
            conf.set_override(name, value, config.GROUP)
        driver = bridge.BridgeDriver(conf)
        if start:
            driver.start()
        drivers.append(driver)
        return driver

    try:
        yield make
    finally:
        for driver in drivers:
            driver.stop()
