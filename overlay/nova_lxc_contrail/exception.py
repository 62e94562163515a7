"""Errors raised by the driver core."""


class ContrailBridgeError(Exception):
    """Base class of the driver core's errors."""


class InvalidPort(ContrailBridgeError, ValueError):
    """The port data cannot be registered (checked before any device exists)."""

    def __init__(self, port_id, reason):
        # args stay (port_id, reason): oslo.privsep re-raises a daemon's
        # exception in the caller as type(*args)
        super(InvalidPort, self).__init__(port_id, reason)
        self.port_id = port_id
        self.reason = reason

    def __str__(self):
        return 'invalid port %s: %s' % (self.port_id or '<no id>',
                                        self.reason)


class NetdevError(ContrailBridgeError):
    """A network device could not be set up or removed."""


class PortFileError(ContrailBridgeError):
    """A port file could not be saved (the previous one, if any, is kept)."""


class AgentUnavailable(ContrailBridgeError):
    """The vrouter agent cannot be reached (the port stays pending)."""


class AgentTimeout(AgentUnavailable):
    """A request to the agent did not complete within agent_timeout (the
    port stays pending; the same call does not try again)."""


class AgentProtocolError(AgentUnavailable):
    """The agent's answer was not a valid one: malformed, too large, or not
    the answer asked for (the port stays pending, as for an agent that
    cannot be reached; the same call does not try again)."""


class AgentRejected(ContrailBridgeError):
    """The vrouter agent answered and refused one or more ports."""

    def __init__(self, message, port_ids=()):
        self.port_ids = frozenset(port_ids)
        super(AgentRejected, self).__init__(message)
