"""The rebase check classifies real patches on real nova releases."""

import pytest

from build import pins, rebase
from tests.build import nova_patches

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def real_patches(tmp_path_factory):
    d = tmp_path_factory.mktemp("patches")
    out = {}
    for name, (text, expected) in nova_patches.patches().items():
        (d / name).write_text(text)
        out[name] = (pins.Patch(name, d / name), expected)
    return out


def _target(version):
    return rebase.Target("bookworm", "pypi %s" % version, "pypi", rebase._pypi_fill(version))


@pytest.mark.parametrize("name", ["upstream.patch", "conflict.patch", "fuzz.patch",
                                  "offset.patch"])
def test_classified_on_newer_release(real_patches, name):
    patch, expected = real_patches[name]
    # every one of them applies exactly on the release it was made from ...
    assert [r.status for r in rebase.run_target(_target("26.2.2"), [patch])] == ["applies"]
    # ... and is classified by what 26.3.0 changed
    [result] = rebase.run_target(_target("26.3.0"), [patch])
    assert result.status == expected
    if expected == "offset":
        assert result.offsets and result.offsets[0].endswith("-2")


def test_file_gone(real_patches):
    patch, expected = real_patches["gone.patch"]
    assert [r.status for r in rebase.run_target(_target("28.0.0"), [patch])] == ["applies"]
    [result] = rebase.run_target(_target("29.0.1"), [patch])
    assert result.status == expected == "file-gone"
    assert result.offsets == [nova_patches.HYPERV]


def test_each_patch_is_tried_on_top_of_those_before(real_patches):
    # conflict.patch edits a line upstream.patch removes: on 26.2.2 the first
    # applies and the second, tried on top of it, conflicts.
    up, conflict = real_patches["upstream.patch"][0], real_patches["conflict.patch"][0]
    statuses = [r.status for r in rebase.run_target(_target("26.2.2"), [up, conflict])]
    assert statuses == ["applies", "conflict"]
    # a patch already upstream is left out, so the next is tried on the release
    statuses = [r.status for r in rebase.run_target(_target("26.3.0"), [up, conflict])]
    assert statuses == ["already-upstream", "conflict"]


def test_base_failures_only_count_the_pinned_base():
    report = {"series": {"bookworm": {"rows": [
        {"target": "bookworm x", "base": True,
         "results": [{"patch": "a", "status": "offset"}, {"patch": "b", "status": "applies"}]},
        {"target": "pypi 34.0.0", "base": False,
         "results": [{"patch": "a", "status": "conflict"}, {"patch": "b", "status": "file-gone"}]},
    ]}}}
    assert rebase.base_failures(report) == []
    report["series"]["bookworm"]["rows"][0]["results"][1]["status"] = "needs-fuzz"
    assert rebase.base_failures(report) == ["bookworm: b is needs-fuzz on bookworm x"]
