"""Shared test configuration: the checkout's root is importable (build/,
tests.agent_double), tests that need root skip loudly without it, and under
Python 2.7 only the modules marked ``py27`` are collected."""

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
    config.addinivalue_line("markers", "py27: also runs under Python 2.7 (the driver "
                            "core and the icehouse adapter run on icehouse computes)")


if sys.version_info[0] == 2:
    def pytest_ignore_collect(path, config):
        """Under 2.7 only modules that mark themselves py27 are collected."""
        if path.check(file=1) and path.basename.startswith("test_") and path.ext == ".py":
            return "pytest.mark.py27" not in path.read()


def pytest_runtest_setup(item):
    if item.get_closest_marker("root") and os.geteuid() != 0:
        pytest.skip("SKIPPED (needs root): creates real kernel objects")
