// The subset of the Contrail vrouter agent's InstanceService that a VIF
// driver uses (the agent listens on 127.0.0.1:9090, framed transport, binary
// protocol). Field ids and types follow the agent's interface; only the calls
// and fields a port registration needs are declared here.
//
// The stubs in instance_service/ are `thrift --gen py` output (Debian's
// thrift-compiler 0.17; they run on Python 2.7 and 3). After editing, run
//   thrift --gen py -out /tmp/gen instance_service.thrift
// and copy /tmp/gen/instance_service/{__init__,constants,ttypes,InstanceService}.py
// here; tests/unit/test_thrift_stubs.py checks that they are current.

namespace py instance_service

// A UUID as its 16 bytes, each carried in an i16.
typedef list<i16> tuuid

enum PortTypes {
    NovaVMPort = 0,
    NameSpacePort = 1,
}

struct Port {
    1: required tuuid port_id,
    2: required tuuid instance_id,
    3: required string tap_name,
    4: required string ip_address,
    5: required tuuid vn_id,
    6: required string mac_address,
    7: optional string display_name,
    8: optional string hostname,
    9: optional string host,
   10: optional tuuid vm_project_id,
   11: optional i16 vlan_id,
   12: optional i16 port_type,
   13: optional string ip6_address,
}

typedef list<Port> PortList

service InstanceService {
    bool AddPort(1: required PortList port_list),
    bool KeepAliveCheck(),
    bool Connect(),
    bool DeletePort(1: required tuuid port_id),
}
