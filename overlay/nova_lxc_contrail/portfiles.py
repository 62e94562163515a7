"""Persisted port registrations, one JSON file per port.

The layout is the vrouter agent's own (``/var/lib/contrail/ports/<uuid>``,
written by ``vrouter-port-control`` and reloaded by the REST-era agent at
start), so the directory may be shared with the agent. Files are replaced
atomically (write to a dot-file, rename); the agent skips names that are not
UUIDs, so the temporary files never reach it.
"""
from __future__ import absolute_import

import errno
import json
import logging
import os
import threading
import uuid

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
        """Write record (a dict with an 'id') as the port's file."""
        data = json.dumps(record, sort_keys=True).encode('utf-8')
        final = self.path(record['id'])
        tmp = os.path.join(self.directory, '.%s.%d.%d.tmp' % (
            record['id'], os.getpid(), threading.current_thread().ident))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            self._makedirs()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, final)

    def remove(self, port_id):
        """Remove the port's file; a missing file is not an error."""
        try:
            os.unlink(self.path(port_id))
            return True
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            return False

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

    def _makedirs(self):
        try:
            os.makedirs(self.directory, 0o755)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
