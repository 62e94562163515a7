"""apt-get install of the patched nova and our driver on this Debian 12
machine, from dist/bookworm with its pin; then purge. Needs root.

The tests share one installation (module fixture); the last one purges and
checks that nothing of the packages is left (the fixture purges anyway).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from build import debpkg, series as series_recipes
from tests.packaging import aptinstall, declared, patchcheck

pytestmark = pytest.mark.root
PY3_DIST = Path("/usr/lib/python3/dist-packages")


_FAILED = []


@pytest.fixture(scope="module")
def inst(bookworm_dist):
    """One installation for the module; a failed install is not retried by
    every test (pytest would call a failing fixture again for each)."""
    if os.geteuid() != 0:
        pytest.skip("SKIPPED (needs root): installs packages with apt")
    if _FAILED:
        pytest.fail("the installation failed: %s" % _FAILED[0], pytrace=False)
    try:
        inst = aptinstall.install("bookworm", dist=bookworm_dist)
    except aptinstall.AptError as exc:
        _FAILED.append(exc)
        raise
    yield inst
    aptinstall.uninstall(inst)


def test_our_versions_are_installed(inst, bookworm_dist):
    offered = aptinstall.dist_packages(bookworm_dist)
    for name in ("python3-nova", "nova-common", "nova-compute", "nova-compute-lxc",
                 "python3-nova-lxc-contrail"):
        assert inst.versions[name] == offered[name], name
    assert set(inst.ours) >= {"python3-nova", "nova-compute-lxc",
                              "python3-nova-lxc-contrail"}


def test_pin_wins_and_keeps_debians_security_level(inst):
    """Our nova is the candidate (pin >= 1000), and never older than any
    nova Debian offers this machine: taking our repository loses no fix."""
    ours = series_recipes.get("bookworm").entry()["version"]
    candidate, table = aptinstall.policy("python3-nova")
    assert candidate == ours
    mine = [prio for prio, version, src in table if version == ours and "file:" in src]
    assert mine and min(mine) >= 1000, table
    debian = [(prio, version) for prio, version, src in table if "file:" not in src
              and src.split()[0] != "/var/lib/dpkg/status"]
    if not debian:
        pytest.skip("SKIPPED: apt knows no Debian python3-nova (no bookworm lists?)")
    # today bookworm-security's deb12u5: ours is built on it, so above it
    assert all(compare(ours, "gt", version) for _prio, version in debian), debian
    assert all(prio < min(mine) for prio, _v in debian)


def compare(a, op, b):
    return subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0


def test_installed_nova_contains_the_series(inst):
    egg = sorted(PY3_DIST.glob("nova-*.egg-info"))
    checked, _unchecked, problems = patchcheck.check("bookworm", PY3_DIST,
                                                     egg[0] if egg else None)
    assert checked and not problems, problems
    owned = set(inst.files["python3-nova"])
    assert {str(PY3_DIST / p) for p in checked if p.startswith("nova/")} <= owned


def test_nova_compute_version_runs(inst):
    res = subprocess.run(["/usr/bin/nova-compute", "--version"], capture_output=True,
                         text=True, cwd="/", env={"PATH": aptinstall.ENV["PATH"]})
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [ln.strip() for ln in (res.stdout + res.stderr).splitlines()]
    # nova may log a warning first (eventlet monkey patching); the version is a line
    assert debpkg.upstream_version(series_recipes.get("bookworm").entry()["version"]) in lines, lines


def test_driver_found_through_stevedore(inst):
    """Every entry point of setup.cfg that bookworm's nova can use loads from
    the installed package (Debian's python3, run from /: the checkout is not
    on the path)."""
    wanted = declared.series_entry_points("bookworm")
    if not wanted:
        pytest.skip("SKIPPED: setup.cfg declares no entry points yet")
    res = subprocess.run(["/usr/bin/python3", "-c", declared.LOAD_SCRIPT, *wanted],
                         cwd="/", capture_output=True, text=True,
                         env={"PATH": aptinstall.ENV["PATH"]})
    assert res.returncode == 0, res.stderr[-3000:]
    found = json.loads(res.stdout.strip().splitlines()[-1])   # nova may log before
    for ns, names in wanted.items():
        assert sorted(found[ns]) == names, ns
        for path in found[ns].values():
            assert path.startswith(str(PY3_DIST / "nova_lxc_contrail") + "/")
            assert path in inst.files["python3-nova-lxc-contrail"]


def test_rootwrap_filters_belong_to_root(inst):
    """nova may run what rootwrap's filters allow: no filter file of ours
    may be writable by anyone but root."""
    filters = [Path(p) for p in inst.files["python3-nova-lxc-contrail"]
               if p.startswith("/etc/nova/rootwrap.d/") and Path(p).is_file()]
    assert filters
    for path in filters:
        st = path.stat()
        assert st.st_uid == 0 and st.st_gid == 0 and not st.st_mode & 0o022, path


def test_os_vif_sees_our_plugin(inst):
    """os-vif loads its plugins from the 'os_vif' namespace: ours among them
    when setup.cfg registers one."""
    names = declared.series_entry_points("bookworm").get("os_vif")
    if not names:
        pytest.skip("SKIPPED: setup.cfg registers no os_vif plugin yet")
    code = ("import os_vif, json; os_vif.initialize(); "
            "print(json.dumps(sorted(os_vif._EXT_MANAGER.names())))")
    res = subprocess.run(["/usr/bin/python3", "-c", code], cwd="/", capture_output=True,
                         text=True, env={"PATH": aptinstall.ENV["PATH"]})
    assert res.returncode == 0, res.stderr[-3000:]
    assert set(names) <= set(json.loads(res.stdout))


def test_no_daemon_was_started(inst):
    """policy-rc.d denied the starts (postinsts ran, nothing runs)."""
    assert subprocess.run([str(aptinstall.POLICY_RC), "nova-compute", "start"]).returncode == 101
    running = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(arg.startswith(b"/usr/bin/nova-") for arg in cmdline[:2]):
                running.append(b" ".join(cmdline).decode(errors="replace"))
    assert running == []


def test_purge_removes_everything(inst):
    """Last: purge what the install brought; nothing of our packages stays."""
    files = dict(inst.files)
    left = aptinstall.uninstall(inst)
    assert left == []
    still = aptinstall.installed_versions(sorted(files))
    assert still == {}
    assert not aptinstall.SOURCES.exists() and not aptinstall.PREFS.exists()
