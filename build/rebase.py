"""The rebase check: how each patch of a series fares on newer nova releases.

Each patch is tried, in series order, on top of those before it, with GNU
patch at fuzz 0 (what dpkg-source allows), and classified:

  applies           applies exactly
  offset            applies at fuzz 0, with line offsets
  needs-fuzz        applies only with fuzz (dpkg-source would refuse it)
  conflict          does not apply at all
  already-upstream  its reverse applies cleanly: the change is in the release
  file-gone         a file it modifies no longer exists

A patch that applied (with or without fuzz) stays applied for the patches
after it; one that conflicts, or is already upstream, is left out.
"""

import json
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from build import debpkg, debsrc, pins, quilt, series as series_recipes, sources
from build.cache import cache_dir, work_dir
from build.log import BuildError, progress, warn

STATUSES = ("applies", "offset", "needs-fuzz", "conflict", "already-upstream",
            "file-gone")
MAX_FUZZ = 2            # quilt's default: what "needs fuzz" means in practice

_OFFSET = re.compile(r"Hunk #(\d+) succeeded at (\d+) \(offset (-?\d+) lines?\)")


@dataclass
class Target:
    series: str
    label: str
    kind: str                       # base | pypi | debian | release
    fill: Callable                  # fill(tree_dir, wanted_paths)
    base: bool = False
    note: str = ""


@dataclass
class Result:
    patch: str
    status: str
    offsets: list = field(default_factory=list)


def _patch(tree, patch_file, *opts):
    cmd = ["patch", "-p1", "--force", "--no-backup-if-mismatch", "--reject-file=-",
           "-d", str(tree), "-i", str(patch_file), *opts]
    res = subprocess.run(cmd, capture_output=True, text=True, env={"LC_ALL": "C",
                                                                    "PATH": "/usr/bin:/bin"})
    return res.returncode == 0, res.stdout + res.stderr


def classify(tree, patch):
    """Classify PATCH (a pins.Patch) on TREE, applying it when it applies."""
    files = patch.files()
    clash = [p for p, created, _ in files if created and (Path(tree) / p).exists()]
    if not clash:
        ok, out = _patch(tree, patch.path, "--dry-run", "-F0")
        if ok:
            _patch(tree, patch.path, "-F0")
            offs = ["%s@%s%+d" % (h, ln, int(o)) for h, ln, o in _OFFSET.findall(out)]
            return Result(patch.name, "offset" if offs else "applies", offs)
    ok, _ = _patch(tree, patch.path, "--dry-run", "-R", "-F0")
    if ok:
        return Result(patch.name, "already-upstream")
    gone = [p for p, created, _ in files if not created and not (Path(tree) / p).exists()]
    if gone:
        return Result(patch.name, "file-gone", gone)
    if not clash:
        ok, _ = _patch(tree, patch.path, "--dry-run", "-F%d" % MAX_FUZZ)
        if ok:
            _patch(tree, patch.path, "-F%d" % MAX_FUZZ)
            return Result(patch.name, "needs-fuzz")
    return Result(patch.name, "conflict")


def run_target(target, patches):
    wanted = sorted({p for patch in patches for p, _c, _d in patch.files()})
    with tempfile.TemporaryDirectory(dir=work_dir("rebase")) as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        target.fill(tree, wanted)
        return [classify(tree, patch) for patch in patches]


# -- targets ------------------------------------------------------------------

def _pypi_fill(version):
    def fill(tree, wanted):
        sdist = sources.pypi_sdist("nova", version)
        sources.untar(sdist, tree, members=wanted)
    return fill


def debian_tree(orig, debian_tar, tree, wanted):
    """A Debian source tree holding only WANTED and the files Debian's own
    patches touch, with those patches pushed (fuzz 0, as dpkg-source does)."""
    sources.untar(debian_tar, tree, strip=0)
    _debian_patched(orig, tree, wanted)


def _debian_patched(orig, tree, wanted):
    """Unpack from ORIG the files WANTED and those of Debian's series, in
    TREE whose debian/ is there; push Debian's series."""
    need = set(wanted)
    for name in debian_series(tree):
        patch = pins.Patch(name, Path(tree) / "debian" / "patches" / name)
        need |= {p for p, _c, _d in patch.files()}
    sources.untar(orig, tree, members=sorted(need))
    quilt.quilt_push(tree, Path(tree) / "debian" / "patches")


def debian_series(tree):
    series = Path(tree) / "debian" / "patches" / "series"
    if not series.exists():
        return []
    return [ln.split()[0] for ln in series.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def _debian_base_fill(series):
    """The pinned base of a Debian series: Debian's source of the pinned
    version, or the newest obtainable one with the reconstructed difference
    (build/sources.py)."""
    def fill(tree, wanted):
        sources.unpack_debian(series, tree)
        _debian_patched(sources.pinned_sdist(series), tree, wanted)
    return fill


def _debian_fill(version):
    def fill(tree, wanted):
        dsc = debsrc.fetch_source("nova", version, cache_dir("debian-sources"))
        files = debsrc.dsc_files(dsc)
        orig = [f for f in files if ".orig.tar." in f.name]
        debian = [f for f in files if ".debian.tar." in f.name]
        if len(orig) != 1 or len(debian) != 1:
            raise BuildError("%s is not a 3.0 (quilt) source with one orig tarball"
                             % dsc.name)
        debian_tree(orig[0], debian[0], tree, wanted)
    return fill


def debian_targets(series):
    """A Debian series' targets: its pinned base, every nova release on PyPI
    from pin rebase.pypi_from on, and the newest Debian source of the suites
    rebase.debian_suites."""
    pin = pins.series_pins(series)
    rb = pin["rebase"]
    out = [Target(series, "%s %s" % (series, pin["debian_version"]), "base",
                  _debian_base_fill(series), base=True,
                  note="sdist + Debian's patches: the pinned base (%s)"
                  % sources.debian_source(series).describe())]
    for version in sources.pypi_releases("nova", rb["pypi_from"]):
        out.append(Target(series, "pypi %s" % version, "pypi", _pypi_fill(version),
                          note="upstream sdist, no Debian patches"))
    offered = [(v, s) for v, s, kind in debsrc.madison("nova")
               if kind == "Sources" and s in rb["debian_suites"]]
    # one target per upstream release Debian ships there (forky's and sid's
    # may differ), from its newest Debian revision the mirror serves
    by_upstream = {}
    for version in debsrc.newest_first(sorted({v for v, _ in offered})):
        by_upstream.setdefault(debpkg.upstream_version(version), []).append(version)
    for versions in by_upstream.values():
        out.append(Target(series, "debian %s" % versions[0], "debian",
                          _debian_first_available(versions),
                          note="Debian source with its own patches"))
    if not offered:
        warn("the mirror lists no nova source in %s" % ", ".join(rb["debian_suites"]))
    return out


def _debian_first_available(versions):
    """Fill from the newest source the mirror really serves (it may list a
    version whose files 404); the label is corrected afterwards."""
    def fill(tree, wanted):
        errors = []
        for version in versions:
            try:
                _debian_fill(version)(tree, wanted)
                fill.used = version
                fill.skipped = errors
                return
            except BuildError as exc:
                errors.append("%s: %s" % (version, exc))
        raise BuildError("no Debian source of nova could be fetched: %s" % "; ".join(errors))
    fill.used, fill.skipped = None, []
    return fill


def check(series_list, jobs=2):
    """Run the matrix; return the report (a dict) after printing the table."""
    report = {"series": {}, "warnings": []}
    stale = []
    for recipe in series_recipes.every(series_list):
        series = recipe.name
        patches = recipe.patches()
        targets = recipe.rebase_targets()
        if not targets:
            print(recipe.skip("no tree to try the patches on"))
            report["series"][series] = {"skipped": "%s tree not available" % series}
            continue
        progress("rebase-check", "%s: %d patches x %d targets"
                 % (series, len(patches), len(targets)))
        done = [0]

        def one(target):
            try:
                res = run_target(target, patches)
            except BuildError as exc:
                if target.base or target.kind != "debian":
                    raise
                # a newer Debian source the archive lists but does not serve
                # (404): the PyPI row of the same release still tries it
                report["warnings"].append("%s: %s not tried: %s" % (series, target.label, exc))
                target.note += "; not obtainable: %s" % exc
                res = None
            done[0] += 1
            progress("rebase-check", "%s [%d/%d] %s" % (series, done[0], len(targets),
                                                       target.label))
            return res

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, targets))
        rows = []
        for target, res in zip(targets, results):
            used = getattr(target.fill, "used", None)
            if used:
                target.label = "debian %s" % used
                for skipped in target.fill.skipped:
                    target.note += "; unavailable: %s" % skipped
            rows.append({"target": target.label, "kind": target.kind, "base": target.base,
                         "note": target.note,
                         "results": [{"patch": r.patch, "status": r.status,
                                      "details": r.offsets} for r in res or []]})
        report["series"][series] = {"patches": [p.name for p in patches], "rows": rows}
        print_table(series, [p.name for p in patches], rows)
        stale += recipe.stale_base()
    report["stale_base"] = stale                        # base_failures() has them
    for w in report["warnings"]:
        warn(w)
    return report


def newer_base_failures(series, offered=None):
    """Debian versions of SERIES' watched binary, newer than the base our
    series is built on: each is a failure. With our apt pin (>= 1000) a node would
    install our build of the older base instead of Debian's newer nova, and
    lose what Debian fixed in it. OFFERED: madison's rows (default: ask the
    archive through the private apt configuration)."""
    pin = pins.series_pins(series)
    rb = pin["rebase"]
    if offered is None:
        offered = debsrc.madison(rb["watch_binary"])
    out = []
    for version, suite, kind in offered:
        if kind == "Packages" and suite in rb["watch_suites"] and \
                debsrc.compare(version, "gt", pin["debian_version"]):
            out.append("%s offers %s %s, newer than %s, the base our %s series is "
                       "built on: our pinned packages would take its fixes away. Rebase "
                       "(README, \"A Debian security update\")"
                       % (suite, rb["watch_binary"], version, pin["debian_version"], series))
    return sorted(set(out))


SHORT = {"applies": "ok", "offset": "offset", "needs-fuzz": "FUZZ", "conflict": "CONFLICT",
         "already-upstream": "upstream", "file-gone": "GONE"}


def print_table(series, patch_names, rows):
    cols = ["P%d" % (i + 1) for i in range(len(patch_names))]
    width = max([len(r["target"]) for r in rows] + [6])
    print("\nrebase check, series %s" % series)
    print("  %-*s  %s" % (width, "target", "  ".join("%-9s" % c for c in cols)))
    for r in rows:
        cells = ["%-9s" % SHORT[x["status"]] for x in r["results"]] or \
            ["(source not obtainable: not tried)"]
        print("  %-*s  %s%s" % (width, r["target"], "  ".join(cells),
                                "   <- pinned base" if r["base"] else ""))
    for c, name in zip(cols, patch_names):
        print("  %s = %s" % (c, name))


def base_failures(report):
    """Patches that do not apply exactly (fuzz 0) on a series' pinned base,
    and a base older than what Debian ships."""
    bad = list(report.get("stale_base", []))
    for series, data in report["series"].items():
        for row in data.get("rows", []):
            if row["base"]:
                bad += ["%s: %s is %s on %s" % (series, r["patch"], r["status"], row["target"])
                        for r in row["results"] if r["status"] not in ("applies", "offset")]
    return bad


def write_json(report, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
