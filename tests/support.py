"""Test support: deadlines scaled by TICKLAKE_TEST_TIMEOUT_FACTOR, truth comparison."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

from ticklake.model import Gap, Trade

FACTOR = float(os.environ.get("TICKLAKE_TEST_TIMEOUT_FACTOR", "1"))

Key = tuple[str, int, str, Decimal, Decimal]  # symbol, ts_ns, side, price, qty


def scaled(seconds: float) -> float:
    return seconds * FACTOR


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition (cheaply, every 10 ms) until it holds; fail after a scaled deadline."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {scaled(timeout):.1f}s waiting for {what}"
            raise AssertionError(msg)
        await asyncio.sleep(0.02)


def read_truth(path: Path) -> list[Key]:
    rows = []
    with path.open() as lines:
        for line in lines:
            row = json.loads(line)
            side = row["side"].lower()
            rows.append((row["symbol"], row["ts_ns"], side, Decimal(row["price"]),
                         Decimal(row["qty"])))
    return rows


def key_of(trade: Trade) -> Key:
    return (trade.symbol, trade.ts_exchange_ns, trade.side, trade.price, trade.qty)


class Comparison:
    """Recorded trades against the emulator's ground truth, trade for trade."""

    def __init__(self, truth: Iterable[Key], recorded: Iterable[Key], gaps: list[Gap],
                 start_ns: dict[str, int]) -> None:
        truth = list(truth)
        self.truth_rows = len(truth)
        self.truth = Counter(k for k in truth if k[1] >= start_ns.get(k[0], 0))
        self.recorded = Counter(recorded)
        self.duplicated = self.recorded - self.truth
        missing = self.truth - self.recorded
        self.lost_in_gaps = Counter()  # type: Counter[Key]
        self.lost_silently = Counter()  # type: Counter[Key]
        for key, n in missing.items():
            covered = any(g.symbol == key[0] and g.from_ns <= key[1] <= g.to_ns for g in gaps)
            (self.lost_in_gaps if covered else self.lost_silently)[key] += n

    def summary(self) -> dict[str, int]:
        return {
            "truth": sum(self.truth.values()),
            "recorded": sum(self.recorded.values()),
            "duplicated": sum(self.duplicated.values()),
            "lost_in_reported_gaps": sum(self.lost_in_gaps.values()),
            "lost_silently": sum(self.lost_silently.values()),
        }
