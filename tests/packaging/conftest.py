"""Packages are built once per session (build/debs.py reuses unchanged
builds, so after `make debs` this takes a second)."""

import pytest

from build import debs, sources


@pytest.fixture(scope="session")
def bookworm_dist():
    dist, _debs = debs.build("bookworm")
    return dist


@pytest.fixture(scope="session")
def icehouse_dist():
    if not sources.icehouse_available():
        pytest.skip("SKIPPED: icehouse tree not available (set NOVA_SOURCE=...)")
    dist, _debs = debs.build("icehouse")
    return dist


@pytest.fixture(scope="session")
def icehouse_overlay_dist():
    """dist/icehouse with at least python-nova-lxc-contrail (no tree needed)."""
    dist, _debs = debs.build("icehouse")
    return dist
