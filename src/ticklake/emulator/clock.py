"""The exchange's clock: exchange time, which may run faster than real time.

Everything the exchange stamps or keys on time reads :meth:`ExchangeClock.now_ns`: trade
timestamps (the market is advanced to it), book, ticker, tick and kline publication times,
``dts``/``mts``, swing starts, the truth's ``ts_ns``, and through them the 24 h windows, the
kline bars and the funding EMAs. Network behaviour (heartbeats, stalls, refuse windows, the
fault schedule, the pacing of the batch, ticker, book-snapshot and kline-push periods) keeps
``time.monotonic()``: a client's timeouts are real, whatever the exchange's clock says.

Exchange time is ``start_ns + (monotonic elapsed) * speed``, computed on integers with the
speed as an exact fraction, so it never goes backwards (a wall-clock step does not move it)
and speed 1 is exactly ``start_ns`` plus the elapsed nanoseconds.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

__all__ = ["ExchangeClock", "parse_clock_start"]


class ExchangeClock:
    """Exchange nanoseconds since the epoch, ``speed`` exchange seconds per real second."""

    __slots__ = ("_den", "_mono0", "_num", "speed", "start_ns")

    def __init__(self, speed: float = 1.0, start_ns: int | None = None) -> None:
        if not (math.isfinite(speed) and speed > 0):
            msg = f"clock speed must be a finite number > 0, got {speed!r}"
            raise ValueError(msg)
        self.speed = float(speed)
        # The float's exact value as a ratio of integers: no rounding drift over a long run.
        self._num, self._den = self.speed.as_integer_ratio()
        self._mono0 = time.monotonic_ns()
        self.start_ns = time.time_ns() if start_ns is None else int(start_ns)

    def now_ns(self) -> int:
        elapsed = time.monotonic_ns() - self._mono0
        return self.start_ns + elapsed * self._num // self._den


def parse_clock_start(text: str) -> int:
    """``--clock-start``: epoch milliseconds (digits) or an ISO-8601 time (UTC unless it
    names an offset: ``2024-03-01T00:00:00Z``, ``2024-03-01 12:00``) → epoch nanoseconds.
    Raises ValueError naming what it expects."""
    text = text.strip()
    if text.isdigit():
        return int(text) * 1_000_000
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        msg = "expected an ISO-8601 UTC time or epoch milliseconds"
        raise ValueError(msg) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)  # exact: no float seconds
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
