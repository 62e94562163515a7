"""The LXC init check of the patched nova (bookworm series), as root, on
real busybox root filesystems: symbolic links are resolved INSIDE the root
filesystem (as libvirt does in the container), a spawn whose init is unusable
fails before libvirt is asked to define anything, and nothing stays mounted
or attached. Only libvirt is faked: nova's own fake of the libvirt binding,
behind a recorder that lists every call made on the connection.
"""

import errno
import os
import subprocess
import sys

import pytest

from tests.lib import images
from tests.lib.images import Part, Script, Symlink
from tests.lib.mountns import MountHolder
from tests.lib.nova_tree import import_patched_nova

pytestmark = pytest.mark.root

UUID = "6f0b5b4e-7c7e-4a11-9c1f-2f6d3b0c9a51"
IMAGE_REF = "9d3c6a2e-51c4-4c0b-8a3e-0b7f7d6d1c11"
MISSING = object()


@pytest.fixture(scope="module")
def nova():
    if os.geteuid() != 0:
        pytest.skip("SKIPPED (needs root): loop devices and mounts")
    import_patched_nova()
    saved = sys.modules.get("libvirt", MISSING)
    import nova.tests.fixtures.libvirt as fakelibvirt
    sys.modules["libvirt"] = fakelibvirt
    try:
        from nova import exception, objects
        from nova.virt.disk import api, rootpath
        from nova.virt.image import model
        objects.register_all()
        yield api, rootpath, model, exception, fakelibvirt
    finally:
        if saved is MISSING:
            sys.modules.pop("libvirt", None)
        else:
            sys.modules["libvirt"] = saved


def escaping_link(root):
    """A relative /sbin/init that climbs to the HOST's /usr/sbin/init when
    followed from the host."""
    depth = len(os.path.realpath(os.path.join(root, "sbin")).split("/")) - 1
    return Symlink("../" * depth + "usr/sbin/init")


# A name that is no UTF-8 (str with surrogate escapes, bytes to the kernel).
LATIN1_SH = os.fsdecode(b"/bin/\xe9sh")

INITS = {
    # name: (how /sbin/init is made, what it resolves to, or the error);
    # bytes: a script of those bytes
    "file": (lambda root: Script(images.INIT_SCRIPT), "/sbin/init"),
    "absolute-link-to-busybox": (lambda root: Symlink("/bin/busybox"),
                                 "/bin/busybox"),
    "link-to-a-non-utf8-name": (lambda root: Symlink(LATIN1_SH),
                                "/bin/busybox"),
    "script-for-a-non-utf8-interpreter": (
        lambda root: b"#!/bin/\xe9sh\nexec sleep 1\n", "/sbin/init"),
    "link-to-a-missing-non-utf8-name": (
        lambda root: Symlink(os.fsdecode(b"/bin/busybox-\xe9")),
        "/bin/busybox-\\xe9 does not exist (via /sbin/init -> "
        "/bin/busybox-\\xe9)"),
    "script-with-dos-line-ends": (
        lambda root: Script("#!/bin/sh\r\nexec sleep 1\r\n"),
        "/sbin/init is a script for /bin/sh\\r, but /bin/sh\\r does not "
        "exist"),
    "escaping-link": (escaping_link, '".." above the root stays at the root'),
    "host-only-absolute-link": (lambda root: Symlink("/lib/systemd/systemd"),
                                "/lib does not exist"),
    "loop": (lambda root: Symlink("/sbin/init2"),
             "too many levels of symbolic links"),
    "missing": (lambda root: None, "/sbin/init does not exist"),
    "script-without-its-shell": (lambda root: Script("#!/bin/bash\n"),
                                 "/bin/bash does not exist"),
}
GOOD = ("file", "absolute-link-to-busybox", "link-to-a-non-utf8-name",
        "script-for-a-non-utf8-interpreter")


def make_root(tmp_path, case):
    root = str(tmp_path / "tree")
    os.mkdir(root)
    init = INITS[case][0](root)
    images.make_rootfs(root, init=None if isinstance(init, bytes) else init,
                       files={"/sbin/init2": Symlink("init"),
                              LATIN1_SH: Symlink("busybox")})
    if isinstance(init, bytes):
        path = os.path.join(root, "sbin", "init")
        with open(path, "wb") as f:
            f.write(init)
        os.chmod(path, 0o755)
    return root


def host_view(root):
    """What a naive check from the host sees at <root>/sbin/init."""
    return os.path.exists(os.path.join(root, "sbin", "init"))


@pytest.mark.parametrize("case", sorted(INITS))
def test_init_resolved_inside_the_rootfs(nova, tmp_path, case):
    _api, rootpath, _model, _exc, _fake = nova
    root = make_root(tmp_path, case)
    expected = INITS[case][1]
    if case in GOOD:
        assert rootpath.check_executable(root, "/sbin/init") == expected
        return
    if case in ("escaping-link", "host-only-absolute-link"):
        # The host has the target: only a check inside the root fails.
        assert host_view(root)
    with pytest.raises(rootpath.RootPathError) as err:
        rootpath.check_executable(root, "/sbin/init")
    assert expected in str(err.value)


def kernel_execve(root, path):
    """The errno of execve(PATH) in a child chrooted to ROOT (the kernel's
    own verdict on a path the resolver refuses)."""
    code = ("import os, sys\n"
            "os.chroot(sys.argv[1])\n"
            "os.chdir('/')\n"
            "try:\n"
            "    os.execv(sys.argv[2], [sys.argv[2]])\n"
            "except OSError as e:\n"
            "    sys.exit(e.errno)\n")
    return subprocess.run([sys.executable, "-c", code, root, path],
                          timeout=30).returncode


@pytest.mark.parametrize("case, path, errno_", [
    ("script-with-dos-line-ends", "/sbin/init", errno.ENOENT),
    ("link-to-a-missing-non-utf8-name", "/sbin/init", errno.ENOENT),
    ("file", "/sbin/init/", errno.ENOTDIR),
    ("absolute-link-to-busybox", "/sbin/init/.", errno.ENOTDIR),
])
def test_refused_as_linux_refuses_it(nova, tmp_path, case, path, errno_):
    _api, rootpath, _model, _exc, _fake = nova
    root = make_root(tmp_path, case)
    with pytest.raises(rootpath.RootPathError) as err:
        rootpath.check_executable(root, path)
    if errno_ == errno.ENOTDIR:
        assert "is not a directory" in str(err.value)
    assert kernel_execve(root, path) == errno_


def loops_of(path):
    out = subprocess.run(["losetup", "-n", "-O", "NAME,BACK-FILE"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.split()[1:2] == [str(path)]]


def mounts_below(path):
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f
                if line.split()[1].startswith(str(path))]


@pytest.fixture
def cleanup(tmp_path):
    """Release whatever a failing test leaves below tmp_path."""
    yield
    for mnt in mounts_below(tmp_path):
        subprocess.run(["umount", mnt], check=False)
    for disk in tmp_path.rglob("disk"):
        for loop in loops_of(disk):
            subprocess.run(["losetup", "-d", loop], check=False)


def cloud_image(path, root):
    return images.build_image(path, 64, "gpt", [
        Part(1, "bios-boot"), Part(None, "linux", "ext4", root, "root")])


@pytest.mark.parametrize("case", ["file", "absolute-link-to-busybox",
                                  "escaping-link", "loop", "missing",
                                  "link-to-a-missing-non-utf8-name",
                                  "script-with-dos-line-ends"])
def test_setup_container_checks_the_init(nova, tmp_path, cleanup, case):
    api, _rootpath, model, exc, _fake = nova
    image = cloud_image(tmp_path / "disk", make_root(tmp_path, case))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    disk = model.LocalFileImage(image.path, "raw")
    if case in GOOD:
        device = api.setup_container(disk, str(rootfs), partition="auto",
                                     init_path="/sbin/init")
        assert mounts_below(rootfs) == [str(rootfs)]
        api.teardown_container(str(rootfs), device)
    else:
        with pytest.raises(exc.ImageUnacceptable) as err:
            api.setup_container(disk, str(rootfs), partition="auto",
                                init_path="/sbin/init")
        assert "init /sbin/init: " in str(err.value)
        assert INITS[case][1] in str(err.value)
    assert mounts_below(rootfs) == [] and loops_of(image.path) == []


class Recorder(object):
    """A libvirt connection that records the name of every call, and runs
    the hook of a call's name after it."""

    def __init__(self, conn):
        self._conn, self.calls, self.hooks = conn, [], {}

    def __getattr__(self, name):
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls.append(name)
            result = attr(*args, **kwargs)
            self.hooks.get(name, lambda: None)()
            return result
        return call


@pytest.fixture
def driver(nova, tmp_path):
    """The patched LibvirtDriver, virt_type lxc, instances in tmp_path,
    talking to a recorded fake libvirt connection."""
    _api, _rootpath, _model, _exc, fakelibvirt = nova
    import nova.conf
    from nova import context, objects
    from nova.virt import fake
    from nova.virt.libvirt import driver as libvirt_driver
    conf = nova.conf.CONF
    overrides = [("instances_path", str(tmp_path), None),
                 ("virt_type", "lxc", "libvirt"),
                 ("images_type", "raw", "libvirt")]
    for name, value, group in overrides:
        conf.set_override(name, value, group=group)
    try:
        drvr = libvirt_driver.LibvirtDriver(fake.FakeVirtAPI(), False)
        conn = Recorder(fakelibvirt.Connection("lxc:///", False))
        drvr._host.get_connection = lambda: conn
        instance = objects.Instance(uuid=UUID, image_ref=IMAGE_REF,
                                    system_metadata={}, resources=None,
                                    flavor=objects.Flavor())
        (tmp_path / UUID).mkdir()
        yield drvr, conn, instance, context.get_admin_context()
    finally:
        for name, _value, group in overrides:
            conf.clear_override(name, group=group)


DOMAIN_XML = """<domain type='lxc'><name>instance-1</name><uuid>%s</uuid>
<memory>65536</memory><vcpu>1</vcpu><os><type>exe</type><init>%s</init></os>
<devices><filesystem type='mount'><source dir='%s'/><target dir='/'/>
</filesystem></devices></domain>"""


def spawn(driver, tmp_path, case):
    drvr, _conn, instance, ctx = driver
    cloud_image(tmp_path / UUID / "disk", make_root(tmp_path, case))
    xml = DOMAIN_XML % (UUID, drvr._lxc_init_path(instance),
                        tmp_path / UUID / "rootfs")
    return drvr._create_guest_with_network(ctx, xml, instance, [], None)


def test_spawn_with_a_missing_init_never_reaches_libvirt(nova, driver,
                                                         tmp_path, cleanup):
    exc = nova[3]
    _drvr, conn, _instance, _ctx = driver
    with pytest.raises(exc.ImageUnacceptable) as err:
        spawn(driver, tmp_path, "missing")
    fault = str(err.value)
    assert IMAGE_REF in fault and str(tmp_path / UUID / "disk") in fault
    assert "init /sbin/init: /sbin/init does not exist" in fault
    # No domain was defined or started; the only call is the error path's
    # lookup of a domain to undefine.
    assert conn.calls == ["lookupByUUIDString"]
    assert mounts_below(tmp_path) == []
    assert loops_of(tmp_path / UUID / "disk") == []


def test_spawn_with_the_init_of_the_image_property(nova, driver, tmp_path,
                                                   cleanup):
    """The control: the same tree (no /sbin/init), with the image property
    os_init_path naming /bin/busybox, reaches libvirt and defines the
    domain; its device is released when the container stops."""
    drvr, conn, instance, _ctx = driver
    instance.system_metadata["image_os_init_path"] = "/bin/busybox"
    # The container: a copy of the mounts taken when the domain is defined
    # (the fake libvirt starts nothing).
    containers = []
    conn.hooks["defineXML"] = lambda: containers.append(MountHolder())
    try:
        spawn(driver, tmp_path, "missing")
        assert "defineXML" in conn.calls and len(containers) == 1
        assert conn.lookupByUUIDString(UUID).UUIDString() == UUID
        device = instance.system_metadata["rootfs_device_name"]
        assert loops_of(tmp_path / UUID / "disk") == [device]
        # The container runs: only the host's view was unmounted.
        assert mounts_below(tmp_path) == []
    finally:
        for container in containers:
            container.stop()
    drvr._teardown_container(instance)
    assert loops_of(tmp_path / UUID / "disk") == []
