"""A process in a mount namespace of its own, holding the mounts it copied.

libvirt's LXC controller does the same with an instance's root filesystem:
its namespace gets a copy of the host's mounts when the container starts,
so nova's unmount of the host's view (clean_lxc_namespace) leaves the
filesystem, and the loop device under it, in use until the container
stops. Tests that stand in for a running container use this instead.
"""

import subprocess


class MountHolder(object):
    """``unshare --mount`` running ``sleep``: the copy is made before the
    constructor returns (the child says so once it is in its namespace)."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             "echo in-namespace; exec sleep 600"],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "in-namespace":
            self.stop()
            raise RuntimeError("unshare --mount did not start: %r" % line)

    def stop(self):
        """The container stops: its namespace and its mounts go away."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
