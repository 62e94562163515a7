"""Sample port data for tests that drive the driver against the double."""
from __future__ import absolute_import

import uuid


def new_id():
    return str(uuid.uuid4())


def port_data(**overrides):
    """Keyword arguments of a valid nova_lxc_contrail Port (TEST-NET-1
    address); overrides replace fields."""
    data = dict(port_id=new_id(), instance_id=new_id(), network_id=new_id(),
                project_id=uuid.uuid4().hex, mac='02:00:c0:00:02:05',
                ips=['192.0.2.5'], display_name=u'vm-1', hostname=u'vm-1',
                host=u'compute-1')
    data.update(overrides)
    return data
