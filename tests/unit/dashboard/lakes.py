"""Deterministic trades for the dashboard's test lakes (two symbols over two UTC days)."""

from __future__ import annotations

import math
import random
from typing import Any

from ticklake.model import Anomaly

from ..catalog.helpers import SECOND, T0, ticker, trade

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


def lake_anomaly(trades: list[dict[str, Any]], symbol: str = "BTCUSD",
                 at_ns: int = T0 + 30 * 3_600 * SECOND) -> Anomaly:
    """An ended swing as the detector writes it, on the trades of ``symbol``: detected at the
    first trade from ``at_ns`` (its price is ``price_after``), started six trades earlier
    (``price_before``: minutes before, these trades are sparse), ended 30 s after detection."""
    mine = [t for t in trades if t["symbol"] == symbol]
    k = next(i for i, t in enumerate(mine) if t["ts_ns"] >= at_ns)
    detect, start, inside = mine[k], mine[k - 6], mine[k - 6:k + 1]
    before, after = float(start["price"]), float(detect["price"])
    return Anomaly(
        anomaly_id=f"{symbol}-{start['ts_ns']}-swing-9f2c", phase="end", exchange="phemex",
        symbol=symbol, kind="swing", ts_start_ns=start["ts_ns"], ts_detect_ns=detect["ts_ns"],
        ts_end_ns=detect["ts_ns"] + 30 * SECOND, direction="up" if after > before else "down",
        horizon_s=float((detect["ts_ns"] - start["ts_ns"]) // SECOND),
        move_bp=(after - before) / before * 1e4, move_price=after - before,
        price_before=before, price_after=after, score=6.75, trades=len(inside),
        intensity_z=2.25, imbalance=-0.4, largest_qty=float(max(t["qty"] for t in inside)),
        rcf_score=None, detector_version="0.3.0", params_hash="c0ffee",
    )


def lake_tickers(seed: int = 12, every_ns: int = 60 * SECOND) -> list[dict[str, Any]]:
    """BTCUSD's ``market24h`` updates over the lake's span (ETHUSD has none): a funding rate
    that drifts and flips sign, mark and index around the price; a few updates without a
    funding rate (which the funding history skips), and two updates in one instant (spool
    order decides)."""
    rng = random.Random(seed)
    rows = []
    offset = 10**6
    for k, ts in enumerate(range(T0 + 7 * SECOND, T0 + SPAN_NS, every_ns)):
        rate = round(20_000 * math.cos(k / 300)) + rng.randint(-400, 400)  # in 1e-8
        index = 90_000 * 10_000 + rng.randint(-5_000, 5_000)
        values = {"index_price": f"{index / 10_000:.4f}",
                  "mark_price": f"{(index + rng.randint(-300, 300)) / 10_000:.4f}",
                  "last": f"{(index + rng.randint(-900, 900)) / 10_000:.4f}"}
        if k % 97 != 5:
            values |= {"funding_rate": f"{rate / 10**8:.8f}",
                       "pred_funding_rate": f"{(rate + rng.randint(-50, 50)) / 10**8:.8f}"}
        rows.append(ticker("BTCUSD", ts, "market24h", offset=offset, **values))
        offset += 1
        if k % 250 == 0:  # the same instant again, later in the spool: this one counts
            rows.append(ticker("BTCUSD", ts, "market24h", offset=offset,
                               **{**values, "funding_rate": "0.00031"}))
            offset += 1
    return rows
