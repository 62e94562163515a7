"""One recipe per series: everything that makes a series what it is.

A series is a nova tree plus our quilt series ``patches/<name>/`` plus the
packages built from them, named by a ``[series.<name>]`` table of
build/pins.toml. Its recipe is the module ``build/series/<name>.py``, which
defines ``RECIPE``, a subclass of :class:`Series`. The generic steps
(build/quilt.py, sources, debs, rebase, check, cli) never compare a series'
name: they call ``get(name)`` or ``every()`` and ask the recipe.

Adding a series is: a pins entry, a ``patches/<name>/`` directory (its
``series`` file and patches) and one recipe module. Whatever the recipe does
not say is the default of :class:`Series` below; the defaults describe a
series whose tree comes unpacked and verified from the recipe's ``unpack``
and whose commands run on this host.

Where commands run
------------------
A series whose packages must be built and tested inside a root of another
Debian suite (Debian 13's nova needs trixie's Python and debhelper) says so
with ``root_suite`` and returns, from ``runner()``, an object with the
interface of :class:`build.run.Host` (``run``, ``path``,
``ensure_build_deps``) that runs there. The generic steps run every command
of a series' build and tests through ``series.runner()``, so no generic
code branches on where that is. The default is the host.
"""

import importlib
import re

from build import pins, run
from build.log import BuildError


class Series:
    """The defaults of a recipe; a recipe overrides what differs.

    NAME is the pins table's name (``[series.NAME]``), given by ``get``.
    """

    # -- identity -----------------------------------------------------------
    #: how a NOVA_SOURCE-like override of the tree is asked for, shown by skip()
    source_hint = ""
    #: Debian suite whose root the series' commands run in; None: this host
    root_suite = None
    #: binary packages an operator installs on a compute node (make debs says so)
    operator_packages = ()
    #: where those are installed, in `make debs`' hint ("to install on ...")
    install_on = "this machine"
    #: built by `make debs` without --series
    built_by_default = False
    #: package sets `make debs` builds at once (see package_sets)
    build_jobs = 1
    #: where our patches go inside the quilt series the build pushes ("" for
    #: none, "lxc-contrail" for a Debian source's debian/patches/lxc-contrail/)
    quilt_subdir = ""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "<series %s>" % self.name

    @property
    def pin(self):
        """This series' table of build/pins.toml."""
        return pins.series_pins(self.name)

    @property
    def python(self):
        """The Python the series' nova runs on ("2.7", "3", "3.13")."""
        return self.pin["python"]

    @property
    def upstream_version(self):
        return self.pin["upstream_version"]

    @property
    def patches_dir(self):
        return pins.PATCHES / self.name

    def patches(self):
        """Our patches of this series, in series order (pins.Patch)."""
        return pins.patch_series(self.name)

    # -- can it run here ----------------------------------------------------
    def unavailable(self):
        """Why this series' tree cannot be had here, or None when it can.

        The default: always available (its sources are pinned downloads)."""
        return None

    def skip(self, what=""):
        """THE line a step prints when it cannot run for this series: the one
        place "SKIPPED: <series> tree not available" is written."""
        return "SKIPPED: %s tree not available%s%s" % (
            self.name, " (%s)" % self.source_hint if self.source_hint else "",
            ": %s" % what if what else "")

    # -- where its commands run ---------------------------------------------
    def runner(self):
        """Where the series' build and test commands run (build.run.Host's
        interface). A series with ``root_suite`` returns a runner of that
        root; the default is this machine."""
        if self.root_suite:
            raise BuildError("series %s runs in a %s root, but its recipe gives no "
                             "runner for it" % (self.name, self.root_suite))
        return run.HOST

    # -- its tree -----------------------------------------------------------
    def fetch(self):
        """Download and verify what the tree is made of; a one-line summary."""
        raise NotImplementedError

    def unpack(self, into, source=None):
        """The verified pristine tree (SOURCE: an override, e.g. NOVA_SOURCE)
        into the empty directory INTO."""
        raise NotImplementedError

    def quilt_patches(self, tree):
        """Prepare TREE for our series; return the directory quilt pushes from.

        The default pushes patches/<name>/ itself; a Debian source appends
        ours to debian/patches/series (build.quilt.add_to_debian_series)."""
        return self.patches_dir

    # -- the rebase check ---------------------------------------------------
    def rebase_targets(self):
        """[build.rebase.Target]: the trees our patches are tried on, the
        pinned base among them (base=True). [] means the check is skipped
        (with skip())."""
        return []

    def stale_base(self):
        """Lines saying the archive has a newer base than our pin (each one
        fails the rebase check and `make debs`); [] when current."""
        return []

    # -- make check ---------------------------------------------------------
    def nova_test_modules(self):
        """nova's test modules our patches add tests to (what check runs)."""
        mods = []
        for patch in self.patches():
            for path, _created, deleted in patch.files():
                if re.match(r"nova/tests/.*test_[^/]*\.py$", path) and not deleted:
                    mod = path[:-3].replace("/", ".")
                    if mod not in mods:
                        mods.append(mod)
        return mods

    def check_stages(self, when):
        """[(stage name, function() -> build.check.Counts)] this series adds to
        `make check` at WHEN: "prepare" (after its tree is patched, before the
        project's own tests) or "test" (after the project's own tests: nova's
        unit tests of the patched tree, the series' environments)."""
        return []

    # -- make debs ----------------------------------------------------------
    def package_sets(self):
        """[build(force=False) -> [.deb paths]]: each cached set of packages
        `make debs` builds for the series (build.cache.cached_debs). A set
        that cannot be built here is left out, after printing skip()."""
        return []

    def epochs(self):
        """SOURCE_DATE_EPOCHs of the changelogs its package sets come from
        (the newest dates the repository's Release file)."""
        return []

    def after_publish(self):
        """Print what the operator should know after dist/<name> is written;
        return a non-zero status when something is wrong (a stale base)."""
        return 0


def names():
    """The series of build/pins.toml, sorted."""
    return pins.series_names()


_RECIPES = {}


def get(name):
    """The recipe of series NAME (build/series/NAME.py's RECIPE)."""
    if name not in _RECIPES:
        pins.series_pins(name)              # unknown series -> BuildError
        try:
            module = importlib.import_module("build.series.%s" % name)
        except ModuleNotFoundError as exc:
            if exc.name != "build.series.%s" % name:
                raise
            raise BuildError("series %s is in build/pins.toml but has no recipe "
                             "build/series/%s.py" % (name, name))
        _RECIPES[name] = module.RECIPE(name)
    return _RECIPES[name]


def every(selected=None):
    """The recipes of SELECTED names (default: every series), in order."""
    return [get(n) for n in (selected or names())]
