"""TEST DOUBLE of contrail_vrouter_api.vrouter_api (thrift era, R2.0 surface).

Not Contrail's code: a minimal stand-in that speaks thrift to the agent
double with the stubs of nova_lxc_contrail, keeps every added port, and sends
them all again whenever it (re)connects.
"""
from __future__ import absolute_import

import socket
import threading
import uuid

from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket
from thrift.transport import TTransport

from nova_lxc_contrail.agent.instance_service import InstanceService
from nova_lxc_contrail.agent.instance_service import ttypes

PORT_TYPES = {'NovaVMPort': 0, 'NameSpacePort': 1}


def _bl(value):
    return list(bytearray(uuid.UUID(value).bytes))


class ContrailVRouterApi(object):
    def __init__(self, server_port=9090, doconnect=False, semaphore=None):
        self._port = server_port
        self._doconnect = doconnect
        self._semaphore = semaphore or threading.Lock()
        self._client = None
        self._transport = None
        self._ports = {}

    def _connect(self):
        if self._client is not None:
            return self._client
        try:
            sock = TSocket.TSocket()
            sock.setHandle(socket.create_connection(('127.0.0.1', self._port)))
            transport = TTransport.TFramedTransport(sock)
            client = InstanceService.Client(
                TBinaryProtocol.TBinaryProtocol(transport))
            if self._doconnect:
                client.Connect()
            if self._ports:
                client.AddPort(list(self._ports.values()))
        except (TTransport.TTransportException, socket.error):
            return None
        self._client, self._transport = client, transport
        return client

    def _drop(self):
        if self._transport is not None:
            self._transport.close()
        self._client = self._transport = None

    def add_port(self, vm_uuid_str, vif_uuid_str, interface_name,
                 mac_address, **kwargs):
        port = ttypes.Port(
            port_id=_bl(vif_uuid_str), instance_id=_bl(vm_uuid_str),
            tap_name=interface_name,
            ip_address=kwargs.get('ip_address', '0.0.0.0'),
            vn_id=_bl(kwargs['vn_id']) if kwargs.get('vn_id') else [0] * 16,
            mac_address=mac_address,
            display_name=kwargs.get('display_name'),
            hostname=kwargs.get('hostname'), host=kwargs.get('host'),
            vm_project_id=_bl(kwargs['vm_project_id'])
            if kwargs.get('vm_project_id') else None,
            port_type=PORT_TYPES[kwargs.get('port_type', 'NameSpacePort')],
            ip6_address=kwargs.get('ip6_address'))
        with self._semaphore:
            self._ports[vif_uuid_str] = port
            fresh = self._client is None
            client = self._connect()
            if client is None:
                return False
            if fresh:          # the reconnect sent every port already
                return True
            try:
                return client.AddPort([port])
            except (TTransport.TTransportException, socket.error):
                self._drop()
                return False

    def delete_port(self, vif_uuid_str):
        with self._semaphore:
            self._ports.pop(vif_uuid_str, None)
            client = self._connect()
            if client is None:
                return False
            try:
                return client.DeletePort(_bl(vif_uuid_str))
            except (TTransport.TTransportException, socket.error):
                self._drop()
                return False

    def periodic_connection_check(self):
        with self._semaphore:
            client = self._connect()
            if client is None:
                return False
            try:
                return client.KeepAliveCheck()
            except (TTransport.TTransportException, socket.error):
                self._drop()
                return False
