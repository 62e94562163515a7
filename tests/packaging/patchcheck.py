"""Is our series in an installed (or unpacked) nova? Derived from the patches.

For every file a patch of the series touches, the lines the series adds
(and no later patch of the series removes again) must be in the installed
file: nova/... in the Python package directory, setup.cfg's entry points
in the installed egg-info's entry_points.txt. Other paths (nova's tests
tree is part of the Python package; files outside nova/ are not installed by
nova's packages) are listed as not checked.
"""

import re
from pathlib import Path

from build import pins

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def file_changes(text):
    """{path: (added lines, removed lines)} of a unified diff (-p1 paths)."""
    out, current = {}, None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            new = lines[i + 1][4:].split("\t")[0].strip()
            old = line[4:].split("\t")[0].strip()
            path = (old if new == "/dev/null" else new).split("/", 1)[1]
            current = out.setdefault(path, ([], []))
            i += 2
            continue
        m = _HUNK.match(line)
        if m and current is not None:
            old_left, new_left = (int(g) if g is not None else 1 for g in m.groups())
            i += 1
            while (old_left or new_left) and i < len(lines):
                body = lines[i]
                if body.startswith("+"):
                    current[0].append(body[1:])
                    new_left -= 1
                elif body.startswith("-"):
                    current[1].append(body[1:])
                    old_left -= 1
                elif body.startswith("\\"):
                    pass                                  # no newline at end of file
                else:
                    old_left -= 1
                    new_left -= 1
                i += 1
            continue
        i += 1
    return out


def expected_lines(series):
    """{path: [non-blank lines the series leaves added]} in series order."""
    want = {}
    for patch in pins.patch_series(series):
        for path, (added, removed) in file_changes(patch.text()).items():
            have = want.setdefault(path, [])
            for line in removed:
                if line in have:
                    have.remove(line)
            have.extend(a for a in added if a.strip())
    return want


def _entry_point(line):
    m = re.match(r"^\s*([\w.-]+)\s*=\s*([\w.]+(?::[\w.]+)?)\s*$", line)
    return m and "%s = %s" % m.groups()


def check(series, package_dir, egg_info=None):
    """Compare the series with an installed nova.

    PACKAGE_DIR: the directory holding the ``nova`` package;
    EGG_INFO: nova's installed egg-info directory (for setup.cfg).
    Returns (checked paths, not checked paths, problems)."""
    checked, unchecked, problems = [], [], []
    for path, lines in sorted(expected_lines(series).items()):
        if path.startswith("nova/"):
            target = Path(package_dir) / path
            if not target.is_file():
                problems.append("%s: not installed (%s)" % (path, target))
                continue
            have = {ln.rstrip() for ln in target.read_text(errors="replace").splitlines()}
            missing = [ln for ln in lines if ln.rstrip() not in have]
            if missing:
                problems.append("%s: %d added lines missing, first: %r"
                                % (path, len(missing), missing[0]))
            checked.append(path)
        elif path == "setup.cfg" and egg_info is not None:
            points = [_entry_point(ln) for ln in lines if _entry_point(ln)]
            have = {_entry_point(ln) for ln in
                    (Path(egg_info) / "entry_points.txt").read_text().splitlines()}
            problems += ["setup.cfg: entry point %r not in %s/entry_points.txt"
                         % (p, egg_info) for p in points if p not in have]
            checked.append(path)
        else:
            unchecked.append(path)
    return checked, unchecked, problems
