"""The world around nova-compute in the end-to-end test, run as root inside
``unshare -m -n --propagation private`` (one private mount namespace and one
network namespace, for libvirtd, nova and the containers' host side):

- the mount namespace: cgroup2 unmounted (libvirt 9 with hybrid cgroups,
  shared/research/feasibility.md Q1), private /run, /var/lib/libvirt,
  /var/log/libvirt, /var/cache/libvirt and /etc/libvirt (a copy without
  autostarted networks), and the test's nova.conf over /etc/nova/nova.conf;
  nova's loop mounts are made here, where libvirtd sees them;
- the vrouter agent double on its default ports (9090 thrift, 9091 REST)
  with forwarding between the ports of one virtual network;
- libvirtd (Debian's, monolithic), started here, stopped by its PID;
- nova-compute's side, tests/e2e/compute.py, as a child process.

The same world runs either series (spec.json's ``series``). bookworm: the
nova installed with apt, as root (as Debian's nova-compute runs), its
privsep daemons started through sudo nova-rootwrap. icehouse: the payload
of the icehouse .debs (spec's ``node``: unpacked by test_icehouse.py) made
into a trusty-like node inside the namespace (``IcehouseNode``: /etc, /var
and /usr/bin overlaid, nothing written to the host's), and
tests/e2e/compute_icehouse.py under Python 2.7 as user nova, every
privileged command through sudo nova-rootwrap.
trixie: a trixie root (spec's ``node``: the root's layer and dist/trixie,
tests/e2e/trixie_node.py) overlaid at SCRATCH/root, our packages
apt-installed in it, and libvirtd and compute.py run chrooted there (the
root's python3 3.13, nova 31, libvirtd 11.3); the double, the forwarding
and the checks stay here, on the host's side of the same namespaces.

    python3 -m tests.e2e.world SCRATCH     (SCRATCH/spec.json -> report.json)
    world.run_isolated(SCRATCH)           the same from outside: unshare, bounded

spec.json is written by tests/e2e/scenario.py (write_spec). Every fact the
test asserts on is collected into report.json; whatever the run created
is removed in ``finally`` and the removal itself reported. Bounded waits
everywhere: the machine is shared.
"""

import contextlib
import errno
import glob
import json
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
import traceback

from pyroute2 import IPRoute

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if TOP not in sys.path:
    sys.path.insert(0, TOP)

from tests.agent_double import AgentDouble  # noqa: E402
from tests.agent_double.forwarding import Forwarding  # noqa: E402
from tests.e2e.trixie_node import RootNode  # noqa: E402
from tests.lib import images  # noqa: E402

PY3 = "/usr/bin/python3"
LIBVIRT_DIRS = {"lib": "/var/lib/libvirt", "log": "/var/log/libvirt",
                "cache": "/var/cache/libvirt", "etc": "/etc/libvirt"}
NOVA_CONF = "/etc/nova/nova.conf"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root"}
IFF_UP, IFF_RUNNING, IFF_PROMISC = 0x1, 0x40, 0x100
WAIT = 60.0            # generous: the machine is shared and loaded
BARE_NAME, BARE_BRIDGE = "nlcbench-bare", "nlcbench0"
BARE_XML = """<domain type='lxc'><name>%s</name><memory unit='MiB'>{memory}</memory>
<vcpu>1</vcpu><os><type>exe</type><init>{init}</init></os><devices>
<filesystem type='mount'><source dir='{root}'/><target dir='/'/></filesystem>
<interface type='bridge'><source bridge='{bridge}'/></interface>
<console type='pty'/></devices></domain>""" % BARE_NAME

BOOKWORM_CONF = """[DEFAULT]
host = nlc-e2e
instances_path = {scratch}/instances
state_path = {scratch}/state
use_cow_images = false
rootwrap_config = /etc/nova/rootwrap.conf

[libvirt]
virt_type = lxc
connection_uri = lxc:///
images_type = raw
inject_partition = -2

[oslo_concurrency]
lock_path = {scratch}/locks

[os_vif_contrail_bridge]
ports_dir = {scratch}/ports
agent_timeout = 30
"""
# icehouse: the node's nova.conf (nova-common's), the driver package's
# nova-contrail-bridge.conf merged in, and what the test needs (host name,
# no file injection, no copy-on-write images, the agent's answer awaited
# longer on a loaded machine). Paths are a node's: the namespace has them.
ICEHOUSE_CONF = """[DEFAULT]
host = nlc-e2e
logdir = /var/log/nova
state_path = /var/lib/nova
lock_path = /var/lock/nova
rootwrap_config = /etc/nova/rootwrap.conf
api_paste_config = /etc/nova/api-paste.ini
firewall_driver = nova.virt.firewall.NoopFirewallDriver
use_cow_images = false
# the log names every command nova runs (the test checks the root helper)
debug = true

[libvirt]
virt_type = lxc
connection_uri = lxc:///
vif_driver = contrail_bridge
inject_partition = -2

[contrail_bridge]
agent_timeout = 30
"""
NOVA_CONF_TEXT = {"bookworm": BOOKWORM_CONF, "icehouse": ICEHOUSE_CONF,
                  "trixie": BOOKWORM_CONF}
# Where nova and the driver keep their state, per series (ports: the
# driver's ports_dir; icehouse's is the default the rootwrap filter pins),
# as nova sees them.
NODE_PATHS = {"bookworm": {"instances": "{scratch}/instances", "ports": "{scratch}/ports"},
              "icehouse": {"instances": "/var/lib/nova/instances",
                           "ports": "/var/lib/contrail/ports"}}
NODE_PATHS["trixie"] = NODE_PATHS["bookworm"]
# The series whose nova and libvirtd run chrooted in a root of their own
# Debian release (tests/e2e/trixie_node.py): that root, seen from here.
ROOTS = {"trixie": "{scratch}/root"}
# trusty's libvirt-bin: the socket of group libvirtd, read-write for it,
# no authentication; Debian's group is "libvirt"
LIBVIRTD_SOCKET = 'unix_sock_group = "libvirt"\nunix_sock_rw_perms = "0770"\n' \
                  'auth_unix_rw = "none"\n'


def run(cmd, timeout=WAIT, check=True):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    if check and res.returncode:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), res.returncode,
                                                res.stderr.strip()[-500:]))
    return res


def wait_for(predicate, what, timeout=WAIT, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("%s: not within %.0f s" % (what, timeout))
        time.sleep(interval)


def mounts():
    """[(mount point, fstype)] of this mount namespace."""
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    return [(r[4], r[r.index("-") + 1]) for r in rows]


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")[:-1]
    except (IOError, OSError):
        return []


def kill(pid, timeout=20.0):
    """SIGTERM, then SIGKILL, the process PID (ours); True if it was alive."""
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if os.path.exists("/proc/%d" % pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    return True


# -- the namespace ------------------------------------------------------------

def node_root(scratch, series):
    """The root the series' nova and libvirtd see as /, from the host's side
    ("" when they run in the host's own)."""
    return ROOTS.get(series, "").format(scratch=scratch)


def host_view(scratch, series, key):
    """NODE_PATHS' KEY path of SERIES as the host's side sees it (the kernel
    names a loop device's file and a mount point through the mount they were
    made through: in a root, below that root)."""
    return node_root(scratch, series) + NODE_PATHS[series][key].format(scratch=scratch)


def prepare_namespace(scratch, series="bookworm", node=None):
    """Mounts of this private namespace (nothing here reaches the host);
    returns what the node's installation reports (trixie), else None."""
    for ns in ("mnt", "net"):
        if os.readlink("/proc/self/ns/" + ns) == os.readlink(
                "/proc/%d/ns/%s" % (os.getppid(), ns)):
            raise RuntimeError("refusing to run in the caller's %s namespace "
                               "(run me under unshare -m -n)" % ns)
    for point, fstype in mounts():
        if fstype == "cgroup2":
            run(["umount", point])
    run(["mount", "-t", "tmpfs", "-o", "mode=755", "nlc-e2e-run", "/run"])
    os.makedirs("/run/libvirt")
    os.makedirs("/run/lock")
    root, installed = node_root(scratch, series), None
    if series == "icehouse":
        IcehouseNode(scratch, node).overlay()
    elif root:
        installed = RootNode(scratch, node).mount().install()
    for name, target in LIBVIRT_DIRS.items():
        source = os.path.join(scratch, "libvirt", name)
        target = root + target
        if name == "etc":
            shutil.copytree(target, source, symlinks=True)
            autostart = os.path.join(source, "qemu", "networks", "autostart")
            shutil.rmtree(autostart, ignore_errors=True)
            if series == "icehouse":
                with open(os.path.join(source, "libvirtd.conf"), "a") as f:
                    f.write(LIBVIRTD_SOCKET)
        else:
            os.makedirs(os.path.join(source, "lxc"))
        run(["mount", "--bind", source, target])
    conf = os.path.join(scratch, "nova.conf")
    with open(conf, "w") as f:
        f.write(NOVA_CONF_TEXT[series].format(scratch=scratch))
    if series == "icehouse":
        IcehouseNode(scratch, node).configure(conf)
    else:
        for sub in ("instances", "state", "locks", "ports"):
            os.makedirs(os.path.join(scratch, sub), exist_ok=True)
        if not os.path.exists(root + NOVA_CONF):
            raise RuntimeError("%s missing: is nova-common installed?" % (root + NOVA_CONF))
        run(["mount", "--bind", conf, root + NOVA_CONF])
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    return installed


class IcehouseNode(object):
    """A trusty compute node's files, in this mount namespace only: the
    unpacked icehouse packages (NODE["prefix"]) where their maintainer
    scripts and dh_install put them. /etc and /var are overlays whose upper
    layers are in SCRATCH (the host's stay untouched), /usr/bin a read-only
    overlay adding the packages' commands and a /usr/bin/python2.7: the
    icehouse venv's interpreter with the packages' dist-packages (and
    pyroute2 and thrift, which trusty lacks) on its path, as trusty's
    python2.7 has /usr/lib/python2.7/dist-packages. Directories above the
    venv that nova may not search (/root) get a searchable overlay copy.
    User nova, group nova, nova in libvirt's group (the postinsts')."""

    HOME = "/var/lib/nlc-e2e"       # the payload and deps, bound here for nova

    def __init__(self, scratch, node):
        self.scratch, self.node = scratch, node
        self.prefix = node["prefix"]
        self.overlays = 0

    def _overlay(self, target):
        self.overlays += 1
        upper = os.path.join(self.scratch, "node", "overlay%d" % self.overlays)
        os.makedirs(upper + "/upper")
        os.makedirs(upper + "/work")
        run(["mount", "-t", "overlay", "nlc-e2e-overlay", "-o",
             "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (target, upper, upper),
             target])

    def searchable(self, path):
        """Every directory above PATH searchable by others, in this namespace."""
        current, overlaid = "/", False
        for part in os.path.realpath(path).split(os.sep)[1:-1]:
            current = os.path.join(current, part)
            mode = os.stat(current).st_mode
            if mode & 0o001:
                continue
            if not overlaid:
                self._overlay(current)
                overlaid = True
            os.chmod(current, mode | 0o011)

    def overlay(self):
        for target in ("/etc", "/var"):
            self._overlay(target)
        os.makedirs(self.HOME)
        for name in ("prefix", "deps"):
            os.makedirs(os.path.join(self.HOME, name))
            run(["mount", "--bind", "-o", "ro", self.node[name],
                 os.path.join(self.HOME, name)])
        venv = os.path.dirname(os.path.dirname(self.node["python"]))
        for path in (os.path.join(venv, "lib", "x"), os.path.realpath(self.node["python"])):
            self.searchable(path)
        bindir = os.path.join(self.scratch, "node", "usr-bin")
        shutil.copytree(os.path.join(self.prefix, "usr", "bin"), bindir, symlinks=True)
        pythonpath = [os.path.join(self.HOME, "prefix/usr/lib/python2.7/dist-packages"),
                      os.path.join(self.HOME, "deps")]
        with open(os.path.join(bindir, "python2.7"), "w") as f:
            f.write('#!/bin/sh\n# python2.7 of the test node (tests/e2e/world.py)\n'
                    'PYTHONPATH=%s EVENTLET_NO_GREENDNS=yes exec %s "$@"\n'
                    % (":".join(pythonpath), self.node["python"]))
        os.chmod(os.path.join(bindir, "python2.7"), 0o755)
        run(["mount", "-t", "overlay", "nlc-e2e-usr-bin", "-o",
             "lowerdir=%s:/usr/bin" % bindir, "/usr/bin"])

    def configure(self, conf):
        """What dpkg and the maintainer scripts would have done on a node."""
        if "nova:" not in open("/etc/passwd").read():
            with open("/etc/group", "a") as f:
                f.write("nova:x:%d:\n" % self.node["gid"])
            with open("/etc/passwd", "a") as f:
                f.write("nova:x:%d:%d::/var/lib/nova:/bin/false\n"
                        % (self.node["uid"], self.node["gid"]))
        with open("/etc/group") as f:
            groups = f.read().splitlines()
        with open("/etc/group", "w") as f:
            for line in groups:
                if line.startswith("libvirt:") and "nova" not in line.split(":")[3].split(","):
                    line += ("," if not line.endswith(":") else "") + "nova"
                f.write(line + "\n")
        etc = os.path.join(self.prefix, "etc")
        for sub in ("nova", "sudoers.d"):
            for root, _dirs, files in os.walk(os.path.join(etc, sub)):
                dest = os.path.join("/etc", os.path.relpath(root, etc))
                os.makedirs(dest, exist_ok=True)
                for name in files:
                    shutil.copy(os.path.join(root, name), os.path.join(dest, name))
        shutil.copy(conf, NOVA_CONF)
        os.chmod("/etc/sudoers.d/nova_sudoers", 0o440)
        # nova-common's postinst: /etc/nova is nova's, rootwrap's files root's
        run(["chown", "-R", "nova:nova", "/etc/nova"])
        run(["chmod", "0750", "/etc/nova"])
        run(["chown", "-R", "root:root", "/etc/nova/rootwrap.conf", "/etc/nova/rootwrap.d"])
        for path in ("/var/lib/nova/instances", "/var/log/nova", "/var/lock/nova"):
            os.makedirs(path, exist_ok=True)
            run(["chown", "nova:nova", path])
        os.makedirs("/var/lib/contrail/ports", exist_ok=True)
        # glance's images, readable by nova-compute (copied into its cache)
        images = "/var/lib/nlc-e2e-images"
        os.makedirs(images)
        run(["mount", "--bind", "-o", "ro", os.path.join(self.scratch, "images"), images])


class Libvirtd(object):
    """The series' libvirtd (ENTER: the command prefix that runs it in its
    root; the PID stays the daemon's: chroot execs it), and a connection
    to it from this side."""

    def __init__(self, scratch, enter=()):
        self.pidfile = os.path.join(scratch, "libvirtd.pid")
        self.log = os.path.join(scratch, "libvirtd.log")
        self.enter = list(enter)
        self.proc = None
        self.conn = None

    def start(self):
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(self.enter + ["/usr/sbin/libvirtd", "--pid-file",
                                                       self.pidfile],
                                         stdout=log, stderr=subprocess.STDOUT, env=ENV)
        import libvirt
        wait_for(lambda: os.path.exists("/run/libvirt/libvirt-sock") or
                 self.proc.poll() is not None, "libvirtd socket")
        if self.proc.poll() is not None:
            with open(self.log) as f:
                raise RuntimeError("libvirtd exited %s: %s"
                                   % (self.proc.returncode, f.read()[-800:]))
        self.conn = libvirt.open("lxc:///")
        return self

    def domains(self):
        return sorted(d.name() for d in self.conn.listAllDomains())

    def stop(self):
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        if self.proc is not None:
            kill(self.proc.pid)
            self.proc.wait(timeout=WAIT)


class ComputeProcess(object):
    """tests/e2e/compute.py, the installed nova (run from /); on icehouse
    tests/e2e/compute_icehouse.py by the node's python2.7, as user nova
    (its script is copied where nova can read it); on trixie compute.py by
    the root's python3, chrooted (ENTER), from SCRATCH (the same path
    there)."""

    def __init__(self, scratch, series="bookworm", name="compute", pythonpath=None,
                 enter=()):
        self.scratch, self.series, self.name = scratch, series, name
        self.pythonpath = pythonpath        # a nova tree ahead of the installed one
        self.enter = list(enter)            # the command prefix into a root (trixie)
        self.proc = None

    def start(self, **kwargs):
        """Start the child and its nova-compute side (KWARGS: compute's
        start(): timed, config_files); its answer, plus when the process
        was started (wall clock, for the bench)."""
        err = open(os.path.join(self.scratch, self.name + ".err"), "w")
        here = os.path.join(TOP, "tests", "e2e")
        if self.series == "icehouse":
            script = "/var/lib/nova/nlc-e2e-compute.py"
            shutil.copy(os.path.join(here, "compute_icehouse.py"), script)
            shutil.copy(os.path.join(here, "phases.py"), "/var/lib/nova/phases.py")
            cmd = ["setpriv", "--reuid=nova", "--regid=nova", "--init-groups", "--",
                   "/usr/bin/python2.7", script]
            env, log = dict(ENV, HOME="/var/lib/nova"), ICEHOUSE_LOG
        elif self.enter:
            script = os.path.join(self.scratch, "compute.py")
            shutil.copy(os.path.join(here, "compute.py"), script)
            shutil.copy(os.path.join(here, "phases.py"), os.path.join(self.scratch, "phases.py"))
            cmd = self.enter + [PY3, script]
            env, log = ENV, os.path.join(self.scratch, self.name + ".log")
        else:
            cmd = [PY3, os.path.join(here, "compute.py")]
            env, log = ENV, os.path.join(self.scratch, self.name + ".log")
        if self.pythonpath:
            env = dict(env, PYTHONPATH=self.pythonpath)
        launched = time.time()
        self.proc = subprocess.Popen(
            cmd, cwd="/", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=err, text=True, bufsize=1)
        answer = self.request("start", log_file=log, timeout=2 * WAIT, **kwargs)
        answer["launched"] = launched
        answer["answered"] = time.time()
        return answer

    def request(self, op, timeout=2 * WAIT, **kwargs):
        self.proc.stdin.write(json.dumps(dict(kwargs, op=op)) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError("nova-compute side: no answer to %s (exit %s); see %s"
                               % (op, self.proc.poll(), self.scratch))
        return json.loads(line)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                kill(self.proc.pid)
                self.proc.wait(timeout=WAIT)


# -- a running container, from the host and from inside ------------------------

def is_controller(pid, domain):
    """Is PID (still) the libvirt_lxc controller of domain? PIDs are reused
    quickly on a busy machine: a recorded one is checked before any use."""
    argv = cmdline(pid)
    return (bool(argv) and argv[0].endswith("/libvirt_lxc") and "--name" in argv
            and argv[argv.index("--name") + 1:][:1] == [domain])


def machine_cgroup_dirs(domain, controller):
    """The cgroup directories libvirt made for the domain's container (one
    per v1 controller; named after the controller's PID and the domain)."""
    return sorted(glob.glob("/sys/fs/cgroup/*/machine/lxc-%d-%s.libvirt-lxc"
                            % (controller, domain)))


def stop_container(domain, controller):
    """A container left by a run that was killed: SIGKILL to the processes
    of its cgroups, then its libvirt_lxc controller (checked to still be
    that domain's), then its cgroup directories. True if anything ran."""
    found = False
    for path in machine_cgroup_dirs(domain, controller):
        with contextlib.suppress(IOError, OSError):
            with open(os.path.join(path, "cgroup.procs")) as f:
                for pid in [int(p) for p in f.read().split()]:
                    found = True
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
    if is_controller(controller, domain):
        found = kill(controller) or found
    for path in machine_cgroup_dirs(domain, controller):
        with contextlib.suppress(OSError):
            wait_for(lambda: not open(os.path.join(path, "cgroup.procs")).read().split(),
                     "%s emptied" % path, timeout=WAIT)
            os.rmdir(path)
    return found


def controller_pid(domain):
    """PID of the domain's libvirt_lxc controller, None if not running."""
    try:
        with open("/run/libvirt/lxc/%s.pid" % domain) as f:
            pid = int(f.read().strip())
    except (IOError, ValueError):
        return None
    return pid if is_controller(pid, domain) else None


def children(pid):
    """PIDs of pid's children (all its threads'), from /proc."""
    found = []
    with contextlib.suppress(IOError, OSError):
        for task in os.listdir("/proc/%d/task" % pid):
            with contextlib.suppress(IOError, OSError):
                with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                    found += [int(c) for c in f.read().split()]
    return found


class Pid1Watcher(object):
    """Notes when DOMAIN's pid 1 first runs (wall clock), polling every 2 ms
    from a thread while a spawn request is out."""

    def __init__(self, domain):
        self.domain, self.seen = domain, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._stop.is_set() and self.seen is None:
            with contextlib.suppress(OSError):      # a process gone meanwhile
                if container_init(self.domain):
                    self.seen = time.time()
                    return
            self._stop.wait(0.002)

    def stop(self):
        self._stop.set()
        self._thread.join(WAIT)


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1:]
    return []


def container_init(domain):
    """Host PID of the container's pid 1."""
    controller = controller_pid(domain)
    for pid in children(controller) if controller else ():
        if status_field(pid, "NSpid")[-1:] == ["1"]:
            return pid
    return None


def inside(pid, script, timeout=WAIT):
    """Run script with the container's own busybox sh, in all its namespaces
    and its root (-r -w: when libvirtd runs chrooted, the root of the
    container's mount namespace is still the host's: libvirt_lxc's
    pivot_root replaced only the chroot)."""
    return run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
                "/bin/busybox", "sh", "-c", script], timeout=timeout, check=False)


def link(name):
    """(flags, master name) of a device here, None if absent."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return None
        msg = ipr.get_links(found[0])[0]
        master = msg.get_attr("IFLA_MASTER")
        master_name = ipr.get_links(master)[0].get_attr("IFLA_IFNAME") if master else None
        return {"up": bool(msg["flags"] & IFF_UP),
                "running": bool(msg["flags"] & IFF_RUNNING),
                "promisc": bool(msg["flags"] & IFF_PROMISC), "master": master_name}


ICEHOUSE_LOG = "/var/log/nova/nova-compute.log"


def commands_run(log):
    """The commands nova's processutils logged running (debug), in order."""
    with open(log) as f:
        return re.findall(r"Running cmd \(subprocess\): (.*)$", f.read(), re.M)


def members(bridge):
    """Names of the devices enslaved to BRIDGE here."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=bridge)
        if not found:
            return []
        return sorted(dev.get_attr("IFLA_IFNAME") for dev in ipr.get_links()
                      if dev.get_attr("IFLA_MASTER") == found[0])


def loops(under):
    """{device: (offset, sizelimit, back-file)} of loop devices over files
    below UNDER (loop devices are global: this sees the host's too)."""
    out = run(["losetup", "-J", "-O", "NAME,OFFSET,SIZELIMIT,BACK-FILE"]).stdout
    found = {}
    for dev in json.loads(out)["loopdevices"] if out.strip() else ():
        back = (dev.get("back-file") or "").split(" (deleted)")[0]
        if back.startswith(under + os.sep):
            found[dev["name"]] = (int(dev.get("offset") or 0),
                                  int(dev.get("sizelimit") or 0), back)
    return found


class World(object):
    def __init__(self, scratch, spec):
        self.scratch = scratch
        self.spec = spec
        self.series = spec.get("series", "bookworm")
        self.root = node_root(scratch, self.series)
        self.instances_path = host_view(scratch, self.series, "instances")
        self.ports_dir = host_view(scratch, self.series, "ports")
        self.report = {"errors": [], "instances": {}, "pings": [], "cleanup": {},
                       "controllers": {}, "cgroups": {}}
        self.domains = {}                   # instance name -> domain name
        self.double = self.forwarding = self.libvirtd = self.compute = None
        self.base_compute = None

    # -- facts --------------------------------------------------------------
    def leftovers(self):
        links = []
        with IPRoute() as ipr:
            links = sorted(dev.get_attr("IFLA_IFNAME") for dev in ipr.get_links())
        return {
            "domains": self.libvirtd.domains(),
            "mounts": sorted(p for p, _t in mounts()
                             if p.startswith(self.instances_path + os.sep)),
            "loops": sorted(loops(self.instances_path)),
            "links": [name for name in links if name != "lo"],
            "agent_ports": sorted(self.double.ports()),
            "port_files": sorted(os.listdir(self.ports_dir)),
            "instance_dirs": sorted(d for d in os.listdir(self.instances_path)
                                    if d not in ("_base", "locks", "compute_nodes")),
            "controllers": sorted(d for d, pid in self.report["controllers"].items()
                                  if is_controller(pid, d)),
            "cgroups": sorted(p for paths in self.report["cgroups"].values()
                              for p in paths if os.path.isdir(p)),
        }

    def settle(self):
        """Give the containers' controllers time to exit after destroy."""
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not any(is_controller(pid, d) for d, pid
                                     in self.report["controllers"].items()),
                     "controllers gone")

    def container_facts(self, name, spec, answer):
        domain = answer["domain"]
        self.domains[name] = domain
        facts = {"spawn": answer}
        pid = self.started(domain)
        facts["ready"] = self.ready(pid, name)
        facts["pid1_cmdline"] = cmdline(pid)
        # as the container sees it (from here, a chrooted libvirtd's
        # container root shows below that root: see inside())
        facts["pid1_exe"] = inside(pid, "/bin/busybox readlink /proc/1/exe").stdout.strip()
        facts["nspid"] = status_field(pid, "NSpid")
        probe = inside(pid, "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                            "cat /%s; cat /proc/1/cgroup; head -1 /proc/meminfo; "
                            "/bin/busybox df -k / | tail -1" % images.MARKER).stdout
        lines = probe.splitlines()
        facts["inside_pid1_cmdline"] = lines[0].strip() if lines else ""
        facts["root_marker"] = lines[1].strip() if len(lines) > 1 else ""
        cgroups = dict(line.split(":", 2)[1:] for line in lines[2:]
                       if line.count(":") >= 2)
        facts["inside_cgroups"] = cgroups
        facts["meminfo"] = next((line for line in lines if line.startswith("MemTotal")), "")
        facts["df"] = lines[-1].split() if lines else []
        files = [("memory", "memory.limit_in_bytes"), ("cpu", "cpu.shares"),
                 ("cpu", "cpu.cfs_period_us"), ("cpu", "cpu.cfs_quota_us"),
                 ("cpuset", "cpuset.cpus")]
        # the container's own cgroups (its /proc/1/cgroup), read here: the
        # v1 hierarchies are the kernel's, one for all mount namespaces
        # (libvirt 11.3 chrooted gives the container no cgroup fs of its own:
        # its controllers are listed in "cgroupfs_inside")
        facts["cgroup_values"] = {}
        for controller, name in files:
            path = "/sys/fs/cgroup/%s%s/%s" % (controller, cgroups.get(controller, "/?"), name)
            with contextlib.suppress(IOError, OSError):
                with open(path) as f:
                    facts["cgroup_values"][name] = f.read().strip()
        facts["cgroupfs_inside"] = inside(pid, "ls /sys/fs/cgroup").stdout.split()
        self.report["cgroups"][domain] = [
            "/sys/fs/cgroup/%s%s" % (c, p) for c, p in cgroups.items()
            if c and p not in ("/", "") and not p.startswith("/process_api")]
        loop = loops(self.instances_path).get(answer.get("rootfs_device"))
        # its file as nova names it (the host's side sees it below the root)
        facts["loop"] = loop and loop[:2] + (loop[2][len(self.root):],)
        port = spec["ports"][0]
        bridge = "br" + ("tap" + port["id"][:11])[3:]
        facts["bridge"] = link(bridge)
        facts["host_veth"] = link("tap" + port["id"][:11])
        facts["bridge_members"] = members(bridge)
        facts["agent_port"] = self.double.port(port["id"])
        # before any ping: the port is active (config + running bridge)
        facts["agent_active"] = wait_for(lambda: self.double.is_active(port["id"]),
                                         "the agent sees %s active" % bridge)
        facts["agent_state"] = self.double.state(port["id"])
        facts["network_members"] = self.forwarding.members(port["network_id"])
        facts["port_file"] = os.path.exists(os.path.join(self.ports_dir, port["id"]))
        facts["init_pid"] = pid
        return facts

    def ping(self, source, target, expected):
        src = self.report["instances"][source]
        address = self.spec["addresses"][target]
        count, wait = (3, 2) if expected else (2, 1)
        started = time.monotonic()
        res = inside(src["init_pid"], "ping -c %d -W %d %s" % (count, wait, address))
        return {"from": source, "to": target, "address": address, "expected": expected,
                "answered": res.returncode == 0, "output": res.stdout[-400:],
                "seconds": time.monotonic() - started}

    # -- the run ------------------------------------------------------------
    def start(self, timed=False):
        started = time.monotonic()
        installed = prepare_namespace(self.scratch, self.series, self.spec.get("node"))
        self.report["namespace_seconds"] = time.monotonic() - started
        if installed is not None:
            self.report["node"] = installed
        enter = RootNode(self.scratch, None).enter([]) if self.root else []
        self.double = AgentDouble(thrift_port=9090, rest_port=9091).start()
        self.forwarding = Forwarding(self.double)
        started = time.monotonic()
        self.libvirtd = Libvirtd(self.scratch, enter).start()
        self.report["libvirtd_start_seconds"] = time.monotonic() - started
        self.report["libvirt_version"] = self.libvirtd.conn.getLibVersion()
        self.compute = ComputeProcess(self.scratch, self.series, enter=enter)
        self.report["roots"] = {"libvirtd": os.readlink("/proc/%d/root" % self.libvirtd.proc.pid)}
        self.report["compute"] = self.compute.start(timed=timed)
        if "error" in self.report["compute"]:
            raise RuntimeError("nova-compute side did not start: %s"
                               % self.report["compute"].get("traceback"))
        self.report["roots"]["compute"] = os.readlink("/proc/%d/root" % self.compute.proc.pid)
        self.report["leftovers_before"] = self.leftovers()

    def node_spec(self, spec):
        """SPEC as nova-compute sees it: on icehouse the images are at the
        node's path for them (IcehouseNode.configure)."""
        if self.series != "icehouse":
            return spec
        images = os.path.join(self.scratch, "images")
        return dict(spec, image_path=spec["image_path"].replace(
            images, "/var/lib/nlc-e2e-images", 1))

    def spawn(self, spec):
        answer = self.compute.request("spawn", spec=self.node_spec(spec))
        if "error" in answer:
            self.report["instances"][spec["name"]] = {"spawn": answer}
            raise RuntimeError("spawn of %s failed: %s" % (spec["name"], answer["message"]))
        return answer

    def started(self, domain):
        """Wait for the domain's pid 1 (polling fast, for the bench)."""
        pid = wait_for(lambda: container_init(domain), "pid 1 of %s" % domain,
                       interval=0.002)
        self.report["controllers"][domain] = controller_pid(domain)
        self.write_report()     # if this run gets killed: what to stop
        return pid

    def write_report(self):
        with open(os.path.join(self.scratch, "report.json"), "w") as f:
            json.dump(self.report, f, indent=1, default=str)

    def settled(self, pid, what):
        """Before a timed teardown: the init is up and has been for a while
        (a SIGTERM within ~0.3 s of the start is at times not acted on, and
        libvirt then waits ~1.8 s to SIGKILL, with or without nova)."""
        self.ready(pid, what)
        time.sleep(0.5)

    @staticmethod
    def ready(pid, what):
        """Wait until the init configured eth0 (its rcS left its marker)."""
        return wait_for(lambda: inside(pid, "cat %s 2>/dev/null" % images.READY
                                       ).stdout.strip(), "%s configured its eth0" % what)

    def run(self):
        self.start()
        for spec in self.spec["instances"]:
            answer = self.spawn(spec)
            self.report["instances"][spec["name"]] = self.container_facts(
                spec["name"], spec, answer)
        for source, target, expected in self.spec["pings"]:
            self.report["pings"].append(self.ping(source, target, expected))
        for spec in self.spec["instances"]:
            facts = self.report["instances"][spec["name"]]
            facts["destroy"] = self.compute.request("destroy", uuid=spec["uuid"])
        self.settle()
        self.report["leftovers_after_destroy"] = self.leftovers()
        no_init = self.spec["no_init"]
        self.report["no_init"] = self.compute.request("spawn", spec=self.node_spec(no_init),
                                                      record_libvirt=True)
        self.report["leftovers_after_no_init"] = self.leftovers()
        if self.series == "icehouse":
            self.report["commands"] = commands_run(ICEHOUSE_LOG)

    def bench(self):
        """Rounds of: nova's spawn until the container's pid 1 runs, nova's
        destroy; the baseline's (spec's bench "baseline": unpatched nova,
        another nova-compute child, on an unpartitioned image and a bridge
        made here as neutron's Linux bridge agent would) the same; then a
        bare libvirt start of the instance's rootfs directory (define +
        create, on a plain bridge, no agent) until its pid 1 runs, and its
        destroy + undefine. Seconds per round, and the phases the compute
        children recorded (wall-clock spans; pid 1 seen by a watcher here
        while the spawn runs)."""
        self.start(timed=True)
        spec, bench = self.spec["instances"][0], self.spec["bench"]
        baseline = bench.get("baseline")
        bridges = [BARE_BRIDGE] + ([baseline["bridge"]] if baseline else [])
        with IPRoute() as ipr:
            for name in bridges:
                ipr.link("add", ifname=name, kind="bridge")
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
        if baseline:
            self.base_compute = ComputeProcess(self.scratch, self.series, "baseline",
                                               pythonpath=baseline["pythonpath"])
            self.report["baseline_compute"] = self.base_compute.start(
                timed=True, config_files=[baseline["config"]])
            if "error" in self.report["baseline_compute"]:
                raise RuntimeError("baseline nova-compute did not start: %s"
                                   % self.report["baseline_compute"].get("traceback"))
        xml = BARE_XML.format(memory=spec["flavor"]["memory_mb"], root=bench["rootfs"],
                              init=bench["init"], bridge=BARE_BRIDGE)
        rows = self.report["bench"] = []
        for _round in range(bench["rounds"]):
            row = {}
            self.bench_nova(row, "nova", self.compute, spec)
            if baseline:
                self.bench_nova(row, "base", self.base_compute, baseline["spec"])
            t0 = time.monotonic()
            dom = self.libvirtd.conn.defineXML(xml)
            dom.create()
            pid = self.started(BARE_NAME)
            row["bare_start"] = time.monotonic() - t0
            self.settled(pid, "bare")
            t0 = time.monotonic()
            dom.destroy()
            dom.undefine()
            row["bare_teardown"] = time.monotonic() - t0
            rows.append(row)
            self.write_report()
        self.settle()
        self.report["leftovers_after_destroy"] = self.leftovers()

    def bench_nova(self, row, key, compute, spec):
        """One spawn + destroy of SPEC through COMPUTE, into ROW[KEY_...]."""
        domain = "instance-%08x" % spec["id"]
        watcher = Pid1Watcher(domain)
        t0 = time.monotonic()
        requested = time.time()
        try:
            answer = compute.request("spawn", spec=self.node_spec(spec))
        finally:
            watcher.stop()
        if "error" in answer:
            self.report["instances"][spec["name"]] = {"spawn": answer}
            raise RuntimeError("spawn of %s failed: %s" % (spec["name"], answer["message"]))
        self.domains[spec["name"]] = answer["domain"]
        pid = self.started(answer["domain"])
        row[key + "_start"] = time.monotonic() - t0
        row[key + "_spawn_call"] = answer["seconds"]
        row[key + "_requested"] = requested
        row[key + "_pid1_seen"] = watcher.seen
        row[key + "_spawn_spans"] = answer.get("spans", [])
        self.settled(pid, key)
        t0 = time.monotonic()
        answer = compute.request("destroy", uuid=spec["uuid"])
        row[key + "_teardown"] = time.monotonic() - t0
        row[key + "_destroy_spans"] = answer.get("spans", [])

    def cleanup(self):
        """Remove whatever is left, in dependency order; report what it was."""
        done = self.report["cleanup"]

        def step(name, func):
            try:
                result = func()
                if result:
                    done[name] = result
            except Exception as exc:    # keep going: everything must go
                done[name] = "failed: %s" % exc

        if self.libvirtd and self.libvirtd.conn:
            step("domains", self._destroy_domains)
        step("compute", lambda: self.compute and self.compute.stop())
        step("baseline compute", lambda: self.base_compute and self.base_compute.stop())
        step("mounts", self._umount)
        step("loops", lambda: [run(["losetup", "-d", dev]) and dev
                               for dev in loops(self.instances_path)])
        step("libvirtd", lambda: self.libvirtd and self.libvirtd.stop())
        step("containers", lambda: [d for d, pid in self.report["controllers"].items()
                                    if pid and stop_container(d, pid)])
        step("forwarding", lambda: self.forwarding and self.forwarding.close())
        step("double", lambda: self.double and self.double.stop())
        step("cgroups", self._rmdir_cgroups)

    def _destroy_domains(self):
        names = []
        for dom in self.libvirtd.conn.listAllDomains():
            names.append(dom.name())
            with contextlib.suppress(Exception):
                dom.destroy()
            with contextlib.suppress(Exception):
                dom.undefine()
        return names

    def _umount(self):
        points = [p for p, _t in mounts() if p.startswith(self.instances_path + os.sep)]
        for point in sorted(points, reverse=True):
            run(["umount", "-l", point], check=False)
        return points

    def _rmdir_cgroups(self):
        """The containers' cgroups, if libvirt (without machined here) left
        them (their machine/ parents are the test's: it knows which existed)."""
        removed = []
        paths = [p for paths in self.report["cgroups"].values() for p in paths]
        for path in sorted(set(paths)):
            try:
                os.rmdir(path)
                removed.append(path)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
                    raise
        return removed


def machine_cgroups():
    return {p for p in glob.glob("/sys/fs/cgroup/*/machine") if os.path.isdir(p)}


def run_isolated(scratch, timeout):
    """Run the world (SCRATCH/spec.json) in new mount and network namespaces,
    from the host, for at most TIMEOUT seconds; returns its report, plus
    what the host sees after it in report["host"]. The host's side of the
    cleanup: the containers of a killed run (their cgroups' processes and
    their controllers), loop devices over files in SCRATCH, and the
    machine/ cgroups this run created (when empty)."""
    scratch = str(scratch)
    with open(os.path.join(scratch, "spec.json")) as f:
        series = json.load(f).get("series", "bookworm")
    # where nova's loop devices are backed (inside the world's namespace)
    instances = host_view(scratch, series, "instances")
    before = machine_cgroups()
    started = time.monotonic()
    with open(os.path.join(scratch, "world.log"), "w") as log:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private",
             PY3, "-m", "tests.e2e.world", scratch],
            cwd=TOP, env=ENV, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)          # the world and its children
            proc.wait()
            timed_out = True
    path = os.path.join(scratch, "report.json")
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
    else:
        report = {"errors": ["the world wrote no report (exit %s); see %s"
                             % (proc.returncode, scratch)]}
    if timed_out:
        report["errors"].append("killed after %d s" % timeout)
    host = {"seconds": time.monotonic() - started, "exit": proc.returncode,
            "stopped_containers": [d for d, pid in report.get("controllers", {}).items()
                                   if pid and stop_container(d, pid)],
            "loops": sorted(set(loops(scratch)) | set(loops(instances)))}
    for dev in host["loops"]:
        run(["losetup", "-d", dev], check=False)
    for created in machine_cgroups() - before:
        with contextlib.suppress(OSError):      # another run's containers
            os.rmdir(created)
    host["machine_cgroups_left"] = sorted(machine_cgroups() - before)
    report["host"] = host
    return report


def main(scratch):
    with open(os.path.join(scratch, "spec.json")) as f:
        spec = json.load(f)
    world = World(scratch, spec)
    try:
        if "bench" in spec:
            world.bench()
        else:
            world.run()
    except BaseException as exc:
        world.report["errors"].append("%s: %s\n%s" % (
            type(exc).__name__, exc, traceback.format_exc()))
    finally:
        world.cleanup()
        world.write_report()
    return 0 if not world.report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
