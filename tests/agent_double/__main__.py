"""Run the vrouter agent double as a process until SIGTERM/SIGINT:

    python3 -m tests.agent_double --thrift-port 9090 --rest-port 9091

It prints one line ``ready thrift=<port> rest=<port>`` once it serves
(port 0 = ephemeral), with `` introspect=<port>`` when --introspect-port is
given (the ports' active state, see servers.IntrospectHandler).
"""
from __future__ import absolute_import, print_function

import argparse
import signal
import sys
import threading

from tests.agent_double import AgentDouble


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python3 -m tests.agent_double')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--thrift-port', type=int, default=9090)
    parser.add_argument('--rest-port', type=int, default=9091)
    parser.add_argument('--ports-dir')
    parser.add_argument('--audit-timeout', type=float, default=60.0)
    parser.add_argument('--netns')
    parser.add_argument('--no-syncports', action='store_true',
                        help='answer POST /syncports with 404, as agents '
                             'before it')
    parser.add_argument('--introspect-port', type=int)
    args = parser.parse_args(argv)
    double = AgentDouble(args.thrift_port, args.rest_port, args.host,
                         args.ports_dir, args.audit_timeout, args.netns,
                         not args.no_syncports, args.introspect_port)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    double.start()
    print('ready thrift=%d rest=%d%s' % (
        double.thrift_port, double.rest_port,
        '' if double.introspect_port is None else
        ' introspect=%d' % double.introspect_port))
    sys.stdout.flush()
    while not done.wait(1.0):
        pass
    double.stop()


if __name__ == '__main__':
    main()
