"""A series that is Debian's own nova source with our series appended.

Not a series itself (no pins entry; the leading underscore keeps it out of
build.series.get): the shared recipe of Debian series such as bookworm. What
one needs in build/pins.toml (see [series.bookworm]): ``debian_version``,
``sdist`` (the orig), ``debian`` (the debian.tar.* obtainable) and, when
the archive serves only binaries of ``debian_version``, ``reconstructed``;
``rebase`` for the rebase check. Its own changelog entry is
build/nova-debian/<name>.changelog.

`make debs` rebuilds Debian's nova with our series appended to
debian/patches/series and our changelog entry on top, by
``dpkg-buildpackage -b -us -uc`` with Debian's tools only (``env -i``,
PATH=/usr/sbin:/usr/bin:/sbin:/bin, so /usr/bin/python3 is the python3),
DEB_BUILD_OPTIONS="nocheck nodoc" (nova's tests of our patches run in
``make check``). Every binary package of Debian's control comes out; the
overlay's python3 package is built beside it (build/overlay.py).
"""

import os
import re
import shutil

from build import cache, check, debpkg, overlay, quilt, rebase, sources
from build.cache import TOP, work_dir
from build.log import BuildError
from build.series import Series

NOVA_DEBIAN = TOP / "build" / "nova-debian"
SUFFIX = "+lxccontrail"
STESTR_LIMIT = 1200     # seconds nova's unit tests may take


class DebianNova(Series):
    quilt_subdir = quilt.OUR_SUBDIR
    operator_packages = ("nova-compute-lxc", "python3-nova-lxc-contrail")
    build_jobs = 2      # nova's build and ours, one core each
    #: (distribution, version suffix) when our own package is a rebuild for
    #: another release than debian/changelog's (build/overlay.py)
    overlay_release = None

    # -- tree ---------------------------------------------------------------
    def fetch(self):
        sd, deb = self.pin["sdist"], self.pin["debian"]
        sources.pypi_sdist(sd["pypi_project"], sd["pypi_version"], sd["sha256"])
        sources.download(deb["url"], deb["name"], deb["sha256"])
        return "%s: sources verified" % self.name

    def unpack(self, into, source=None):
        if source:
            raise BuildError("series %s is built from its pins only (no source "
                             "override)" % self.name)
        return sources.unpack_debian_source(self.name, into)

    def quilt_patches(self, tree):
        quilt.add_to_debian_series(tree, self.name)
        return tree / "debian" / "patches"

    def debian_source(self):
        return sources.debian_source(self.name)

    # -- rebase check -------------------------------------------------------
    def rebase_targets(self):
        return rebase.debian_targets(self.name)

    def stale_base(self):
        return rebase.newer_base_failures(self.name)

    # -- make check ---------------------------------------------------------
    def tree(self):
        """The patched tree `make check`'s series stage leaves."""
        return work_dir("trees") / self.name

    def check_stages(self, when):
        if when == "prepare":
            return [("build-deps-%s" % self.name, self.stage_build_deps)]
        if when == "test":
            return [("nova-%s" % self.name, self.stage_nova_tests)]
        return []

    def stage_build_deps(self):
        self.runner().ensure_build_deps(self.tree())
        return check.Counts(passed=1)

    def stage_nova_tests(self):
        """nova's own unit tests of the modules our patches touch (stestr)."""
        mods = self.nova_test_modules()
        if not mods:
            print("SKIPPED: the %s series adds no nova tests yet" % self.name)
            return check.Counts(skipped=1)
        tree = self.runner().path(self.tree())
        cmd = [check.PY3, "-m", "stestr", "run", "--concurrency", str(os.cpu_count() or 2),
               "^(%s)" % "|".join(re.escape(m) for m in mods)]
        return check.stestr(self.runner(), cmd, tree, STESTR_LIMIT)

    # -- make debs ----------------------------------------------------------
    def entry(self):
        """Our changelog entry for the rebuild, checked against the pin."""
        path = NOVA_DEBIAN / ("%s.changelog" % self.name)
        entry = debpkg.changelog_entry(path.read_text())
        base = self.pin["debian_version"]
        rest = entry["version"][len(base):]
        if not (entry["version"].startswith(base + SUFFIX)
                and rest[len(SUFFIX):].isdigit()):
            raise BuildError("%s: version %s is not %s%sN"
                             % (path.relative_to(TOP), entry["version"], base, SUFFIX))
        return entry

    def nova_inputs(self):
        return {"pins": self.pin, "patches": cache.patch_digests(self.patches()),
                "debian": self.debian_source().inputs(),
                "changelog": self.entry()["text"], "options": debpkg.DEB_BUILD_OPTIONS}

    def build_nova(self, out):
        entry = self.entry()
        parent = cache.fresh_dir(work_dir("debs/build") / ("nova-%s" % self.name))
        tree = parent / ("nova-%s" % self.upstream_version)
        quilt.apply(self.name, tree)
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
        debpkg.build_deps(tree, "nova", self.runner())
        debpkg.dpkg_buildpackage(tree, out / "build.log", runner=self.runner())
        debpkg.collect(parent, debpkg.binary_packages(tree / "debian" / "control"),
                       entry["version"], out)
        shutil.rmtree(parent)

    def nova_packages(self, force=False):
        return cache.cached_debs("nova-%s" % self.name, self.nova_inputs(),
                                 self.build_nova, force)

    def overlay_packages(self, force=False):
        return overlay.python3_packages(force, self.runner(), self.overlay_release)

    def package_sets(self):
        return [self.nova_packages, self.overlay_packages]

    def epochs(self):
        return [self.entry()["epoch"]]

    def after_publish(self):
        print("base: %s" % self.debian_source().describe())
        try:
            stale = self.stale_base()
        except BuildError as exc:
            print("WARNING: cannot ask the archive whether Debian ships a newer nova: %s"
                  % exc)
            return 0
        for line in stale:
            print("FAIL: %s" % line)
        if not stale:
            print("base: no newer nova in %s" % ", ".join(self.pin["rebase"]["watch_suites"]))
        return 1 if stale else 0

