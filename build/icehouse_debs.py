"""The icehouse nova packages: our packaging, modelled on Ubuntu 14.04's.

Bookworm has no Python 2 debhelper (dh_python2 is gone), so the build is
what debhelper did, step by step, with the project's Python 2.7 icehouse
environment (build/py27env.py): nova's ``setup.py install
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

import shutil
from pathlib import Path

from build import debpkg, pins, series as series_mod, sources
from build.cache import work_dir
from build.log import BuildError, progress

DATA = Path(__file__).resolve().parent / "nova-debian" / "icehouse"
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


def inputs(source=None):
    """What the packages are made of (the cache key of build/debs.py)."""
    from build import py27env
    src = sources._icehouse_source(source)
    return {"pins": pins.series_pins("icehouse"),
            "python": py27env.venv_path("icehouse")[0].name,
            "patches": [(p.name, sources.sha256_file(p.path))
                        for p in pins.patch_series("icehouse")],
            "packaging": {p.name: sources.sha256_file(p)
                          for p in sorted(DATA.iterdir()) if p.is_file()},
            "source": source_identity(src)}


def source_identity(src):
    """NOVA_SOURCE's content, cheaply: a tarball's digest, a git repository's
    commit of the tag, or a tree's file names, sizes and contents."""
    src = Path(src)
    if src.is_file():
        return sources.sha256_file(src)
    if sources.is_git_repo(src):
        import subprocess
        tag = pins.series_pins("icehouse")["git_tag"]
        return subprocess.run(["git", "-C", str(src), "rev-parse", tag + "^{commit}"],
                              capture_output=True, text=True).stdout.strip()
    import hashlib
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


def build_into(out, source=None):
    """Build the icehouse nova packages into OUT."""
    from build import py27env
    ent = entry()
    version, upstream = ent["version"], debpkg.upstream_version(ent["version"])
    if upstream != pins.series_pins("icehouse")["upstream_version"]:
        raise BuildError("build/nova-debian/icehouse/changelog: %s is not nova %s"
                         % (version, pins.series_pins("icehouse")["upstream_version"]))
    parent = work_dir("debs/build") / "nova-icehouse"
    if parent.exists():
        shutil.rmtree(parent)
    tree = parent / ("nova-%s" % upstream)
    series_mod.apply("icehouse", tree, source)
    python = py27env.ensure_venv("icehouse")
    root = parent / "root"
    progress("icehouse", "python2.7 setup.py install (PBR_VERSION=%s)" % upstream)
    debpkg.py27_install(python, tree, root, debpkg.clean_env(
        PBR_VERSION=upstream, **NO_NETWORK, **debpkg.no_git(tree)),
        log=Path(out) / "build.log")
    for info in root.glob("usr/lib/python2.7/dist-packages/*.egg-info"):
        (info / "SOURCES.txt").unlink(missing_ok=True)    # build paths, no use
    source_para, binaries = control()
    subst = {"binary:Version": version, "python:Depends": PY_DEPENDS, "misc:Depends": ""}
    copyright_text = (DATA / "copyright").read_text()
    changelog_text = (DATA / "changelog").read_text()
    modes, debs = _modes(), []
    for para in binaries:
        name = para["Package"]
        stage = parent / "stage" / name
        scripts = stage_package(name, stage, root, tree)
        fields = dict(para)
        for rel in ("Depends", "Recommends", "Suggests", "Conflicts", "Provides"):
            if rel in fields:
                fields[rel] = debpkg.substitute(fields[rel], subst)
        fields.update({"Source": source_para["Source"], "Version": version,
                       "Maintainer": source_para["Maintainer"],
                       "Section": fields.get("Section", source_para["Section"]),
                       "Priority": fields.get("Priority", source_para["Priority"]),
                       "Homepage": source_para.get("Homepage")})
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


def build(force=False, source=None):
    from build import debs
    return debs.cached("nova-icehouse", inputs(source),
                       lambda out: build_into(out, source), force)
