"""The in-root resolver our lxc-init-path patch adds to nova
(nova/virt/disk/rootpath.py, the shipped file, loaded from the patch) with
paths that are not ASCII, on Python 2.7 and 3, and again in a child process
under LC_ALL=C: the C locale an icehouse nova-compute runs in (trusty's
upstart starts it so), where Python 2 can decode no byte above 0x7f.

Whatever the bytes of a link target or of a '#!' interpreter, the resolver
answers with its own error (the one setup_container catches to tear the
mount down), and that error's message is text nova's _() can take.
"""
from __future__ import absolute_import, unicode_literals

import os
import subprocess
import sys

import pytest

from tests.lib import patchfiles

pytestmark = pytest.mark.py27

# (native str names: this module's literals are unicode on 2.7)
rootpath = patchfiles.load_module(str('icehouse'),
                                  str('nova/virt/disk/rootpath.py'))

LATIN1 = b'/sbin/init-\xe9'                    # no UTF-8: no text anywhere
ACUTE = '/sbin/in\u00edt'                       # text, UTF-8 on disk
ELF = b'\x7fELF'


def fsbytes(path):
    if isinstance(path, bytes):
        return path
    return os.fsencode(path) if hasattr(os, 'fsencode') else \
        path.encode('utf-8')


@pytest.fixture
def root(tmpdir):
    """A root filesystem with /bin/busybox and /bin/sh -> busybox."""
    base = fsbytes(str(tmpdir.mkdir('root')))
    os.makedirs(os.path.join(base, b'bin'))
    os.mkdir(os.path.join(base, b'sbin'))
    put(base, b'/bin/busybox', ELF)
    os.symlink(b'busybox', os.path.join(base, b'bin', b'sh'))
    return base


def put(root, path, content, mode=0o755):
    full = os.path.join(root, fsbytes(path).lstrip(b'/'))
    with open(full, 'wb') as f:
        f.write(content)
    os.chmod(full, mode)


def link(root, path, target):
    os.symlink(fsbytes(target), os.path.join(root, fsbytes(path).lstrip(b'/')))


def message(exc):
    """What nova makes of the error: _('...%(error)s') % {'error': e} is a
    unicode format on icehouse."""
    return 'init /sbin/init: %(error)s' % {'error': exc}


@pytest.mark.parametrize('target, shown', [
    (LATIN1, '/sbin/init-\\xe9'),
    (fsbytes(ACUTE), ACUTE),
])
def test_missing_non_ascii_link_target(root, target, shown):
    link(root, '/sbin/init', target)
    with pytest.raises(rootpath.RootPathError) as err:
        rootpath.check_executable(root, '/sbin/init')
    assert message(err.value) == (
        'init /sbin/init: %s does not exist (via /sbin/init -> %s)'
        % (shown, shown))


@pytest.mark.parametrize('target', [LATIN1, fsbytes(ACUTE)])
def test_non_ascii_link_target_resolved(root, target):
    link(root, '/sbin/init', target)
    link(root, target, '/bin/busybox')
    assert rootpath.check_executable(root, '/sbin/init') == '/bin/busybox'
    # The root as text too (nova joins it from its instances path).
    text_root = root.decode('ascii')
    assert rootpath.check_executable(text_root, '/sbin/init') == \
        '/bin/busybox'


@pytest.mark.parametrize('interpreter', [LATIN1, fsbytes(ACUTE)])
def test_non_ascii_interpreter(root, interpreter):
    put(root, '/sbin/init', b'#!' + interpreter + b'\nexec sleep 1\n')
    with pytest.raises(rootpath.RootPathError) as err:
        rootpath.check_executable(root, '/sbin/init')
    shown = rootpath.display(interpreter)
    assert message(err.value) == (
        'init /sbin/init: /sbin/init is a script for %s, but %s does not '
        'exist' % (shown, shown))
    link(root, interpreter, '/bin/busybox')
    assert fsbytes(rootpath.check_executable(root, '/sbin/init')) == \
        b'/sbin/init'


def test_non_ascii_init_path(root):
    put(root, ACUTE, ELF)
    assert fsbytes(rootpath.check_executable(root, ACUTE)) == fsbytes(ACUTE)
    with pytest.raises(rootpath.RootPathError) as err:
        rootpath.check_executable(root, ACUTE + '2')
    assert message(err.value) == 'init /sbin/init: %s2 does not exist' % ACUTE


def test_str_of_the_error_on_any_python(root):
    link(root, '/sbin/init', fsbytes(ACUTE))
    with pytest.raises(rootpath.RootPathError) as err:
        rootpath.check_executable(root, '/sbin/init')
    # Python 2's str() is bytes: UTF-8, not an ascii UnicodeEncodeError.
    assert fsbytes(str(err.value)) == ('%s' % err.value).encode('utf-8')


def test_under_the_c_locale():
    """This module's other tests, in a child in the C locale."""
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith('LC_') and k not in ('LANG', 'LANGUAGE'))
    env['LC_ALL'] = 'C'
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    child = subprocess.Popen(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         '-k', 'not test_under_the_c_locale', os.path.abspath(__file__)],
        cwd=top, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = child.communicate()[0]
    assert child.returncode == 0, out.decode('utf-8', 'replace')
    assert b' passed' in out and b'failed' not in out
