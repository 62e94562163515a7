#!/usr/bin/python3
"""Where a durable port file replacement spends its time, step by step.

Run as root: ``/usr/bin/python3 bench/bench_portfile_sync.py [N]`` (default
300 per variant). On the same kind of filesystem as bench_plug.py's port
files (a journaled ext4 of the run on a loop device; ``BENCH_PORTS_FS``
as there), a record of a port file's size is replaced N times per variant,
the variants taking turns, and the p50 of each step is printed:

* nosync -- create, write, close, rename: no guarantee at all (reference).
* fsync -- PortFiles.save as it is: fsync the file, rename, fsync the dir.
* fdatasync -- the same with fdatasync for the file.
* file-only -- fsync the file and rename, no directory sync (the new name
  not durable when it returns: NOT the guarantee; to price the dir sync).
* dir-clean -- an fsync of the directory when nothing in it changed.

The journal's own view (jbd2's average commit time, commits per second)
is printed from /proc/fs/jbd2 for the loop device.

Then, in a network namespace of its own, plug_local's two halves (the
port's bridge, then its durable file), N times per variant, in turns:

* in-turn -- netdev.ensure_bridge, then PortFiles.save (plug_local as it is).
* thread -- the file's write and fsync in a thread started per plug while
  the bridge is made; rename and directory fsync after both.
* worker -- the same with one long-lived worker thread.
"""
import json
import os
import queue
import random
import statistics
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [TOP, os.path.join(TOP, 'overlay'), os.path.join(TOP, 'bench')]

from bench_plug import ports_filesystem  # noqa: E402

from nova_lxc_contrail import netdev  # noqa: E402
from nova_lxc_contrail.port import Port  # noqa: E402
from nova_lxc_contrail import portfiles  # noqa: E402
from tests.agent_double.samples import port_data  # noqa: E402
from tests.functional.bridge_helpers import inside_new_netns  # noqa: E402


def clock():
    return time.perf_counter() * 1000.0


def replace(directory, name, data, file_sync, dir_sync):
    """One replacement; the ms of each step, as a dict."""
    steps = {}
    tmp = os.path.join(directory, '.%s.tmp' % name)
    t = clock()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    steps['create+write'] = clock() - t
    if file_sync:
        t = clock()
        file_sync(fd)
        steps['file sync'] = clock() - t
    os.close(fd)
    t = clock()
    os.rename(tmp, os.path.join(directory, name))
    steps['rename'] = clock() - t
    if dir_sync:
        t = clock()
        dfd = os.open(directory, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        steps['dir fsync'] = clock() - t
    return steps


VARIANTS = {
    'nosync': (None, False),
    'fsync': (os.fsync, True),
    'fdatasync': (os.fdatasync, True),
    'file-only': (os.fsync, False),
}


def dir_clean(directory):
    t = clock()
    dfd = os.open(directory, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    return {'dir fsync': clock() - t}


def jbd2_info(mountpoint):
    """The jbd2 info file of the device mounted at mountpoint, or None."""
    dev = os.stat(mountpoint).st_dev
    name = '%s-8' % os.path.basename(os.path.realpath(
        '/sys/dev/block/%d:%d' % (os.major(dev), os.minor(dev))))
    path = os.path.join('/proc/fs/jbd2', name, 'info')
    return path if os.path.exists(path) else None


def main(count):
    data = json.dumps(Port(**port_data()).to_record(),
                      sort_keys=True).encode('utf-8')
    turns = random.Random(0)
    samples = dict((v, []) for v in list(VARIANTS) + ['dir-clean'])
    with ports_filesystem() as mnt:
        dirs = {}
        for variant in samples:
            dirs[variant] = os.path.join(mnt, variant)
            os.mkdir(dirs[variant])
        names = [str(Port(**port_data()).port_id) for _ in range(count)]
        for name in names:
            for variant in turns.sample(list(samples), len(samples)):
                if variant == 'dir-clean':
                    steps = dir_clean(dirs[variant])
                else:
                    steps = replace(dirs[variant], name, data,
                                    *VARIANTS[variant])
                steps['total'] = sum(steps.values())
                samples[variant].append(steps)
        print('%d replacements of a %d-byte record per variant in %s; '
              'p50 ms per step:' % (count, len(data), mnt))
        for variant, runs in samples.items():
            print('  %-10s %s' % (variant, '  '.join(
                '%s %.3f' % (step, statistics.median(r[step] for r in runs))
                for step in runs[0])))
        info = jbd2_info(mnt)
        if info:
            with open(info) as f:
                print('%s:\n%s' % (info, f.read().rstrip()))


def in_turn(files, port):
    netdev.ensure_bridge(port.ifname, owner=port.port_id)
    files.save(port.to_record())


def overlapped(start_fsync):
    """A plug_local whose file write and fsync run beside the bridge.

    start_fsync(fd) starts the fsync elsewhere and returns its wait.
    """
    def plug(files, port):
        data = json.dumps(port.to_record(), sort_keys=True).encode('utf-8')
        tmp = os.path.join(files.directory, '.%s.tmp' % port.port_id)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            wait = start_fsync(fd)
            netdev.ensure_bridge(port.ifname, owner=port.port_id)
            wait()
        finally:
            os.close(fd)
        os.rename(tmp, files.path(port.port_id))
        portfiles._fsync_directory(files.directory)
    return plug


def thread_per_plug(fd):
    thread = threading.Thread(target=os.fsync, args=(fd,))
    thread.start()
    return thread.join


class Worker(object):
    def __init__(self):
        self.jobs = queue.Queue()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            fd, done = self.jobs.get()
            os.fsync(fd)
            done.put(None)

    def __call__(self, fd):
        done = queue.Queue()
        self.jobs.put((fd, done))
        return done.get


def plug_halves(count):
    turns = random.Random(0)
    variants = {'in-turn': in_turn,
                'thread': overlapped(thread_per_plug),
                'worker': overlapped(Worker())}
    samples = dict((v, []) for v in variants)
    with inside_new_netns(), ports_filesystem() as mnt:
        files = {}
        for variant in variants:
            os.mkdir(os.path.join(mnt, variant))
            files[variant] = portfiles.PortFiles(os.path.join(mnt, variant))
        for _ in range(count):
            for variant in turns.sample(list(variants), len(variants)):
                port = Port(**port_data())
                t = clock()
                variants[variant](files[variant], port)
                samples[variant].append(clock() - t)
    print('bridge + durable port file, %d plugs per variant; p50 ms:' % count)
    for variant, runs in samples.items():
        print('  %-8s %.3f' % (variant, statistics.median(runs)))


if __name__ == '__main__':
    if os.geteuid() != 0:
        sys.exit('bench_portfile_sync.py needs root (it mounts a loop ext4 '
                 'and creates a network namespace)')
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    plug_halves(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
