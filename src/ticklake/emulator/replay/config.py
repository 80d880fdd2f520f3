"""What a replay serves and how fast: :class:`ReplayConfig`, and the parsers of the CLI's
``--from``/``--to`` and ``--speed``.

Every mistake a user can make here raises :class:`ReplayError` (a ValueError) with a message
that names what is wrong; the CLI prints it on one line. The emulator imports nothing from
``ticklake.errors`` (a contract), so this package has its own error class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["MAX_SPEED", "ReplayConfig", "ReplayError", "parse_speed", "parse_time"]

MAX_SPEED = math.inf  # ``--speed max``: no pacing, only the clients' reading speed


class ReplayError(ValueError):
    """A replay cannot start: a missing lake, a bad time, a bad speed (one line); ``option``
    names the option at fault ("": none, the lake's storage failed)."""

    def __init__(self, message: str, option: str = "--lake") -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class ReplayConfig:
    """One replay: the archive (``lake`` and the receive-time window), the pace, the socket."""

    lake: str  # a directory or s3://bucket/prefix
    from_ns: int | None = None  # receive time, inclusive; None: the archive's start
    to_ns: int | None = None  # receive time, inclusive; None: the archive's end
    symbols: tuple[str, ...] = ()  # () = every symbol of the archive
    speed: float = 1.0  # archive seconds per real second; MAX_SPEED: as fast as read
    host: str = "127.0.0.1"
    port: int = 0
    # The replay clock starts at the first subscription, its first frame this much later: a
    # client subscribes one channel per request (§4), and every request it sends at once
    # should start at the archive's beginning, not a few thousand frames into it.
    start_delay: float = 0.5
    # Frames received this long before ``from`` are read to build the books, the trade
    # snapshots and the tickers a subscription starts with (never served themselves).
    lead_in_s: float = 120.0
    # Frames of different connections arrive with different delays: frames are put in
    # exchange order within this window of exchange time.
    reorder_s: float = 2.0
    heartbeat_timeout: float = 30.0  # 0 = never drop a silent client (§3: 30 s on Phemex)
    max_subscriptions: int = 20  # per connection (§1.2); 0 = no limit
    # Frames queued for one client: at ``--speed max`` the replay waits for it to read
    # (backpressure); at a finite speed a client this far behind is dropped (as Phemex does
    # with a slow consumer) rather than buffered without bound.
    queue_frames: int = 2_000
    slow_client_frames: int = 200_000

    def __post_init__(self) -> None:
        if not self.lake:
            msg = "no lake given"
            raise ReplayError(msg)
        if self.from_ns is not None and self.to_ns is not None and self.from_ns > self.to_ns:
            msg = f"--from ({self.from_ns}) is after --to ({self.to_ns})"
            raise ReplayError(msg, "--from")
        if not (self.speed > 0 and (math.isfinite(self.speed) or self.speed == MAX_SPEED)):
            msg = f"speed must be a number > 0 or max, got {self.speed!r}"
            raise ReplayError(msg, "--speed")
        for name in ("start_delay", "lead_in_s", "reorder_s", "heartbeat_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                msg = f"{name} must be a number >= 0, got {value!r}"
                raise ReplayError(msg, f"--{name.replace('_', '-')}")
        if not 0 <= self.port <= 65_535:
            msg = f"port must be in [0, 65535], got {self.port}"
            raise ReplayError(msg, "--port")
        if self.queue_frames < 1 or self.slow_client_frames < self.queue_frames:
            msg = "queue_frames must be >= 1 and slow_client_frames >= queue_frames"
            raise ReplayError(msg, "queue_frames")

    @property
    def unpaced(self) -> bool:
        return self.speed == MAX_SPEED


def parse_speed(text: str) -> float:
    """``--speed``: a number > 0 (archive seconds per real second) or ``max``."""
    text = text.strip().lower()
    if text == "max":
        return MAX_SPEED
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        msg = "expected a number > 0 or max"
        raise ReplayError(msg, "--speed")
    return speed


def parse_time(text: str) -> int:
    """``--from``/``--to``: epoch nanoseconds (digits) or ISO 8601 (UTC unless it names an
    offset: ``2026-11-25T10:00:00Z``, ``2026-11-25 10:00``, ``2026-11-25``)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        msg = "expected an ISO 8601 time (UTC unless it names an offset) or epoch nanoseconds"
        raise ReplayError(msg, "--from") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)  # exact: no float seconds
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
