"""apt with a private configuration: the system's apt state is never touched.

A root directory of our own holds the sources list, the package lists and
the cache (and, when asked, a status file and trusted keys); APT_CONFIG
points apt-get and apt-cache at it. apt still verifies the Release
signatures (against debian-archive-keyring unless the root has its own
trusted keys) and every file's checksum. Used by build/debsrc.py (Debian's
sources and newer versions), build/py27env.py (bullseye's python2.7) and the
packaging tests (tests/packaging/aptroot.py).
"""

import os
import pwd
import subprocess
from functools import lru_cache
from pathlib import Path

from build import run


@lru_cache(maxsize=None)
def architecture():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()


class PrivateApt:
    """apt-get and apt-cache with a configuration and state of their own.

    ROOT: the directory; STATUS: a dpkg status file (default /dev/null:
    nothing is installed as far as this apt knows); TRUSTED: keep trusted
    keys in ROOT (default: the system's keyrings); OPTIONS: more apt.conf
    settings, in order (e.g. {"Acquire::Languages": "none"})."""

    def __init__(self, root, status=None, trusted=False, options=None, clear=()):
        self.root = Path(root)
        for sub in ("lists/partial", "cache/archives/partial", "etc"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        settings = {
            "Dir::Etc::SourceList": self.sources_list,
            "Dir::Etc::SourceParts": self.root / "etc" if trusted else "/dev/null",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": "/dev/null",
            "Dir::State::Lists": self.root / "lists",
            "Dir::State::status": status or "/dev/null",
            "Dir::Cache": self.root / "cache",
            "APT::Architecture": architecture(),
        }
        if trusted:
            (self.root / "trusted.gpg.d").mkdir(exist_ok=True)
            settings.update({"Dir::Etc::Trusted": self.root / "trusted.gpg",
                             "Dir::Etc::TrustedParts": self.root / "trusted.gpg.d"})
        settings.update(options or {})
        # apt drops its privileges for downloads to _apt, who cannot write
        # into our root: download as the user we are
        settings["APT::Sandbox::User"] = pwd.getpwuid(os.geteuid()).pw_name
        body = "".join("#clear %s;\n" % name for name in clear) + "".join(
            '%s "%s";\n' % kv for kv in settings.items())
        self.conf = self.root / "apt.conf"
        if not self.conf.exists() or self.conf.read_text() != body:
            self.conf.write_text(body)

    @property
    def sources_list(self):
        return self.root / "sources.list"

    def sources(self, text):
        """Set the sources list; True when it changed (the lists are stale)."""
        if self.sources_list.exists() and self.sources_list.read_text() == text:
            return False
        self.sources_list.write_text(text)
        return True

    def env(self):
        return dict(os.environ, APT_CONFIG=str(self.conf), LC_ALL="C")

    def run(self, args, what=None, check=True, cwd=None):
        """apt-get/apt-cache ARGS (a list starting with the tool) with this
        configuration; a failure is a BuildError naming WHAT (when CHECK)."""
        return run.run(args, what or " ".join(str(a) for a in args[:2]), check=check,
                       cwd=cwd, env=self.env())
