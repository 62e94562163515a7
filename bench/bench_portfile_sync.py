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
"""
import json
import os
import random
import statistics
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [TOP, os.path.join(TOP, 'overlay'), os.path.join(TOP, 'bench')]

from bench_plug import ports_filesystem  # noqa: E402

from nova_lxc_contrail.port import Port  # noqa: E402
from tests.agent_double.samples import port_data  # noqa: E402


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


if __name__ == '__main__':
    if os.geteuid() != 0:
        sys.exit('bench_portfile_sync.py needs root (it mounts a loop ext4)')
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
