"""bookworm: Debian 12's nova (2:26.2.2-1~deb12u5, Zed, Python 3) with our series.

Everything is the shared Debian recipe (build/series/_debian.py): the pins
([series.bookworm] of build/pins.toml) say which source, patches/bookworm/
holds our series, build/nova-debian/bookworm.changelog our changelog entry.
Its commands run on this host (a bookworm machine).
"""

from build.series._debian import DebianNova


class Bookworm(DebianNova):
    built_by_default = True     # this machine's own Debian


RECIPE = Bookworm
