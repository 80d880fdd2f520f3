"""Deterministic trades for the dashboard's test lakes (two symbols over two UTC days)."""

from __future__ import annotations

import random
from typing import Any

from ..catalog.helpers import SECOND, T0, trade

TRADES_PER_SYMBOL = 2_000
SPAN_NS = 36 * 3_600 * SECOND  # crosses a date partition


def lake_trades(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    offset = 0
    for symbol, base in (("BTCUSD", 90_000), ("ETHUSD", 3_000)):
        times = sorted(rng.randrange(0, SPAN_NS) for _ in range(TRADES_PER_SYMBOL))
        price = base * 10_000
        for ts in times:
            price += rng.randint(-40, 40)
            qty = rng.randint(1, 5_000)
            rows.append(trade(T0 + ts, f"{price / 10_000:.4f}", str(qty),
                              rng.choice(("buy", "sell")), symbol=symbol, offset=offset))
            offset += 1
    return rows
