"""apt with a private configuration and root, for tests that must not
touch the host's apt state or trust its keys; and minimal real .debs."""

import shutil
from pathlib import Path

from build import aptconf, debpkg
from build.run import run


class PrivateApt(aptconf.PrivateApt):
    """apt-get with a configuration, state and trusted keys of its own under
    ROOT (build/aptconf.py); run() gives (exit status, output)."""

    def __init__(self, root):
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / "status").write_text("")
        super().__init__(root, status=Path(root) / "status", trusted=True)

    def run(self, *args):
        res = super().run(["apt-get", "-q", *args], check=False, cwd=self.root)
        return res.returncode, res.stdout + res.stderr

    def run_cache(self, *args):
        res = super().run(["apt-cache", *args], check=False, cwd=self.root)
        return res.returncode, res.stdout + res.stderr

    def update(self):
        return self.run("update")

    def download(self, package):
        return self.run("download", package)


def probe_deb(where, package, version):
    """A real, minimal .deb PACKAGE=VERSION, made in WHERE."""
    stage = Path(where) / ("stage-%s" % package)
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "usr/share/doc" / package).mkdir(parents=True)
    (stage / "usr/share/doc" / package / "README").write_text("test probe\n")
    (stage / "DEBIAN" / "control").write_text(
        "Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: nobody <n@example.org>\n"
        "Description: probe for the repository tests\n" % (package, version))
    deb = Path(where) / ("%s_%s_all.deb" % (package, debpkg.file_version(version)))
    run(["dpkg-deb", "--root-owner-group", "-b", stage, deb], "dpkg-deb -b")
    shutil.rmtree(stage)
    return deb
