"""End-to-end fixtures: the patched nova and our driver installed with apt
from dist/bookworm for the tests of this directory (purged after them, so
the packaging tests that follow start from a clean system), and one run of
the scenario (tests/e2e/world.py) in its own mount and network namespaces.
"""

import os
import shutil

import pytest

from tests.e2e import scenario

# The run takes ~30 s here; the bound is for a loaded machine, and makes
# sure the test ends by itself.
WORLD_TIMEOUT = 240
TOOLS = ("/usr/sbin/libvirtd", "/usr/lib/libvirt/libvirt_lxc", "/usr/bin/unshare",
         "/usr/bin/nsenter", "/usr/sbin/losetup", "/bin/busybox", "/usr/bin/sudo")


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


def run_scenario(tmp_path_factory, name, node=None, **spec):
    """Run the scenario once in a scratch directory named NAME (node: a
    function of the scratch directory returning the spec's ``node``); yield
    its report plus what the host sees after it. The scratch directory is
    kept when the run had errors."""
    from tests.e2e import world
    scratch = tmp_path_factory.mktemp(name)
    if node is not None:
        spec["node"] = node(scratch)
    spec = scenario.write_spec(scratch, **spec)
    result = world.run_isolated(scratch, WORLD_TIMEOUT)
    result["spec"] = spec
    result["scratch"] = str(scratch)
    yield result
    if not result["errors"]:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="package")
def report(bookworm_nova, tmp_path_factory):
    """Run the scenario once (bookworm); its report plus what the host sees
    after it."""
    yield from run_scenario(tmp_path_factory, "e2e")
