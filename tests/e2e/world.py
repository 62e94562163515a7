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
import select
import shutil
import subprocess
import sys
import time
import traceback

from pyroute2 import IPRoute

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if TOP not in sys.path:
    sys.path.insert(0, TOP)

from tests.agent_double import AgentDouble  # noqa: E402
from tests.agent_double.forwarding import Forwarding  # noqa: E402
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

NOVA_CONF_TEXT = """[DEFAULT]
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

def prepare_namespace(scratch):
    """Mounts of this private namespace (nothing here reaches the host)."""
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
    for name, target in LIBVIRT_DIRS.items():
        source = os.path.join(scratch, "libvirt", name)
        if name == "etc":
            shutil.copytree(target, source, symlinks=True)
            autostart = os.path.join(source, "qemu", "networks", "autostart")
            shutil.rmtree(autostart, ignore_errors=True)
        else:
            os.makedirs(os.path.join(source, "lxc"))
        run(["mount", "--bind", source, target])
    for sub in ("instances", "state", "locks", "ports"):
        os.makedirs(os.path.join(scratch, sub), exist_ok=True)
    conf = os.path.join(scratch, "nova.conf")
    with open(conf, "w") as f:
        f.write(NOVA_CONF_TEXT.format(scratch=scratch))
    if not os.path.exists(NOVA_CONF):
        raise RuntimeError("%s missing: is nova-common installed?" % NOVA_CONF)
    run(["mount", "--bind", conf, NOVA_CONF])
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


class Libvirtd(object):
    def __init__(self, scratch):
        self.pidfile = os.path.join(scratch, "libvirtd.pid")
        self.log = os.path.join(scratch, "libvirtd.log")
        self.proc = None
        self.conn = None

    def start(self):
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["/usr/sbin/libvirtd", "--pid-file", self.pidfile],
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
    """tests/e2e/compute.py, the installed nova (run from /)."""

    def __init__(self, scratch):
        self.scratch = scratch
        self.proc = None

    def start(self):
        err = open(os.path.join(self.scratch, "compute.err"), "w")
        self.proc = subprocess.Popen(
            [PY3, os.path.join(TOP, "tests", "e2e", "compute.py")], cwd="/",
            env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
            text=True, bufsize=1)
        return self.request("start", log_file=os.path.join(self.scratch, "nova.log"),
                            timeout=2 * WAIT)

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
    """Run script with the container's own busybox sh, in all its namespaces."""
    return run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--",
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
        self.instances_path = os.path.join(scratch, "instances")
        self.ports_dir = os.path.join(scratch, "ports")
        self.report = {"errors": [], "instances": {}, "pings": [], "cleanup": {},
                       "controllers": {}, "cgroups": {}}
        self.domains = {}                   # instance name -> domain name
        self.double = self.forwarding = self.libvirtd = self.compute = None

    # -- facts --------------------------------------------------------------
    def leftovers(self):
        links = []
        with IPRoute() as ipr:
            links = sorted(dev.get_attr("IFLA_IFNAME") for dev in ipr.get_links())
        return {
            "domains": self.libvirtd.domains(),
            "mounts": sorted(p for p, _t in mounts() if p.startswith(self.scratch + os.sep)),
            "loops": sorted(loops(self.scratch)),
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
        facts["pid1_exe"] = os.readlink("/proc/%d/exe" % pid)
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
        read = "; ".join("cat /sys/fs/cgroup/%s%s/%s" % (c, cgroups.get(c, "/?"), f)
                         for c, f in files)
        values = inside(pid, read).stdout.split()
        facts["cgroup_values"] = dict(zip((f for _c, f in files), values))
        self.report["cgroups"][domain] = [
            "/sys/fs/cgroup/%s%s" % (c, p) for c, p in cgroups.items()
            if c and p not in ("/", "") and not p.startswith("/process_api")]
        facts["loop"] = loops(self.scratch).get(answer.get("rootfs_device"))
        port = spec["ports"][0]
        bridge = "br" + ("tap" + port["id"][:11])[3:]
        facts["bridge"] = link(bridge)
        facts["host_veth"] = link("tap" + port["id"][:11])
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
    def start(self):
        prepare_namespace(self.scratch)
        self.double = AgentDouble(thrift_port=9090, rest_port=9091).start()
        self.forwarding = Forwarding(self.double)
        started = time.monotonic()
        self.libvirtd = Libvirtd(self.scratch).start()
        self.report["libvirtd_start_seconds"] = time.monotonic() - started
        self.report["libvirt_version"] = self.libvirtd.conn.getLibVersion()
        self.compute = ComputeProcess(self.scratch)
        self.report["compute"] = self.compute.start()
        if "error" in self.report["compute"]:
            raise RuntimeError("nova-compute side did not start: %s"
                               % self.report["compute"].get("traceback"))
        self.report["leftovers_before"] = self.leftovers()

    def spawn(self, spec):
        answer = self.compute.request("spawn", spec=spec)
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
        self.report["no_init"] = self.compute.request("spawn", spec=no_init,
                                                      record_libvirt=True)
        self.report["leftovers_after_no_init"] = self.leftovers()

    def bench(self):
        """Rounds of: nova's spawn until the container's pid 1 runs, nova's
        destroy; then a bare libvirt start of the instance's rootfs
        directory (define + create, on a plain bridge, no agent) until its
        pid 1 runs, and its destroy + undefine. Seconds, per round."""
        self.start()
        spec, bench = self.spec["instances"][0], self.spec["bench"]
        with IPRoute() as ipr:
            ipr.link("add", ifname=BARE_BRIDGE, kind="bridge")
            ipr.link("set", index=ipr.link_lookup(ifname=BARE_BRIDGE)[0], state="up")
        xml = BARE_XML.format(memory=spec["flavor"]["memory_mb"], root=bench["rootfs"],
                              init=bench["init"], bridge=BARE_BRIDGE)
        rows = self.report["bench"] = []
        for _round in range(bench["rounds"]):
            row = {}
            t0 = time.monotonic()
            answer = self.spawn(spec)
            self.domains[spec["name"]] = answer["domain"]
            pid = self.started(answer["domain"])
            row["nova_start"] = time.monotonic() - t0
            row["nova_spawn_call"] = answer["seconds"]
            self.settled(pid, "nova's")
            t0 = time.monotonic()
            self.compute.request("destroy", uuid=spec["uuid"])
            row["nova_teardown"] = time.monotonic() - t0
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
        self.settle()
        self.report["leftovers_after_destroy"] = self.leftovers()

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
        step("mounts", self._umount)
        step("loops", lambda: [run(["losetup", "-d", dev]) and dev
                               for dev in loops(self.scratch)])
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
        points = [p for p, _t in mounts() if p.startswith(self.scratch + os.sep)]
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
            "loops": sorted(loops(scratch))}
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
