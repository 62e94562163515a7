"""Command line of the build; the Makefile's targets call these commands.

    /usr/bin/python3 -m build.cli fetch [SERIES...]
    /usr/bin/python3 -m build.cli series [SERIES...] [--dest DIR]
    /usr/bin/python3 -m build.cli manifest icehouse       (needs NOVA_SOURCE)
    /usr/bin/python3 -m build.cli rebase-check [--series S] [--json FILE] [--strict]
    /usr/bin/python3 -m build.cli check [STAGE...]
    /usr/bin/python3 -m build.cli deps
    /usr/bin/python3 -m build.cli debs [--series S] [--force] [--check-reproducible]
"""

import argparse
import sys

from build import pins, rebase, series as series_mod, sources
from build.cache import work_dir
from build.log import BuildError, progress

SKIP_ICEHOUSE = "SKIPPED: icehouse tree not available (set NOVA_SOURCE=...)"


def _series_args(names):
    names = names or pins.series_names()
    for name in names:
        pins.series_pins(name)          # unknown series -> BuildError
    return names


def cmd_fetch(args):
    for name in _series_args(args.series):
        if name == "bookworm":
            pin = pins.series_pins(name)
            sd, deb = pin["sdist"], pin["debian"]
            sources.pypi_sdist(sd["pypi_project"], sd["pypi_version"], sd["sha256"])
            sources.download(deb["url"], deb["name"], deb["sha256"])
            print("bookworm: sources verified")
        elif not sources.icehouse_available():
            print(SKIP_ICEHOUSE)
        else:
            print("icehouse: %s (verified when unpacked)" % sources._icehouse_source(None))
    return 0


def cmd_series(args):
    for name in _series_args(args.series):
        if name == "icehouse" and not sources.icehouse_available():
            print(SKIP_ICEHOUSE)
            continue
        dest = (args.dest and "%s/%s" % (args.dest, name)) or None
        tree, report = series_mod.apply(name, dest)
        for patch, offsets in report.items():
            print("%s: %s %s" % (name, patch,
                                 "applied (fuzz 0, offsets: %s)" % ", ".join(offsets)
                                 if offsets else "applied exactly (fuzz 0)"))
        print("%s: %d patches applied in %s" % (name, len(report), tree))
    return 0


def cmd_manifest(args):
    if args.series != "icehouse":
        raise BuildError("only the icehouse series is verified by manifest")
    if not sources.icehouse_available():
        raise BuildError("set NOVA_SOURCE to a trusted nova 2014.1.5 tree to write the manifest")
    with sources.staging(work_dir("trees") / "manifest-source") as tmp:
        sources.unpack_icehouse(tmp)
        out = series_mod.write_manifest("icehouse", tmp)
    print("wrote %s" % out)
    return 0


def cmd_rebase_check(args):
    names = _series_args(args.series)
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
    from build import check
    return check.main(args.only)


def cmd_bench(args):
    from build import bench
    return bench.main(args.only)


def cmd_deps(args):
    from build import deps
    installed = deps.ensure()
    print("deps: %s" % ("installed %s" % " ".join(installed) if installed
                        else "all Debian packages present"))
    return 0


def cmd_debs(args):
    from build import debs
    return debs.main(args)


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
                   help="bookworm (default) or icehouse; may be repeated")
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
