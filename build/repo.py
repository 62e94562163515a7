"""A local apt repository per series, and the pin that keeps it in charge.

``dist/<series>/`` is a flat repository (Packages, Packages.gz, Release,
made by apt-ftparchive) with two files for /etc/apt:

- ``nova-lxc-contrail.list``: ``deb [trusted=yes] file:<dist> ./`` (a local,
  unsigned repository the operator built; apt would refuse it otherwise);
- ``nova-lxc-contrail.pref``: every package of origin ``nova-lxc-contrail``
  at Pin-Priority 1001.

Why 1001: our ``2:26.2.2-1~deb12u4+lxccontrail1`` sorts *below* Debian's
``2:26.2.2-1~deb12u5`` (bookworm-security), so at the default 500 apt would
take Debian's unpatched nova, and the next point or security release would
silently replace ours. A priority above 500 makes our version the candidate
even against a higher version; 990 (Juniper's choice) does that for new
installs but never downgrades, so a node already running Debian's deb12u5
would keep it. Only >= 1000 lets apt replace an installed higher version
with ours (apt_preferences(5)), which is what an operator taking the overlay
onto a running compute node needs (Mirantis used 1100 for the same reason).
The pin is limited to our origin: no other package is affected. The cost is
deliberate: Debian's later nova fixes reach the node only through a rebuild
of the overlay on the new base (the rebase check warns when one appears).
"""

import time
from pathlib import Path

from build.debpkg import run
from build.log import progress

ORIGIN = "nova-lxc-contrail"
PRIORITY = 1001
LIST_NAME = "nova-lxc-contrail.list"
PREF_NAME = "nova-lxc-contrail.pref"

PREFERENCES = """\
# nova-lxc-contrail: the patched nova and the driver from the local
# repository win over the distribution's nova, also over a newer point or
# security release, until the overlay is rebuilt on it (see README).
Package: *
Pin: release o={origin}
Pin-Priority: {priority}
"""


def sources_line(dist):
    return "deb [trusted=yes] file:%s ./\n" % Path(dist).resolve()


def write(dist, series, epoch, location=None):
    """Index the .debs in DIST; Release's Date is EPOCH (reproducible).

    LOCATION: where DIST will be (the sources line names it), default DIST."""
    dist = Path(dist)
    for stale in ("Packages", "Packages.gz", "Release"):
        (dist / stale).unlink(missing_ok=True)
    progress("repo", "indexing %d packages in %s"
             % (len(list(dist.glob("*.deb"))), dist))
    packages = run(["apt-ftparchive", "packages", "."], "apt-ftparchive packages",
                   cwd=dist)
    (dist / "Packages").write_text(packages)
    run(["gzip", "-9nk", "Packages"], "gzip Packages", cwd=dist)
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(epoch))
    opts = {"Origin": ORIGIN, "Label": ORIGIN, "Suite": series, "Codename": series,
            "Architectures": "all", "Date": date,
            "Description": "nova-lxc-contrail: patched nova and driver (%s)" % series}
    args = []
    for key, value in opts.items():
        args += ["-o", "APT::FTPArchive::Release::%s=%s" % (key, value)]
    release = run(["apt-ftparchive", *args, "release", "."], "apt-ftparchive release",
                  cwd=dist)
    (dist / "Release").write_text(release)
    (dist / LIST_NAME).write_text(sources_line(location or dist))
    (dist / PREF_NAME).write_text(PREFERENCES.format(origin=ORIGIN, priority=PRIORITY))
    return dist


def operator_lines(dist, packages):
    """The three commands an operator runs to take the repository."""
    dist = Path(dist).resolve()
    return ["cp %s /etc/apt/sources.list.d/" % (dist / LIST_NAME),
            "cp %s /etc/apt/preferences.d/" % (dist / PREF_NAME),
            "apt-get update && apt-get install %s" % " ".join(packages)]
