"""Files that our nova patches ADD, read straight from patches/<series>/
(Python 2.7 and 3): the text of an added file, or the file loaded as a
module without nova around it."""
from __future__ import absolute_import

import io
import os
import re
import types

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
_HUNK = re.compile(r'^@@ -0,0 \+1(?:,(\d+))? @@')


def series_patches(series):
    """Paths of the patches of SERIES, in series order."""
    sdir = os.path.join(TOP, 'patches', series)
    with io.open(os.path.join(sdir, 'series'), encoding='utf-8') as f:
        names = [line.split('#', 1)[0].split() for line in f]
    return [os.path.join(sdir, name[0]) for name in names if name]


def added_files(patch):
    """{path: text} of the files PATCH creates."""
    with io.open(patch, encoding='utf-8') as f:
        lines = f.read().split('\n')
    out = {}
    i = 0
    while i < len(lines) - 2:
        hunk = _HUNK.match(lines[i + 2])
        if (lines[i] == '--- /dev/null' and lines[i + 1].startswith('+++ b/')
                and hunk):
            count = int(hunk.group(1) or 1)
            body = [line[1:] for line in lines[i + 3:i + 3 + count]]
            assert all(line.startswith('+')
                       for line in lines[i + 3:i + 3 + count]), patch
            no_eol = lines[i + 3 + count].startswith('\\')
            out[lines[i + 1][6:]] = '\n'.join(body) + ('' if no_eol else '\n')
            i += 3 + count
        else:
            i += 1
    return out


def touching(series, path):
    """The patches of SERIES that touch PATH (created or modified)."""
    mark = '+++ b/%s' % path
    out = []
    for patch in series_patches(series):
        with io.open(patch, encoding='utf-8') as f:
            if mark in f.read().split('\n'):
                out.append(patch)
    return out


def added_file(series, path):
    """The text of PATH, which one patch of SERIES creates."""
    for patch in series_patches(series):
        files = added_files(patch)
        if path in files:
            return files[path]
    raise LookupError('no patch of %s creates %s' % (series, path))


def load_module(series, path, name=None):
    """Execute the added file PATH as a module of its own."""
    module = types.ModuleType(name or os.path.basename(path)[:-3])
    module.__file__ = '%s:%s' % (series, path)
    code = compile(added_file(series, path), module.__file__, 'exec')
    exec(code, module.__dict__)
    return module
