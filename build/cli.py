"""Command line of the build; the Makefile's targets call these commands.

    /usr/bin/python3 -m build.cli fetch [SERIES...]
    /usr/bin/python3 -m build.cli series [SERIES...] [--dest DIR]
    /usr/bin/python3 -m build.cli manifest SERIES         (a series verified by manifest)
    /usr/bin/python3 -m build.cli rebase-check [--series S] [--json FILE] [--strict]
    /usr/bin/python3 -m build.cli check [STAGE...]
    /usr/bin/python3 -m build.cli deps
    /usr/bin/python3 -m build.cli debs [--series S] [--force] [--check-reproducible]
"""

import argparse
import sys
import time

from build import bench, check, debs, deps, quilt, rebase, repo, series as series_recipes
from build.cache import staging, work_dir
from build.log import BuildError


def cmd_fetch(args):
    for recipe in series_recipes.every(args.series):
        print(recipe.fetch())
    return 0


def cmd_series(args):
    for recipe in series_recipes.every(args.series):
        name = recipe.name
        if recipe.unavailable():
            print(recipe.skip())
            continue
        dest = (args.dest and "%s/%s" % (args.dest, name)) or None
        tree, report = quilt.apply(name, dest)
        for patch, offsets in report.items():
            print("%s: %s %s" % (name, patch,
                                 "applied (fuzz 0, offsets: %s)" % ", ".join(offsets)
                                 if offsets else "applied exactly (fuzz 0)"))
        print("%s: %d patches applied in %s" % (name, len(report), tree))
    return 0


def cmd_manifest(args):
    recipe = series_recipes.get(args.series)
    if "manifest" not in recipe.pin:
        raise BuildError("series %s is not verified by a manifest" % recipe.name)
    if recipe.unavailable():
        raise BuildError("%s: give a trusted tree to write the manifest from"
                         % recipe.unavailable())
    with staging(work_dir("trees") / "manifest-source") as tmp:
        recipe.unpack(tmp, verify=False)
        out = quilt.write_manifest(recipe.name, tmp)
    print("wrote %s" % out)
    return 0


def cmd_rebase_check(args):
    names = [r.name for r in series_recipes.every(args.series)]
    report = rebase.check(names, jobs=args.jobs)
    json_path = args.json or str(work_dir() / "rebase-check.json")
    rebase.write_json(report, json_path)
    print("JSON report: %s" % json_path)
    bad = rebase.base_failures(report)
    for line in bad:
        print("FAIL: %s" % line)
    if args.strict:
        bad += ["%s: %s is %s on %s" % (s, r["patch"], r["status"], row["target"])
                for s, data in report["series"].items() for row in data.get("rows", [])
                for r in row["results"] if r["status"] not in ("applies", "offset")]
    return 1 if bad else 0


def cmd_check(args):
    return check.main(args.only)


def cmd_bench(args):
    return bench.main(args.only)


def cmd_deps(args):
    installed = deps.ensure()
    print("deps: %s" % ("installed %s" % " ".join(installed) if installed
                        else "all Debian packages present"))
    return 0


def cmd_debs(args):
    """`make debs`: build each series, print what was published and how to use it."""
    status = 0
    default = [r.name for r in series_recipes.every() if r.built_by_default]
    for series in args.series or default:
        t0 = time.monotonic()
        if args.check_reproducible:
            same, differ = debs.check_reproducible(series)
            print("%s: %d .debs identical in two builds, %d different"
                  % (series, same, len(differ)))
            for name, what in differ.items():
                more = " ..." if len(what) > 5 else ""
                print("  %s differs: %s%s" % (name, "; ".join(what[:5]), more))
            status = status or bool(differ)
            continue
        dist, built = debs.build(series, force=args.force)
        print("%s: %d packages in %s (%.0f s)" % (series, len(built), dist,
                                                  time.monotonic() - t0))
        for deb in built:
            print("  %s" % deb.name)
        print("Release signed (InRelease, Release.gpg) by %s; public key: %s"
              % (repo.signer_label(dist), dist / repo.KEY_NAME))
        recipe = series_recipes.get(series)
        status = recipe.after_publish() or status
        print("to install on %s, as root:" % recipe.install_on)
        for line in repo.operator_lines(dist, recipe.operator_packages):
            print("  %s" % line)
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m build.cli",
                                     description="nova-lxc-contrail build")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="download and verify the pinned sources")
    p.add_argument("series", nargs="*")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("series", help="apply our quilt series (fuzz 0) on verified trees")
    p.add_argument("series", nargs="*")
    p.add_argument("--dest", help="parent directory of the patched trees")
    p.set_defaults(func=cmd_series)
    p = sub.add_parser("manifest", help="record the pre-images of a series")
    p.add_argument("series")
    p.set_defaults(func=cmd_manifest)
    p = sub.add_parser("rebase-check", help="classify each patch on newer releases")
    p.add_argument("--series", action="append")
    p.add_argument("--json")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--strict", action="store_true",
                   help="fail on anything but a clean apply, on every target")
    p.set_defaults(func=cmd_rebase_check)
    p = sub.add_parser("check", help="run every test that can run here")
    p.add_argument("only", nargs="*", help="run only these stages")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("bench", help="run the benchmark scripts in bench/")
    p.add_argument("only", nargs="*")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("deps", help="install the Debian packages build and tests need")
    p.set_defaults(func=cmd_deps)
    p = sub.add_parser("debs", help="build the packages and the local apt repository")
    p.add_argument("--series", action="append",
                   help="a series of build/pins.toml (default: those its recipe "
                        "builds by default); may be repeated")
    p.add_argument("--force", action="store_true", help="rebuild even unchanged inputs")
    p.add_argument("--check-reproducible", action="store_true",
                   help="build everything twice and compare the .debs byte for byte")
    p.set_defaults(func=cmd_debs)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BuildError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
