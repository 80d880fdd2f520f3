"""I/O toward the exchange: sockets, timers and reconnects around a sans-I/O protocol core."""

from ticklake.session.connids import ConnIds
from ticklake.session.group import SessionGroup
from ticklake.session.phemex import PhemexSession, SessionConfig
from ticklake.session.stats import SessionStats

__all__ = ["ConnIds", "PhemexSession", "SessionConfig", "SessionGroup", "SessionStats"]
