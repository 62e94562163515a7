"""The built repositories: versions, index, pin, contents, lintian, caching.

Everything here reads dist/<series> (built if need be); nothing installs.
"""

import configparser
import hashlib
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from build import debpkg, debs, overlay, pins, repo, series as series_recipes, sources
from build.series import icehouse as icehouse_recipe
from build.series._debian import SUFFIX
from build.cache import TOP
from nova_lxc_contrail import config
from tests.packaging import aptinstall, declared


def compare(a, op, b):
    return subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0


def next_revision(version, marker):
    """The distribution's next revision after VERSION: the number after
    MARKER (deb12u / 0ubuntu1.) plus one."""
    m = re.search(r"(%s)(\d+)$" % re.escape(marker), version)
    return version[:m.start(2)] + str(int(m.group(2)) + 1)


def deb_names(dist):
    return {p.name.split("_")[0]: p for p in Path(dist).glob("*.deb")}


# -- versions ------------------------------------------------------------------

def test_bookworm_version_sorts_between_debian_revisions():
    base = pins.series_pins("bookworm")["debian_version"]           # ...~deb12u5
    ours = series_recipes.get("bookworm").entry()["version"]
    assert ours.startswith(base + SUFFIX)
    assert compare(ours, "gt", base)
    assert compare(ours, "lt", next_revision(base, "deb12u"))       # deb12u6 wins...
    assert compare(ours, "lt", base.split("~")[0])                  # ...and 2:26.2.2-1
    n = int(ours[len(base + SUFFIX):])
    assert compare(ours, "lt", "%s%s%d" % (base, SUFFIX, n + 1))


def test_trixie_version_sorts_between_debian_revisions():
    base = pins.series_pins("trixie")["debian_version"]             # ...+deb13u3
    ours = series_recipes.get("trixie").entry()["version"]
    assert ours.startswith(base + SUFFIX)
    assert compare(ours, "gt", base)
    assert compare(ours, "lt", next_revision(base, "deb13u"))       # deb13u4 wins
    n = int(ours[len(base + SUFFIX):])
    assert compare(ours, "lt", "%s%s%d" % (base, SUFFIX, n + 1))


def test_our_package_rebuilt_for_trixie_is_the_same_source_one_entry_up():
    """Our package for trixie: the changelog's top entry, the release's suffix
    and distribution, dated one second later (fixed: reproducible; newer: a
    latest entry needs a new date, lintian)."""
    top = overlay.overlay_entry()
    dist, suffix = series_recipes.get("trixie").overlay_release
    entry = overlay.release_entry((dist, suffix))
    assert entry["version"] == top["version"] + suffix
    assert entry["distribution"] == dist and entry["source"] == top["source"]
    assert entry["epoch"] == top["epoch"] + 1 and entry["maintainer"] == top["maintainer"]
    assert compare(entry["version"], "gt", top["version"])


def test_icehouse_version_sorts_between_ubuntu_revisions():
    ours = icehouse_recipe.entry()["version"]
    base = ours.split(SUFFIX)[0]                               # 1:2014.1.5-0ubuntu1
    assert base.startswith("1:" + pins.series_pins("icehouse")["upstream_version"] + "-")
    assert compare(ours, "gt", base)
    assert compare(ours, "lt", base + ".1")                        # Ubuntu's first SRU


# -- the repository --------------------------------------------------------------

def release_fields(dist):
    return debpkg.parse_paragraphs((Path(dist) / "Release").read_text())[0]


@pytest.mark.parametrize("fixture", ["bookworm_dist", "trixie_dist", "icehouse_overlay_dist"])
def test_repository_index(fixture, request):
    dist = request.getfixturevalue(fixture)
    entries = debpkg.parse_paragraphs((dist / "Packages").read_text())
    on_disk = deb_names(dist)
    assert {e["Package"] for e in entries} == set(on_disk)
    for e in entries:
        deb = dist / e["Filename"]
        assert deb.resolve() == on_disk[e["Package"]].resolve()
        assert hashlib.sha256(deb.read_bytes()).hexdigest() == e["SHA256"]
        assert debpkg.deb_fields(deb)["Version"] == e["Version"]
    release = release_fields(dist)
    assert release["Origin"] == repo.ORIGIN
    listed = {line.split()[2]: line.split()[0]
              for line in release["SHA256"].splitlines() if line.strip()}
    for name in ("Packages", "Packages.gz"):
        assert listed[name] == hashlib.sha256((dist / name).read_bytes()).hexdigest()
    pref = debpkg.parse_paragraphs((dist / repo.PREF_NAME).read_text())[0]
    assert pref["Pin"] == "release o=%s" % repo.ORIGIN
    assert int(pref["Pin-Priority"]) >= 1000        # may replace a newer installed nova
    assert (dist / repo.LIST_NAME).read_text() == \
        "deb [signed-by=%s] file:%s ./\n" % (repo.KEYRING, dist)
    assert repo.signed_by(dist)


def test_every_debian_binary_package_is_rebuilt(bookworm_dist, tmp_path):
    """All binary packages of Debian's debian/control, at our version."""
    pin = pins.series_pins("bookworm")["debian"]
    tarball = sources.download(pin["url"], pin["name"], pin["sha256"])
    with tarfile.open(tarball) as tf:
        control = tf.extractfile("debian/control").read().decode()
    wanted = {p["Package"] for p in debpkg.parse_paragraphs(control)[1:]}
    version = series_recipes.get("bookworm").entry()["version"]
    built = {name: debpkg.deb_fields(path)["Version"]
             for name, path in deb_names(bookworm_dist).items()}
    assert wanted <= set(built)
    assert {built[name] for name in wanted} == {version}


# -- our own packages ----------------------------------------------------------

def overlay_modules():
    """The overlay's Python modules, relative to the package directory."""
    root = TOP / "overlay"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                  if "tests" not in p.relative_to(root).parts[1:2])


def deb_members(deb):
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                         check=True).stdout
    import io
    with tarfile.open(fileobj=io.BytesIO(out)) as tf:
        return {m.name[2:]: (tf.extractfile(m).read() if m.isfile() else None)
                for m in tf.getmembers()}


@pytest.mark.parametrize("package, pydir", [
    ("python3-nova-lxc-contrail", "usr/lib/python3/dist-packages"),
    ("python-nova-lxc-contrail", "usr/lib/python2.7/dist-packages")])
def test_overlay_package_ships_the_driver(package, pydir, request):
    dist = request.getfixturevalue("bookworm_dist" if package.startswith("python3")
                                   else "icehouse_overlay_dist")
    members = deb_members(deb_names(dist)[package])
    shipped = sorted(n[len(pydir) + 1:] for n in members
                     if n.startswith(pydir + "/") and n.endswith(".py"))
    assert shipped == overlay_modules()
    assert not [n for n in members if n.endswith((".pyc", ".pyo"))]
    egg = [n for n, data in members.items() if data is None
           and re.fullmatch(re.escape(pydir) + r"/[^/]+\.egg-info", n)]
    assert len(egg) == 1, egg
    points = configparser.ConfigParser()
    text = members.get(egg[0] + "/entry_points.txt")
    points.read_string((text or b"").decode())
    assert {ns: sorted(points[ns]) for ns in points.sections()} == declared.entry_points()
    version = debpkg.deb_fields(deb_names(dist)[package])["Version"]
    assert version == overlay.overlay_entry()["version"]
    # the overlay's etc/<series>/ is the package's /etc/nova/, file for file, with
    # the nova.conf snippet (bookworm's is generated by debian/rules) naming every
    # option of the driver with its default
    series = "bookworm" if package.startswith("python3") else "icehouse"
    etc = TOP / "etc" / series
    wanted = sorted("etc/nova/%s" % p.relative_to(etc) for p in etc.rglob("*") if p.is_file())
    snippet = "etc/nova/nova-contrail-bridge.conf"
    assert sorted(n for n in members if n.startswith("etc/") and members[n] is not None) \
        == sorted(set(wanted) | {snippet})
    for name in wanted:
        assert members[name] == (etc / name[len("etc/nova/"):]).read_bytes()
    text = members[snippet].decode()
    assert [o.name for o in config.OPTS
            if "\n#%s = %s\n" % (o.name, o.default) not in text] == []


def test_python2_package_fields(icehouse_overlay_dist):
    fields = debpkg.deb_fields(deb_names(icehouse_overlay_dist)["python-nova-lxc-contrail"])
    depends = debpkg.fold_list(fields["Depends"])
    assert "python (>= 2.7)" in depends and "python (<< 2.8)" in depends
    for line in (TOP / "requirements.txt").read_text().splitlines():
        name = re.split(r"[<>=!~;\[ ]", line.split("#")[0].strip())[0]
        if name:
            assert any(d.startswith("python-%s" % name.lower()) for d in depends), name
    assert fields["Architecture"] == "all"


def lintian(debs_):
    res = subprocess.run(["lintian", "--tag-display-limit", "0", *map(str, debs_)],
                         capture_output=True, text=True)
    return [ln for ln in res.stdout.splitlines() if ln.startswith("E: ")], res


def test_lintian_no_errors_on_our_packages(bookworm_dist, icehouse_overlay_dist):
    ours = [deb_names(bookworm_dist)["python3-nova-lxc-contrail"],
            deb_names(icehouse_overlay_dist)["python-nova-lxc-contrail"]]
    errors, res = lintian(ours)
    assert res.returncode in (0, 1) and not errors, errors


def test_lintian_on_icehouse_nova_packages(icehouse_dist):
    ours = [p for n, p in deb_names(icehouse_dist).items()]
    errors, res = lintian(ours)
    assert res.returncode in (0, 1) and not errors, errors


# Debian's own packaging of nova 2:26.2.2-1~deb12u4 and deb12u5 has this lintian error:
# its service packages depend on lsb-base, transitional in bookworm. Our
# rebuild must add none.
DEBIAN_OWN_ERRORS = [("depends-on-obsolete-package", "Depends: lsb-base")]


def test_lintian_on_rebuilt_debian_packages_adds_no_error(bookworm_dist):
    rebuilt = [p for n, p in deb_names(bookworm_dist).items() if "lxc-contrail" not in n]
    errors, _res = lintian(rebuilt)
    ours = [e for e in errors if not any(
        e.split()[2] == tag and detail in e for tag, detail in DEBIAN_OWN_ERRORS)]
    assert ours == []


# -- caching and reproducibility ------------------------------------------------

def test_nova_build_inputs_do_not_include_the_overlay():
    """A change in overlay/ or debian/ cannot rebuild nova: its key does not
    see them, while the overlay package's key sees every file of theirs."""
    nova = repr(series_recipes.get("bookworm").nova_inputs())
    files = overlay.overlay_files()
    assert not [f for f in files if f.startswith(("overlay/", "debian/")) and f in nova]
    assert [f for f in files if f.startswith("overlay/nova_lxc_contrail/")]
    assert "debian/control" in files and "setup.cfg" in files
    assert not [f for f in files if f.startswith(overlay.NOT_OVERLAY)]
    inputs = overlay.overlay_inputs("python3")["files"]
    assert set(inputs) == set(files)


@pytest.mark.parametrize("builder", ["python3_packages", "python2_packages"])
def test_overlay_packages_are_reproducible(builder, tmp_path):
    build = getattr(overlay, builder)
    with debs.lock():
        first = {p.name: p.read_bytes() for p in build()}
        second = {p.name: p.read_bytes() for p in build(force=True)}
    assert first.keys() == second.keys()
    assert [n for n in first if first[n] != second[n]] == []


def test_dist_packages_helper_reads_the_index(bookworm_dist):
    offered = aptinstall.dist_packages(bookworm_dist)
    assert offered["python3-nova"] == series_recipes.get("bookworm").entry()["version"]
    assert offered["python3-nova-lxc-contrail"] == overlay.overlay_entry()["version"]
