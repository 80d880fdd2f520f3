"""Reconnect pacing: jittered capped delays, and a connect budget that paces, not bursts."""

from __future__ import annotations

import itertools
import random

from ticklake.feed.backoff import ConnectBudget, backoff_delays

S = 1_000_000_000


def test_delays_grow_with_jitter_up_to_the_cap() -> None:
    delays = backoff_delays(0.1, cap=2.0, rng=random.Random(1))
    first = [next(delays) for _ in range(12)]
    assert 0.05 <= first[0] <= 0.1
    assert all(1.0 <= d <= 2.0 for d in first[6:])
    assert len(set(first)) == len(first)  # jittered


def test_budget_allows_a_burst_then_paces_evenly_within_the_limit() -> None:
    budget = ConnectBudget(limit=200, window_ns=300 * S, burst=20)
    now, attempts = 0, []
    while now < 600 * S:  # a server that drops us at once, for ten minutes
        now += budget.wait_ns(now)
        budget.spend(now)
        attempts.append(now)
    assert attempts[19] == 0  # the burst
    gaps = {b - a for a, b in itertools.pairwise(attempts[21:])}
    assert max(gaps) <= 1.7 * S  # never dark for long
    for i, start in enumerate(attempts):  # never more than the limit in any window
        assert sum(1 for t in attempts[i:] if t < start + 300 * S) <= 200
