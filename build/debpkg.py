"""Debian package plumbing shared by the package builds.

- a clean build environment (Debian's own tools and /usr/bin/python3, never
  a version manager's python3 first on PATH);
- deb822 paragraphs and changelog entries (what dpkg-parsechangelog reads);
- .debs assembled with dpkg-deb from a staged tree, for the Python 2.7
  packages that no debhelper on bookworm can build (dh_python2 is gone):
  control, md5sums and conffiles written as dh_gencontrol, dh_md5sums and
  dh_installdeb would, modes normalised as dh_fixperms does, every mtime
  clamped to SOURCE_DATE_EPOCH so that the same inputs give the same bytes.
"""

import configparser
import email.utils
import glob
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

from debian import changelog, deb822

from build.log import BuildError, progress
from build.run import HOST, run

PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DEB_BUILD_OPTIONS = "nocheck nodoc"


def clean_env(**extra):
    """`env -i` plus the few variables a Debian build needs."""
    env = {"HOME": os.environ.get("HOME") or "/root", "PATH": PATH,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def no_git(tree):
    """Environment that hides any enclosing git repository from TREE.

    The build trees live in .work/ of the checkout by default: pbr would
    find the checkout's .git and write *our* history into nova's ChangeLog
    (changelog.gz in every package) and our commit id into pbr.json, so the
    packages would change with every commit of this project."""
    return {"GIT_CEILING_DIRECTORIES": str(Path(tree).resolve().parent)}


def sdist_manifest(tree):
    """Make TREE look like a release tarball to pbr: an egg-info SOURCES.txt
    listing every file, unless it has one.

    Without git (no_git), pbr takes the package data (non-.py files such as
    nova's migrate.cfg or the overlay's .thrift) from SOURCES.txt; a tree
    from `git archive` or our copy of the checkout has none. The egg-info
    goes where setuptools looks: below [files] packages_root, named after
    [metadata] name."""
    tree = Path(tree)
    cfg = configparser.ConfigParser()
    cfg.read(tree / "setup.cfg")
    base = cfg.get("files", "packages_root", fallback=".").strip() or "."
    name = re.sub(r"[^A-Za-z0-9.]+", "_", cfg.get("metadata", "name"))
    manifest = tree / base / ("%s.egg-info" % name) / "SOURCES.txt"
    if manifest.exists():
        return manifest
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*")
                   if (p.is_file() or p.is_symlink())
                   and not {".pc", ".git", "debian", "__pycache__"} & set(
                       p.relative_to(tree).parts) and p.suffix != ".pyc")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("\n".join(files) + "\n")
    return manifest


# -- deb822 ---------------------------------------------------------------------

def parse_paragraphs(text):
    """deb822 text (debian/control, Packages) as a list of field dicts.

    Continuation lines are kept, joined with newlines, as dpkg keeps them;
    comment lines are dropped (python3-debian's deb822 parser)."""
    return [dict(para) for para in deb822.Deb822.iter_paragraphs(text.splitlines())]


def format_paragraph(fields):
    out = []
    for key, value in fields.items():
        if value is None or value == "":
            continue
        first, *rest = value.split("\n")
        out.append("%s: %s" % (key, first.strip()) if first.strip() else "%s:" % key)
        out.extend(rest)
    return "\n".join(out) + "\n"


def substitute(value, substvars):
    """${name} substitution in a relationship field; empty items vanish."""
    for name, sub in substvars.items():
        value = value.replace("${%s}" % name, sub)
    return ", ".join(fold_list(value))


def fold_list(value):
    """A relationship field's items, whatever the line breaks."""
    return [p.strip() for p in value.replace("\n", " ").split(",") if p.strip()]


# -- changelogs -----------------------------------------------------------------

def changelog_entry(text):
    """The first entry of a debian/changelog text (python3-debian's parser):
    its fields, SOURCE_DATE_EPOCH and its own text, verbatim."""
    try:
        block = changelog.Changelog(text, max_blocks=1, strict=True)[0]
    except (changelog.ChangelogParseError, IndexError, ValueError) as exc:
        raise BuildError("not a debian/changelog entry: %r (%s)"
                         % ((text.splitlines() or [""])[0], exc))
    if not block.date:
        raise BuildError("debian/changelog entry %s has no trailer line" % block.version)
    lines = text.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith(" -- "))
    return {"source": block.package, "version": str(block.version),
            "distribution": block.distributions, "urgency": block.urgency,
            "maintainer": block.author,
            "epoch": int(email.utils.parsedate_to_datetime(block.date).timestamp()),
            "text": "\n".join(lines[:end + 1]) + "\n"}


def upstream_version(version):
    """'2:26.2.2-1~deb12u4' -> '26.2.2' (no epoch, no Debian revision)."""
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def file_version(version):
    """The version as it appears in a .deb's file name (no epoch)."""
    return version.split(":", 1)[-1]


def gzip_n(data):
    """gzip -9n: no name, no timestamp (reproducible)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9,
                       mtime=0) as f:
        f.write(data)
    return buf.getvalue()


# -- staged .debs ---------------------------------------------------------------

FIELD_ORDER = ("Package", "Source", "Version", "Architecture", "Maintainer",
               "Installed-Size", "Pre-Depends", "Depends", "Recommends", "Suggests",
               "Enhances", "Breaks", "Conflicts", "Replaces", "Provides", "Section",
               "Priority", "Homepage", "Description")
SCRIPTS = ("preinst", "postinst", "prerm", "postrm", "config", "templates", "triggers")


def install_docs(stage, package, copyright_text, changelog_text, native=False,
                 packaging_dir=None):
    """What dh_installdocs, dh_installchangelogs and dh_lintian install:
    usr/share/doc/PACKAGE/{copyright,changelog[.Debian].gz}, and
    PACKAGING_DIR/PACKAGE.lintian-overrides when there is one."""
    doc = Path(stage) / "usr" / "share" / "doc" / package
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "copyright").write_text(copyright_text)
    name = "changelog.gz" if native else "changelog.Debian.gz"
    (doc / name).write_bytes(gzip_n(changelog_text.encode()))
    overrides = packaging_dir and Path(packaging_dir) / ("%s.lintian-overrides" % package)
    if overrides and overrides.exists():
        target = Path(stage) / "usr" / "share" / "lintian" / "overrides" / package
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(overrides, target)


def copy_into(src, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)


def _resolve(pattern, bases, debian_dir, what):
    if debian_dir and pattern.startswith("debian/"):
        bases, pattern = [debian_dir], pattern[len("debian/"):]
    for base in bases:
        hits = sorted(glob.glob(str(Path(base) / pattern)))
        if hits:
            return [(Path(h), Path(h).relative_to(base)) for h in hits]
    raise BuildError("%s: %s matches nothing (looked in %s)"
                     % (what, pattern, ", ".join(str(b) for b in bases)))


def dh_install(install_file, stage, bases, debian_dir=None):
    """dh_install for the packages assembled here. Each line of INSTALL_FILE
    (if it exists) is ``SRC [DIR]`` or, as dh-exec writes it, ``SRC => PATH``;
    SRC is a glob looked up in BASES in order (``debian/...`` in DEBIAN_DIR
    when given). Without DIR a file keeps its path relative to its base."""
    install_file, stage = Path(install_file), Path(stage)
    if not install_file.exists():
        return
    for line in install_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=>" in line:
            src, dest = (s.strip() for s in line.split("=>"))
            hits = _resolve(src, bases, debian_dir, install_file.name)
            if len(hits) != 1:
                raise BuildError("%s: %s must match one file" % (install_file.name, src))
            copy_into(hits[0][0], stage / dest)
            continue
        src, _, dest_dir = line.partition(" ")
        for path, rel in _resolve(src, bases, debian_dir, install_file.name):
            copy_into(path, stage / dest_dir.strip() / path.name if dest_dir.strip()
                      else stage / rel)


def _walk(stage):
    for root, dirs, files in os.walk(stage):
        dirs.sort()
        rel = Path(root).relative_to(stage)
        if rel.parts[:1] == ("DEBIAN",):
            continue
        for name in sorted(dirs) + sorted(files):
            yield Path(root) / name, rel / name


def normalise(stage, modes=None):
    """dh_fixperms: 0755 dirs and executables, 0644 the rest, MODES first."""
    modes = modes or {}
    for path, rel in _walk(stage):
        if path.is_symlink():
            continue
        if str(rel) in modes:
            path.chmod(modes[str(rel)])
        elif path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def installed_size(stage):
    """KiB, as dpkg-gencontrol counts: each file rounded up, 1 per dir/link."""
    total = 0
    for path, _rel in _walk(stage):
        if path.is_file() and not path.is_symlink():
            total += (path.stat().st_size + 1023) // 1024
        else:
            total += 1
    return total


def build_deb(stage, control, out_dir, epoch, scripts=None, modes=None,
              compression="xz"):
    """Turn the payload tree STAGE into a .deb in OUT_DIR; return its path.

    CONTROL: the binary paragraph (Installed-Size is computed). SCRIPTS:
    maintainer scripts by name. MODES: {relative path: mode} exceptions to
    dh_fixperms' rule. Every file under etc/ is a conffile (dh_installdeb).
    """
    stage = Path(stage)
    normalise(stage, modes)
    meta = stage / "DEBIAN"
    if meta.exists():
        shutil.rmtree(meta)
    meta.mkdir()
    meta.chmod(0o755)
    md5sums, conffiles = [], []
    for path, rel in _walk(stage):
        if path.is_file() and not path.is_symlink():
            md5sums.append("%s  %s\n" % (hashlib.md5(path.read_bytes()).hexdigest(), rel))
            if rel.parts[0] == "etc":
                conffiles.append("/%s\n" % rel)
    fields = dict(control)
    fields["Installed-Size"] = str(installed_size(stage))
    ordered = {k: fields[k] for k in FIELD_ORDER if fields.get(k)}
    ordered.update({k: v for k, v in fields.items() if k not in ordered and v})
    files = {"control": format_paragraph(ordered), "md5sums": "".join(md5sums),
             "conffiles": "".join(conffiles)}
    for name, text in (scripts or {}).items():
        if name not in SCRIPTS:
            raise BuildError("unknown maintainer script %s" % name)
        files[name] = text
    for name, text in files.items():
        if text:
            (meta / name).write_text(text)
            executable = name in SCRIPTS and name not in ("templates", "triggers")
            (meta / name).chmod(0o755 if executable else 0o644)
    for root, dirs, names in os.walk(stage):
        for name in dirs + names + ["."]:
            os.utime(Path(root) / name, (epoch, epoch), follow_symlinks=False)
    name = "%s_%s_%s.deb" % (fields["Package"], file_version(fields["Version"]),
                             fields["Architecture"])
    out = Path(out_dir) / name
    run(["dpkg-deb", "--root-owner-group", "-Z%s" % compression, "--build",
         stage, out], "dpkg-deb --build %s" % name,
        env=clean_env(SOURCE_DATE_EPOCH=epoch))
    return out


def deb_fields(deb):
    """The control paragraph of a built .deb."""
    out = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                         check=True).stdout
    return parse_paragraphs(out)[0]


# -- Python 2.7 payloads --------------------------------------------------------

def py27_install(python, srcdir, root, env, log):
    """`setup.py install` with Debian's layout into ROOT, as dh_python2 did.

    Scripts get `#!/usr/bin/python2.7` (not the build venv's), the
    egg-info loses its -py2.7 suffix and nothing is byte-compiled (the
    package's postinst runs pycompile on the target)."""
    sdist_manifest(srcdir)
    run([python, "setup.py", "install", "--root=%s" % root, "--prefix=/usr",
         "--install-layout=deb", "--no-compile", "--force"],
        "python2.7 setup.py install (%s)" % Path(srcdir).name, log=log,
        cwd=srcdir, env=dict(env, PYTHONDONTWRITEBYTECODE="1"))
    root = Path(root)
    for script in sorted((root / "usr" / "bin").glob("*")):
        data = script.read_bytes()
        if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
            script.write_bytes(b"#!/usr/bin/python2.7\n" + data.split(b"\n", 1)[1])
    for info in (root / "usr/lib/python2.7/dist-packages").glob("*-py2.7.egg-info"):
        info.rename(info.with_name(info.name.replace("-py2.7.egg-info", ".egg-info")))
    for junk in list(root.rglob("*.py[co]")) + list(root.rglob("__pycache__")):
        if junk.is_dir():
            shutil.rmtree(junk)
        elif junk.exists():
            junk.unlink()


def py27_root(python, srcdir, root, env, log):
    """py27_install of SRCDIR into ROOT, less the egg-info's SOURCES.txt
    (build paths, of no use): the installed root a Python 2.7 package's
    files are taken from."""
    py27_install(python, srcdir, root, env, log)
    for info in Path(root).glob("usr/lib/python2.7/dist-packages/*.egg-info"):
        (info / "SOURCES.txt").unlink(missing_ok=True)
    return Path(root)


def binary_fields(para, source, version, substvars, relations):
    """A binary package's control fields as dh_gencontrol writes them: PARA
    (its debian/control paragraph, less Build-Profiles) with ${...} of the
    RELATIONS fields substituted, plus what it inherits from SOURCE (the
    source paragraph) and VERSION."""
    fields = {k: v for k, v in para.items() if k != "Build-Profiles"}
    for rel in relations:
        if rel in fields:
            fields[rel] = substitute(fields[rel], substvars)
    fields.update({"Source": source["Source"], "Version": version,
                   "Maintainer": source["Maintainer"],
                   "Section": fields.get("Section", source.get("Section")),
                   "Priority": fields.get("Priority", source.get("Priority")),
                   "Homepage": source.get("Homepage")})
    return fields


PY2_POSTINST = """\
#!/bin/sh
set -e
# byte-compile the package's modules, as dh_python2's snippet does
if which pycompile >/dev/null 2>&1; then
\tpycompile -p {package}
fi
"""
PY2_PRERM = """\
#!/bin/sh
set -e
# remove the byte-compiled files, as dh_python2's snippet does
if which pyclean >/dev/null 2>&1; then
\tpyclean -p {package}
else
\tdpkg -L {package} | grep '\\.py$' | while read file; do
\t\trm -f "${{file}}"[co] >/dev/null
\tdone
fi
"""


def py2_scripts(package):
    return {"postinst": PY2_POSTINST.format(package=package),
            "prerm": PY2_PRERM.format(package=package)}


# -- dpkg-buildpackage ------------------------------------------------------------

_APT = threading.Lock()          # one apt-get at a time (dpkg's lock)


def build_deps(tree, what, runner=HOST):
    """Install TREE's build dependencies where RUNNER builds."""
    try:
        with _APT:
            runner.ensure_build_deps(tree)
    except BuildError as exc:
        raise BuildError("cannot install the build dependencies of %s: %s" % (what, exc))


def dpkg_buildpackage(tree, log, nice=0, runner=HOST):
    """dpkg-buildpackage -b -us -uc in a clean environment.

    -nc: the tree is always freshly unpacked, so `debian/rules clean` (which
    imports setup.py) has nothing to clean. SOURCE_DATE_EPOCH is set by
    dpkg-buildpackage from the changelog's top entry. The tree is no git
    checkout, whatever encloses it (see no_git). NICE lowers the priority of
    a build that runs beside nova's (the one everyone waits for)."""
    progress("build", "dpkg-buildpackage -b -us -uc (DEB_BUILD_OPTIONS=%s) in %s, log %s"
             % (DEB_BUILD_OPTIONS, tree, log))
    runner.run(["nice", "-n", str(nice), "dpkg-buildpackage", "-b", "-us", "-uc", "-nc"],
               "dpkg-buildpackage of %s" % Path(tree).name, log=log,
               cwd=runner.path(tree),
               env=clean_env(DEB_BUILD_OPTIONS=DEB_BUILD_OPTIONS, **no_git(tree)))


def binary_packages(control_path, profiles=()):
    """Names of the binary packages CONTROL builds with PROFILES active."""
    out = []
    for para in parse_paragraphs(Path(control_path).read_text())[1:]:
        wanted = para.get("Build-Profiles", "")
        if wanted and not any(p in wanted for p in profiles):
            continue
        out.append(para["Package"])
    return out


def collect(parent, names, version, out):
    """Move the .debs NAMES of VERSION from PARENT into OUT; all must exist."""
    found = []
    for name in names:
        deb = Path(parent) / ("%s_%s_all.deb" % (name, file_version(version)))
        if not deb.exists():
            raise BuildError("the build did not produce %s (look in %s)" % (deb.name, parent))
        found.append(Path(shutil.move(deb, Path(out) / deb.name)))
    for extra in Path(parent).glob("*.buildinfo"):
        shutil.move(extra, Path(out) / extra.name)
    return found
