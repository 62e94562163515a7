"""Shared test configuration: the checkout's root is importable (build/,
tests.agent_double), and tests that need root skip loudly without it."""

import os
import sys

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TOP not in sys.path:
    sys.path.insert(0, TOP)
OVERLAY = os.path.join(TOP, "overlay")
if OVERLAY not in sys.path:
    sys.path.insert(1, OVERLAY)


def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root (real kernel objects)")
    config.addinivalue_line("markers", "network: needs the package registries")


def pytest_runtest_setup(item):
    if item.get_closest_marker("root") and os.geteuid() != 0:
        pytest.skip("SKIPPED (needs root): creates real kernel objects")
