"""I/O toward the exchange: sockets, timers and reconnects around a sans-I/O protocol core.

``connection`` serves one socket; ``supervisor`` (``PhemexSession``) reconnects, asking the
pure ``failures.classify_failure`` which failures are worth a retry; ``group`` runs the
sessions of one recorder together.
"""

from ticklake.session.connids import ConnIds
from ticklake.session.group import SessionGroup
from ticklake.session.stats import SessionState, SessionStats
from ticklake.session.supervisor import PhemexSession, SessionConfig

__all__ = ["ConnIds", "PhemexSession", "SessionConfig", "SessionGroup", "SessionState",
           "SessionStats"]
