"""The icehouse node's makings for tests/e2e/world.py (spec.json's
``node``): the icehouse .debs (``make debs SERIES=icehouse``, built if need
be) unpacked with dpkg-deb -x into SCRATCH/node-prefix, pyroute2 and thrift
(which trusty lacks; the core's 2.7 pins) into SCRATCH/deps, the icehouse
venv's python (with the libvirt binding), and a uid/gid for user nova that
the host does not use. Used by test_icehouse.py and bench/bench_e2e.py.
"""

import os
import re
import subprocess
from pathlib import Path

from build import debs, py27env
from build.cache import TOP

# what `apt-get install nova-compute-lxc python-nova-lxc-contrail` takes from
# our repository on a trusty node
PACKAGES = ("python-nova", "nova-common", "nova-compute", "nova-compute-libvirt",
            "nova-compute-lxc", "python-nova-lxc-contrail")
DEPS = ("pyroute2", "thrift")


def core_pins(*names):
    text = (TOP / "build" / "py27" / "requirements-core.txt").read_text()
    return [re.search(r"^%s==\S+" % re.escape(n), text, re.M).group(0) for n in names]


def free_id(path="/etc/passwd"):
    """A uid (and gid) the host's PATH does not use."""
    with open(path) as f:
        used = {int(line.split(":")[2]) for line in f if line.count(":") >= 3}
    return next(i for i in range(64060, 65000) if i not in used)


def prepare(scratch):
    """The node dict for spec.json; the packages unpacked below SCRATCH."""
    scratch = Path(scratch)
    _dist, built = debs.build("icehouse")
    by_name = {p.name.split("_")[0]: p for p in built}
    prefix, deps = scratch / "node-prefix", scratch / "deps"
    for name in PACKAGES:
        subprocess.run(["dpkg-deb", "-x", str(by_name[name]), str(prefix)], check=True)
    python = py27env.ensure_venv("icehouse")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--disable-pip-version-check", "--target", str(deps)]
                   + core_pins(*DEPS), check=True, capture_output=True,
                   env=dict(os.environ, PIP_CACHE_DIR=str(py27env.cache_dir("py27") / "pip")))
    uid = free_id()
    return {"prefix": str(prefix), "deps": str(deps), "python": str(python),
            "uid": uid, "gid": uid, "packages": {n: by_name[n].name for n in PACKAGES}}
