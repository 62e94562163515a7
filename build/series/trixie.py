"""trixie: Debian 13's nova (2:31.0.0-6+deb13u3, Epoxy, Python 3.13) with our series.

The shared Debian recipe (build/series/_debian.py), with one difference:
its packages are built and its tests run inside a trixie root
(build/debroot.py: mmdebstrap from the mirror the host's apt uses, cached by
its inputs), because the host's tools would build for the host's Python.
The root holds the build dependencies of Debian's nova and of our own
package, and lintian.
"""

import subprocess
import tempfile
from pathlib import Path

from build import debroot
from build.cache import TOP, work_dir
from build.series._debian import DebianNova


class Trixie(DebianNova):
    root_suite = "trixie"
    #: besides the build dependencies (of both control files)
    root_packages = ("lintian",)
    overlay_release = ("trixie", "+deb13")
    install_on = "a Debian 13 (trixie) compute node (copy dist/trixie/ there)"

    def __init__(self, name):
        super().__init__(name)
        self._runner = None

    def debian_control(self):
        """Debian's debian/control of the pinned source (what the root's
        build dependencies come from; our patches do not change it)."""
        dest = work_dir("roots") / ("%s-debian-control" % self.name)
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=str(dest)) as tmp:
            subprocess.run(["tar", "-xf", str(self.debian_source().tarball), "-C", tmp,
                            "debian/control"], check=True)
            (dest / "control").write_bytes((Path(tmp) / "debian" / "control").read_bytes())
        return dest / "control"

    def root(self):
        return debroot.Root(self.root_suite, packages=self.root_packages,
                            build_deps_of=[self.debian_control(), TOP / "debian" / "control"],
                            name=self.name)

    def runner(self):
        if self._runner is None:
            self._runner = debroot.Runner(self.root())
        return self._runner


RECIPE = Trixie
