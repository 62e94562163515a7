"""nova-lxc-contrail: per-port Linux bridges for LXC instances on Contrail.

The core modules of this package import nothing from nova and run on
Python 2.7 and 3; only the series adapters face nova.
"""
