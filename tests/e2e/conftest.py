"""End-to-end fixtures: the patched nova and our driver installed with apt
from dist/bookworm for the tests of this directory (purged after them, so
the packaging tests that follow start from a clean system), and one run of
the scenario (tests/e2e/world.py) in its own mount and network namespaces.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import scenario

TOP = Path(__file__).resolve().parents[2]
PY3 = "/usr/bin/python3"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root"}
# The run takes ~30 s here; the bound is for a loaded machine, and makes
# sure the test ends by itself.
WORLD_TIMEOUT = 240
TOOLS = ("/usr/sbin/libvirtd", "/usr/lib/libvirt/libvirt_lxc", "/usr/bin/unshare",
         "/usr/bin/nsenter", "/usr/sbin/losetup", "/bin/busybox", "/usr/bin/sudo")
CGROUP = Path("/sys/fs/cgroup")


def require_root_and_tools():
    if os.geteuid() != 0:
        pytest.skip("SKIPPED (needs root): libvirt LXC, loop mounts, apt install")
    missing = [t for t in TOOLS if not os.path.exists(t)]
    if missing:
        pytest.skip("SKIPPED: %s missing (Debian packages of build/apt/e2e.txt: "
                    "`make deps`)" % " ".join(missing))


@pytest.fixture(scope="package")
def bookworm_nova():
    """apt-get install nova-compute-lxc python3-nova-lxc-contrail from the
    local repository (dist/bookworm, built first if need be); purged after
    the last test of tests/e2e."""
    require_root_and_tools()
    from tests.packaging import aptinstall
    inst = aptinstall.install("bookworm")
    try:
        yield inst
    finally:
        aptinstall.uninstall(inst)


def machine_cgroups():
    return {p for p in CGROUP.glob("*/machine") if p.is_dir()}


def loops_below(path):
    out = subprocess.run(["losetup", "-J", "-O", "NAME,BACK-FILE"], capture_output=True,
                         text=True, check=True).stdout
    return [d["name"] for d in (json.loads(out)["loopdevices"] if out.strip() else ())
            if (d.get("back-file") or "").startswith(str(path) + os.sep)]


def kill_controllers(report):
    """After a run that had to be killed: its containers' controllers, each
    checked to still be that domain's libvirt_lxc before it is signalled."""
    from tests.e2e.world import is_controller, kill
    return [pid for domain, pid in report.get("controllers", {}).items()
            if is_controller(pid, domain) and kill(pid)]


@pytest.fixture(scope="package")
def report(bookworm_nova, tmp_path_factory):
    """Run the scenario once; its report plus what the host sees after it."""
    scratch = tmp_path_factory.mktemp("e2e")
    spec = scenario.write_spec(scratch)
    cgroups_before = machine_cgroups()
    started = time.monotonic()
    with open(scratch / "world.log", "w") as log:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private",
             PY3, "-m", "tests.e2e.world", str(scratch)],
            cwd=str(TOP), env=ENV, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            proc.wait(timeout=WORLD_TIMEOUT)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)       # the world and its children
            proc.wait()
            timed_out = True
    path = scratch / "report.json"
    result = json.loads(path.read_text()) if path.exists() else {
        "errors": ["the world wrote no report (exit %s); see %s" % (proc.returncode,
                                                                  scratch)]}
    if timed_out:
        result["errors"].append("killed after %d s" % WORLD_TIMEOUT)
    host = {"seconds": time.monotonic() - started, "exit": proc.returncode,
            "killed_controllers": kill_controllers(result),
            "loops": loops_below(scratch)}
    for dev in host["loops"]:
        subprocess.run(["losetup", "-d", dev], check=False)
    for created in machine_cgroups() - cgroups_before:
        try:
            created.rmdir()            # empty once the containers are gone
        except OSError:
            pass                        # another run's containers are in it
    host["machine_cgroups_left"] = sorted(str(p) for p in machine_cgroups() - cgroups_before)
    result["host"] = host
    result["spec"] = spec
    result["scratch"] = str(scratch)
    yield result
    if not result["errors"]:
        shutil.rmtree(scratch, ignore_errors=True)
