"""Fixtures: a small lake with hand-checkable trades, and its rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ticklake.catalog import Lake

from .helpers import (
    SECOND,
    T0,
    anomaly,
    book_snapshot,
    book_update,
    gap,
    kline,
    raw,
    rejected,
    tick,
    ticker,
    trade,
    write_lake,
)

# Six BTCUSD trades over two minutes (written out of time order on purpose) and one ETHUSD.
#   minute 0: buy 100.5 x 2 @ +1s, sell 101 x 1 @ +20s, buy 99.75 x 3 @ +40s
#   minute 1: sell 98 x 0.5 @ +61s, buy 102.25 x 1.5 @ +90s, sell 100 x 0.00000001 @ +119s
CANDLE_TRADES = [
    trade(T0 + 40 * SECOND, "99.75", "3", "buy", offset=3),
    trade(T0 + 1 * SECOND + 123, "100.5", "2", "buy", offset=1),
    trade(T0 + 20 * SECOND, "101", "1", "sell", offset=2),
    trade(T0 + 119 * SECOND + 999, "100", "0.00000001", "sell", offset=6),
    trade(T0 + 61 * SECOND, "98", "0.5", "sell", offset=4),
    trade(T0 + 90 * SECOND, "102.25", "1.5", "buy", offset=5),
    trade(T0 + 30 * SECOND, "3000", "1", "buy", symbol="ETHUSD", offset=7),
]
# A second day, so that partition pruning has something to prune.
NEXT_DAY = [
    trade(T0 + 86_400 * SECOND + 5, "90000.5", "0.00000001", "sell", offset=8),
    trade(T0 + 86_400 * SECOND + 7, "90001", "12345678.12345678", "buy", offset=9),
]
RAW = [raw(T0 + 5, '{"trades": []}', offset=1), raw(T0 + 86_400 * SECOND, "pong", offset=2)]
GAPS = [gap("BTCUSD", T0 + 100, T0 + 200, offset=3)]
REJECTED = [rejected(T0 + 9, "\ufffdgarbage", offset=4)]
ANOMALIES = [anomaly("BTCUSD", T0 + 50 * SECOND, T0 + 51 * SECOND, T0 + 80 * SECOND)]
BOOK_UPDATES = [
    book_update("BTCUSD", T0 + 10, "bid", "90000.5", "120", offset=5, action="snapshot"),
    book_update("BTCUSD", T0 + 10, "ask", "90001", "7", offset=5, action="snapshot"),
    book_update("BTCUSDT", T0 + 20, "ask", "90002.25", "0", offset=6),
]
BOOK_SNAPSHOTS = [
    book_snapshot("BTCUSD", T0 + 1_000, "bid", 1, "90000.5", "120", offset=7),
    book_snapshot("BTCUSD", T0 + 1_000, "ask", 1, "90001", "7", offset=7),
]

TICKERS = [
    ticker("BTCUSD", T0 + 1 * SECOND, "market24h", offset=8, last="90000.5",
           mark_price="90001.1", index_price="89999.9", funding_rate="-0.0001",
           turnover="123456789012.12345678"),
    ticker("BTCUSDT", T0 + 1 * SECOND, "perp_market24h_pack_p", offset=9, last="90002",
           bid="90001.9", ask="90002.1"),
]
TICKS = [tick(".BTC", T0 + 2 * SECOND, "tick", "89999.9", offset=10)]
KLINES = [kline("BTCUSD", T0, ("100.5", "101", "99.75", "99.75"), "6", offset=11,
                snapshot=True)]


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return write_lake(
        tmp_path / "lake",
        trades=CANDLE_TRADES + NEXT_DAY,
        raw=RAW,
        gaps=GAPS,
        rejected=REJECTED,
        anomalies=ANOMALIES,
        book_updates=BOOK_UPDATES,
        book_snapshots=BOOK_SNAPSHOTS,
        tickers=TICKERS,
        ticks=TICKS,
        klines=KLINES,
    )


@pytest.fixture
def lake(lake_root: Path) -> Lake:
    return Lake(lake_root)


@pytest.fixture
def empty_lake(tmp_path: Path) -> Lake:
    return Lake.create(tmp_path / "empty")


def by(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))
