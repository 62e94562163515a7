"""trixie's packages installed with apt from dist/trixie, in a trixie root.

What tests/packaging/test_bookworm_install.py checks on this (bookworm)
host, for the trixie series: in a work copy of the series' own root
(build/debroot.py; a copy of its own, unpacked afresh, so the builds' copy
is not changed), the operator's command `apt-get install nova-compute-lxc
python3-nova-lxc-contrail` with our signed repository added as README says,
then purge. Debian's trixie (and -updates, -security) supply the rest, from
the mirror the root was made from. No daemon may start (policy-rc.d).

The tests share one installation (module fixture); the last one purges.
"""

import pytest

from build import debroot, repo, series as series_recipes

pytestmark = pytest.mark.network

OPERATOR = ["nova-compute-lxc", "python3-nova-lxc-contrail"]
REPO = "/srv/nova-lxc-contrail"          # where dist/trixie is bound in the root
KEYRING = "/etc/apt/keyrings/" + repo.KEY_NAME


class Root:
    """The installation root: run(cmd) -> stdout, with dist/trixie at REPO."""

    def __init__(self, runner, dist):
        self.runner, self.dist = runner, dist

    def run(self, *cmd, check=True):
        res = self.runner.run(list(cmd), " ".join(cmd[:2]), check=check,
                              binds=[(self.dist, REPO)])
        return res if not check else res.stdout

    def versions(self, names):
        out = self.run("dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\\n",
                       *names, check=False).stdout
        return {ln.split()[0]: ln.split()[1] for ln in out.splitlines()
                if ln.split()[2:3] == ["ii"]}


@pytest.fixture(scope="module")
def inst(trixie_dist):
    recipe = series_recipes.get("trixie")
    runner = debroot.Runner(recipe.root(), copy="trixie-apt", fresh=True)
    root = Root(runner, trixie_dist)
    try:
        base = runner.ensure()
        # as README says for a node: the key, the source, the pin; no daemon starts
        (base / "etc/apt/keyrings").mkdir(parents=True, exist_ok=True)
        (base / KEYRING.lstrip("/")).write_bytes((trixie_dist / repo.KEY_NAME).read_bytes())
        (base / "etc/apt/sources.list.d/nova-lxc-contrail.list").write_text(
            "deb [signed-by=%s] file:%s ./\n" % (KEYRING, REPO))
        (base / "etc/apt/preferences.d/nova-lxc-contrail.pref").write_text(
            (trixie_dist / repo.PREF_NAME).read_text())
        policy = base / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        root.before = set(root.versions([]))
        root.run("apt-get", "update", "-q")
        root.install = root.run("apt-get", "install", "-y", "-q", "--no-install-recommends",
                                *OPERATOR)
        yield root
    finally:
        # the whole copy goes (2 GB): whatever a failed test left installed with it
        runner.root.discard("trixie-apt")


def offered(dist):
    """{package: version} of dist/trixie's Packages index."""
    out, name = {}, None
    for line in (dist / "Packages").read_text().splitlines():
        if line.startswith("Package: "):
            name = line.split()[1]
        elif line.startswith("Version: "):
            out[name] = line.split()[1]
    return out


def test_ours_are_installed_at_our_versions(inst, trixie_dist):
    ours = offered(trixie_dist)
    versions = inst.versions(sorted(ours))
    for name in ("nova-compute-lxc", "nova-compute", "nova-common", "python3-nova",
                 "python3-nova-lxc-contrail"):
        assert versions.get(name) == ours[name], (name, versions.get(name))
    assert ours["python3-nova"].endswith("+lxccontrail1")
    assert ours["python3-nova-lxc-contrail"].endswith("+deb13")


def test_pin_wins_over_debians_nova(inst):
    policy = inst.run("apt-cache", "policy", "python3-nova")
    installed = [ln.split()[1] for ln in policy.splitlines() if "Installed:" in ln][0]
    candidates = [ln.split()[1] for ln in policy.splitlines() if "Candidate:" in ln]
    assert candidates == [installed]
    # Debian's own deb13u3 is offered too, and ours sorts above it
    assert "2:31.0.0-6+deb13u3 " in policy or "2:31.0.0-6+deb13u3\n" in policy
    inst.run("dpkg", "--compare-versions", installed, "gt", "2:31.0.0-6+deb13u3")


def test_series_and_driver_are_in_trixies_python(inst):
    out = inst.run("python3", "-c", "\n".join([
        "import sys, nova.virt.disk.parttable, nova.virt.disk.rootpath",
        "from nova.network import os_vif_util",
        "import os_vif",
        "os_vif.initialize()",
        "from os_vif import _EXT_MANAGER",
        "print(sys.version_info[:2])",
        "print(sorted(_EXT_MANAGER.names()))",
        "print(nova.virt.disk.parttable.__file__)",
        "print(hasattr(os_vif_util, '_nova_to_osvif_vif_vrouter'))"]))
    version, plugins, path, vrouter = out.splitlines()
    assert version == "(3, 13)"
    assert "contrail_bridge" in plugins
    assert path.startswith("/usr/lib/python3/dist-packages/nova/")
    assert vrouter == "True"


def test_nova_compute_runs_and_rootwrap_filters_are_roots(inst):
    assert inst.run("sh", "-c", "nova-compute --version 2>&1").strip() == "31.0.0"
    out = inst.run("stat", "-c", "%U %a", "/etc/nova/rootwrap.d/contrail-bridge.filters")
    assert out.split() == ["root", "644"]
    assert "nova 31 (trixie)" in inst.run("cat", "/etc/nova/rootwrap.d/contrail-bridge.filters")
    conf = inst.run("cat", "/etc/nova/nova-contrail-bridge.conf")
    assert "[os_vif_contrail_bridge]" in conf and "nova 31" in conf


def test_no_daemon_was_started(inst):
    """nova-compute's maintainer scripts ask invoke-rc.d to start it; the
    policy refused (the root shares this host's processes: a started daemon
    would run here)."""
    assert "policy-rc.d denied execution of start" in inst.install
    assert "nova-compute" in inst.install


def test_purge_removes_ours(inst, trixie_dist):
    files = inst.run("dpkg", "-L", "python3-nova-lxc-contrail").splitlines()
    inst.run("apt-get", "purge", "-y", "-q", *OPERATOR)
    auto = ("-o", "APT::AutoRemove::RecommendsImportant=false",
            "-o", "APT::AutoRemove::SuggestsImportant=false")
    inst.run("apt-get", "autoremove", "--purge", "-y", "-q", *auto)
    left = inst.versions(sorted(offered(trixie_dist)))
    assert left == {}
    gone = inst.run("sh", "-c", "for f in \"$@\"; do [ -f \"$f\" ] && echo \"$f\"; done; true",
                    "sh", *[f for f in files if f.startswith(("/etc/", "/usr/lib/python3"))])
    assert gone.strip() == ""
    # Nothing more for apt to remove. The root is not exactly as before:
    # apt never autoremoves a kernel image (APT::NeverAutoRemove), and one
    # comes with nova-compute's dependencies (libguestfs' appliance), with
    # what it pulls; which of those stay is Debian's apt policy, not ours.
    dry = inst.run("apt-get", "-s", "autoremove", "--purge", *auto)
    assert "\nRemv " not in "\n" + dry and "\nPurg " not in "\n" + dry, dry
    left_over = set(inst.versions([])) - inst.before
    print("left by apt's policy: %s" % " ".join(sorted(left_over)))
    assert inst.before <= set(inst.versions([]))


def test_lintian_of_trixie_finds_no_error_or_warning_in_ours(trixie_dist):
    """trixie's own lintian (in the build root) on our driver package; and on
    the rebuilt nova packages no error that Debian's deb13u3 does not have
    (none: Debian's own build is lintian-clean of errors here)."""
    runner = series_recipes.get("trixie").runner()
    debs_ = sorted(p.name for p in trixie_dist.glob("*.deb"))
    ours = [d for d in debs_ if d.startswith("python3-nova-lxc-contrail_")]
    assert len(ours) == 1
    res = runner.run(["lintian", "--tag-display-limit", "0", *[REPO + "/" + d for d in debs_]],
                     "lintian", check=False, binds=[(trixie_dist, REPO)])
    assert res.returncode in (0, 1), res.stderr
    lines = res.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith(("E: ", "W: "))
                and ln.split()[1].startswith("python3-nova-lxc-contrail")], lines
    assert not [ln for ln in lines if ln.startswith("E: ")], lines
