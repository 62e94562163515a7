"""Our rebuilt nova equals Debian's, file for file, but for our series.

For each Debian series: bookworm's rebuild against Debian's deb12u5,
trixie's (built in the trixie root) against Debian's deb13u3.

Every binary package of Debian's nova source is compared with Debian's own
build of the version our series is built on (pins.toml's debian_version,
downloaded with apt through build/debsrc.py's private configuration, verified
by the archive's signed index): every file of the data part (content, mode,
type, link target), every maintainer script, conffile list and control field.
So nothing of Debian's fixes is missing (the base, real or reconstructed from
binaries, is complete) and nothing else drifted.

What may differ, and why (nothing else):

- files our own series (patches/<series>/series) changes or adds, in
  python3-nova's dist-packages; and in nova-common's nova.conf (which
  oslo-config-generator writes from nova's code at build time) the blocks of
  the options our series adds: Debian's nova.conf must be ours less those
  blocks, line for line;
- control: Version and the version in the relations between the packages
  (ours); Installed-Size (our series and the documentation below change it);
  md5sums (derived from the files, which are compared themselves);
- usr/share/doc/<package>/changelog.Debian.gz: ours is our entry on top of
  Debian's changelog, which must follow it unchanged (checked below);
- gzip headers: a build writes SOURCE_DATE_EPOCH (the top changelog entry's
  date: ours) into them, so .gz files are compared uncompressed, and a man
  page's .TH date (same epoch) is blanked;
- what Sphinx makes, which this build leaves out (DEB_BUILD_OPTIONS=nodoc,
  debian/rules' override_dh_installman and override_dh_sphinxdoc): the man
  pages (usr/share/man/), nova-doc's HTML and its doc-base file, and the
  libjs-sphinxdoc Depends dh_sphinxdoc gives nova-doc. Only their absence is
  allowed: a man page we ship must equal Debian's.
"""

import difflib
import gzip
import hashlib
import io
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from build import debpkg, debs, debsrc, pins, series as series_recipes, sources
from build.cache import cache_dir

PY3 = "usr/lib/python3/dist-packages/"
# made by Sphinx, absent from a nodoc build
NODOC = ("usr/share/man/", "usr/share/doc/nova-doc/html/", "usr/share/doc-base/")
_TH = re.compile(rb'^(\.TH "[^"]*" "[^"]*" )"[^"]*"', re.M)

pytestmark = pytest.mark.network

DEBIAN_SERIES = ["bookworm", "trixie"]


@pytest.fixture(scope="module", params=DEBIAN_SERIES)
def series(request):
    return request.param


@pytest.fixture(scope="module")
def built_dist(series):
    dist, _debs = debs.build(series)
    return dist


def debian_packages(series):
    """Binary packages of Debian's control (the debian/ the build used)."""
    src = sources.debian_source(series)
    with tarfile.open(src.tarball) as tf:
        control = tf.extractfile("debian/control").read().decode()
    return sorted(p["Package"] for p in debpkg.parse_paragraphs(control)[1:])


@pytest.fixture(scope="module")
def debian_debs(series):
    version = pins.series_pins(series)["debian_version"]
    try:
        return debsrc.download_binaries(debian_packages(series), version,
                                        cache_dir("debian-binaries"))
    except Exception as exc:           # no archive: nothing to compare with
        pytest.skip("SKIPPED: Debian's %s binaries are not obtainable: %s" % (version, exc))


def members(deb):
    """{path: (kind, mode, payload)} of a .deb's data part; .gz uncompressed,
    a man page's .TH date blanked (both carry the build's epoch)."""
    blob = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        for m in tf.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name
            if m.isfile():
                data = tf.extractfile(m).read()
                if name.endswith(".gz"):
                    data = gzip.decompress(data)
                    if "/man/" in name:
                        data = _TH.sub(rb'\1"DATE"', data)
                payload = hashlib.sha256(data).hexdigest()
            else:
                payload = m.linkname
            out[name] = ("file" if m.isfile() else "dir" if m.isdir() else
                         "link" if m.issym() else "other", oct(m.mode), payload)
    return out


def control_part(deb):
    """{name: bytes} of a .deb's control members (md5sums left out)."""
    blob = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        return {m.name[2:]: tf.extractfile(m).read() for m in tf.getmembers()
                if m.isfile() and m.name[2:] != "md5sums"}


def our_series_files(series):
    return {PY3 + path for patch in pins.patch_series(series)
            for path, _created, _deleted in patch.files()}


def member_bytes(deb, name):
    blob = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        return tf.extractfile("./" + name).read()


def changelog_text(deb, package):
    name = "usr/share/doc/%s/changelog.Debian.gz" % package
    return gzip.decompress(member_bytes(deb, name)).decode()


NOVA_CONF = "usr/share/nova-common/nova.conf"
_OPTION = re.compile(r"^#(\w+) = ")


def nova_conf_problems(series, ours, debian):
    """Debian's nova.conf must be OURS less inserted blocks, and every option
    those blocks set must be one our series' patches define."""
    series_text = "".join(p.text() for p in pins.patch_series(series))
    mine, theirs = ours.decode().splitlines(), debian.decode().splitlines()
    out = []
    matcher = difflib.SequenceMatcher(None, theirs, mine, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op != "insert":
            out.append("nova-common: %s: Debian's lines %d-%d %s" % (NOVA_CONF, i1 + 1, i2, op))
            continue
        options = [m.group(1) for m in map(_OPTION.match, mine[j1:j2]) if m]
        if not options:
            out.append("nova-common: %s: added lines %d-%d set no option"
                       % (NOVA_CONF, j1 + 1, j2))
        out += ["nova-common: %s: option %s is not our series'" % (NOVA_CONF, o)
                for o in options if '"%s"' % o not in series_text
                and "'%s'" % o not in series_text]
    return out


def differences(series, package, ours, theirs):
    """What differs between our PACKAGE and Debian's, less the allowed."""
    mine, debian = members(ours), members(theirs)
    allowed = our_series_files(series) if package == "python3-nova" else set()
    allowed.add("usr/share/doc/%s/changelog.Debian.gz" % package)
    out = []
    if package == "nova-common":
        allowed.add(NOVA_CONF)
        out += nova_conf_problems(series, member_bytes(ours, NOVA_CONF),
                                  member_bytes(theirs, NOVA_CONF))
    for name in sorted(set(mine) | set(debian)):
        if name in allowed or (name not in mine and (name + "/").startswith(NODOC)):
            continue
        if mine.get(name) != debian.get(name):
            out.append("%s: %s (ours %s, Debian's %s)" % (
                package, name, mine.get(name), debian.get(name)))
    ours_ctrl, debian_ctrl = control_part(ours), control_part(theirs)
    our_version = debpkg.deb_fields(ours)["Version"]
    debian_version = debpkg.deb_fields(theirs)["Version"]
    for name in sorted(set(ours_ctrl) | set(debian_ctrl)):
        a, b = ours_ctrl.get(name), debian_ctrl.get(name)
        if name == "control" and a and b:
            a = a.replace(our_version.encode(), debian_version.encode())
            a, b = (re.sub(rb"^Installed-Size: \d+\n", b"", x, flags=re.M) for x in (a, b))
            if package == "nova-doc":
                b = re.sub(rb"^Depends: libjs-sphinxdoc \([^)]*\)\n", b"", b, flags=re.M)
        if a != b:
            out.append("%s: control member %s differs" % (package, name))
    return out


def test_every_rebuilt_binary_equals_debians_but_for_our_series(series, built_dist,
                                                                 debian_debs):
    built = {p.name.split("_")[0]: p for p in Path(built_dist).glob("*.deb")}
    assert set(debian_debs) <= set(built)
    problems = []
    for package, theirs in sorted(debian_debs.items()):
        problems += differences(series, package, built[package], theirs)
    assert problems == []


def test_our_series_is_what_differs_in_python3_nova(series, built_dist, debian_debs):
    """Each file of our series really differs from Debian's (else the test
    above would not see a base that lacks our patches)."""
    ours = members(next(Path(built_dist).glob("python3-nova_*.deb")))
    debian = members(debian_debs["python3-nova"])
    files = sorted(our_series_files(series))
    assert files and all(ours.get(name) != debian.get(name) for name in files)
    # and the reconstructed fixes are in: the files they touch equal Debian's
    for patch in sources.debian_source(series).patches:
        for path, _c, _d in pins.touched_files(patch.read_text()):
            if PY3 + path not in files:
                assert ours[PY3 + path] == debian[PY3 + path], path


def test_debians_changelog_is_carried(series, built_dist, debian_debs):
    for package, theirs in sorted(debian_debs.items()):
        deb = next(Path(built_dist).glob("%s_*.deb" % package))
        ours, debian = changelog_text(deb, package), changelog_text(theirs, package)
        entry = series_recipes.get(series).entry()
        assert ours.startswith(entry["text"].rstrip("\n") + "\n\n"), package
        assert ours[len(entry["text"].rstrip("\n") + "\n\n"):] == debian, package
