#!/usr/bin/python3
"""Plug/unplug latency of the bridge driver against two baselines, one run.

Run as root: ``/usr/bin/python3 bench/bench_plug.py [N ...]`` (default 1 100
500). Everything happens in a network namespace of its own; the agent
double runs as a separate process in it (so it does not share our GIL).

For each N, N ports are plugged one after the other, then unplugged, and
each operation is timed separately; for N below 100 that cycle is repeated
until there are 100 samples (N=1: a port plugged where there is none, 100
times). Each method plugs and unplugs one port before it is timed, as a
long-running driver has its agent connection already. The in-process
methods take turns port by port (port i of every method in a shuffled
order, then port i+1), so that whatever else the machine is doing weighs on
all of them alike;
fork2014 then runs a pass of its own (interleaved, its eight process starts
per port slowed every other method down, ours most: a plug waits for the
agent process to be scheduled):

* fork2014 -- the 2014 driver's devices, one process per step: ``ip tuntap
  add``, ``ip link set up`` (tap), ``brctl addbr``, ``brctl setfd 0``,
  ``brctl stp off``, ``ip link set up`` (bridge), ``brctl addif``, ``ip link
  set promisc on``; unplug ``ip link set down``, ``brctl delbr``, ``ip link
  delete`` (tap). Devices only: its agent call would come on top.
* floor -- bare pyroute2 netlink on one open socket: create a bridge
  (``link('add', kind='bridge')``), delete it. No agent, no file, not up.
* floor+up -- the same, but the bridge made as ours is (created promiscuous,
  STP off, forward delay 0, no multicast snooping; IPv6 off; then up), the
  same kernel work as our plug's bridge through pyroute2's API: two
  requests, each encoded per call and its answer read through pyroute2's
  request machinery. Ours sends pre-encoded requests, so ours/floor+up may
  be below 1.
* floor+file -- what a durable plug must do at the least, bare: floor's
  bridge creation, then a durable replacement of a port file (a record of
  a port file's size, pre-encoded: create, write, fsync, close, rename,
  fsync of the directory) in a directory of the same filesystem as ours;
  unplug: unlink the file, fsync the directory, delete the bridge. Since
  port files are durable (two journal commits per plug), floor alone is
  no longer what ours can approach: on this VM a journal commit of the
  bench's loop ext4 costs 0.2-0.3 ms when the disk is quiet and several
  ms when another process writes to it (the loop device's cache flush is
  an fsync of its backing file), so ours/floor moves with the disk and
  ours/floor+file, whose floor pays the same commits at the same moments,
  is the ratio that says what the driver adds.
* ours/thrift, ours/rest -- BridgeDriver.plug()/unplug(): validated port,
  bridge (as floor+up, from pre-encoded requests), port file, agent
  registration over the real socket, sent before the bridge is made and
  its answer read after (and the reverse for unplug). The agent is the
  double (Python); its time to answer is part of ours.
* ours/rest@0 -- ours/rest against instant_rest.py, an agent that answers
  every request at once (the agent's framing, none of its work): what the
  driver itself costs over REST, without the double's Python HTTP server,
  which is slower than the agent's C++ one.

The port files go to an ext4 filesystem made for the run (mkfs.ext4's
defaults, journal included, on a loop device), as /var/lib of a compute
node is. Not to this VM's root filesystem: it is ext4 without a journal, on
which ext4 skips every inode freed in the last half minute when it
allocates one (``recently_deleted``, checked only without a journal), so a
file creation costs 0.03 to 0.7 ms there depending on how many files the
machine (the bench's own unplugs, a test run) deleted just before; with the
journal it costs 0.03-0.05 ms whatever came before.
``BENCH_PORTS_FS=/some/dir`` puts them in a temporary directory there instead.
"""
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [TOP, os.path.join(TOP, 'overlay')]

from pyroute2 import IPRoute  # noqa: E402

from nova_lxc_contrail import bridge  # noqa: E402
from nova_lxc_contrail import config  # noqa: E402
from nova_lxc_contrail import netdev  # noqa: E402
from nova_lxc_contrail.compat import cfg  # noqa: E402
from nova_lxc_contrail.port import Port  # noqa: E402
from tests.agent_double.samples import port_data  # noqa: E402
from tests.functional.bridge_helpers import inside_new_netns  # noqa: E402


def sh(*argv):
    subprocess.run(argv, check=True)


class Fork2014(object):
    name = 'fork2014'

    def plug(self, port):
        tap = 'tap' + port.ifname[2:]
        br = port.ifname
        sh('ip', 'tuntap', 'add', tap, 'mode', 'tap')
        sh('ip', 'link', 'set', tap, 'up')
        sh('brctl', 'addbr', br)
        sh('brctl', 'setfd', br, '0')
        sh('brctl', 'stp', br, 'off')
        sh('ip', 'link', 'set', br, 'up')
        sh('brctl', 'addif', br, tap)
        sh('ip', 'link', 'set', br, 'promisc', 'on')

    def unplug(self, port):
        sh('ip', 'link', 'set', port.ifname, 'down')
        sh('brctl', 'delbr', port.ifname)
        sh('ip', 'link', 'delete', 'tap' + port.ifname[2:])

    def close(self):
        pass


class Floor(object):
    name = 'floor'

    def __init__(self):
        self.ipr = IPRoute()

    def plug(self, port):
        self.ipr.link('add', ifname=port.ifname, kind='bridge')

    def unplug(self, port):
        self.ipr.link('del', index=self.ipr.link_lookup(ifname=port.ifname)[0])

    def close(self):
        self.ipr.close()


class FloorUp(Floor):
    name = 'floor+up'

    def plug(self, port):
        self.ipr.link('add', ifname=port.ifname, kind='bridge',
                      flags=netdev.IFF_PROMISC, change=netdev.IFF_PROMISC,
                      br_forward_delay=0, br_stp_state=0, br_mcast_snooping=0)
        with open(netdev.DISABLE_IPV6 % port.ifname, 'w') as f:
            f.write('1')
        self.ipr.link('set', ifname=port.ifname, state='up')   # by name


class FloorFile(Floor):
    name = 'floor+file'

    def __init__(self, ports_dir):
        super(FloorFile, self).__init__()
        self.dir = ports_dir
        os.mkdir(ports_dir)
        # port ids have one length: every port's record has this size
        self.data = json.dumps(Port(**port_data()).to_record(),
                               sort_keys=True).encode('utf-8')

    def plug(self, port):
        Floor.plug(self, port)
        final = os.path.join(self.dir, port.port_id)
        tmp = os.path.join(self.dir, '.%s.tmp' % port.port_id)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, self.data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
        self.sync_dir()

    def unplug(self, port):
        os.unlink(os.path.join(self.dir, port.port_id))
        self.sync_dir()
        Floor.unplug(self, port)

    def sync_dir(self):
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Ours(object):
    def __init__(self, protocol, agent_ports, ports_dir, name=None):
        self.name = name or 'ours/' + protocol
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], project='nova-lxc-contrail')
        for key, value in (('agent_protocol', protocol),
                           ('agent_thrift_port', agent_ports['thrift']),
                           ('agent_rest_port', agent_ports['rest']),
                           ('ports_dir', ports_dir)):
            conf.set_override(key, value, config.GROUP)
        self.driver = bridge.BridgeDriver(conf)

    def plug(self, port):
        if self.driver.plug(port) is not True:
            raise RuntimeError('agent did not take %s' % port)

    def unplug(self, port):
        self.driver.unplug(port.port_id)

    def close(self):
        self.driver.stop()


def interleaved(methods, action, ports, samples, turns):
    """Time action of every method on its i-th port, for each i in turn;
    the methods' order is shuffled (by turns, one random.Random for the
    whole run) for each i, so that none always runs right after the same
    other one, nor always first after a pause."""
    count = len(ports[methods[0].name])
    for i in range(count):
        for method in turns.sample(methods, len(methods)):
            func = getattr(method, action)
            t0 = time.perf_counter()
            func(ports[method.name][i])
            samples[method.name].append((time.perf_counter() - t0) * 1000.0)


def pct(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def start(argv, what):
    """Start a server process that prints 'ready key=value ...'."""
    proc = subprocess.Popen(argv, cwd=TOP, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    if not line or line[0] != 'ready':
        proc.kill()
        raise RuntimeError('%s did not start' % what)
    return proc, dict(part.split('=') for part in line[1:])


def start_double():
    return start([sys.executable, '-m', 'tests.agent_double',
                  '--thrift-port', '0', '--rest-port', '0'], 'agent double')


def start_instant_rest():
    return start([sys.executable,
                  os.path.join(TOP, 'bench', 'instant_rest.py')],
                 'instant REST agent')


@contextlib.contextmanager
def ports_filesystem():
    """A directory for the port files (see the module's docstring)."""
    where = os.environ.get('BENCH_PORTS_FS')
    if where:
        with tempfile.TemporaryDirectory(dir=where,
                                         prefix='bench-plug-') as tmp:
            yield tmp
        return
    with tempfile.TemporaryDirectory(prefix='bench-plug-') as tmp:
        image, mnt = os.path.join(tmp, 'ext4.img'), os.path.join(tmp, 'mnt')
        os.mkdir(mnt)
        with open(image, 'wb') as f:
            f.truncate(256 << 20)
        sh('mkfs.ext4', '-q', '-F', image)
        sh('mount', '-o', 'loop', image, mnt)
        try:
            yield mnt
        finally:
            sh('umount', '-d', mnt)


INSTANT = 'ours/rest@0'
MIN_SAMPLES = 100


def main(counts):
    results = {}
    # Seeded: a rerun shuffles alike. One generator for the whole run (not
    # one per pass: with N=1 that repeated the same order in every cycle,
    # and the method that always came first after fork2014's pass paid for
    # the idle CPU every time).
    turns = random.Random(0)
    with inside_new_netns(), ports_filesystem() as tmp:
        print('port files in %s (%s)' % (
            tmp, os.environ.get('BENCH_PORTS_FS') or
            'a journaled ext4 of the run'), flush=True)
        proc, agent_ports = start_double()
        instant, instant_ports = start_instant_rest()
        try:
            for n in counts:
                methods = [Fork2014(), Floor(), FloorUp(),
                           FloorFile(os.path.join(tmp, 'floor-%d' % n)),
                           Ours('thrift', agent_ports,
                                os.path.join(tmp, 'thrift-%d' % n)),
                           Ours('rest', agent_ports,
                                os.path.join(tmp, 'rest-%d' % n)),
                           Ours('rest', dict(agent_ports,
                                             rest=instant_ports['port']),
                                os.path.join(tmp, 'instant-%d' % n),
                                name=INSTANT)]
                # A compute node's driver is long-lived: its agent
                # connection (and a socket, for the floors) exist before
                # the first port is timed.
                for method in methods:
                    warm = Port(**port_data())
                    method.plug(warm)
                    method.unplug(warm)
                plug = dict((m.name, []) for m in methods)
                unplug = dict((m.name, []) for m in methods)
                # Fewer than MIN_SAMPLES ports: the cycle (plug n, unplug
                # n) is repeated, so that p50 and p99 are of samples.
                for _ in range(max(1, -(-MIN_SAMPLES // n))):
                    ports = dict((m.name, [Port(**port_data())
                                           for _ in range(n)])
                                 for m in methods)
                    # fork2014 has a pass of its own: its process starts
                    # would weigh on whatever runs next, most on a plug
                    # waiting for the agent process to be scheduled.
                    for group in (methods[1:], methods[:1]):
                        interleaved(group, 'plug', ports, plug, turns)
                        interleaved(group, 'unplug', ports, unplug, turns)
                for method in methods:
                    method.close()
                    results[(method.name, n)] = (plug[method.name],
                                                 unplug[method.name])
                    print('%-12s N=%-4d plug p50 %7.3f p99 %7.3f | unplug '
                          'p50 %7.3f p99 %7.3f ms' % (
                              method.name, n, pct(plug[method.name], 50),
                              pct(plug[method.name], 99),
                              pct(unplug[method.name], 50),
                              pct(unplug[method.name], 99)), flush=True)
        finally:
            for server in (proc, instant):
                server.terminate()
                server.wait()
    report(results, counts)


def report(results, counts):
    medians = dict((key, [statistics.median(s) for s in value])
                   for key, value in results.items())
    print('\nratios (p50). floor is the bridge creation alone: its goals '
          '(plug <= 1.5x, unplug <= 1.2x)\nwere set before port files '
          'were durable; floor+file adds the durable port file:')
    for n in counts:
        floor_plug, floor_unplug = medians[('floor', n)]
        up_plug = medians[('floor+up', n)][0]
        file_plug, file_unplug = medians[('floor+file', n)]
        fork_plug = medians[('fork2014', n)][0]
        print('  N=%-4d the durable file in floor+file: plug %+.3f ms, '
              'unplug %+.3f ms over floor' % (
                  n, file_plug - floor_plug, file_unplug - floor_unplug))
        for name in ('ours/thrift', 'ours/rest', INSTANT):
            plug, unplug = medians[(name, n)]
            print('  N=%-4d %-11s plug/floor %.2fx (goal <= 1.5)  plug/'
                  'floor+up %.2fx  plug/floor+file %.2fx  fork2014/plug '
                  '%.1fx (goal >= 5)  unplug/floor %.2fx (goal <= 1.2)  '
                  'unplug/floor+file %.2fx' % (
                      n, name, plug / floor_plug, plug / up_plug,
                      plug / file_plug, fork_plug / plug,
                      unplug / floor_unplug, unplug / file_unplug))
    big = max(counts)
    if big >= 100:
        print('\nflatness at N=%d (p50 of the last tenth / first tenth):' % big)
        for name in ('floor', 'floor+up', 'floor+file', 'ours/thrift',
                     'ours/rest', INSTANT, 'fork2014'):
            plug, unplug = results[(name, big)]
            tenth = big // 10
            print('  %-11s plug %.2f  unplug %.2f' % (
                name,
                statistics.median(plug[-tenth:]) / statistics.median(plug[:tenth]),
                statistics.median(unplug[-tenth:]) /
                statistics.median(unplug[:tenth])))


if __name__ == '__main__':
    if os.geteuid() != 0:
        sys.exit('bench_plug.py needs root (it creates a network namespace)')
    main([int(a) for a in sys.argv[1:]] or [1, 100, 500])
