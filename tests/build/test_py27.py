"""build.py27env: probing, provisioning and hash-keyed venvs, for real.

The venvs come from the project cache (NLC_CACHE), so after the first run
these tests reuse them; the provisioning test unpacks bullseye's python2.7
into a temporary cache of its own.
"""

import dataclasses
import os
import shutil
import subprocess
import time

import pytest

from build import py27env as py27
from build.log import BuildError

FAILING_SHIM = """#!/bin/sh
echo "pyenv: python2.7: command not found" >&2
exit 127
"""


def _script(directory, name, text):
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def shim_dir(tmp_path):
    directory = tmp_path / "shims"
    directory.mkdir()
    _script(directory, "python2.7", FAILING_SHIM)
    return directory


def test_probe_rejects_a_failing_shim(shim_dir):
    version, why = py27._probe(shim_dir / "python2.7")
    assert version is None
    assert "command not found" in why
    found = py27.find_python27(path=str(shim_dir))
    assert found is None or found.parent != shim_dir


def test_probe_rejects_a_python3_named_python27(tmp_path):
    _script(tmp_path, "python2.7", '#!/bin/sh\nexec /usr/bin/python3 "$@"\n')
    assert py27._probe(tmp_path / "python2.7")[0] is None
    assert py27._on_path(str(tmp_path))[0] is None


def test_probe_accepts_a_working_interpreter_without_environment(tmp_path):
    real = py27.ensure_python27()
    (tmp_path / "python2.7").symlink_to(real)
    assert py27.find_python27(path=str(tmp_path)) == tmp_path / "python2.7"
    out = subprocess.run(
        [str(tmp_path / "python2.7"), "-c",
         "import ssl, ctypes, hashlib, sys; "
         "print('%d.%d %s' % (sys.version_info[:2] + (ssl.OPENSSL_VERSION,)))"],
        env={}, capture_output=True, text=True, check=True).stdout
    assert out.startswith("2.7 OpenSSL")


@pytest.mark.network
def test_provisions_bullseye_python_when_path_has_only_a_failing_shim(
        shim_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NLC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "%s:/usr/bin:/bin" % shim_dir)
    python = py27.ensure_python27()
    assert python.is_relative_to(tmp_path / "cache")
    assert py27._probe(python)[0].startswith("2.7.")
    # nothing outside the cache: the system has no python2.7 after this
    assert not os.path.exists("/usr/bin/python2.7")
    t0 = time.monotonic()
    assert py27.ensure_python27() == python        # found, not fetched again
    assert time.monotonic() - t0 < 5


def test_unreachable_mirror_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NLC_CACHE", str(tmp_path / "cache"))
    pins = py27.pins.load()
    pins["debian_mirror"]["archive"] = "http://127.0.0.1:9/debian"   # refused
    monkeypatch.setattr(py27.pins, "load", lambda: pins)
    with pytest.raises(BuildError) as err:
        py27._fetch_debs()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("fetching Python 2.7 from Debian bullseye")
    assert "Failed to fetch http://127.0.0.1:9/debian" in message
    assert not list((tmp_path / "cache").rglob("*.deb"))


def test_core_venv_runs_its_requirements_under_27_without_environment():
    python = py27.ensure_venv("core")
    code = ("import oslo.config, stevedore, pytest, subprocess, sys\n"
            "print('%d.%d' % sys.version_info[:2])\n"
            "print(subprocess.check_output([sys.executable, '-c', "
            "'import ssl, ctypes; print(42)'], env={}).strip())\n")
    out = subprocess.run([str(python), "-c", code], env={}, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["2.7", "42"]


def test_venv_is_reused_instantly_and_keyed_by_its_requirements(tmp_path, monkeypatch):
    first = py27.ensure_venv("core")
    target = os.path.realpath(first)
    t0 = time.monotonic()
    again = py27.ensure_venv("core")
    assert time.monotonic() - t0 < 3
    assert again == first and os.path.realpath(again) == target
    changed = tmp_path / "requirements-core.txt"
    changed.write_text(py27.CORE.requirements.read_text() + "# one more line\n")
    monkeypatch.setattr(py27, "CORE", dataclasses.replace(py27.CORE, requirements=changed))
    link, _ = py27.venv_path("core")
    assert link != first.parent.parent


@pytest.mark.network
def test_a_failed_build_is_never_published(tmp_path, monkeypatch):
    broken = tmp_path / "requirements-core.txt"
    broken.write_text("nlc-no-such-distribution-anywhere==0.0.1\n")
    monkeypatch.setattr(py27, "CORE", dataclasses.replace(py27.CORE, requirements=broken))
    link, _ = py27.venv_path("core")
    with pytest.raises(BuildError, match="pip install"):
        py27.ensure_venv("core")
    assert not os.path.lexists(link)
    assert not list(link.parent.glob(link.name + ".*"))


@pytest.mark.root
def test_changed_icehouse_pins_rebuild_offline_from_the_wheelhouse(tmp_path, monkeypatch):
    """A new key is built with no network at all (unshare -n): the frozen set
    comes from the cache's wheelhouse, exactly as pinned."""
    py27.ensure_venv("icehouse")                   # fills the wheelhouse
    changed = tmp_path / "icehouse-requirements.txt"
    changed.write_text(py27.flavor("icehouse").requirements.read_text() + "# changed\n")
    link, _ = py27.venv_path(dataclasses.replace(py27.flavor("icehouse"),
                                                 requirements=changed))
    code = ("import dataclasses, sys; from build import py27env as p; "
            "from pathlib import Path; print(p.ensure_venv(dataclasses.replace("
            "p.flavor('icehouse'), requirements=Path(sys.argv[1]))))")
    try:
        res = subprocess.run(["unshare", "-n", "/usr/bin/python3", "-c", code, str(changed)],
                             cwd=py27.DATA.parent.parent, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.strip() == str(link / "bin" / "python")
        frozen = subprocess.run([str(link / "bin" / "python"), "-m", "pip", "freeze", "--all"],
                                capture_output=True, text=True, check=True).stdout
        assert "lxml==3.4.2" in frozen.split() and "setuptools==7.0" in frozen.split()
    finally:
        if link.is_symlink():
            target = link.parent / os.readlink(link)
            link.unlink()
            shutil.rmtree(target)


def test_icehouse_venv_has_the_sqlite_legacy_alter_hook():
    python = py27.ensure_venv("icehouse")
    out = subprocess.run(
        [str(python), "-c", "import sqlite3; c = sqlite3.connect(':memory:'); "
         "print(c.execute('PRAGMA legacy_alter_table').fetchone()[0])"],
        env={}, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"


def test_run_icehouse_tests_counts_from_the_subunit_stream(tmp_path):
    """A tree shaped like nova's (our own stand-in modules, no nova code):
    counts, failure output, and nova's entry points visible as with tox."""
    for pkg in ("nova", "nova/openstack", "nova/openstack/common", "nova/tests"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = nova\nversion = 2014.1.5\n")
    (tmp_path / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='nova', version='2014.1.5', packages=['nova'],\n"
        "      entry_points={'nlc.test': ['sample = nova.tests.test_sample:T']})\n")
    (tmp_path / "nova/openstack/common/lockutils.py").write_text(
        "import subprocess, sys\nsys.exit(subprocess.call(sys.argv[1:]))\n")
    (tmp_path / "nova/tests/test_sample.py").write_text(
        "import os, testtools\n"
        "class T(testtools.TestCase):\n"
        "    def test_env(self):\n"
        "        self.assertEqual(os.environ['PBR_VERSION'], '2014.1.5')\n"
        "        self.assertEqual(os.environ['EVENTLET_NO_GREENDNS'], 'yes')\n"
        "    def test_fails(self):\n"
        "        self.assertEqual(1, 2)\n"
        "    def test_errors(self):\n"
        "        raise RuntimeError('boom')\n"
        "    def test_skips(self):\n"
        "        self.skipTest('not here')\n"
        "    def test_entry_points(self):\n"
        "        import pkg_resources\n"
        "        eps = list(pkg_resources.iter_entry_points('nlc.test'))\n"
        "        self.assertEqual([ep.load() for ep in eps], [T])\n")
    res = py27.run_nova_tests("icehouse", tmp_path, ["nova.tests.test_sample"])
    assert (res.passed, res.failed, res.skipped) == (2, 2, 1)
    assert not res.ok
    assert "RuntimeError: boom" in res.output and "test_fails" in res.output
    assert "test_env" not in res.output and "test_entry_points" not in res.output
    assert not list(tmp_path.glob("*.egg-info"))      # the tree stays clean

    good = py27.run_nova_tests("icehouse", tmp_path, ["nova.tests.test_sample.T.test_env"])
    assert (good.passed, good.failed, good.skipped, good.ok) == (1, 0, 0, True)

    missing = py27.run_nova_tests("icehouse", tmp_path, ["nova.tests.test_no_such_module"])
    assert (missing.passed, missing.failed, missing.ok) == (0, 1, False)
    assert "test_no_such_module" in missing.output


# -- the libvirt binding of the icehouse venv ----------------------------------

def _wheel(path, libvirt_py):
    import zipfile
    with zipfile.ZipFile(str(path), "w") as whl:
        whl.writestr("libvirt.py", libvirt_py)
        whl.writestr("libvirt_lxc.py", "class virDomain(object):\n    pass\n")
        whl.writestr("libvirt_qemu.py", "")
    return path


def test_binding_guard_refuses_a_class_defining_a_method_twice(tmp_path):
    """What 5.10's generator did against libvirt 9: virConnect.defineXML
    twice, the node-device one last (so it won)."""
    replaced = ("class virConnect(object):\n"
                "    def defineXML(self, xml):\n        return 'domain'\n"
                "    def close(self):\n        pass\n"
                "    def defineXML(self, xmlDesc, flags=0):\n        return 'device'\n")
    with pytest.raises(BuildError, match=r"libvirt.py: virConnect.defineXML"):
        py27.check_binding_wheel(_wheel(tmp_path / "bad.whl", replaced))
    fine = replaced.replace("def defineXML(self, xmlDesc", "def nodeDeviceDefineXML(self, xmlDesc")
    py27.check_binding_wheel(_wheel(tmp_path / "good.whl", fine))
    assert py27.duplicate_methods(fine) == []


def _without_define_fix(tmp_path):
    """The generator patch less its node-device naming hunk."""
    text = py27.LIBVIRT_PATCH.read_text()
    head, hunks = text.split("\n@@", 1)
    kept = [h for h in hunks.split("\n@@") if '"Define"' not in h]
    assert len(kept) == 2
    path = tmp_path / "skips-only.patch"
    path.write_text(head + "".join("\n@@" + h for h in kept) + "\n")
    return path


@pytest.mark.network
def test_binding_built_without_the_naming_fix_is_refused(tmp_path, monkeypatch):
    """The real generator against this machine's libvirt-dev: with only the
    skip lists patched, the build succeeds but the guard refuses the wheel,
    and nothing is published."""
    if py27._libvirt_version()[0] is None:
        pytest.skip("SKIPPED: %s" % py27._libvirt_version()[1])
    vpython = py27.ensure_venv("core")          # pip, setuptools, wheel for 2.7
    python = py27.ensure_python27()
    monkeypatch.setattr(py27, "LIBVIRT_PATCH", _without_define_fix(tmp_path))
    home = py27.cache_dir("py27/libvirt") / py27._binding_key(python)   # its own key
    with pytest.raises(BuildError, match=r"libvirt.py: virConnect\.defineXML"):
        py27.ensure_libvirt_wheel(python, vpython)
    assert not home.exists()
    assert not list(home.parent.glob(home.name + ".*"))


def test_icehouse_venv_binding_defines_and_undefines_a_domain():
    facts = py27.check_binding(py27.ensure_venv("icehouse"))
    assert facts["version"] >= 9000000          # Debian 12's libvirt 9.0
    assert facts["defined"] and facts["undefined"]
    assert "/py27/venvs/icehouse-" in facts["file"]
