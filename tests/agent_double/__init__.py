"""A double of the Contrail vrouter agent for tests: thrift (InstanceService)
and REST (port API, with ``POST /syncports`` unless syncports=False) over
real sockets on 127.0.0.1, with the agent's validation and table semantics
(table.py), port files reloaded at start, stoppable and restartable on the
same port numbers, and the agent's view of port state: a port is active
when it has its VM's config (a VM port has; a NameSpacePort only when the
test links it, as svc-monitor would) and its device is UP and RUNNING.

    double = AgentDouble(ports_dir=..., netns='ns1').start()
    ...  double.ports(), double.count('add', port_id), double.is_active(port_id)
    double.state(port_id)   # {'active': False, 'reasons': ['vn-null', ...]}
    double.link(port_id)    # config for a NameSpacePort
    double.stop(); double.start()     # agent restart, same ports
"""
from __future__ import absolute_import

import json
import os
import sys
import time

try:
    import nova_lxc_contrail  # noqa: F401  (the IDL stubs live there)
except ImportError:   # run from a checkout: python3 -m tests.agent_double
    sys.path.append(os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), 'overlay'))

from . import checks  # noqa: E402
from . import servers  # noqa: E402
from .table import activity  # noqa: E402
from .table import PortTable  # noqa: E402

try:
    from pyroute2 import IPRoute, NetNS
except ImportError:  # state queries need pyroute2; the rest does not
    IPRoute = NetNS = None


class AgentDouble(object):
    def __init__(self, thrift_port=0, rest_port=0, host='127.0.0.1',
                 ports_dir=None, audit_timeout=60.0, netns=None,
                 syncports=True, introspect_port=None):
        self.host = host
        self.syncports = syncports
        self.introspect_port = introspect_port      # None: not served
        self.thrift_port = thrift_port
        self.rest_port = rest_port
        self.ports_dir = ports_dir
        self.netns = netns
        self.table = PortTable(audit_timeout)
        self._thrift = self._rest = self._introspect = None

    # -- life cycle -----------------------------------------------------
    @property
    def running(self):
        return self._thrift is not None

    def start(self):
        """Start serving; the first start fixes the (ephemeral) ports."""
        if self.running:
            return self
        self._reload()
        self._thrift = servers.ThriftServer(self.table, self.host,
                                            self.thrift_port)
        self.thrift_port = self._thrift.port
        self._rest = servers.RestServer(self.table, self.host, self.rest_port,
                                        self._write_file, self._remove_file,
                                        self.syncports)
        self.rest_port = self._rest.port
        if self.introspect_port is not None:
            self._introspect = servers.IntrospectServer(
                self.state, self.host, self.introspect_port)
            self.introspect_port = self._introspect.port
        return self

    def stop(self):
        """The agent process ends: connections cut, table gone."""
        if self.running:
            self._thrift.stop()
            self._rest.stop()
            if self._introspect is not None:
                self._introspect.stop()
            self._thrift = self._rest = self._introspect = None
            self.table.clear()

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- port files (the REST-era agent's) ---------------------------------
    def _file(self, port_id):
        return os.path.join(self.ports_dir, port_id)

    def _reload(self):
        """Reload every port file whose device exists, as the agent does."""
        if not self.ports_dir or not os.path.isdir(self.ports_dir):
            return
        for name in sorted(os.listdir(self.ports_dir)):
            try:
                with open(self._file(name)) as f:
                    record = checks.rest_port(f.read())
            except (checks.Refused, IOError, OSError):
                continue
            if record['id'] == name and self.link_flags(
                    record['system-name']) is not None:
                self.table.add(record, 'file')

    def _write_file(self, record):
        if self.ports_dir and not os.path.exists(self._file(record['id'])):
            with open(self._file(record['id']), 'w') as f:
                json.dump(record, f)

    def _remove_file(self, port_id):
        if self.ports_dir and os.path.exists(self._file(port_id)):
            os.unlink(self._file(port_id))

    # -- queries -----------------------------------------------------------
    def ports(self):
        """{port id: record} of the ports the agent holds now."""
        return self.table.snapshot()

    def port(self, port_id):
        return self.table.get(port_id)

    def count(self, op, port_id=None, via=None):
        """How many 'add'/'delete'/'audit' events (since creation)."""
        return self.table.count(op, port_id, via)

    def rest_connections(self):
        """TCP connections the REST front end accepted since it started."""
        return self._rest.connections

    def drop_rest_connections(self):
        """Close the REST connections that are open now, keeping the table:
        an agent that ended idle sessions (the real one does not)."""
        self._rest.cut_connections()

    def rest_requests(self):
        """[(method, path, status)] the REST front end answered since it
        started."""
        return list(self._rest.requests)

    def drop_thrift_connections(self):
        """Cut the thrift connections that are open now, keeping the table
        (a connection lost in between; the client reconnects)."""
        self._thrift.cut_connections()

    def subscribe(self, listener):
        self.table.subscribe(listener)

    def link_flags(self, ifname):
        """Kernel flags of ifname in the double's namespace, None if absent."""
        sock = NetNS(self.netns) if self.netns else IPRoute()
        try:
            index = sock.link_lookup(ifname=ifname)
            return sock.get_links(index[0])[0]['flags'] if index else None
        finally:
            sock.close()

    def link(self, port_id, linked=True):
        """Give a NameSpacePort its config (svc-monitor's link of the
        virtual-router to the VM); linked=False takes it back."""
        self.table.link(port_id, linked)

    def state(self, port_id):
        """{'active': bool, 'reasons': [...]} as the agent's introspect
        shows the port (reasons: its Inactive< ... > words); None if the
        agent does not hold the port."""
        record = self.port(port_id)
        if record is None:
            return None
        active, reasons = activity(self.table.configured(port_id),
                                   self.link_flags(record['system-name']))
        return {'active': active, 'reasons': reasons}

    def is_active(self, port_id):
        """The agent's test: the port has config and its device is UP and
        RUNNING (vm_interface.cc IsActive, interface.cc GetOsParams)."""
        state = self.state(port_id)
        return bool(state and state['active'])

    def wait_for(self, predicate, timeout=15.0, interval=0.02):
        """Poll predicate() until true; returns its last value."""
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value or time.time() >= deadline:
                return value
            time.sleep(interval)
