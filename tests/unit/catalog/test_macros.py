"""candles / vwap / trade_counts / imbalance on hand-computed trades (see conftest)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticklake.catalog import Lake
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import build

from .helpers import SECOND, T0, file_rows, tail_table, trade, utc_date, write_lake

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
MINUTE_1 = datetime(2026, 11, 25, 0, 1, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def records(lake: Lake, sql: str) -> list[dict[str, object]]:
    result = lake.query(sql)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows()]


def test_one_minute_candles_are_exact(lake: Lake) -> None:
    rows = records(
        lake, "SELECT * FROM candles('BTCUSD', INTERVAL 1 MINUTE) WHERE bucket < '2026-11-26'"
    )
    vwaps = [row.pop("vwap") for row in rows]
    assert rows == [
        {
            "bucket": MINUTE_0,
            "open": D("100.5"),
            "high": D("101"),
            "low": D("99.75"),
            "close": D("99.75"),
            "volume": D("6"),
            "buy_volume": D("5"),
            "sell_volume": D("1"),
            "trades": 3,
        },
        {
            "bucket": MINUTE_1,
            "open": D("98"),
            "high": D("102.25"),
            "low": D("98"),
            "close": D("100"),
            "volume": D("2.00000001"),
            "buy_volume": D("1.5"),
            "sell_volume": D("0.50000001"),
            "trades": 3,
        },
    ]
    assert vwaps == [
        pytest.approx(601.25 / 6, rel=1e-15),
        pytest.approx(202.375001 / 2.00000001, rel=1e-15),
    ]


def test_candles_at_other_intervals_and_with_a_string_interval(lake: Lake) -> None:
    two = records(lake, "SELECT * FROM candles('BTCUSD', INTERVAL 2 MINUTE) LIMIT 1")[0]
    assert (two["open"], two["high"], two["low"], two["close"], two["volume"]) == (
        D("100.5"),
        D("102.25"),
        D("98"),
        D("100"),
        D("8.00000001"),
    )
    days = records(lake, "SELECT bucket, trades, volume FROM candles('BTCUSD', '1 day')")
    assert days == [
        {"bucket": datetime(2026, 11, 25, tzinfo=UTC), "trades": 6, "volume": D("8.00000001")},
        {"bucket": NEXT_DAY, "trades": 2, "volume": D("12345678.12345679")},
    ]


def test_candle_column_types(lake: Lake) -> None:
    result = lake.query("SELECT * FROM candles('BTCUSD', INTERVAL 1 HOUR)")
    assert dict(zip(result.columns, result.types, strict=True)) == {
        "bucket": "TIMESTAMP WITH TIME ZONE",
        "open": "DECIMAL(18,8)",
        "high": "DECIMAL(18,8)",
        "low": "DECIMAL(18,8)",
        "close": "DECIMAL(18,8)",
        "volume": "DECIMAL(38,8)",
        "buy_volume": "DECIMAL(38,8)",
        "sell_volume": "DECIMAL(38,8)",
        "trades": "BIGINT",
        "vwap": "DOUBLE",
    }


def test_since_until_window_prunes_partitions(lake: Lake) -> None:
    sql = (
        "SELECT * FROM candles('BTCUSD', INTERVAL 1 MINUTE, "
        "since := '2026-11-25 00:01:00', until := '2026-11-26')"
    )
    rows = records(lake, sql)
    assert [(r["bucket"], r["trades"]) for r in rows] == [(MINUTE_1, 3)]
    plan = lake.query("EXPLAIN ANALYZE " + sql).rows()
    text = "\n".join(str(cell) for row in plan for cell in row)
    assert re.search(r"Scanning Files:\s*1/3", text), text


def test_vwap_is_notional_over_volume(lake: Lake) -> None:
    rows = records(lake, "SELECT * FROM vwap('BTCUSD', INTERVAL 1 MINUTE) LIMIT 2")
    assert [(r["bucket"], r["volume"], r["notional"], r["trades"]) for r in rows] == [
        (MINUTE_0, D("6"), D("601.25"), 3),
        (MINUTE_1, D("2.00000001"), D("202.375001"), 3),
    ]
    assert rows[0]["vwap"] == pytest.approx(601.25 / 6, rel=1e-15)


def test_trade_counts_cover_every_symbol(lake: Lake) -> None:
    rows = records(lake, "SELECT * FROM trade_counts(INTERVAL 1 MINUTE)")
    assert [(r["bucket"], r["symbol"], r["trades"], r["volume"]) for r in rows] == [
        (MINUTE_0, "BTCUSD", 3, D("6")),
        (MINUTE_0, "ETHUSD", 1, D("1")),
        (MINUTE_1, "BTCUSD", 3, D("2.00000001")),
        (NEXT_DAY, "BTCUSD", 2, D("12345678.12345679")),
    ]


def test_imbalance_is_signed_buy_minus_sell_volume(lake: Lake) -> None:
    rows = records(lake, "SELECT * FROM imbalance('BTCUSD', INTERVAL 1 MINUTE)")
    assert [(r["buy_volume"], r["sell_volume"], r["imbalance"]) for r in rows] == [
        (D("5"), D("1"), D("4")),
        (D("1.5"), D("0.50000001"), D("0.99999999")),
        (D("12345678.12345678"), D("0.00000001"), D("12345678.12345677")),
    ]
    assert [r["ratio"] for r in rows] == [
        pytest.approx(4 / 6),
        pytest.approx(0.99999999 / 2.00000001),
        pytest.approx(12345678.12345677 / 12345678.12345679),
    ]


def test_macros_on_an_empty_lake_return_no_rows(empty_lake: Lake) -> None:
    for sql in (
        "SELECT * FROM candles('BTCUSD', INTERVAL 1 MINUTE)",
        "SELECT * FROM vwap('BTCUSD', INTERVAL 1 MINUTE)",
        "SELECT * FROM trade_counts(INTERVAL 1 MINUTE)",
        "SELECT * FROM imbalance('BTCUSD', INTERVAL 1 MINUTE)",
    ):
        assert empty_lake.query(sql).num_rows == 0


def test_open_and_close_break_ties_on_exchange_time_by_spool_offset(tmp_path: Path) -> None:
    same = T0 + 5 * SECOND
    lake = Lake(
        write_lake(
            tmp_path / "ties",
            trades=[
                trade(same, "2", "1", offset=11),
                trade(same, "1", "1", offset=10),
                trade(same, "4", "1", offset=13),
                trade(same, "3", "1", offset=12),
            ],
        )
    )
    row = records(lake, "SELECT open, close FROM candles('BTCUSD', INTERVAL 1 MINUTE)")[0]
    assert (row["open"], row["close"]) == (D("1"), D("4"))


def test_fills_of_one_message_and_instant_open_and_close_in_the_exchanges_order(
        tmp_path: Path) -> None:
    # One taker order's fills: same instant, same message; msg_index is the exchange's order.
    same = T0 + 5 * SECOND
    root = write_lake(tmp_path / "fills", trades=[
        trade(same, "3", "1", offset=10, index=1),
        trade(same, "5", "1", offset=10, index=0),
        trade(same, "2", "1", offset=10, index=2),
        trade(same + 60 * SECOND, "7", "1", offset=11, index=0),
        trade(same + 60 * SECOND, "6", "1", offset=11, index=1),
    ])
    # A file written before the column (schema version 1) reads it as null: its rows order
    # by time and spool offset as they did.
    old = [trade(same + 120 * SECOND, "9", "1", offset=12),
           trade(same + 120 * SECOND, "8", "1", offset=13)]
    directory = root / "trades" / "exchange=phemex" / "symbol=BTCUSD" / f"date={utc_date(T0)}"
    pq.write_table(file_rows("trades", old).drop_columns(["msg_index"]),
                   directory / "part-00000000000000000012-00000000000000000014.parquet")
    # Listed (versions unknown), then from a manifest (the versions read from the footers).
    for manifest in (False, True):
        if manifest:
            assert build(LakeStorage(str(root)).manifest_store()).added == 2
        lake = Lake(root)
        rows = records(lake, "SELECT open, close FROM candles('BTCUSD', INTERVAL 1 MINUTE)")
        assert [(r["open"], r["close"]) for r in rows] == [
            (D("5"), D("2")), (D("7"), D("6")), (D("9"), D("8"))]
        nulls = lake.query("SELECT count(*) FROM trades WHERE msg_index IS NULL").rows()
        assert nulls == [(2,)]


STEPS = {"1 second": 1, "1 minute": 60, "5 minutes": 300, "1 hour": 3600}


@settings(
    max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    trades=st.lists(
        st.tuples(
            st.integers(0, 3 * 3600 * SECOND),
            st.decimals("0.00000001", "99999999.99999999", places=8),
            st.decimals("0.00000001", "99999.99999999", places=8),
            st.sampled_from(["buy", "sell"]),
        ),
        min_size=1,
        max_size=40,
    ),
    step=st.sampled_from(sorted(STEPS)),
)
def test_candles_match_a_python_reference(
    empty_lake: Lake, trades: list[tuple[int, D, D, str]], step: str
) -> None:
    rows = [
        trade(T0 + t, str(price), str(qty), side, offset=i)
        for i, (t, price, qty, side) in enumerate(trades)
    ]
    width = STEPS[step] * SECOND
    reference: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        # time_bucket works on the microsecond `ts`
        reference.setdefault(row["ts_ns"] // 1000 * 1000 // width * width, []).append(row)
    expected = []
    for start, members in sorted(reference.items()):
        ordered = sorted(members, key=lambda r: (r["ts_ns"], r["spool_offset"]))
        expected.append(
            (
                EPOCH + timedelta(microseconds=start // 1000),
                ordered[0]["price"],
                max(r["price"] for r in members),
                min(r["price"] for r in members),
                ordered[-1]["price"],
                sum((r["qty"] for r in members), D(0)),
                sum((r["qty"] for r in members if r["side"] == "buy"), D(0)),
                len(members),
            )
        )
    result = empty_lake.query(
        "SELECT bucket, open, high, low, close, volume, buy_volume, trades "
        f"FROM candles('BTCUSD', '{step}')",
        tails={"trades": tail_table("trades", rows)},
    )
    assert result.rows() == expected
