"""Reconnect pacing as pure code: jittered capped exponential delays and a connect budget.

The budget keeps a reconnect storm inside Phemex's per-IP limit on ``wss://ws.phemex.com``
("200/5m", reference §1.2): each attempt takes a token; when none is left the next attempt
waits until the oldest one leaves the window.
"""

from __future__ import annotations

import random
from collections import deque
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
    """At most ``limit`` connection attempts in any ``window_ns``."""

    def __init__(self, limit: int = 200, window_ns: int = 300 * 1_000_000_000) -> None:
        self.limit = limit
        self.window_ns = window_ns
        self._attempts: deque[int] = deque()

    def wait_ns(self, now_ns: int) -> int:
        """How long to wait before an attempt at ``now_ns`` is within budget."""
        while self._attempts and now_ns - self._attempts[0] >= self.window_ns:
            self._attempts.popleft()
        if len(self._attempts) < self.limit:
            return 0
        return self._attempts[0] + self.window_ns - now_ns

    def spend(self, now_ns: int) -> None:
        self._attempts.append(now_ns)
