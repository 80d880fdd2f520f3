"""Reconnect pacing as pure code: jittered capped exponential delays and a connect budget.

The budget keeps a reconnect storm inside Phemex's per-IP limit on ``wss://ws.phemex.com``
("200/5m", reference §1.2): each attempt takes a token; when none is left the next attempt
waits until the oldest one leaves the window.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(
    initial: float = 0.1, factor: float = 2.0, cap: float = 30.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Seconds to wait before each successive attempt: full jitter over a capped exponential.

    The first attempt after a healthy connection waits at most ``initial`` so that the
    resubscribe snapshot still covers the outage (200 trades is a few seconds of a busy book).
    """
    rng = rng or random.Random()
    ceiling = initial
    while True:
        yield rng.uniform(ceiling / 2, ceiling)
        ceiling = min(cap, ceiling * factor)


class ConnectBudget:
    """At most ``limit`` connection attempts in any ``window_ns``, paced, not bursted.

    A token bucket: ``burst`` attempts at once, then one every ``window / (limit - burst)``,
    so a server that keeps dropping us is retried steadily instead of exhausting the
    allowance in seconds and then going dark for minutes.
    """

    def __init__(
        self, limit: int = 200, window_ns: int = 300 * 1_000_000_000, burst: int = 20
    ) -> None:
        if not 0 < burst < limit:
            msg = f"burst must be between 1 and limit - 1, got {burst}"
            raise ValueError(msg)
        self.burst = burst
        self.interval_ns = window_ns // (limit - burst)
        self._tokens = float(burst)
        self._updated_ns: int | None = None

    def _refill(self, now_ns: int) -> None:
        if self._updated_ns is not None:
            earned = (now_ns - self._updated_ns) / self.interval_ns
            self._tokens = min(float(self.burst), self._tokens + earned)
        self._updated_ns = now_ns

    def wait_ns(self, now_ns: int) -> int:
        """How long to wait before an attempt at ``now_ns`` is within budget."""
        self._refill(now_ns)
        if self._tokens >= 1:
            return 0
        return int((1 - self._tokens) * self.interval_ns) + 1

    def spend(self, now_ns: int) -> None:
        self._refill(now_ns)
        self._tokens -= 1
