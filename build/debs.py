"""make debs: the patched nova packages and ours, as a local apt repository.

``build(series)`` fills ``dist/<series>/`` with .debs, Packages, Release and
the apt source + pin files (build/repo.py):

bookworm
    Debian's nova source (build/pins.toml) with our series appended to
    debian/patches/series (build/series.py), our changelog entry on top
    (build/nova-debian/bookworm.changelog), built by
    ``dpkg-buildpackage -b -us -uc`` with Debian's tools only (``env -i``,
    PATH=/usr/sbin:/usr/bin:/sbin:/bin, so /usr/bin/python3 is the python3),
    DEB_BUILD_OPTIONS="nocheck nodoc" (nova's tests of our patches run in
    ``make check``). Every binary package of Debian's control comes out.
    Plus python3-nova-lxc-contrail from our own debian/ (dh + pybuild),
    built at the same time on the second core.
icehouse
    python-nova, nova-common, nova-compute, nova-compute-libvirt and
    nova-compute-lxc from NOVA_SOURCE with our series (build/icehouse_debs.py)
    and python-nova-lxc-contrail (Python 2.7), both assembled with dpkg-deb.

Each set of .debs is cached under ``.work/debs/cache/<kind>-<key>``, where
the key hashes exactly its inputs (pins, our patches, changelog entry and
packaging data, the build code itself): a change to overlay/ rebuilds only our own
package, and an unchanged tree rebuilds nothing. ``SOURCE_DATE_EPOCH``
comes from each changelog's top entry (dpkg-buildpackage does this itself;
the dpkg-deb assembly does it here), so the same inputs give the same bytes:
``check_reproducible(series)`` (``build.cli debs --check-reproducible``)
builds everything a second time and compares.
"""

import fcntl
import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from build import debpkg, deps, pins, repo, series as series_mod, sources
from build.cache import TOP, cache_dir, work_dir
from build.log import BuildError, progress

# The recipe is part of every cache key: the code that builds the packages
RECIPE = ("debs.py", "debpkg.py", "icehouse_debs.py", "series.py")
DEB_BUILD_OPTIONS = "nocheck nodoc"
NOVA_DEBIAN = TOP / "build" / "nova-debian"
OVERLAY_DEBIAN = TOP / "debian"
PY2_PROFILE = "pkg.nova-lxc-contrail.python2"
SUFFIX = "+lxccontrail"
# what the overlay's source package is made of: the checkout, less the
# project's own machinery (never the overlay's content, whatever it grows)
NOT_OVERLAY = ("tests/", "build/", "bench/", "patches/", ".ci/", "dist/", ".work/")
PBR_PY27 = "pbr==5.11.1"         # the last pbr line that installs on Python 2.7
SKIP_ICEHOUSE = "SKIPPED: icehouse tree not available (set NOVA_SOURCE=...)"
KEEP = 2                         # cached builds kept per kind


# -- helpers ----------------------------------------------------------------------

def _key(inputs):
    blob = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _tree_digests(root, names):
    return {str(n): _digest(Path(root) / n) for n in sorted(names)}


@contextmanager
def lock():
    path = work_dir("debs") / ".lock"
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("debs", "waiting for another `make debs` to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def fresh_dir(path):
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def cached(kind, inputs, builder, force=False):
    """The .debs of KIND built from INPUTS, built by BUILDER(out) if absent."""
    key = _key([_tree_digests(TOP / "build", RECIPE), inputs])
    store = work_dir("debs/cache") / ("%s-%s" % (kind, key))
    if (store / "DONE").exists() and not force:
        progress(kind, "inputs unchanged: reusing %s" % store.name)
        return sorted(store.glob("*.deb"))
    t0 = time.monotonic()
    with sources.staging(store) as tmp:
        builder(tmp)
        (tmp / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True,
                                                    default=str) + "\n")
        (tmp / "DONE").write_text(key + "\n")
    progress(kind, "built in %.0f s: %s" % (time.monotonic() - t0, " ".join(
        p.name.split("_")[0] for p in sorted(store.glob("*.deb")))))
    _prune(store.parent, kind, keep=store)
    return sorted(store.glob("*.deb"))


def _prune(parent, kind, keep):
    done = sorted((p for p in parent.glob(kind + "-*") if (p / "DONE").exists()),
                  key=lambda p: (p != keep, -p.stat().st_mtime))
    for old in done[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


_APT = threading.Lock()          # one apt-get at a time (dpkg's lock)


def build_deps(tree, what):
    try:
        with _APT:
            deps.ensure_build_deps(tree)
    except BuildError as exc:
        raise BuildError("cannot install the build dependencies of %s: %s" % (what, exc))


def dpkg_buildpackage(tree, log, nice=0):
    """dpkg-buildpackage -b -us -uc in a clean environment.

    -nc: the tree is always freshly unpacked, so `debian/rules clean` (which
    imports setup.py) has nothing to clean. SOURCE_DATE_EPOCH is set by
    dpkg-buildpackage from the changelog's top entry. The tree is no git
    checkout, whatever encloses it (see debpkg.no_git). NICE lowers the
    priority of a build that runs beside nova's (the one everyone waits for)."""
    progress("build", "dpkg-buildpackage -b -us -uc (DEB_BUILD_OPTIONS=%s) in %s, log %s"
             % (DEB_BUILD_OPTIONS, tree, log))
    debpkg.run(["nice", "-n", str(nice), "dpkg-buildpackage", "-b", "-us", "-uc", "-nc"],
               "dpkg-buildpackage of %s" % Path(tree).name, log=log, cwd=tree,
               env=debpkg.clean_env(DEB_BUILD_OPTIONS=DEB_BUILD_OPTIONS,
                                    **debpkg.no_git(tree)))


def binary_packages(control_path, profiles=()):
    """Names of the binary packages CONTROL builds with PROFILES active."""
    out = []
    for para in debpkg.parse_paragraphs(Path(control_path).read_text())[1:]:
        wanted = para.get("Build-Profiles", "")
        if wanted and not any(p in wanted for p in profiles):
            continue
        out.append(para["Package"])
    return out


def collect(parent, names, version, out):
    """Move the .debs NAMES of VERSION from PARENT into OUT; all must exist."""
    found = []
    for name in names:
        deb = Path(parent) / ("%s_%s_all.deb" % (name, debpkg.file_version(version)))
        if not deb.exists():
            raise BuildError("the build did not produce %s (look in %s)" % (deb.name, parent))
        found.append(Path(shutil.move(deb, Path(out) / deb.name)))
    for extra in Path(parent).glob("*.buildinfo"):
        shutil.move(extra, Path(out) / extra.name)
    return found


# -- bookworm: Debian's nova with our series ---------------------------------

def bookworm_entry():
    """Our changelog entry for the bookworm rebuild, checked against the pin."""
    pin = pins.series_pins("bookworm")
    entry = debpkg.changelog_entry((NOVA_DEBIAN / "bookworm.changelog").read_text())
    base = pin["debian_version"]
    rest = entry["version"][len(base):]
    if not (entry["version"].startswith(base + SUFFIX) and rest[len(SUFFIX):].isdigit()):
        raise BuildError("build/nova-debian/bookworm.changelog: version %s is not %s%sN"
                         % (entry["version"], base, SUFFIX))
    return entry


def _patch_inputs(series):
    return [(p.name, _digest(p.path)) for p in pins.patch_series(series)]


def bookworm_nova_inputs():
    return {"pins": pins.series_pins("bookworm"), "patches": _patch_inputs("bookworm"),
            "debian": sources.bookworm_debian_source().inputs(),
            "changelog": bookworm_entry()["text"], "options": DEB_BUILD_OPTIONS}


def _build_bookworm_nova(out):
    pin = pins.series_pins("bookworm")
    entry = bookworm_entry()
    parent = fresh_dir(work_dir("debs/build") / "nova-bookworm")
    tree = parent / ("nova-%s" % pin["upstream_version"])
    series_mod.apply("bookworm", tree)
    # the sdist's pbr ChangeLog would become a 580 KB changelog.gz in every package
    (tree / "ChangeLog").unlink(missing_ok=True)
    # What Debian's build does not see either (tests/packaging/test_debian_equality.py):
    # nova.egg-info, which `debian/rules clean` removes (-nc skips it), would bring
    # the sdist's pbr.json; AUTHORS, which pbr writes into sdists only (Debian's orig
    # comes from the git tag), would add "License-File: AUTHORS" to PKG-INFO.
    shutil.rmtree(tree / "nova.egg-info", ignore_errors=True)
    (tree / "AUTHORS").unlink(missing_ok=True)
    changelog = tree / "debian" / "changelog"
    changelog.write_text(entry["text"] + "\n" + changelog.read_text())
    build_deps(tree, "nova")
    dpkg_buildpackage(tree, out / "build.log")
    collect(parent, binary_packages(tree / "debian" / "control"), entry["version"], out)
    shutil.rmtree(parent)


def bookworm_nova(force=False):
    return cached("nova-bookworm", bookworm_nova_inputs(), _build_bookworm_nova, force)


# -- the overlay's own packages ------------------------------------------------

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
    inputs = {"flavor": flavor, "files": _tree_digests(TOP, overlay_files())}
    if flavor == "python2":
        from build import py27env
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
    parent = fresh_dir(work_dir("debs/build") / kind)
    tree = parent / ("%s-%s" % (entry["source"], debpkg.upstream_version(entry["version"])))
    return entry, parent, copy_overlay(tree, entry["epoch"])


def _build_overlay_py3(out):
    entry, parent, tree = _overlay_tree("overlay-py3")
    debpkg.sdist_manifest(tree)
    build_deps(tree, "nova-lxc-contrail")
    dpkg_buildpackage(tree, out / "build.log", nice=10)
    collect(parent, binary_packages(tree / "debian" / "control"), entry["version"], out)
    shutil.rmtree(parent)


def overlay_py3(force=False):
    return cached("overlay-py3", overlay_inputs("python3"), _build_overlay_py3, force)


def py27_pbr(python):
    """A pbr that installs on Python 2.7, in its own directory of the cache
    (the Python 2.7 venvs are the test environments; pbr is only ours)."""
    target = cache_dir("py27") / ("pkg-" + PBR_PY27.replace("==", "-"))
    if not (target / "pbr" / "__init__.py").exists():
        progress("py27", "installing %s for packaging into %s" % (PBR_PY27, target))
        with sources.staging(target) as tmp:
            debpkg.run([python, "-m", "pip", "install", "-q", "--no-deps",
                        "--disable-pip-version-check", "--target", tmp, PBR_PY27],
                       "pip install %s" % PBR_PY27)
    return target


def py2_depends(stage, overrides_file):
    """Depends of a Python 2.7 package from its egg-info requires.txt, as
    dh_python2 derived them: python-<name>, or debian/pydist-overrides."""
    from packaging.markers import Marker
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
    from build import py27env
    entry, parent, tree = _overlay_tree("overlay-py2")
    control = debpkg.parse_paragraphs((tree / "debian" / "control").read_text())
    source = control[0]
    stanzas = [p for p in control[1:] if PY2_PROFILE in p.get("Build-Profiles", "")]
    if len(stanzas) != 1:
        raise BuildError("debian/control: expected one package with Build-Profiles <%s>"
                         % PY2_PROFILE)
    fields = {k: v for k, v in stanzas[0].items() if k != "Build-Profiles"}
    python = py27env.ensure_venv("core")
    pbr = py27_pbr(python)
    stage = parent / "stage"
    progress("overlay-py2", "python2.7 setup.py install (PBR_VERSION=%s)"
             % debpkg.upstream_version(entry["version"]))
    debpkg.py27_install(python, tree, stage, debpkg.clean_env(
        PBR_VERSION=debpkg.upstream_version(entry["version"]), PYTHONPATH=pbr,
        **debpkg.no_git(tree)), log=out / "build.log")
    for info in stage.glob("usr/lib/python2.7/dist-packages/*.egg-info"):
        (info / "SOURCES.txt").unlink(missing_ok=True)    # build paths, no use
    debpkg.dh_install(tree / "debian" / ("%s.install" % fields["Package"]), stage, [tree])
    subst = {"python:Depends": py2_depends(stage, tree / "debian" / "pydist-overrides"),
             "misc:Depends": ""}
    for rel in ("Depends", "Recommends", "Suggests", "Enhances"):
        if rel in fields:
            fields[rel] = debpkg.substitute(fields[rel], subst)
    fields.update({"Source": source["Source"], "Version": entry["version"],
                   "Maintainer": source["Maintainer"],
                   "Section": fields.get("Section", source.get("Section")),
                   "Priority": fields.get("Priority", source.get("Priority")),
                   "Homepage": source.get("Homepage")})
    debpkg.install_docs(stage, fields["Package"], (tree / "debian" / "copyright").read_text(),
                        (tree / "debian" / "changelog").read_text(),
                        native="-" not in entry["version"], packaging_dir=tree / "debian")
    debpkg.build_deb(stage, fields, out, entry["epoch"],
                     scripts=debpkg.py2_scripts(fields["Package"]), compression="gzip")
    shutil.rmtree(parent)


def overlay_py2(force=False):
    return cached("overlay-py2", overlay_inputs("python2"), _build_overlay_py2, force)


# -- dist/<series> ----------------------------------------------------------------

def dist_dir(series):
    return TOP / "dist" / series


def publish(series, debs, epoch):
    """Replace dist/SERIES with DEBS and their repository index, at once.

    EPOCH (the newest changelog entry's date) is the Release file's Date."""
    dist = dist_dir(series)
    with sources.staging(dist) as tmp:
        tmp.chmod(0o755)
        for deb in debs:
            try:
                os.link(deb, tmp / deb.name)
            except OSError:
                shutil.copy2(deb, tmp / deb.name)
        repo.write(tmp, series, epoch, location=dist)
    return dist


def build(series, force=False):
    """Build SERIES into dist/SERIES; return the list of .debs published."""
    pins.series_pins(series)
    deps.ensure(["base", "packaging"])
    with lock():
        epochs = [overlay_entry()["epoch"]]
        if series == "bookworm":
            epochs.append(bookworm_entry()["epoch"])
            with ThreadPoolExecutor(2) as pool:
                nova = pool.submit(bookworm_nova, force)
                ours = pool.submit(overlay_py3, force)
                debs = nova.result() + ours.result()
        elif series == "icehouse":
            debs = overlay_py2(force)
            if sources.icehouse_available():
                from build import icehouse_debs
                debs = icehouse_debs.build(force) + debs
                epochs.append(icehouse_debs.entry()["epoch"])
            else:
                print(SKIP_ICEHOUSE, flush=True)
        else:
            raise BuildError("series %s has no package recipe" % series)
        dist = publish(series, debs, max(epochs))
    return dist, debs


def check_reproducible(series):
    """Build SERIES twice from the same inputs; the .debs must be identical.

    Returns (number identical, {deb name: differences}); the first build of
    a differing .deb is kept in .work/debs/repro-first/ for a closer look."""
    kinds = {"bookworm": [bookworm_nova, overlay_py3],
             "icehouse": [overlay_py2]}[series]
    if series == "icehouse" and sources.icehouse_available():
        from build import icehouse_debs
        kinds.insert(0, icehouse_debs.build)
    keep = fresh_dir(work_dir("debs") / "repro-first")
    differ, same = {}, 0
    with lock():
        for builder in kinds:
            first = {p.name: Path(shutil.copy2(p, keep / p.name)) for p in builder()}
            second = {p.name: p for p in builder(force=True)}
            for name in sorted(first):
                if name in second and filecmp.cmp(first[name], second[name],
                                                  shallow=False):
                    same += 1
                    first[name].unlink()
                else:
                    differ[name] = deb_differences(first[name], second.get(name))
    return same, differ


def _members(deb, part):
    """{name: (mode, owner, mtime, sha256)} of a .deb's control or data tar."""
    import io
    import tarfile
    blob = subprocess.run(["dpkg-deb", "--%s-tarfile" % part, str(deb)],
                          capture_output=True, check=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        for m in tf.getmembers():
            data = tf.extractfile(m).read() if m.isfile() else m.linkname.encode()
            out[m.name] = (oct(m.mode), "%s:%s" % (m.uname, m.gname), m.mtime,
                           hashlib.sha256(data).hexdigest()[:12])
    return out


def deb_differences(a, b):
    """What differs between two builds of a .deb (a small diffoscope)."""
    if b is None:
        return ["missing in the second build"]
    out = []
    for part in ("ctrl", "fsys"):
        one, two = _members(a, part), _members(b, part)
        for name in sorted(set(one) | set(two)):
            if one.get(name) != two.get(name):
                what = ("only in one build" if name not in one or name not in two else
                        ", ".join(label for label, x, y in zip(
                            ("mode", "owner", "mtime", "content"), one[name], two[name])
                            if x != y))
                out.append("%s %s: %s" % (part, name, what))
    return out or ["the ar container (member headers)"]


def base_is_current():
    """Say (as `make rebase-check` fails on it) when Debian ships a newer
    nova than our base; 0 when it does not, 1 when it does."""
    from build import rebase
    try:
        stale = rebase.newer_base_failures()
    except BuildError as exc:
        print("WARNING: cannot ask the archive whether Debian ships a newer nova: %s" % exc)
        return 0
    for line in stale:
        print("FAIL: %s" % line)
    if not stale:
        print("base: no newer nova in %s"
              % ", ".join(pins.series_pins("bookworm")["rebase"]["watch_suites"]))
    return 1 if stale else 0


OPERATOR_PACKAGES = {"bookworm": ["nova-compute-lxc", "python3-nova-lxc-contrail"],
                     "icehouse": ["nova-compute-lxc", "python-nova-lxc-contrail"]}


def main(args):
    """`make debs`: build each series, print what was published and how to use it."""
    status = 0
    for series in args.series or ["bookworm"]:
        t0 = time.monotonic()
        if args.check_reproducible:
            same, differ = check_reproducible(series)
            print("%s: %d .debs identical in two builds, %d different"
                  % (series, same, len(differ)))
            for name, what in differ.items():
                more = " ..." if len(what) > 5 else ""
                print("  %s differs: %s%s" % (name, "; ".join(what[:5]), more))
            status = status or bool(differ)
            continue
        dist, debs = build(series, force=args.force)
        print("%s: %d packages in %s (%.0f s)" % (series, len(debs), dist,
                                                  time.monotonic() - t0))
        for deb in debs:
            print("  %s" % deb.name)
        print("Release signed (InRelease, Release.gpg) by %s; public key: %s"
              % (repo.signer_label(dist), dist / repo.KEY_NAME))
        if series == "bookworm":
            print("base: %s" % sources.bookworm_debian_source().describe())
            status = base_is_current() or status
        print("to install on this machine, as root:")
        for line in repo.operator_lines(dist, OPERATOR_PACKAGES[series]):
            print("  %s" % line)
    return status
