"""make bench: the cost of `make debs` (bookworm) against Debian's own build.

Measured in the same run, sources already downloaded:

1. baseline: a plain build of the unpatched Debian source, as Debian builds
   it: sdist + Debian's debian/ unpacked, `dpkg-buildpackage -b -us -uc -nc`
   (dpkg-source applies Debian's patches), same clean environment and
   DEB_BUILD_OPTIONS, the sdist's pbr ChangeLog removed as ours is;
2. `make debs` from cold (`build.cli debs --force`: series applied with
   quilt, our changelog entry, nova built, python3-nova-lxc-contrail built
   beside it, the repository indexed). Goal: <= 1.15 x the baseline;
3. the rebuild after a change to overlay/ only, in a copy of the checkout
   sharing the build cache (nova must not be rebuilt). Goal: < 15 s;
4. `make debs` with nothing changed.

1 and 2 run BENCH_ROUNDS times (default 2), interleaved; the fastest of each
is compared (the machine may be shared). Wall time is the goal's measure;
CPU time (of all processes run) is shown beside it.
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from build import cache, debpkg, deps, pins, sources  # noqa: E402
from build.cache import work_dir  # noqa: E402
from build.run import run  # noqa: E402
from build.log import progress  # noqa: E402

PY3 = "/usr/bin/python3"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))


def timed(func, *args):
    """(wall seconds, CPU seconds of the processes it ran): the machine may be
    shared, and CPU time is what the build itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    func(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - t0, (after.ru_utime - before.ru_utime
                                   + after.ru_stime - before.ru_stime)


def baseline():
    """Debian's own build of nova 2:26.2.2-1~deb12u4, without our series."""
    pin = pins.series_pins("bookworm")
    parent = cache.fresh_dir(work_dir("bench") / "debian-nova")
    tree = parent / ("nova-%s" % pin["upstream_version"])
    tree.mkdir()
    sd, deb = pin["sdist"], pin["debian"]
    sources.untar(sources.pypi_sdist(sd["pypi_project"], sd["pypi_version"], sd["sha256"]),
                  tree)
    sources.untar(sources.download(deb["url"], deb["name"], deb["sha256"]), tree, strip=0)
    (tree / "ChangeLog").unlink(missing_ok=True)
    run(["dpkg-buildpackage", "-b", "-us", "-uc", "-nc"], "baseline build",
        log=parent / "build.log", cwd=tree,
        env=debpkg.clean_env(DEB_BUILD_OPTIONS=debpkg.DEB_BUILD_OPTIONS,
                             **debpkg.no_git(tree)))
    built = list(parent.glob("*.deb"))
    shutil.rmtree(parent)
    return built


def make_debs(top, *extra):
    env = dict(os.environ, NLC_WORK=str(work_dir()))
    subprocess.run([PY3, "-m", "build.cli", "debs", "--series", "bookworm", *extra],
                   cwd=top, env=env, check=True, stdout=subprocess.DEVNULL)


def checkout_copy(dest):
    """The checkout's files as `git ls-files` sees them (no .git, no .work)."""
    for name in subprocess.run(["git", "-C", str(TOP), "ls-files", "-z", "--cached",
                                "--others", "--exclude-standard"], capture_output=True,
                               check=True).stdout.decode().split("\0"):
        if name and (TOP / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TOP / name, dest / name)


def main():
    deps.ensure(["base", "packaging"])
    progress("bench", "warming: sources and build dependencies")
    make_debs(TOP)
    runs = {"base": [], "cold": []}
    for i in range(ROUNDS):          # interleaved; the fastest of each counts
        progress("bench", "round %d: baseline (Debian's nova, unpatched)" % (i + 1))
        runs["base"].append(timed(baseline))
        progress("bench", "round %d: make debs from cold (--force)" % (i + 1))
        runs["cold"].append(timed(make_debs, TOP, "--force"))
    t_base, t_cold = min(runs["base"]), min(runs["cold"])
    with tempfile.TemporaryDirectory(dir=work_dir("bench")) as tmp:
        copy = Path(tmp) / "checkout"
        checkout_copy(copy)
        make_debs(copy)                       # the copy's overlay, as it is
        init = copy / "overlay" / "nova_lxc_contrail" / "__init__.py"
        # a change never seen before (a cached build of it would be reused)
        init.write_text(init.read_text() + "\n# bench: overlay-only change %d\n" % time.time_ns())
        progress("bench", "make debs after an overlay-only change (copy of the checkout)")
        t_overlay = timed(make_debs, copy)
        # nova not rebuilt: both dist/ link the one cached python3-nova .deb
        nova = sorted((TOP / "dist" / "bookworm").glob("python3-nova_*.deb"))
        reused = bool(nova) and (copy / "dist" / "bookworm" / nova[0].name).samefile(nova[0])
    t_warm = timed(make_debs, TOP)
    ratio = t_cold[0] / t_base[0]
    cpu_ratio = t_cold[1] / t_base[1]
    print("make debs, bookworm (nova %s + our series + python3-nova-lxc-contrail)"
          % pins.series_pins("bookworm")["debian_version"])
    print("                                          wall      CPU")
    print("  Debian's build, unpatched (baseline)  %6.1f s  %6.1f s" % t_base)
    verdict = "met" if ratio <= 1.15 else "NOT met"
    print("  make debs from cold                   %6.1f s  %6.1f s   ratio %.2fx wall, "
          "%.2fx CPU   goal <= 1.15x: %s" % (t_cold + (ratio, cpu_ratio, verdict)))
    print("  make debs after an overlay-only change %5.1f s  %6.1f s   goal < 15 s: %s%s"
          % (t_overlay + ("met" if t_overlay[0] < 15 else "NOT met",
                          "" if reused else " (nova was rebuilt!)")))
    print("  make debs, nothing changed            %6.1f s  %6.1f s" % t_warm)
    print("  (load average %.1f: other work on this machine slows wall times)"
          % os.getloadavg()[0])


if __name__ == "__main__":
    main()
