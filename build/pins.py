"""The source pins (build/pins.toml) and the patch series they go with."""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from build.cache import TOP
from build.log import BuildError

PINS_FILE = TOP / "build" / "pins.toml"
PATCHES = TOP / "patches"


def load():
    with open(PINS_FILE, "rb") as f:
        return tomllib.load(f)


def series_names():
    return sorted(load()["series"])


def series_pins(name):
    pins = load()["series"]
    if name not in pins:
        raise BuildError("unknown series %r (known: %s)"
                         % (name, ", ".join(sorted(pins))))
    return pins[name]


@dataclass
class Patch:
    name: str        # as listed in the series file
    path: Path

    def text(self):
        return self.path.read_text(encoding="utf-8")

    def files(self):
        """(path, created) for every file the patch touches, -p1 relative."""
        return touched_files(self.text())


def patch_series(name):
    """The patches of our series for NAME, in series order."""
    series_pins(name)
    sdir = PATCHES / name
    series = sdir / "series"
    if not series.exists():
        raise BuildError("series file %s is missing" % series)
    out = []
    for line in series.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        entry = line.split()[0]
        path = sdir / entry
        if not path.is_file():
            raise BuildError("%s lists %s, which does not exist" % (series, entry))
        out.append(Patch(entry, path))
    return out


_OLD = re.compile(r"^--- (\S+)")
_NEW = re.compile(r"^\+\+\+ (\S+)")


def _strip1(path):
    return path.split("/", 1)[1] if "/" in path else path


def touched_files(text):
    """Parse a unified diff: [(path, created, deleted)] with -p1 paths."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        old, new = _OLD.match(line), _NEW.match(lines[i + 1])
        if not (old and new):
            continue
        created = old.group(1) == "/dev/null"
        deleted = new.group(1) == "/dev/null"
        path = _strip1(old.group(1) if deleted else new.group(1))
        out.append((path, created, deleted))
    return out


def series_files(name):
    """Pre-image requirements of a whole series: {path: must_exist}.

    A file the series creates must be absent from the pristine tree (unless an
    earlier patch of the series already touched it as an existing file).
    """
    need = {}
    for patch in patch_series(name):
        for path, created, _deleted in patch.files():
            need.setdefault(path, not created)
    return need
