"""The committed thrift stubs: current, and faithful to the agent's IDL."""
import os
import re
import subprocess

import pytest
from thrift.Thrift import TType

from nova_lxc_contrail.agent import instance_service
from nova_lxc_contrail.agent.instance_service import InstanceService
from nova_lxc_contrail.agent.instance_service import ttypes

pytestmark = pytest.mark.py27

STUBS = os.path.dirname(instance_service.__file__)
IDL = os.path.join(os.path.dirname(STUBS), 'instance_service.thrift')
FILES = ('__init__.py', 'constants.py', 'ttypes.py', 'InstanceService.py')

# Port as the agent declares it (contrail-controller instance_service.thrift,
# R1.30: fields 1-13).
AGENT_PORT = [
    (1, TType.LIST, 'port_id'), (2, TType.LIST, 'instance_id'),
    (3, TType.STRING, 'tap_name'), (4, TType.STRING, 'ip_address'),
    (5, TType.LIST, 'vn_id'), (6, TType.STRING, 'mac_address'),
    (7, TType.STRING, 'display_name'), (8, TType.STRING, 'hostname'),
    (9, TType.STRING, 'host'), (10, TType.LIST, 'vm_project_id'),
    (11, TType.I16, 'vlan_id'), (12, TType.I16, 'port_type'),
    (13, TType.STRING, 'ip6_address'),
]


def _read(path):
    with open(path) as f:
        return f.read()


def test_port_struct_matches_the_agent():
    spec = [s[:3] for s in ttypes.Port.thrift_spec if s]
    assert spec == AGENT_PORT
    for field in (1, 2, 5, 10):     # tuuid = list<i16>
        assert ttypes.Port.thrift_spec[field][3][0] == TType.I16


def test_service_calls_match_the_agent():
    for call, args in (('AddPort', [(1, TType.LIST, 'port_list')]),
                       ('DeletePort', [(1, TType.LIST, 'port_id')]),
                       ('Connect', []), ('KeepAliveCheck', [])):
        spec = getattr(InstanceService, call + '_args').thrift_spec
        assert [s[:3] for s in spec if s] == args
        result = getattr(InstanceService, call + '_result').thrift_spec
        assert result[0][:3] == (0, TType.BOOL, 'success')
    assert ttypes.PortTypes.NameSpacePort == 1


def test_regenerating_gives_the_committed_stubs(tmp_path):
    try:
        version = subprocess.check_output(['thrift', '-version'])
    except OSError:
        pytest.skip('SKIPPED: no thrift compiler (apt: thrift-compiler)')
    committed = _read(os.path.join(STUBS, 'ttypes.py'))
    made_by = re.search(r'Thrift Compiler \(([\d.]+)\)', committed).group(1)
    if made_by not in version.decode():
        pytest.skip('SKIPPED: stubs were made by thrift %s, this compiler is '
                    '%s' % (made_by, version.decode().strip()))
    subprocess.check_call(['thrift', '--gen', 'py', '-out', str(tmp_path),
                           IDL])
    for name in FILES:
        assert _read(str(tmp_path / 'instance_service' / name)) == \
            _read(os.path.join(STUBS, name)), name
