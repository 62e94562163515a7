"""What the overlay declares in setup.cfg, and which of it each series uses."""

import configparser

from build.cache import TOP
from tests.packaging import patchcheck

SERIES = ("bookworm", "icehouse")

# Loads every extension of the namespaces given as arguments and prints
# {namespace: {name: module file}} for ours; our plugins must load, other
# packages' plugins in the same namespace are not ours to judge. Runs on
# Python 3 (stevedore 4) and 2.7 (stevedore 1.3).
LOAD_SCRIPT = """
import json, sys, stevedore

def fail(manager, entry_point, exc):
    target = getattr(entry_point, 'value', None) or entry_point.module_name
    if target.split(':')[0].split('.')[0] == 'nova_lxc_contrail':
        raise exc

out = {}
for ns in sys.argv[1:]:
    mgr = stevedore.ExtensionManager(ns, invoke_on_load=False,
                                     on_load_failure_callback=fail)
    out[ns] = dict((e.name, sys.modules[e.plugin.__module__].__file__) for e in mgr
                   if e.plugin.__module__.split('.')[0] == 'nova_lxc_contrail')
print(json.dumps(out))
"""


def entry_points():
    """{namespace: sorted names} of setup.cfg's [entry_points]."""
    cfg = configparser.ConfigParser()
    cfg.read(TOP / "setup.cfg")
    if not cfg.has_section("entry_points"):
        return {}
    return {ns: sorted(ln.split("=")[0].strip() for ln in value.splitlines() if ln.strip())
            for ns, value in cfg.items("entry_points")}


def series_entry_points(series):
    """The entry points SERIES' nova can load: every namespace except those
    that only the other series' patches add (a loader our patches give that
    nova, such as icehouse's nova.virt.libvirt.vif_drivers)."""
    def text(name):
        return "\n".join("\n".join(lines) for lines in
                         patchcheck.expected_lines(name).values())
    mine, other = text(series), text(SERIES[1 - SERIES.index(series)])
    return {ns: names for ns, names in entry_points().items()
            if ns in mine or ns not in other}
