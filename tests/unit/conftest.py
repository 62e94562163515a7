"""Fixtures of the driver core's unit tests (no root, Python 2.7 and 3)."""
from __future__ import absolute_import

import pytest

from nova_lxc_contrail import config
from nova_lxc_contrail import netdev
from nova_lxc_contrail.compat import cfg
from nova_lxc_contrail.port import Port
from tests.agent_double import AgentDouble
from tests.agent_double.samples import port_data


@pytest.fixture
def make_port():
    return lambda **overrides: Port(**port_data(**overrides))


@pytest.fixture
def double(tmp_path):
    """An agent double on ephemeral ports, audit after 0.3 s."""
    agent = AgentDouble(audit_timeout=0.3).start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def conf(tmp_path):
    """A ConfigOpts with the driver's options; ports dir in tmp_path."""
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf([], project='nova-lxc-contrail')
    conf.set_override('ports_dir', str(tmp_path / 'ports'), config.GROUP)
    conf.set_override('agent_timeout', 10.0, config.GROUP)
    return conf


@pytest.fixture
def kernel(monkeypatch):
    """Records the netlink calls (which need CAP_NET_ADMIN) instead of
    making them: [('ensure'|'delete', device name), ...]."""
    calls = []
    monkeypatch.setattr(netdev, 'ensure_bridge',
                        lambda name, owner=None: calls.append(('ensure', name)))
    monkeypatch.setattr(netdev, 'link_state', lambda name: None)
    monkeypatch.setattr(netdev, 'delete_link',
                        lambda name, kinds=('bridge',), owner=None:
                        calls.append(('delete', name)))
    return calls
