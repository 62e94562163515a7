"""Persisted port registrations, one JSON file per port.

The layout is the vrouter agent's own (``/var/lib/contrail/ports/<uuid>``,
written by ``vrouter-port-control`` and reloaded by the REST-era agent at
start), so the directory may be shared with the agent. Files are replaced
atomically (write to a dot-file, rename); the agent skips names that are not
UUIDs, so the temporary files never reach it.

A port file is the only record of a port that is pending while the agent is
away, so it is replaced only by a complete one: every byte written (a full
disk or RLIMIT_FSIZE makes write() return short, then fail), the data
fsynced before the rename and the directory after it (so a power cut keeps
the old file or the new one, never an empty one). A save that fails raises
PortFileError, keeps the old file and removes its temporary file.
"""
from __future__ import absolute_import

import errno
import json
import logging
import os
import threading
import uuid

from nova_lxc_contrail.exception import PortFileError

LOG = logging.getLogger(__name__)


def _is_port_file(name):
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


class PortFiles(object):
    """The port files of one directory."""

    def __init__(self, directory):
        self.directory = directory

    def path(self, port_id):
        return os.path.join(self.directory, port_id)

    def save(self, record):
        """Write record (a dict with an 'id') as the port's file; raises
        PortFileError (the old file kept, no temporary file left)."""
        data = json.dumps(record, sort_keys=True).encode('utf-8')
        final = self.path(record['id'])
        tmp = os.path.join(self.directory, '.%s.%d.%d.tmp' % (
            record['id'], os.getpid(), threading.current_thread().ident))
        try:
            fd = self._create(tmp)
        except OSError as exc:
            raise PortFileError('cannot save port file %s: %s' % (final, exc))
        try:
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, final)
        except EnvironmentError as exc:
            _discard(tmp)
            raise PortFileError('cannot save port file %s: %s' % (final, exc))
        self._sync_directory(final)

    def remove(self, port_id):
        """Remove the port's file; a missing file is not an error."""
        try:
            os.unlink(self.path(port_id))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            return False
        # else a power cut could bring the file (and the port) back
        self._sync_directory(self.path(port_id))
        return True

    def load(self, port_id):
        """The port's record, or None if there is no readable file."""
        try:
            with open(self.path(port_id), 'rb') as f:
                return json.loads(f.read().decode('utf-8'))
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                LOG.warning('cannot read port file %s: %s',
                            self.path(port_id), exc)
        except ValueError as exc:
            LOG.warning('port file %s is not JSON: %s',
                        self.path(port_id), exc)
        return None

    def ids(self):
        """Port ids that have a file, sorted."""
        try:
            entries = os.listdir(self.directory)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            return []
        return sorted(name for name in entries if _is_port_file(name))

    def load_all(self):
        """All readable records, sorted by port id."""
        records = (self.load(port_id) for port_id in self.ids())
        return [r for r in records if isinstance(r, dict)]

    def _create(self, tmp):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        try:
            return os.open(tmp, flags, 0o644)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        try:
            os.makedirs(self.directory, 0o755)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        _fsync_directory(os.path.dirname(self.directory))
        return os.open(tmp, flags, 0o644)

    def _sync_directory(self, path):
        try:
            _fsync_directory(self.directory)
        except EnvironmentError as exc:
            raise PortFileError('cannot sync %s (for %s): %s'
                                % (self.directory, path, exc))


def _write_all(fd, data):
    """os.write until all of data is written: a short write (a full disk,
    RLIMIT_FSIZE) is followed by one that raises the reason."""
    while data:
        written = os.write(fd, data)
        if written <= 0:     # not expected from a regular file
            raise IOError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        data = data[written:]


def _fsync_directory(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(path):
    try:
        os.unlink(path)
    except OSError as exc:
        LOG.warning('cannot remove %s: %s', path, exc)
