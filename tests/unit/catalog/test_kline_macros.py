"""exchange_bars() keeps the final version of each bar; kline_check() compares ticklake's
candles with them bar by bar and says why a bar differs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ticklake.catalog import Lake

from .helpers import SECOND, T0, gap, kline, trade, write_lake

MINUTE = 60 * SECOND


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    trades = [
        # minute 0 (before the first recorded trade's minute start: outside), minutes 1-4
        trade(T0 + 30 * SECOND, "100", "1", "buy", offset=1),
        trade(T0 + MINUTE + 1, "101", "2", "buy", offset=2),
        trade(T0 + MINUTE + 2, "103", "1", "sell", offset=3),
        trade(T0 + MINUTE + 3, "102", "1", "buy", offset=4),
        trade(T0 + 2 * MINUTE + 1, "104", "1", "buy", offset=5),
        trade(T0 + 3 * MINUTE + 1, "105", "1", "buy", offset=6),
        trade(T0 + 4 * MINUTE + 1, "106", "1", "buy", offset=7),
        trade(T0 + 5 * MINUTE + 1, "107", "1", "buy", offset=8),
    ]
    klines = [
        kline("BTCUSD", T0, ("99", "100", "98", "100"), "9", offset=10, snapshot=True),
        # minute 1: a superseded version, then the final one that matches exactly
        kline("BTCUSD", T0 + MINUTE, ("101", "101", "101", "101"), "2", offset=11),
        kline("BTCUSD", T0 + MINUTE, ("101", "103", "101", "102"), "4", offset=12),
        # minute 2: the exchange saw more volume than was recorded
        kline("BTCUSD", T0 + 2 * MINUTE, ("104", "104", "104", "104"), "3", offset=13),
        # minute 3: no bar at all; minute 4: differs, but a recorded gap touches it
        kline("BTCUSD", T0 + 4 * MINUTE, ("106", "109", "106", "109"), "2", offset=14),
        # minute 5: the last bar received (maybe not closed)
        kline("BTCUSD", T0 + 5 * MINUTE, ("107", "107", "107", "107"), "1", offset=15),
        # a bar of another interval is not compared
        kline("BTCUSD", T0, ("1", "1", "1", "1"), "1", interval_s=300, offset=16),
    ]
    root = write_lake(tmp_path_factory.mktemp("klines") / "lake", trades=trades, klines=klines,
                      gaps=[gap("BTCUSD", T0 + 4 * MINUTE + 10, T0 + 4 * MINUTE + 20,
                                offset=17),
                            # touches minute 1, which lost nothing to it
                            gap("BTCUSD", T0 + MINUTE + 3, T0 + MINUTE + 3, offset=18)])
    return Lake(root)


def test_exchange_bars_are_the_final_versions_of_one_interval(lake: Lake) -> None:
    rows = lake.query("SELECT bucket, high, close, volume, versions "
                      "FROM exchange_bars('BTCUSD', INTERVAL 1 MINUTE)").rows()
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (Decimal(100), Decimal(100), Decimal(9), 1),
        (Decimal(103), Decimal(102), Decimal(4), 2),
        (Decimal(104), Decimal(104), Decimal(3), 1),
        (Decimal(109), Decimal(109), Decimal(2), 1),
        (Decimal(107), Decimal(107), Decimal(1), 1),
    ]


def test_kline_check_names_each_bars_status_and_reason(lake: Lake) -> None:
    rows = lake.query("SELECT status, reason FROM kline_check('BTCUSD', '1 minute')").rows()
    assert rows == [
        ("outside", "before the first recorded trade"),
        ("match", "a recorded gap; equal nevertheless"),
        ("differs", "volume differ"),
        ("no_bar", "no exchange bar received"),
        ("differs", "a recorded gap: high, close, volume may differ"),
        ("outside", "after the last recorded trade"),
    ]
