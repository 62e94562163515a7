"""Patches made from real nova files, for testing the series machinery.

nova 26.3.0 dropped two lines of 26.2.2's libvirt driver (hv.reenlightenment
and hv.evmcs); the hyperv driver is gone in 29.0.1 (29.0.0 has no sdist on PyPI). These facts of real
releases give every class of the rebase check a real case.
"""

import difflib
import tarfile

from build import sources

DRIVER = "nova/virt/libvirt/driver.py"
HYPERV = "nova/virt/hyperv/driver.py"


def release_file(version, path):
    sdist = sources.pypi_sdist("nova", version)
    with tarfile.open(sdist) as tf:
        member = tf.getmember("nova-%s/%s" % (version, path))
        return tf.extractfile(member).read().decode("utf-8").splitlines(True)


def diff(path, old, new):
    text = "".join(difflib.unified_diff(old, new, "a/" + path, "b/" + path))
    assert text, "empty diff"
    return "Description: test patch\n\n" + text


def replace_line(lines, needle, new, nth=0):
    out = list(lines)
    idx = [i for i, ln in enumerate(out) if needle in ln][nth]
    out[idx] = out[idx].replace(needle, new)
    return out


def patches():
    """{name: (patch text, expected status on 26.3.0, or 29.0.1 for gone.patch)}."""
    old = release_file("26.2.2", DRIVER)
    new = release_file("26.3.0", DRIVER)
    evmcs = [i for i, ln in enumerate(old) if "hv.evmcs = True" in ln][0]
    fuzz = list(old)
    # two lines below the dropped hv.evmcs: its context only matches with fuzz 2
    fuzz[evmcs + 2] = fuzz[evmcs + 2].replace("NOTE(kosamara)", "NOTE(test)")
    far = [i for i, ln in enumerate(old) if "def _add_virtio_serial_controller" in ln][0]
    offset = list(old)
    offset.insert(far + 2, "        # test: an unrelated change\n")
    hyperv = release_file("28.0.0", HYPERV)
    return {
        "gone.patch": (diff(HYPERV, hyperv, hyperv[:-1] + [hyperv[-1] + "# test\n"]),
                       "file-gone"),
        "upstream.patch": (diff(DRIVER, old, new), "already-upstream"),
        "conflict.patch": (diff(DRIVER, old, replace_line(
            old, "hv.reenlightenment = True", "hv.reenlightenment = False")), "conflict"),
        "fuzz.patch": (diff(DRIVER, old, fuzz), "needs-fuzz"),
        "offset.patch": (diff(DRIVER, old, offset), "offset"),
    }
