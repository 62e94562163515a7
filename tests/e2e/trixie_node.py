"""The trixie node of tests/e2e/world.py: a Debian 13 root in which trixie's
libvirtd 11.3 and trixie's nova-compute (Python 3.13) run, chrooted, inside
the world's private mount and network namespaces, while the agent double
and the checks stay on the host's side of the same namespaces.

Test side (``prepare``, for spec.json's ``node``): the e2e root, made and
cached by build/debroot.py (mmdebstrap of trixie with Debian's
nova-compute-lxc, libvirt's LXC driver and what our driver depends on, so
that installing our packages needs nothing from the network), and dist/trixie
(``make debs SERIES=trixie``, built if need be).

Namespace side (``RootNode``, used by world.py), in this order:

- SCRATCH/root: an overlay whose lower layer is the cached root (read-only;
  every write of the run goes to SCRATCH/node/upper), a mount point of its
  own (libvirt's LXC driver refuses a root that is not one: "Failed disable
  mount propagation out of the root filesystem");
- /proc (new), /sys and /dev (bound recursively from the namespace: /sys
  after world.py removed the cgroup2 mount, so the root sees the cgroup v1
  controllers only), /run (the namespace's tmpfs itself: libvirtd's socket
  and the controllers' PID files are where the host side looks);
- SCRATCH bound at the same path in the root: nova's instances, state and
  locks, the driver's ports_dir (the port files the double's side reads)
  and the logs are one directory for both sides. nova's loop mounts are
  made through that bind, so the host side sees them below
  SCRATCH/root/SCRATCH (``World.root``);
- dist/trixie bound read-only at its own path, and
  ``apt-get install nova-compute-lxc python3-nova-lxc-contrail`` from it as
  an operator does (our key, sources line and pin), offline: Debian's
  nova in the root is replaced by ours, nothing else is fetched.
"""

import os
import subprocess
from pathlib import Path

from build import debroot, debs, repo

PACKAGES = ("nova-compute-lxc", "python3-nova-lxc-contrail")
# the e2e root: Debian's compute node for LXC (nova-compute-lxc pulls nova,
# libvirt-daemon-system and lxc), the libvirt LXC driver and binding, what
# python3-nova-lxc-contrail depends on beyond nova, and the containers'
# and nova's tools
ROOT_PACKAGES = ("nova-compute-lxc", "libvirt-daemon-driver-lxc", "python3-libvirt",
                 "python3-pyroute2", "python3-thrift", "busybox", "sudo")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root",
       "DEBIAN_FRONTEND": "noninteractive"}
POLICY_RC = "#!/bin/sh\n# nova-lxc-contrail e2e: no daemon starts in the root\nexit 101\n"


def e2e_root():
    return debroot.Root("trixie", packages=ROOT_PACKAGES, name="trixie-e2e")


def prepare(scratch):
    """The node dict for spec.json: the root's layer and dist/trixie."""
    dist, built = debs.build("trixie")
    root = e2e_root()
    root.ensure()
    return {"layers": [str(root.path())], "dist": str(Path(dist).resolve()),
            "debs": sorted(p.name for p in built)}


class RootNode(object):
    """The root's mounts in the world's namespace and its commands."""

    def __init__(self, scratch, node):
        self.scratch, self.node = scratch, node
        self.path = os.path.join(scratch, "root")

    def enter(self, argv):
        """ARGV as run in the root (its environment: the caller's)."""
        return ["chroot", self.path] + list(argv)

    def run(self, argv):
        res = subprocess.run(self.enter(argv), capture_output=True, text=True,
                             env=ENV, timeout=600)
        if res.returncode:
            raise RuntimeError("in the root: %s: exit %d: %s" % (
                " ".join(argv), res.returncode, (res.stdout + res.stderr)[-1500:]))
        return res.stdout

    def _bind(self, source, inside, *options):
        target = self.path + inside
        if not os.path.exists(target):
            os.makedirs(target)
        subprocess.run(["mount", "--rbind"] + list(options) + [source, target], check=True)

    def mount(self):
        node = os.path.join(self.scratch, "node")
        for sub in ("upper", "work"):
            os.makedirs(os.path.join(node, sub))
        os.makedirs(self.path)
        subprocess.run(["mount", "-t", "overlay", "nlc-e2e-root", "-o",
                        "lowerdir=%s,upperdir=%s/upper,workdir=%s/work"
                        % (":".join(self.node["layers"]), node, node), self.path],
                       check=True)
        subprocess.run(["mount", "-t", "proc", "proc", self.path + "/proc"], check=True)
        for kernel in ("/sys", "/dev", "/run"):
            self._bind(kernel, kernel)
        self._bind(self.scratch, self.scratch)
        self._bind(self.node["dist"], self.node["dist"], "-o", "ro")
        return self

    def install(self):
        """Our repository added as README's operator does, our packages
        installed from it; returns {versions, files} of what dpkg now has."""
        dist = Path(self.node["dist"])
        keyring = "/etc/apt/keyrings/" + repo.KEY_NAME
        sources = "/etc/apt/sources.list.d/" + repo.LIST_NAME
        files = {keyring: (dist / repo.KEY_NAME).read_bytes(),
                 sources: repo.sources_line(dist, keyring=keyring).encode(),
                 "/etc/apt/preferences.d/" + repo.PREF_NAME:
                     (dist / repo.PREF_NAME).read_bytes(),
                 "/usr/sbin/policy-rc.d": POLICY_RC.encode()}
        for path, data in files.items():
            os.makedirs(os.path.dirname(self.path + path), exist_ok=True)
            with open(self.path + path, "wb") as f:
                f.write(data)
        os.chmod(self.path + "/usr/sbin/policy-rc.d", 0o755)
        # offline: only our repository's lists; Debian's are the root's own
        self.run(["apt-get", "update", "-q", "-o", "Dir::Etc::SourceList=" + sources,
                  "-o", "Dir::Etc::SourceParts=-", "-o", "APT::Get::List-Cleanup=0"])
        output = self.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                           "-o", "Dpkg::Options::=--force-confold"] + list(PACKAGES))
        return dict(self.facts(), apt=output[-3000:])

    def facts(self):
        """Installed versions of the nova and driver packages, and the files
        of python3-nova-lxc-contrail."""
        out = self.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n"])
        versions = {p: v for p, v, s in (line.split("\t") for line in out.splitlines())
                    if s.startswith("ii") and ("nova" in p)}
        installed = versions.get("python3-nova-lxc-contrail")
        files = self.run(["dpkg", "-L", "python3-nova-lxc-contrail"]).splitlines() \
            if installed else []
        return {"versions": versions, "files": {"python3-nova-lxc-contrail": files}}
