"""Errors raised by the driver core."""


class ContrailBridgeError(Exception):
    """Base class of the driver core's errors."""


class InvalidPort(ContrailBridgeError, ValueError):
    """The port data cannot be registered (checked before any device exists)."""

    def __init__(self, port_id, reason):
        self.port_id = port_id
        self.reason = reason
        super(InvalidPort, self).__init__(
            'invalid port %s: %s' % (port_id or '<no id>', reason))


class NetdevError(ContrailBridgeError):
    """A network device could not be set up or removed."""


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
