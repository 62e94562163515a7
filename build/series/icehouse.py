"""icehouse: upstream nova 2014.1.5 (Python 2.7) with our series, and its packages.

The tree comes from NOVA_SOURCE (a nova tree, tarball or git repository) or
the official tarball in the download cache, verified by version and by the
committed manifest of pre-images (build/manifests/icehouse.sha256); our
patches/icehouse/ are pushed on it as they are. Without a tree this series
cannot run here: every step says so with skip().

The packages, modelled on Ubuntu 14.04's: bookworm has no Python 2
debhelper (dh_python2 is gone), so the build is what debhelper did, step by
step, with the project's Python 2.7 environment of this series
(build/py27env.py, flavor ``icehouse``): nova's ``setup.py install
--install-layout=deb`` into one root (pbr from that environment, as nova
2014.1.5 pins it), then each binary package of build/nova-debian/icehouse/
``control`` takes its files as dh_install would (``<pkg>.install``: ``SRC
[DIR]`` or ``SRC => PATH``, SRC found in the installed root, in the nova
tree, or in our packaging data for ``debian/...``), its directories
(``<pkg>.dirs``), upstart job, logrotate files and maintainer scripts, with
the snippets dh_python2 and dh_installinit would have added at
``#DEBHELPER#``. dpkg-deb assembles it (build/debpkg.py), gzip-compressed:
trusty's dpkg (1.17.5) cannot read xz control archives.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from build import cache, check, debpkg, overlay, py27env, quilt, rebase, sources
from build.cache import TOP, cache_dir, work_dir
from build.log import BuildError, progress
from build.series import Series

DATA = TOP / "build" / "nova-debian" / "icehouse"
# the series' Python 2.7 environment: icehouse's complete frozen requirements,
# the libvirt binding (for the e2e's nova-compute) and the SQLite hook below
SQLITE_HOOK = '''\
"""nova-lxc-contrail test venv: every SQLite connection uses legacy ALTER TABLE.

Written by build/py27env.py into the icehouse venv only (see its docstring).
"""
import sqlite3
from sqlite3 import dbapi2

_connect = dbapi2.connect


def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.execute("PRAGMA legacy_alter_table=ON")
    return conn


dbapi2.connect = sqlite3.connect = connect
'''
# sqlalchemy-migrate 0.9.1 rebuilds tables through ALTER TABLE ... RENAME,
# which SQLite >= 3.26 applies to references in other tables too
# ("NoSuchTableError: migration_tmp"). The legacy behaviour is one PRAGMA
# away; every sqlite3 connection of the test venv gets it (SQLITE_HOOK).
VENV = py27env.Flavor(
    "icehouse", py27env.DATA / "icehouse-requirements.txt", frozen=True, binding=True,
    site_hook=SQLITE_HOOK, smoke=(
        "import eventlet, greenlet, lxml.etree, sqlalchemy, migrate, mox, mock, "
        "testtools, subunit, oslo.config.cfg, oslo.messaging, sqlite3, libvirt\n"
        "c = sqlite3.connect(':memory:')\n"
        "assert c.execute('PRAGMA legacy_alter_table').fetchone()[0] == 1\n"))
PY_DEPENDS = "python (>= 2.7), python (<< 2.8)"
# no network during the build, as trusty's debian/rules arranged
NO_NETWORK = {"http_proxy": "http://127.0.1.1:9/", "https_proxy": "http://127.0.1.1:9/"}

UPSTART_POSTINST = """\
if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
\tif [ -e "/etc/init/{job}.conf" ]; then
\t\t# invoke-rc.d runs upstart jobs on trusty and honours policy-rc.d
\t\tinvoke-rc.d {job} start || exit $?
\tfi
fi
"""
UPSTART_PRERM = """\
if [ -e "/etc/init/{job}.conf" ] && [ "$1" = remove ]; then
\tinvoke-rc.d {job} stop || exit $?
fi
"""
SCRIPT_HEAD = "#!/bin/sh\nset -e\n\n"


def entry():
    return debpkg.changelog_entry((DATA / "changelog").read_text())


def inputs(recipe, source=None):
    """What the packages are made of (their cache key)."""
    src = recipe.source(source)
    return {"pins": recipe.pin,
            "python": py27env.venv_path(VENV)[0].name,
            "patches": cache.patch_digests(recipe.patches()),
            "packaging": {p.name: cache.sha256_file(p)
                          for p in sorted(DATA.iterdir()) if p.is_file()},
            "source": source_identity(src, recipe.pin["git_tag"])}


def source_identity(src, git_tag):
    """NOVA_SOURCE's content, cheaply: a tarball's digest, a git repository's
    commit of the tag, or a tree's file names, sizes and contents."""
    src = Path(src)
    if src.is_file():
        return cache.sha256_file(src)
    if sources.is_git_repo(src):
        return subprocess.run(["git", "-C", str(src), "rev-parse", git_tag + "^{commit}"],
                              capture_output=True, text=True).stdout.strip()
    h = hashlib.sha256()
    for path in sorted(p for p in src.rglob("*") if p.is_file()
                       and not {".git", ".pc", ".tox"} & set(p.parts)
                       and p.suffix != ".pyc"):
        h.update(str(path.relative_to(src)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def control():
    paras = debpkg.parse_paragraphs((DATA / "control").read_text())
    return paras[0], paras[1:]


def stage_package(name, stage, root, tree):
    """Fill STAGE with package NAME's files; return its maintainer scripts."""
    debpkg.dh_install(DATA / ("%s.install" % name), stage, [root, tree], debian_dir=DATA)
    dirs = DATA / ("%s.dirs" % name)
    for line in (dirs.read_text().split() if dirs.exists() else []):
        (stage / line).mkdir(parents=True, exist_ok=True)
    rotates = [(DATA / ("%s.logrotate" % name), name)] + [
        (p, p.name.split(".")[1]) for p in DATA.glob("%s.*.logrotate" % name)]
    for rotate, target in rotates:
        if rotate.exists():
            debpkg.copy_into(rotate, stage / "etc" / "logrotate.d" / target)
    snippets = {}
    if any(stage.glob("usr/lib/python2.7/dist-packages/*")):
        for script, text in debpkg.py2_scripts(name).items():
            snippets.setdefault(script, []).append(text.split("\n", 2)[2])
    upstart = DATA / ("%s.upstart" % name)
    if upstart.exists():
        debpkg.copy_into(upstart, stage / "etc" / "init" / ("%s.conf" % name))
        snippets.setdefault("postinst", []).append(UPSTART_POSTINST.format(job=name))
        snippets.setdefault("prerm", []).append(UPSTART_PRERM.format(job=name))
    scripts = {}
    for script in debpkg.SCRIPTS:
        path = DATA / ("%s.%s" % (name, script))
        generated = "".join(snippets.get(script, []))
        if path.exists():
            text = path.read_text()
            if "#DEBHELPER#" not in text:
                raise BuildError("%s has no #DEBHELPER# line" % path.name)
            scripts[script] = text.replace("#DEBHELPER#", generated.rstrip("\n"))
        elif generated:
            scripts[script] = SCRIPT_HEAD + generated
    return scripts


def _modes():
    out = {}
    for line in (DATA / "modes").read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if len(line) == 2:
            out[line[0]] = int(line[1], 8)
    return out


def build_into(out, recipe, source=None):
    """Build the icehouse nova packages into OUT."""
    ent = entry()
    version, upstream = ent["version"], debpkg.upstream_version(ent["version"])
    if upstream != recipe.upstream_version:
        raise BuildError("build/nova-debian/icehouse/changelog: %s is not nova %s"
                         % (version, recipe.upstream_version))
    parent = work_dir("debs/build") / "nova-icehouse"
    if parent.exists():
        shutil.rmtree(parent)
    tree = parent / ("nova-%s" % upstream)
    quilt.apply(recipe.name, tree, source)
    python = py27env.ensure_venv(VENV)
    root = parent / "root"
    progress("icehouse", "python2.7 setup.py install (PBR_VERSION=%s)" % upstream)
    debpkg.py27_root(python, tree, root, debpkg.clean_env(
        PBR_VERSION=upstream, **NO_NETWORK, **debpkg.no_git(tree)),
        log=Path(out) / "build.log")
    source_para, binaries = control()
    subst = {"binary:Version": version, "python:Depends": PY_DEPENDS, "misc:Depends": ""}
    copyright_text = (DATA / "copyright").read_text()
    changelog_text = (DATA / "changelog").read_text()
    modes, debs = _modes(), []
    for para in binaries:
        name = para["Package"]
        stage = parent / "stage" / name
        scripts = stage_package(name, stage, root, tree)
        fields = debpkg.binary_fields(para, source_para, version, subst, (
            "Depends", "Recommends", "Suggests", "Conflicts", "Provides"))
        debpkg.install_docs(stage, name, copyright_text, changelog_text,
                            packaging_dir=DATA)
        debs.append(debpkg.build_deb(stage, fields, out, ent["epoch"], scripts=scripts,
                                     modes=modes, compression="gzip"))
    _check_claimed(root, parent / "stage")
    shutil.rmtree(parent)
    return debs


def _check_claimed(root, stages):
    """Every Python module the install produced is in some package."""
    modules = {p.relative_to(root) for p in root.glob("usr/lib/python2.7/**/*.py")}
    packaged = {p.relative_to(s) for s in Path(stages).iterdir()
                for p in s.glob("usr/lib/python2.7/**/*.py")}
    if modules - packaged:
        raise BuildError("no package ships %s" % sorted(modules - packaged)[0])


class Icehouse(Series):
    source_hint = "set NOVA_SOURCE=..."
    operator_packages = ("nova-compute-lxc", "python-nova-lxc-contrail")
    py27_flavor = VENV

    # -- tree ---------------------------------------------------------------
    def source(self, source=None):
        """Where the tree comes from: SOURCE, NOVA_SOURCE, or the official
        tarball when it is in the download cache; None when none is there."""
        if source:
            return Path(source)
        env = os.environ.get("NOVA_SOURCE")
        if env:
            return Path(env)
        cached = cache_dir("downloads") / Path(self.pin["tarball_url"]).name
        return cached if cached.exists() else None

    def label(self, source=None):
        src = self.source(source)
        return "NOVA_SOURCE %s" % src if src else "icehouse source"

    def unavailable(self):
        if self.source() is None:
            return "no tree: set NOVA_SOURCE=PATH to a nova %s tree, tarball or git " \
                   "repository" % self.upstream_version
        return None

    def fetch(self):
        if self.unavailable():
            return self.skip()
        return "%s: %s (verified when unpacked)" % (self.name, self.source())

    def unpack(self, into, source=None, ref=None, verify=True):
        """Unpack the tree from SOURCE (a tree, tarball or nova git repository;
        default NOVA_SOURCE) into the empty directory INTO; verified by the
        manifest unless VERIFY is false (a rebase target of another release)."""
        src = self.source(source)
        if src is None:
            raise BuildError("%s tree not available (set NOVA_SOURCE=PATH to a "
                             "nova %s tree, tarball or git repository)"
                             % (self.name, self.upstream_version))
        if not src.exists():
            raise BuildError("NOVA_SOURCE %s does not exist" % src)
        progress(self.name, "unpacking %s" % src)
        if src.is_file():
            sources.untar(src, into)
        elif sources.is_git_repo(src):
            sources.git_archive(src, ref or self.pin["git_tag"], into)
        elif (src / "setup.cfg").is_file():
            sources.copy_tree(src, into)
        else:
            raise BuildError("NOVA_SOURCE %s is neither a nova tree, a tarball nor a "
                             "git repository" % src)
        if verify:
            quilt.verify_manifest(self.name, into, self.label(source))
        return into

    # -- rebase check -------------------------------------------------------
    def rebase_targets(self):
        """The releases of rebase_targets, from NOVA_SOURCE when it is a git
        repository, from ICEHOUSE_TREES=DIR/nova-<version>, or (the base
        only) from NOVA_SOURCE as it is."""
        src = os.environ.get("NOVA_SOURCE")
        trees = os.environ.get("ICEHOUSE_TREES")
        out = []
        for version in self.pin["rebase_targets"]:
            base = version == self.upstream_version
            fill = None
            if src and sources.is_git_repo(src):
                fill = (lambda v: lambda tree, wanted:
                        sources.git_archive(src, v, tree, wanted))(version)
            elif trees and (Path(trees) / ("nova-%s" % version)).exists():
                fill = (lambda p: lambda tree, wanted:
                        self.unpack(tree, p, verify=False))(Path(trees) / ("nova-%s" % version))
            elif base and src:
                fill = lambda tree, wanted: self.unpack(tree, src, verify=False)
            if fill:
                out.append(rebase.Target(self.name, "nova %s" % version, "release", fill,
                                         base=base))
        return out

    # -- make check ---------------------------------------------------------
    def check_stages(self, when):
        if when == "test":
            return [("libvirt-py27", self.stage_libvirt), ("nova-%s" % self.name,
                                                           self.stage_nova_tests)]
        return []

    def stage_libvirt(self):
        """The series venv's libvirt binding (built by build/py27env.py)."""
        python = py27env.ensure_venv(VENV)
        facts = py27env.check_binding(python)
        print("libvirt binding: %s, libvirt %d, defineXML/undefine on test:///default: "
              "%s/%s" % (facts["file"], facts["version"], facts["defined"],
                         facts["undefined"]))
        ok = facts["version"] > 0 and facts["defined"] and facts["undefined"]
        return check.Counts(passed=int(ok), failed=int(not ok))

    def stage_nova_tests(self):
        if self.unavailable():
            print(self.skip("nova %s's unit tests of the patched modules did not run"
                            % self.upstream_version))
            return check.Counts(skipped=1)
        res = py27env.run_nova_tests(VENV, work_dir("trees") / self.name,
                                     self.nova_test_modules())
        print(res.output[-4000:], flush=True)
        return check.Counts(res.passed, res.failed, res.skipped)

    # -- make debs ----------------------------------------------------------
    def nova_packages(self, force=False, source=None):
        return cache.cached_debs("nova-%s" % self.name, inputs(self, source),
                                 lambda out: build_into(out, self, source), force)

    def package_sets(self):
        sets = [overlay.python2_packages]
        if self.unavailable():
            print(self.skip("only the driver package is built"), flush=True)
        else:
            sets.insert(0, self.nova_packages)
        return sets

    def epochs(self):
        return [] if self.unavailable() else [entry()["epoch"]]


RECIPE = Icehouse
