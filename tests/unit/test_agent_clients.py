"""The agent clients against the double: wire format, outages, restore."""
import os
import socket
import sys
import time

import pytest

from nova_lxc_contrail import agent
from nova_lxc_contrail.agent.library import LibraryClient
from nova_lxc_contrail.agent.rest import RestClient
from nova_lxc_contrail.agent.thrift import ThriftClient
from nova_lxc_contrail.config import GROUP
from nova_lxc_contrail.exception import AgentRejected
from nova_lxc_contrail.port import Port
from nova_lxc_contrail.portfiles import PortFiles
from tests.agent_double import AgentDouble

pytestmark = pytest.mark.py27

PROTOCOLS = ('thrift', 'rest')
STANDIN = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                       'agent_double', 'standin')


class Persisted(object):
    """What the driver hands a client: the ports of the port files."""

    def __init__(self, directory):
        self.files = PortFiles(directory)

    def __call__(self, limit=None):
        ports = [Port.from_record(r) for r in self.files.load_all()]
        return ports[:limit] if limit else ports

    def save(self, port):
        self.files.save(port.to_record())
        return port


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    try:
        return sock.getsockname()[1]
    finally:
        sock.close()


def client_for(protocol, double, persisted):
    if protocol == 'thrift':
        return ThriftClient('127.0.0.1', double.thrift_port, 10.0, persisted)
    return RestClient('127.0.0.1', double.rest_port, 10.0, persisted)


@pytest.fixture
def persisted(tmp_path):
    return Persisted(str(tmp_path / 'ports'))


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_add_and_delete(protocol, double, persisted, make_port):
    client = client_for(protocol, double, persisted)
    port = persisted.save(make_port(ips=['192.0.2.7', '2001:db8::7'],
                                    display_name=u'caf\xe9'))
    assert client.add_port(port) is True
    held = double.port(port.port_id)
    for key, value in port.to_record().items():
        if key in held and key not in ('vm-project-id',):
            assert held[key] == value, key
    assert held['vm-project-id'] == port.project_id
    assert double.count('add', port.port_id, via=protocol) == 1
    assert client.delete_port(port.port_id) is True
    assert double.ports() == {}
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_thrift_connects_with_connect(protocol, double, persisted, make_port):
    client = client_for(protocol, double, persisted)
    client.add_port(persisted.save(make_port()))
    # thrift opens with Connect(), REST (no session) restores with POST
    # /syncports: each bumps the agent's version and arms its audit.
    assert double.table._version == 1
    assert double.count('sync', via=protocol) == 1
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_agent_down_then_back_gets_the_port_once(protocol, double, persisted,
                                                 make_port):
    client = client_for(protocol, double, persisted)
    early = persisted.save(make_port())
    assert client.add_port(early) is True
    double.stop()
    late = persisted.save(make_port())
    assert client.add_port(late) is False            # pending, no error
    assert client.check() is False
    double.start()                                   # restarted: empty
    assert client.check() is True
    assert sorted(double.ports()) == sorted([early.port_id, late.port_id])
    assert double.count('add', late.port_id) == 1
    assert double.count('add', early.port_id) == 2   # before and after
    assert client.check() is True                    # nothing more to send
    assert double.count('add') == 3
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_restart_between_checks_is_noticed(protocol, double, persisted,
                                           make_port):
    client = client_for(protocol, double, persisted)
    port = persisted.save(make_port())
    client.add_port(port)
    double.restart()
    assert double.ports() == {}
    assert client.check() is True
    assert list(double.ports()) == [port.port_id]
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_delete_while_down_is_delivered(protocol, double, persisted,
                                        make_port):
    client = client_for(protocol, double, persisted)
    port = persisted.save(make_port())
    client.add_port(port)
    thrift_port, rest_port = double.thrift_port, double.rest_port
    # The agent is unreachable but keeps its table (e.g. hung, then back).
    double._thrift.stop()
    double._rest.stop()
    persisted.files.remove(port.port_id)
    assert client.delete_port(port.port_id) is False
    assert port.port_id in double.ports()
    double._thrift = double._rest = None
    double.thrift_port, double.rest_port = thrift_port, rest_port
    held = double.table.snapshot()
    double.start()
    for record in held.values():                     # same table as before
        double.table.add(record, 'kept')
    assert client.check() is True
    assert double.ports() == {}
    client.close()


@pytest.mark.parametrize('syncports', [False, True])
def test_rest_agent_that_reloaded_our_files(tmp_path, make_port, syncports):
    """Without /syncports the reloaded port is not sent again; with it,
    it is (after the sync the agent's audit spares only ports sent again)."""
    shared = str(tmp_path / 'ports')
    persisted = Persisted(shared)
    double = AgentDouble(ports_dir=shared, syncports=syncports).start()
    try:
        client = RestClient('127.0.0.1', double.rest_port, 10.0, persisted)
        port = persisted.save(make_port(ifname='lo'))
        client.add_port(port)
        double.restart()                 # reloads the port file itself
        assert double.count('add', port.port_id, via='file') == 1
        assert client.check() is True
        assert double.count('add', port.port_id, via='rest') == \
            (2 if syncports else 1)
        client.close()
    finally:
        double.stop()


def test_rest_requests_share_one_connection(double, persisted, make_port):
    client = client_for('rest', double, persisted)
    ports = [persisted.save(make_port()) for _ in range(5)]
    for port in ports:
        assert client.add_port(port) is True
    finish = client.begin_add(persisted.save(make_port()))
    assert finish() is True
    persisted.files.remove(ports[0].port_id)       # as the driver unplugs
    assert client.delete_port(ports[0].port_id) is True
    assert client.check() is True
    assert len(double.ports()) == 5
    assert double.rest_connections() == 1
    client.close()


def test_rest_connection_closed_by_the_agent_is_replaced(persisted,
                                                         make_port):
    # an agent without /syncports: a restore sends only what it lacks
    with AgentDouble(syncports=False) as double:
        connection_closed_by_the_agent_is_replaced(double, persisted,
                                                   make_port)


def connection_closed_by_the_agent_is_replaced(double, persisted, make_port):
    client = client_for('rest', double, persisted)
    early = persisted.save(make_port())
    assert client.add_port(early) is True
    double.drop_rest_connections()        # the agent keeps its table
    late = persisted.save(make_port())
    assert client.add_port(late) is True
    persisted.files.remove(early.port_id)
    assert client.delete_port(early.port_id) is True
    assert list(double.ports()) == [late.port_id]
    # The new connection's restore asked for what the agent holds and sent
    # nothing twice.
    assert double.count('add', early.port_id) == 1
    assert double.count('add', late.port_id) == 1
    assert double.rest_connections() == 2
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_refused_port_raises_and_others_still_register(protocol, double,
                                                       persisted, make_port):
    client = client_for(protocol, double, persisted)
    bad = make_port()
    bad.ip_address, bad.mac = 'bogus', 'bogus'
    with pytest.raises(AgentRejected) as info:
        client.add_port(bad)
    assert bad.port_id in info.value.port_ids
    good = make_port()
    with pytest.raises(AgentRejected):
        client._add([bad, good])
    assert good.port_id in double.ports()
    client.close()


@pytest.mark.parametrize('rest_up', [True, False])
def test_auto_takes_whichever_answers(rest_up, double, persisted, conf,
                                      make_port):
    rest_port = double.rest_port if rest_up else free_port()
    for name, value in (('agent_protocol', 'auto'),
                        ('agent_thrift_port', double.thrift_port),
                        ('agent_rest_port', rest_port)):
        conf.set_override(name, value, GROUP)
    client = agent.make_client(getattr(conf, GROUP), persisted)
    port = persisted.save(make_port())
    assert client.add_port(port) is True
    assert client.protocol == 'auto/' + ('rest' if rest_up else 'thrift')
    assert double.count('add', port.port_id,
                        via='rest' if rest_up else 'thrift') == 1
    # Once chosen, the protocol's early send is the client's.
    early = persisted.save(make_port())
    finish = client.begin_add(early)
    assert finish is not None
    assert double.wait_for(lambda: early.port_id in double.ports())
    assert finish() is True
    assert double.count('add', early.port_id) == 1
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_begin_add_sends_before_the_answer_is_read(protocol, double,
                                                   persisted, make_port):
    client = client_for(protocol, double, persisted)
    assert client.begin_add(make_port()) is None     # not connected yet
    assert client.check() is True
    port = make_port()
    finish = client.begin_add(port)
    assert finish is not None
    # The agent holds the port while its answer is still unread.
    assert double.wait_for(lambda: port.port_id in double.ports())
    other = make_port()
    assert client.begin_add(other) is None           # busy: caller waits
    assert finish() is True
    assert client.add_port(other) is True            # the client is free
    assert client.check() is True
    assert double.count('add', port.port_id) == 1
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_begin_add_refused_raises_in_finish(protocol, double, persisted,
                                            make_port):
    client = client_for(protocol, double, persisted)
    assert client.check() is True
    bad = make_port()
    bad.ip_address, bad.mac = 'bogus', 'bogus'
    finish = client.begin_add(bad)
    with pytest.raises(AgentRejected) as info:
        finish()
    assert info.value.port_ids == frozenset([bad.port_id])
    assert client.add_port(persisted.save(make_port())) is True
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_begin_add_agent_restarting_before_the_answer(protocol, double,
                                                      persisted, make_port):
    client = client_for(protocol, double, persisted)
    assert client.check() is True
    port = make_port()
    finish = client.begin_add(port)
    persisted.save(port)                  # the caller's local work
    double.restart()                      # table gone, connections cut
    # Either the answer was already on its way (the next check restores)
    # or it is lost and finish() registers again on a new connection.
    assert finish() is True
    assert client.check() is True
    assert list(double.ports()) == [port.port_id]
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_begin_add_agent_down_defers(protocol, double, persisted, make_port):
    client = client_for(protocol, double, persisted)
    assert client.check() is True
    double.stop()
    port = make_port()
    finish = client.begin_add(port)   # REST: refused at once; thrift: on
    persisted.save(port)              # the send or when reading the answer
    result = finish() if finish is not None else client.add_port(port)
    assert result is False            # pending
    double.start()
    assert client.check() is True
    assert list(double.ports()) == [port.port_id]
    client.close()


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_our_vm_ports_survive_the_audit_after_a_reconnect(
        protocol, double, persisted, make_port):
    """thrift: Connect() on the new connection, then every port at once;
    REST: /syncports, then every port. The agent's audit (0.3 s here, 60 s
    in the agent) then removes only what nobody sent again."""
    client = client_for(protocol, double, persisted)
    ours = [persisted.save(make_port()) for _ in range(3)]
    for port in ours:
        assert client.add_port(port) is True
    foreign = make_port()                       # a leftover, not ours
    double.table.add(foreign.to_record(), 'other')
    syncs = double.count('sync')
    if protocol == 'thrift':
        double.drop_thrift_connections()
    else:
        double.drop_rest_connections()
    assert client.check() is True               # reconnected and restored
    assert double.count('sync') == syncs + 1
    assert double.wait_for(lambda: foreign.port_id not in double.ports(),
                           timeout=5)
    time.sleep(2 * double.table.audit_timeout)
    held = double.ports()
    assert sorted(held) == sorted(p.port_id for p in ours)
    assert all(record['type'] == 0 for record in held.values())
    assert double.count('audit') == 1
    client.close()


def test_rest_agent_without_syncports_is_asked_once(persisted, make_port):
    with AgentDouble(audit_timeout=0.3, syncports=False) as double:
        client = client_for('rest', double, persisted)
        port = persisted.save(make_port())
        assert client.add_port(port) is True
        for _ in range(2):
            double.drop_rest_connections()
            assert client.check() is True
        syncs = [r for r in double.rest_requests() if r[1] == '/syncports']
        assert syncs == [('POST', '/syncports', 404)]
        assert list(double.ports()) == [port.port_id]
        client.close()


def test_library_client_passes_the_port_type(double, make_port,
                                             monkeypatch):
    """The library (R2.0+) registers a NameSpacePort when port_type is
    omitted: the client names the type, whatever the library's default."""
    monkeypatch.syspath_prepend(STANDIN)
    monkeypatch.setattr(sys, 'modules', dict(sys.modules))  # import undone
    from contrail_vrouter_api.vrouter_api import ContrailVRouterApi
    api = ContrailVRouterApi(server_port=double.thrift_port, doconnect=True)
    client = LibraryClient(api=api)
    vm, ns = make_port(), make_port(port_type=1)
    assert client.add_port(vm) is True and client.add_port(ns) is True
    assert double.port(vm.port_id)['type'] == 0
    assert double.port(ns.port_id)['type'] == 1
    assert client.delete_port(vm.port_id) is True
    assert list(double.ports()) == [ns.port_id]
