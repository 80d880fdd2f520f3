"""Events a sans-I/O protocol core hands to the session (and on to consumers)."""

from __future__ import annotations

import msgspec

from ticklake.model import Gap, Trade


class Event(msgspec.Struct, frozen=True, tag=True):
    """Base of every protocol event."""


class Subscribed(Event, frozen=True):
    channel: str
    symbol: str


class Unsubscribed(Event, frozen=True):
    channel: str
    symbol: str


class SubscribeFailed(Event, frozen=True):
    """The exchange answered a subscribe with an error; a retry is scheduled."""

    channel: str
    symbol: str
    code: int
    message: str
    attempts: int


class SubscriptionAbandoned(Event, frozen=True):
    """A subscribe was refused ``attempts`` times in a row before it ever streamed.

    A symbol that streamed before is never abandoned: it is retried with a capped backoff.
    """

    channel: str
    symbol: str
    code: int
    message: str
    attempts: int


class TradesReceived(Event, frozen=True):
    """New trades (never seen before), oldest first; recovered snapshot rows included."""

    symbol: str
    sequence: int
    snapshot: bool
    trades: list[Trade]
    duplicates_skipped: int


class GapDetected(Event, frozen=True):
    gap: Gap


class DuplicateMessage(Event, frozen=True):
    """An incremental message replayed on the same connection; its rows were dropped."""

    symbol: str
    sequence: int
    rows: int


class Pong(Event, frozen=True):
    rtt_ns: int


class FrameRejected(Event, frozen=True):
    """A frame that could not be understood; kept with its reason, never silently dropped."""

    reason: str
    frame: str


class ConnectionStale(Event, frozen=True):
    """The connection must be abandoned (no pong, silence, unanswered request)."""

    reason: str
