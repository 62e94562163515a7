"""Packages are built once per session (build/debs.py reuses unchanged
builds, so after `make debs` this takes a second)."""

import pytest

from build import debs, series as series_recipes


@pytest.fixture(scope="session")
def bookworm_dist():
    dist, _debs = debs.build("bookworm")
    return dist


@pytest.fixture(scope="session")
def trixie_dist():
    """dist/trixie, built in the trixie root (made first when not cached)."""
    dist, _debs = debs.build("trixie")
    return dist


@pytest.fixture(scope="session")
def icehouse_dist():
    recipe = series_recipes.get("icehouse")
    if recipe.unavailable():
        pytest.skip(recipe.skip())
    dist, _debs = debs.build("icehouse")
    return dist


@pytest.fixture(scope="session")
def icehouse_overlay_dist():
    """dist/icehouse with at least python-nova-lxc-contrail (no tree needed)."""
    dist, _debs = debs.build("icehouse")
    return dist
