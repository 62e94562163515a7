"""apt with a private configuration and root, for tests that must not
touch the host's apt state or trust its keys; and minimal real .debs."""

import os
import shutil
import subprocess
from pathlib import Path

from build import debpkg


class PrivateApt:
    """apt-get with a configuration and state of its own under ROOT."""

    def __init__(self, root):
        self.root = Path(root)
        for d in ("lists/partial", "cache/archives/partial", "trusted.gpg.d", "etc"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "status").write_text("")
        settings = {
            "Dir::Etc::SourceList": self.root / "etc" / "sources.list",
            "Dir::Etc::SourceParts": self.root / "etc",
            "Dir::Etc::Trusted": self.root / "trusted.gpg",
            "Dir::Etc::TrustedParts": self.root / "trusted.gpg.d",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": "/dev/null",
            "Dir::State::Lists": self.root / "lists",
            "Dir::State::status": self.root / "status",
            "Dir::Cache": self.root / "cache",
            "APT::Architecture": "amd64",
        }
        body = "".join('%s "%s";\n' % kv for kv in settings.items())
        if os.geteuid() == 0:
            body += 'APT::Sandbox::User "root";\n'
        self.conf = self.root / "apt.conf"
        self.conf.write_text(body)

    def sources(self, line):
        (self.root / "etc" / "sources.list").write_text(line)

    def run(self, *args):
        env = dict(os.environ, APT_CONFIG=str(self.conf), LC_ALL="C")
        res = subprocess.run(["apt-get", "-q", *args], cwd=self.root, env=env,
                             capture_output=True, text=True)
        return res.returncode, res.stdout + res.stderr

    def run_cache(self, *args):
        env = dict(os.environ, APT_CONFIG=str(self.conf), LC_ALL="C")
        res = subprocess.run(["apt-cache", *args], cwd=self.root, env=env,
                             capture_output=True, text=True)
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
    debpkg.run(["dpkg-deb", "--root-owner-group", "-b", stage, deb], "dpkg-deb -b")
    shutil.rmtree(stage)
    return deb
