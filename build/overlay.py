"""The overlay's own packages: python3-nova-lxc-contrail (dh + pybuild, from
our debian/) and python-nova-lxc-contrail (Python 2.7, assembled with
dpkg-deb as the icehouse nova packages are: build/debpkg.py).

Their source is the checkout less the project's own machinery; a change to
overlay/ rebuilds only these packages (build/cache.py's cached_debs).
"""

import email.utils
import os
import shutil
import subprocess
from pathlib import Path

from packaging.markers import Marker

from build import cache, debpkg, py27env
from build.cache import TOP, cache_dir, work_dir
from build.log import BuildError, progress
from build.run import HOST, run

OVERLAY_DEBIAN = TOP / "debian"
PY2_PROFILE = "pkg.nova-lxc-contrail.python2"
# what the overlay's source package is made of: the checkout, less the
# project's own machinery (never the overlay's content, whatever it grows)
NOT_OVERLAY = ("tests/", "build/", "bench/", "patches/", ".ci/", "dist/", ".work/")
PBR_PY27 = "pbr==5.11.1"         # the last pbr line that installs on Python 2.7


def overlay_files():
    """The overlay's source files, relative to the checkout (working tree,
    so an uncommitted change is built; ignored files are not)."""
    if (TOP / ".git").exists():
        res = subprocess.run(["git", "-C", str(TOP), "ls-files", "-z", "--cached",
                              "--others", "--exclude-standard"],
                             capture_output=True, check=True)
        names = [n for n in res.stdout.decode().split("\0") if n]
    else:                       # not a git checkout: leave out what git would ignore
        junk = {".git", "__pycache__", ".pytest_cache", ".hypothesis", ".eggs"}
        names = [str(p.relative_to(TOP)) for p in TOP.rglob("*")
                 if p.is_file() and not junk & set(p.parts) and p.suffix != ".pyc"
                 and not any(part.endswith(".egg-info") for part in p.parts)]
    return sorted(n for n in names if not n.startswith(NOT_OVERLAY)
                  and (TOP / n).is_file())


def overlay_inputs(flavor):
    inputs = {"flavor": flavor, "files": cache.tree_digests(TOP, overlay_files())}
    if flavor == "python2":
        inputs.update(pbr=PBR_PY27, python=py27env.venv_path("core")[0].name)
    return inputs


def overlay_entry():
    return debpkg.changelog_entry((OVERLAY_DEBIAN / "changelog").read_text())


def copy_overlay(dest, epoch):
    """Copy the overlay's sources to DEST, every mtime set to EPOCH: a
    checkout's mtimes (clone time) must not reach the .debs, and dpkg-deb
    only clamps mtimes newer than SOURCE_DATE_EPOCH."""
    for name in overlay_files():
        target = Path(dest) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TOP / name, target)
        os.utime(target, (epoch, epoch))
    return dest


def _overlay_tree(kind):
    entry = overlay_entry()
    parent = cache.fresh_dir(work_dir("debs/build") / kind)
    tree = parent / ("%s-%s" % (entry["source"], debpkg.upstream_version(entry["version"])))
    return entry, parent, copy_overlay(tree, entry["epoch"])


def release_entry(release):
    """The changelog entry of a rebuild of the top entry for another Debian
    RELEASE (distribution, version suffix): the same source, its version +
    the suffix, dated one second after the top entry (deterministic, so the
    build stays reproducible; a latest entry must have a newer date)."""
    dist, suffix = release
    top = overlay_entry()
    text = ("%s (%s%s) %s; urgency=medium\n\n"
            "  * Rebuild of %s for %s: the same source, built with %s's own\n"
            "    tools and Python.\n\n -- %s  %s\n"
            % (top["source"], top["version"], suffix, dist, top["version"], dist,
               dist, top["maintainer"], email.utils.formatdate(top["epoch"] + 1, usegmt=True)
               .replace("GMT", "+0000")))
    return debpkg.changelog_entry(text)


def _build_overlay_py3(out, runner, release=None):
    entry, parent, tree = _overlay_tree("overlay-py3" + ("-" + release[0] if release else ""))
    if release:
        entry = release_entry(release)
        changelog = tree / "debian" / "changelog"
        changelog.write_text(entry["text"] + "\n" + changelog.read_text())
        os.utime(changelog, (entry["epoch"], entry["epoch"]))
    debpkg.sdist_manifest(tree)
    debpkg.build_deps(tree, "nova-lxc-contrail", runner)
    debpkg.dpkg_buildpackage(tree, out / "build.log", nice=10, runner=runner)
    debpkg.collect(parent, debpkg.binary_packages(tree / "debian" / "control"),
                   entry["version"], out)
    shutil.rmtree(parent)


def python3_packages(force=False, runner=HOST, release=None):
    """python3-nova-lxc-contrail, built by dpkg-buildpackage where RUNNER runs;
    RELEASE: (distribution, version suffix) of a rebuild for another Debian
    release than the changelog's (release_entry)."""
    inputs = overlay_inputs("python3")
    if release:
        inputs["release"] = list(release)
    return cache.cached_debs("overlay-py3" + ("-" + release[0] if release else ""), inputs,
                             lambda out: _build_overlay_py3(out, runner, release), force)


def py27_pbr(python):
    """A pbr that installs on Python 2.7, in its own directory of the cache
    (the Python 2.7 venvs are the test environments; pbr is only ours)."""
    target = cache_dir("py27") / ("pkg-" + PBR_PY27.replace("==", "-"))
    if not (target / "pbr" / "__init__.py").exists():
        progress("py27", "installing %s for packaging into %s" % (PBR_PY27, target))
        with cache.staging(target) as tmp:
            run([python, "-m", "pip", "install", "-q", "--no-deps",
                 "--disable-pip-version-check", "--target", tmp, PBR_PY27],
                "pip install %s" % PBR_PY27)
    return target


def py2_depends(stage, overrides_file):
    """Depends of a Python 2.7 package from its egg-info requires.txt, as
    dh_python2 derived them: python-<name>, or debian/pydist-overrides."""
    overrides = {}
    if Path(overrides_file).exists():
        for line in Path(overrides_file).read_text().splitlines():
            line = line.split("#", 1)[0].split()
            if len(line) >= 2:
                overrides[line[0].lower()] = line[1].rstrip(";")
    env = {"python_version": "2.7", "python_full_version": "2.7.18",
           "sys_platform": "linux2", "platform_system": "Linux", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "extra": ""}
    out = ["python (>= 2.7)", "python (<< 2.8)"]
    for requires in Path(stage).glob("usr/lib/python2.7/dist-packages/*.egg-info/requires.txt"):
        active = True
        for line in requires.read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                marker = line.strip("[]").partition(":")[2]
                extra = line.strip("[]").partition(":")[0]
                active = not extra and (not marker or Marker(marker).evaluate(env))
            elif line and active:
                name = line.replace(" ", "").split(";")[0]
                for sep in "<>=!~[":
                    name = name.split(sep)[0]
                dep = overrides.get(name.lower(), "python-" + name.lower().replace("_", "-"))
                if dep not in out:
                    out.append(dep)
    return ", ".join(out)


def _build_overlay_py2(out):
    entry, parent, tree = _overlay_tree("overlay-py2")
    control = debpkg.parse_paragraphs((tree / "debian" / "control").read_text())
    source = control[0]
    stanzas = [p for p in control[1:] if PY2_PROFILE in p.get("Build-Profiles", "")]
    if len(stanzas) != 1:
        raise BuildError("debian/control: expected one package with Build-Profiles <%s>"
                         % PY2_PROFILE)
    name = stanzas[0]["Package"]
    python = py27env.ensure_venv("core")
    pbr = py27_pbr(python)
    progress("overlay-py2", "python2.7 setup.py install (PBR_VERSION=%s)"
             % debpkg.upstream_version(entry["version"]))
    stage = debpkg.py27_root(python, tree, parent / "stage", debpkg.clean_env(
        PBR_VERSION=debpkg.upstream_version(entry["version"]), PYTHONPATH=pbr,
        **debpkg.no_git(tree)), log=out / "build.log")
    debpkg.dh_install(tree / "debian" / ("%s.install" % name), stage, [tree])
    subst = {"python:Depends": py2_depends(stage, tree / "debian" / "pydist-overrides"),
             "misc:Depends": ""}
    fields = debpkg.binary_fields(stanzas[0], source, entry["version"], subst,
                                  ("Depends", "Recommends", "Suggests", "Enhances"))
    debpkg.install_docs(stage, fields["Package"], (tree / "debian" / "copyright").read_text(),
                        (tree / "debian" / "changelog").read_text(),
                        native="-" not in entry["version"], packaging_dir=tree / "debian")
    debpkg.build_deb(stage, fields, out, entry["epoch"],
                     scripts=debpkg.py2_scripts(fields["Package"]), compression="gzip")
    shutil.rmtree(parent)


def python2_packages(force=False):
    """python-nova-lxc-contrail, for the Python 2.7 series."""
    return cache.cached_debs("overlay-py2", overlay_inputs("python2"), _build_overlay_py2,
                             force)
