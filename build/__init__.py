"""The nova-lxc-contrail build: pinned sources, quilt series, packages, checks.

Run it with Debian's Python 3 from the top of the checkout:
``/usr/bin/python3 -m build.cli <command>`` (the Makefile is a thin front).
"""
