"""Running the build's commands: one runner, one error tail.

A failing command is a one-line BuildError that names what was being done
and the line of its output that says what went wrong (apt's first ``E:``
or unmet dependency, else the last error-looking line, else the last line).

``Host`` runs commands on this machine; a series whose commands run in a
root of another Debian suite gives a runner with the same interface
(build/series/__init__.py, ``Series.runner``).
"""

import re
import subprocess
from pathlib import Path

from build.log import BuildError

_ERROR = re.compile(r"^(E:|ERROR|error:|dpkg-\S+: error|make: \*\*\*)|\w*Error\b|"
                    r"[Ff]ailed|not found")


def error_tail(output):
    """The line of OUTPUT that says what went wrong."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    apt = [ln for ln in lines if ln.startswith("E: ") or "but it is not" in ln]
    if apt:
        return apt[0][:300]
    errors = [ln for ln in lines if _ERROR.search(ln)]
    return (errors or lines or ["no output"])[-1][:300]


def run(cmd, what, log=None, check=True, **kw):
    """Run CMD; return its CompletedProcess with text stdout and stderr.

    With LOG, the output is appended to that file (stdout then holds its
    last 20 kB) instead of being captured. CHECK: a non-zero exit raises a
    BuildError naming WHAT, the error tail and the log."""
    cmd = [str(c) for c in cmd]
    if log:
        with open(log, "ab") as out:
            out.write(("$ %s\n" % " ".join(cmd)).encode())
            out.flush()
            res = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)
        res.stdout = Path(log).read_bytes()[-20000:].decode(errors="replace")
        res.stderr = ""
    else:
        res = subprocess.run(cmd, capture_output=True, **kw)
        res.stdout = _text(res.stdout)
        res.stderr = _text(res.stderr)
    if check and res.returncode != 0:
        raise BuildError("%s failed (exit %d): %s%s" % (
            what, res.returncode, error_tail(res.stderr + "\n" + res.stdout),
            " (log: %s)" % log if log else ""))
    return res


def _text(data):
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def output(cmd, what, **kw):
    """stdout (with stderr, for the error tail) of CMD; raises on failure."""
    res = run(cmd, what, **kw)
    return res.stdout


class Host:
    """Commands of a series that runs on this machine (the default runner).

    run(cmd, what, ...) as build.run.run; path(p): P as the commands see it
    (a root runner maps host paths into its root); ensure_build_deps(tree):
    install TREE's Build-Depends where the build runs."""

    where = "this host"

    def run(self, cmd, what, **kw):
        return run(cmd, what, **kw)

    def path(self, path):
        return Path(path)

    def ensure_build_deps(self, tree):
        from build import deps          # deps runs apt through this module
        return deps.ensure_build_deps(tree)


HOST = Host()
