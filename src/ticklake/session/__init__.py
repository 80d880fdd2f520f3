"""I/O toward the exchange: sockets, timers and reconnects around a sans-I/O protocol core."""

from ticklake.session.phemex import PhemexSession, SessionConfig
from ticklake.session.stats import SessionStats

__all__ = ["PhemexSession", "SessionConfig", "SessionStats"]
