"""A local, signed apt repository per series, and the pin that keeps it in charge.

``dist/<series>/`` is a flat repository (Packages, Packages.gz, Release,
made by apt-ftparchive; ``InRelease`` and ``Release.gpg`` signed with gpg)
with three files for /etc/apt:

- ``nova-lxc-contrail.gpg``: the public key that signed it (binary, as
  ``signed-by`` wants it), for ``/etc/apt/keyrings/``;
- ``nova-lxc-contrail.list``: ``deb [signed-by=/etc/apt/keyrings/
  nova-lxc-contrail.gpg] file:<dist> ./``: apt verifies Release's signature
  with that key only, and every index by Release's hashes (no trusted=yes);
- ``nova-lxc-contrail.pref``: every package of origin ``nova-lxc-contrail``
  at Pin-Priority 1001.

The signing key: ``REPO_KEY=<key id>`` (with the operator's ``GNUPGHOME``,
or gpg's default home), or else the project key, generated once into the
cache (``<cache>/repo-key``, never in the checkout) without a passphrase:
it only vouches for what this machine built.

Why 1001: our ``2:26.2.2-1~deb12u5+lxccontrail1`` sorts above Debian's
``2:26.2.2-1~deb12u5`` (bookworm-security), so today apt prefers it anyway;
the pin is for the next Debian point or security release, which would
otherwise silently replace our patched nova with Debian's unpatched one.
Only >= 1000 lets apt also replace an installed higher version with ours
(apt_preferences(5)), which taking the overlay onto a running compute node
needs (Mirantis used 1100 for the same reason). The pin is limited to our
origin. Its cost: once Debian ships a newer nova, the pin would keep a node
on our older base, below Debian's security level. So that never lasts:
``make rebase-check`` (and ``make check``) fail, and ``make debs`` says so,
as soon as Debian offers a nova newer than our base (build/rebase.py), and
the series is rebased onto it (README).
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

from build.cache import TOP, cache_dir, staging
from build.run import output
from build.log import BuildError, progress

ORIGIN = "nova-lxc-contrail"
PRIORITY = 1001
LIST_NAME = "nova-lxc-contrail.list"
PREF_NAME = "nova-lxc-contrail.pref"
KEY_NAME = "nova-lxc-contrail.gpg"
KEYRING = "/etc/apt/keyrings/" + KEY_NAME       # where the operator puts the key
SIGNED = ("InRelease", "Release.gpg")

PREFERENCES = """\
# nova-lxc-contrail: the patched nova and the driver from the local
# repository win over the distribution's nova, also over a newer point or
# security release, until the overlay is rebuilt on it (see README).
Package: *
Pin: release o={origin}
Pin-Priority: {priority}
"""


def sources_line(dist, keyring=KEYRING):
    return "deb [signed-by=%s] file:%s ./\n" % (keyring, Path(dist).resolve())


# -- signing ---------------------------------------------------------------------

class Signer:
    """A gpg key that signs: KEYID in the gpg home HOME (None: gpg's default)."""

    def __init__(self, home, keyid, label, own_agent=False):
        self.home, self.keyid, self.label = home, keyid, label
        self.own_agent = own_agent      # an agent we started, in a home of ours

    def gpg(self, *args, what="gpg"):
        home = ["--homedir", str(self.home)] if self.home else []
        return output(["gpg", "--batch", "--no-tty", "--quiet", *home, *args], what,
                      env=dict(os.environ, LC_ALL="C"))

    def fingerprint(self):
        out = self.gpg("--with-colons", "--list-secret-keys", self.keyid,
                       what="gpg: the signing key %s" % self.keyid)
        fprs = [ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")]
        if not fprs:
            raise BuildError("gpg has no secret key %s" % self.keyid)
        return fprs[0]

    def sign(self, dist):
        for name in SIGNED:
            (Path(dist) / name).unlink(missing_ok=True)
        common = ["--local-user", self.keyid, "--digest-algo", "SHA512"]
        release = str(Path(dist) / "Release")
        self.gpg(*common, "--clearsign", "--output", str(Path(dist) / "InRelease"),
                 release, what="gpg --clearsign Release")
        self.gpg(*common, "--armor", "--detach-sign", "--output",
                 str(Path(dist) / "Release.gpg"), release, what="gpg --detach-sign Release")

    def export(self, dest):
        """The public key, binary (what signed-by takes), to DEST."""
        home = ["--homedir", str(self.home)] if self.home else []
        res = subprocess.run(["gpg", "--batch", *home, "--export", "--export-options",
                              "export-minimal", self.keyid], capture_output=True)
        if res.returncode != 0 or not res.stdout:
            raise BuildError("gpg --export %s failed: %s"
                             % (self.keyid, res.stderr.decode(errors="replace").strip()))
        Path(dest).write_bytes(res.stdout)
        return dest

    def close(self):
        """Stop the gpg-agent signing started, when the home is ours."""
        if self.own_agent:
            subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
                           capture_output=True)


KEY_ALGO = "rsa3072"
PROJECT_UID = "nova-lxc-contrail repository (generated on %s) <root@%s>"


def project_key(home=None):
    """The project's own key in HOME (default <cache>/repo-key), generated
    there the first time: RSA 3072 (trusty's gpgv 1.4 knows no ed25519),
    signing only, no passphrase."""
    home = Path(home or cache_dir("repo-key"))
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    host = os.uname().nodename
    signer = Signer(home, PROJECT_UID % (host, host), "the project key in %s" % home,
                    own_agent=True)
    try:
        signer.fingerprint()
    except BuildError:
        progress("repo", "generating the project's signing key in %s" % home)
        signer.gpg("--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key",
                   signer.keyid, KEY_ALGO, "sign", "never", what="gpg --quick-gen-key")
    signer.keyid = signer.fingerprint()
    return signer


def signer_from_env():
    """REPO_KEY=<key id> (in GNUPGHOME or gpg's default home), else the
    project key."""
    keyid = os.environ.get("REPO_KEY")
    if keyid:
        home = os.environ.get("GNUPGHOME")
        signer = Signer(home, keyid, "REPO_KEY=%s (GNUPGHOME=%s)"
                        % (keyid, home or "gpg's default"))
        signer.keyid = signer.fingerprint()
        return signer
    return project_key()


def signed_by(dist):
    """Fingerprints of the keys in DIST's nova-lxc-contrail.gpg."""
    res = subprocess.run(["gpg", "--batch", "--with-colons", "--show-keys",
                          str(Path(dist) / KEY_NAME)], capture_output=True, text=True)
    return [ln.split(":")[9] for ln in res.stdout.splitlines() if ln.startswith("fpr:")]


# -- the repository ----------------------------------------------------------------

def write(dist, series, epoch, location=None, signer=None):
    """Index the .debs in DIST; Release's Date is EPOCH (reproducible); sign
    it with SIGNER (default: signer_from_env()).

    LOCATION: where DIST will be (the sources line names it), default DIST."""
    dist = Path(dist)
    for stale in ("Packages", "Packages.gz", "Release", KEY_NAME) + SIGNED:
        (dist / stale).unlink(missing_ok=True)
    progress("repo", "indexing %d packages in %s"
             % (len(list(dist.glob("*.deb"))), dist))
    packages = output(["apt-ftparchive", "packages", "."], "apt-ftparchive packages",
                      cwd=dist)
    (dist / "Packages").write_text(packages)
    output(["gzip", "-9nk", "Packages"], "gzip Packages", cwd=dist)
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(epoch))
    opts = {"Origin": ORIGIN, "Label": ORIGIN, "Suite": series, "Codename": series,
            "Architectures": "all", "Date": date,
            "Description": "nova-lxc-contrail: patched nova and driver (%s)" % series}
    args = []
    for key, value in opts.items():
        args += ["-o", "APT::FTPArchive::Release::%s=%s" % (key, value)]
    release = output(["apt-ftparchive", *args, "release", "."], "apt-ftparchive release",
                     cwd=dist)
    (dist / "Release").write_text(release)
    signer = signer or signer_from_env()
    try:
        progress("repo", "signing Release with %s (%s)" % (signer.keyid, signer.label))
        signer.sign(dist)
        signer.export(dist / KEY_NAME)
    finally:
        signer.close()
    (dist / LIST_NAME).write_text(sources_line(location or dist))
    (dist / PREF_NAME).write_text(PREFERENCES.format(origin=ORIGIN, priority=PRIORITY))
    (dist / ".signer").write_text(signer.label + "\n")
    return dist


def signer_label(dist):
    """Which key signed DIST: its fingerprint and where it came from."""
    label = Path(dist) / ".signer"
    return "%s, %s" % (" ".join(signed_by(dist)) or "no key",
                       label.read_text().strip() if label.exists() else "?")


def operator_lines(dist, packages):
    """The commands an operator runs to take the repository."""
    dist = Path(dist).resolve()
    return ["install -D -m 644 %s %s" % (dist / KEY_NAME, KEYRING),
            "cp %s /etc/apt/sources.list.d/" % (dist / LIST_NAME),
            "cp %s /etc/apt/preferences.d/" % (dist / PREF_NAME),
            "apt-get update && apt-get install %s" % " ".join(packages)]


# -- dist/<series> ------------------------------------------------------------------

def dist_dir(series):
    return TOP / "dist" / series


def publish(series, debs, epoch):
    """Replace dist/SERIES with DEBS and their repository index, at once.

    EPOCH (the newest changelog entry's date) is the Release file's Date."""
    dist = dist_dir(series)
    with staging(dist) as tmp:
        tmp.chmod(0o755)
        for deb in debs:
            try:
                os.link(deb, tmp / deb.name)
            except OSError:
                shutil.copy2(deb, tmp / deb.name)
        write(tmp, series, epoch, location=dist)
    return dist
