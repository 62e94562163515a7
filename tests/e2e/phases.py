"""Where nova's spawn and destroy spend their time, measured from the
outside: the bench's compute child (tests/e2e/compute.py,
compute_icehouse.py) wraps nova's and our functions, named by import path,
with a recorder of (phase, start, end) wall-clock spans. Nothing of nova is
changed; a call of a wrapped function inside another of the same phase is
counted once (the outer one). Python 2.7 and 3: icehouse's child imports it
too (world.py copies it beside that child's script).

The phase tables are per series: (phase, module, attribute path). A path
that does not exist in the tree at hand is reported, not guessed at.
"""
from __future__ import absolute_import

import functools
import importlib
import time

# nova 26.2.2 (bookworm), patched or not: the spawn ...
BOOKWORM = [
    ("spawn", "nova.virt.libvirt.driver", "LibvirtDriver.spawn"),
    ("image", "nova.virt.libvirt.driver", "LibvirtDriver._create_image"),
    ("qemu-img info", "nova.virt.images", "qemu_img_info"),
    ("copy", "nova.virt.libvirt.utils", "copy_image"),
    ("extend", "nova.virt.disk.api", "extend"),
    ("guest XML", "nova.virt.libvirt.driver", "LibvirtDriver._get_guest_xml"),
    ("create", "nova.virt.libvirt.driver", "LibvirtDriver._create_guest_with_network"),
    ("plug", "nova.virt.libvirt.driver", "LibvirtDriver.plug_vifs"),
    ("disk setup", "nova.virt.libvirt.driver", "LibvirtDriver._create_domain_setup_lxc"),
    ("partition table", "nova.virt.disk.parttable", "read_file_table"),
    ("loop attach", "nova.privsep.fs", "loopsetup"),
    ("mount", "nova.virt.disk.mount.api", "Mount.mnt_dev"),
    ("init check", "nova.virt.disk.rootpath", "check_executable"),
    ("define", "nova.virt.libvirt.host", "Host.write_instance_config"),
    ("start", "nova.virt.libvirt.guest", "Guest.launch"),
    ("host umount", "nova.virt.libvirt.driver", "LibvirtDriver._create_domain_cleanup_lxc"),
    # ... and the destroy
    ("destroy", "nova.virt.libvirt.driver", "LibvirtDriver.destroy"),
    ("stop", "nova.virt.libvirt.guest", "Guest.poweroff"),
    ("umount", "nova.virt.disk.mount.api", "Mount.unmnt_dev"),
    ("loop detach", "nova.privsep.fs", "loopremove"),
    ("unplug", "nova.virt.libvirt.driver", "LibvirtDriver._unplug_vifs"),
    ("undefine", "nova.virt.libvirt.driver", "LibvirtDriver._undefine_domain"),
    ("instance files", "nova.virt.libvirt.driver", "LibvirtDriver.delete_instance_files"),
    # once per daemon: oslo.privsep starting one through the root helper
    ("privsep daemon start", "oslo_privsep.priv_context", "PrivContext.start"),
    # every round trip to a privsep daemon (entrypoints are bound at import
    # to PrivContext._wrap: the channel's call is what can be wrapped later)
    ("privsep calls", "oslo_privsep.daemon", "_ClientChannel.remote_call"),
    # every command nova runs itself (qemu-img under prlimit, cp, e2label ...)
    ("commands", "oslo_concurrency.processutils", "execute"),
]

# nova 2014.1.5 (icehouse): every privileged command is one sudo
# nova-rootwrap process (nova.utils.execute).
ICEHOUSE = [
    ("spawn", "nova.virt.libvirt.driver", "LibvirtDriver.spawn"),
    ("image", "nova.virt.libvirt.driver", "LibvirtDriver._create_image"),
    ("qemu-img info", "nova.virt.images", "qemu_img_info"),
    ("copy", "nova.virt.libvirt.utils", "copy_image"),
    ("extend", "nova.virt.disk.api", "extend"),
    ("guest XML", "nova.virt.libvirt.driver", "LibvirtDriver.to_xml"),
    ("create", "nova.virt.libvirt.driver", "LibvirtDriver._create_domain_and_network"),
    ("plug", "nova.virt.libvirt.driver", "LibvirtDriver.plug_vifs"),
    ("disk setup", "nova.virt.disk.api", "setup_container"),
    ("partition table", "nova.virt.disk.parttable", "read_file_table"),
    ("loop attach", "nova.virt.disk.mount.loop", "LoopMount.get_dev"),
    ("mount", "nova.virt.disk.mount.api", "Mount.mnt_dev"),
    ("init check", "nova.virt.disk.rootpath", "check_executable"),
    # _create_domain calls the connection itself: its libvirt calls
    ("define", "libvirt", "virConnect.defineXML"),
    ("start", "libvirt", "virDomain.createWithFlags"),
    ("host umount", "nova.virt.disk.api", "clean_lxc_namespace"),
    ("destroy", "nova.virt.libvirt.driver", "LibvirtDriver.destroy"),
    ("umount", "nova.virt.disk.mount.api", "Mount.unmnt_dev"),
    ("stop", "libvirt", "virDomain.destroy"),
    ("loop detach", "nova.virt.disk.mount.loop", "LoopMount.unget_dev"),
    ("unplug", "nova.virt.libvirt.driver", "LibvirtDriver.unplug_vifs"),
    ("undefine", "nova.virt.libvirt.driver", "LibvirtDriver._undefine_domain"),
    ("instance files", "nova.virt.libvirt.driver", "LibvirtDriver._delete_instance_files"),
    # every command nova runs (the privileged ones through sudo nova-rootwrap)
    ("commands", "nova.utils", "execute"),
]


class Recorder(object):
    """Wraps the functions of a phase table; collects their spans."""

    def __init__(self, table, clock=time.time):
        self.clock = clock
        self.spans = []                 # [phase, start, end]
        self.missing = []               # "module:path" absent from this tree
        self._active = {}               # phase -> nesting depth
        for phase, module, path in table:
            self._wrap(phase, module, path)

    def _wrap(self, phase, module, path):
        try:
            owner = importlib.import_module(module)
            names = path.split(".")
            for name in names[:-1]:
                owner = getattr(owner, name)
            attr = names[-1]
            raw = vars(owner)[attr]
        except (ImportError, AttributeError, KeyError):
            self.missing.append("%s:%s" % (module, path))
            return
        static = isinstance(raw, staticmethod)
        func = raw.__func__ if static else raw
        timed = self._timed(phase, func)
        setattr(owner, attr, staticmethod(timed) if static else timed)

    def _timed(self, phase, func):
        recorder = self

        @functools.wraps(func)
        def timed(*args, **kwargs):
            depth = recorder._active.get(phase, 0)
            recorder._active[phase] = depth + 1
            start = recorder.clock()
            try:
                return func(*args, **kwargs)
            finally:
                recorder._active[phase] = depth
                if not depth:
                    recorder.spans.append([phase, start, recorder.clock()])
        return timed

    def take(self):
        """The spans recorded since the last take."""
        spans, self.spans = self.spans, []
        return spans


def totals(spans):
    """{phase: seconds} summed over SPANS."""
    out = {}
    for phase, start, end in spans:
        out[phase] = out.get(phase, 0.0) + (end - start)
    return out


def last_end(spans, phase):
    ends = [end for name, _start, end in spans if name == phase]
    return max(ends) if ends else None
