"""Our quilt series applied with fuzz 0 on a series' verified pristine tree.

dpkg-source applies a 3.0 (quilt) package's patches with ``-F 0``; quilt's
own default fuzz is 2. Applying with ``--fuzz=0`` here predicts exactly what
the package build will do.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

from build import pins, series as series_recipes
from build.cache import TOP, sha256_file, staging, work_dir
from build.log import BuildError, progress

OUR_SUBDIR = "lxc-contrail"     # where our patches go inside debian/patches/
ABSENT = "absent"


# -- verification by version + manifest of pre-images (pins: "manifest") ------

def manifest_path(series):
    return TOP / pins.series_pins(series)["manifest"]


def read_manifest(series):
    path = manifest_path(series)
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                digest, name = line.split(None, 1)
                out[name.strip()] = digest
    return out


def write_manifest(series, tree):
    """Record the pre-images of SERIES taken from the trusted TREE."""
    verify_version(series, tree)
    lines = ["# sha256 of every file patches/%s touches, as in nova %s (pre-images)."
             % (series, pins.series_pins(series)["upstream_version"]),
             "# 'absent' marks files the series creates. Regenerate with",
             "# `make manifest NOVA_SOURCE=<trusted tree>` after changing the series."]
    for name, must_exist in sorted(pins.series_files(series).items()):
        path = Path(tree) / name
        if must_exist:
            if not path.is_file():
                raise BuildError("%s: the series patches %s, which the tree lacks"
                                 % (tree, name))
            lines.append("%s  %s" % (sha256_file(path), name))
        else:
            lines.append("%s  %s" % (ABSENT, name))
    out = manifest_path(series)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def tree_version(tree):
    """nova's version as setup.cfg (git trees) or PKG-INFO (sdists) says."""
    for name, pattern in (("setup.cfg", r"^version\s*=\s*(\S+)"),
                          ("PKG-INFO", r"^Version:\s*(\S+)")):
        path = Path(tree) / name
        m = path.is_file() and re.search(pattern, path.read_text(errors="replace"), re.M)
        if m:
            return m.group(1)
    return None


def verify_version(series, tree, label=None):
    want = pins.series_pins(series)["upstream_version"]
    got = tree_version(tree)
    if got != want:
        raise BuildError("%s is not nova %s (its version: %s)"
                         % (label or tree, want, got or "none found"))


def verify_manifest(series, tree, label=None):
    """Refuse a tree whose pre-images differ from the committed manifest."""
    label = label or tree
    verify_version(series, tree, label)
    manifest = read_manifest(series)
    missing = sorted(set(pins.series_files(series)) - set(manifest))
    if missing:
        raise BuildError("manifest %s is stale: it lacks %s (regenerate with "
                         "`make manifest NOVA_SOURCE=...`)"
                         % (manifest_path(series).relative_to(TOP), missing[0]))
    for name, digest in sorted(manifest.items()):
        path = Path(tree) / name
        if digest == ABSENT:
            if path.exists():
                raise BuildError("%s: %s exists, but the series creates it"
                                 % (label, name))
        elif not path.is_file():
            raise BuildError("%s: %s is missing" % (label, name))
        elif sha256_file(path) != digest:
            raise BuildError("%s: %s differs from nova %s (sha256 %s, expected %s)"
                             % (label, name,
                                pins.series_pins(series)["upstream_version"],
                                sha256_file(path), digest))


# -- quilt --------------------------------------------------------------------

_HUNK = re.compile(r"Hunk #(\d+) succeeded at (\d+)(?: \((?:offset (-?\d+) lines?)?"
                   r"(?:, )?(?:with fuzz (\d+))?\))?")


def quilt_push(tree, patches_dir):
    """``quilt push -a --fuzz=0`` in TREE; return {patch: [offset notes]}."""
    env = dict(os.environ, QUILT_PATCHES=str(patches_dir), QUILT_PC=".pc",
               LC_ALL="C")
    res = subprocess.run(["quilt", "--quiltrc", "-", "push", "-a", "--fuzz=0"],
                         cwd=tree, env=env, capture_output=True, text=True)
    out = res.stdout + res.stderr
    if res.returncode != 0 and "No patches in series" not in out:
        bad = [ln for ln in out.splitlines()
               if "FAILED" in ln or "does not apply" in ln or "can't find" in ln]
        raise BuildError("quilt push --fuzz=0 failed in %s: %s"
                         % (tree, "; ".join(bad[-3:]) or out.strip().splitlines()[-1]))
    report, current, current_file = {}, None, None
    for line in out.splitlines():
        if line.startswith("Applying patch "):
            current = line[len("Applying patch "):].strip()
            current = os.path.relpath(current, patches_dir) if os.path.isabs(current) \
                else current
            report[current] = []
        elif line.startswith("patching file "):
            current_file = line[len("patching file "):].strip()
        else:
            m = _HUNK.search(line)
            if m and m.group(3):
                report[current].append("%s hunk %s offset %s"
                                       % (current_file, m.group(1), m.group(3)))
    return report


def apply(series, dest=None, source=None):
    """Unpack the verified pristine tree of SERIES and push our series.

    SOURCE overrides where the tree comes from (a series that allows it).
    Returns (tree, report) where report maps each of our patches to the list
    of offsets quilt reported for it (empty when it applied exactly).
    """
    recipe = series_recipes.get(series)
    dest = Path(dest) if dest else work_dir("trees") / series
    ours = recipe.patches()
    with staging(dest) as tmp:
        recipe.unpack(tmp, source)
        patches_dir = recipe.quilt_patches(tmp)
        progress(series, "quilt push -a --fuzz=0 (%d patches of ours)" % len(ours))
        report = quilt_push(tmp, patches_dir)
    prefix = recipe.quilt_subdir + "/" if recipe.quilt_subdir else ""
    mine = {p.name: report.get(prefix + p.name, None) for p in ours}
    not_applied = [name for name, notes in mine.items() if notes is None]
    if not_applied:
        raise BuildError("%s: quilt did not apply %s" % (series, not_applied[0]))
    return dest, mine


def add_to_debian_series(tree, series):
    """Copy our series into debian/patches/<OUR_SUBDIR>/ after Debian's own."""
    debpatches = Path(tree) / "debian" / "patches"
    target = debpatches / OUR_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    ours = pins.patch_series(series)
    with open(debpatches / "series", "a") as f:
        f.write("# nova-lxc-contrail: LXC + Contrail series, appended by build/quilt.py\n")
        for patch in ours:
            shutil.copy2(patch.path, target / patch.name)
            f.write("%s/%s\n" % (OUR_SUBDIR, patch.name))
    return [p.name for p in ours]
