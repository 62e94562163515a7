"""The icehouse packages (Python 2.7, Ubuntu 14.04-era): contents, control
fields and dependencies as on trusty, byte-compilation under Python 2.7,
and icehouse nova's unit tests of the patched modules run from the packaged
payload. They cannot be installed on Debian 12 (no Python 2), so they are
unpacked with dpkg-deb -x. Needs NOVA_SOURCE (the icehouse tree).
"""

import subprocess

import pytest

from build import debpkg, overlay, series as series_recipes
from build.series import icehouse as icehouse_recipe
from tests.packaging import patchcheck

PYDIR = "usr/lib/python2.7/dist-packages"

# Ubuntu 14.04's nova 1:2014.1.5-0ubuntu1, debian/control (read in
# projectcalico/calico-nova, branch ubuntu_2014.1.5): the Depends of the
# packages we build, without the substitution variables. "name=" is
# "(= ${binary:Version})"; "a|b" an alternative.
TRUSTY_DEPENDS = {
    "python-nova": (
        "openssh-client openssl python-amqplib python-anyjson python-babel python-boto "
        "python-cinderclient python-eventlet python-glanceclient python-greenlet "
        "python-iso8601 python-jinja2 python-jsonschema python-keystoneclient python-kombu "
        "python-lxml python-m2crypto python-migrate python-netaddr python-neutronclient "
        "python-oslo.config python-paramiko python-paste python-pastedeploy python-pyasn1 "
        "python-pycadf python-routes python-simplejson python-six "
        "python-sqlalchemy-ext|python-sqlalchemy python-stevedore python-suds "
        "python-webob sudo"),
    "nova-common": "adduser python-nova=",
    "nova-compute": "nova-common= nova-compute-kvm|nova-compute-hypervisor",
    "nova-compute-libvirt": ("adduser ebtables genisoimage iptables kpartx libvirt-bin "
                             "nova-compute= open-iscsi parted python-libvirt qemu-utils vlan"),
    "nova-compute-lxc": "nova-compute-libvirt=",
}
PYTHON_DEPENDS = {"python-nova", "nova-common", "nova-compute", "nova-compute-libvirt"}


def relations(value, version):
    """Depends as the TRUSTY_DEPENDS notation."""
    out = set()
    for item in debpkg.fold_list(value):
        alts = []
        for alt in item.split("|"):
            name, _, rest = alt.strip().partition(" ")
            if rest.strip() == "(= %s)" % version:
                name += "="
            alts.append(name)
        out.add("|".join(alts))
    return out


@pytest.fixture(scope="module")
def debs_by_name(icehouse_dist):
    return {p.name.split("_")[0]: p for p in icehouse_dist.glob("*.deb")}


@pytest.fixture(scope="module")
def payload(debs_by_name, tmp_path_factory):
    """Every icehouse package unpacked into one root."""
    root = tmp_path_factory.mktemp("icehouse-root")
    for deb in debs_by_name.values():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def test_control_fields_as_on_trusty(debs_by_name):
    version = icehouse_recipe.entry()["version"]
    python = {"python (>= 2.7)", "python (<< 2.8)"}
    for name, trusty in TRUSTY_DEPENDS.items():
        fields = debpkg.deb_fields(debs_by_name[name])
        assert fields["Version"] == version and fields["Architecture"] == "all"
        assert fields["Source"] == "nova"
        depends = relations(fields["Depends"], version)
        assert depends - {"python"} == set(trusty.split()), name
        has_python = python <= set(debpkg.fold_list(fields["Depends"]))
        assert has_python == (name in PYTHON_DEPENDS), name
    lxc = debpkg.deb_fields(debs_by_name["nova-compute-lxc"])
    assert lxc["Provides"] == lxc["Conflicts"] == "nova-compute-hypervisor"
    assert debpkg.deb_fields(debs_by_name["python-nova"])["Section"] == "python"


def test_packages_are_readable_by_trusty_dpkg(debs_by_name):
    """trusty's dpkg 1.17.5 reads gzip control and data archives, not xz."""
    for deb in debs_by_name.values():
        members = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True,
                                 check=True).stdout.split()
        assert members == ["debian-binary", "control.tar.gz", "data.tar.gz"], deb.name


def test_patched_files_are_packaged(payload):
    egg = sorted((payload / PYDIR).glob("nova-*.egg-info"))
    checked, _unchecked, problems = patchcheck.check("icehouse", payload / PYDIR,
                                                     egg[0] if egg else None)
    assert checked and not problems, problems


def test_compute_node_files(payload):
    compute = payload / "usr/bin/nova-compute"
    assert compute.read_text().splitlines()[0] == "#!/usr/bin/python2.7"
    assert "nova.cmd.compute" in compute.read_text()
    conf = payload / "etc/nova/nova-compute.conf"
    assert "virt_type=lxc" in conf.read_text().split()
    assert oct(conf.stat().st_mode & 0o777) == oct(0o600)
    assert oct((payload / "etc/sudoers.d/nova_sudoers").stat().st_mode & 0o777) == oct(0o440)
    assert (payload / "etc/nova/rootwrap.d/compute.filters").is_file()
    assert (payload / "etc/init/nova-compute.conf").is_file()
    assert not list(payload.rglob("*.pyc"))


def test_every_module_byte_compiles_under_python27(payload):
    from build import py27env
    python = py27env.ensure_venv("icehouse")
    modules = list((payload / PYDIR).rglob("*.py"))
    assert len(modules) > 1000
    res = subprocess.run([str(python), "-m", "compileall", "-q", "-f", str(payload / PYDIR)],
                         capture_output=True, text=True)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert len(list((payload / PYDIR).rglob("*.pyc"))) == len(modules)


def test_icehouse_unit_tests_of_patched_modules_pass_on_the_payload(payload):
    from build import py27env
    mods = series_recipes.get("icehouse").nova_test_modules()
    assert mods
    run = py27env.run_nova_tests(
        "icehouse",
        payload / PYDIR, mods,
        pbr_version=debpkg.upstream_version(icehouse_recipe.entry()["version"]))
    assert run.failed == 0 and run.passed > 0, run.output[-4000:]


def test_overlay_python2_package_byte_compiles(icehouse_dist, tmp_path):
    from build import py27env
    deb = next(icehouse_dist.glob("python-nova-lxc-contrail_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    python = py27env.ensure_venv("core")
    res = subprocess.run([str(python), "-m", "compileall", "-q", "-f", str(tmp_path / PYDIR)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert debpkg.deb_fields(deb)["Version"] == overlay.overlay_entry()["version"]
