"""The views return exactly the rows written, exactly typed, from local and non-local lakes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from ticklake.catalog import TABLES, Lake
from ticklake.errors import QueryError

from .conftest import (
    ANOMALIES,
    BOOK_SNAPSHOTS,
    BOOK_UPDATES,
    CANDLE_TRADES,
    GAPS,
    KLINES,
    NEXT_DAY,
    RAW,
    REJECTED,
    TICKERS,
    TICKS,
)
from .helpers import (
    DATE_OF,
    DERIVED_TS,
    PARTITIONS,
    SCHEMAS,
    SECOND,
    T0,
    CountingHandler,
    tail_table,
    trade,
    utc_date,
    write_lake,
    write_table,
)

ALL_TRADES = CANDLE_TRADES + NEXT_DAY
WRITTEN = {"trades": ALL_TRADES, "raw": RAW, "gaps": GAPS, "rejected": REJECTED,
           "anomalies": ANOMALIES, "book_updates": BOOK_UPDATES,
           "book_snapshots": BOOK_SNAPSHOTS, "tickers": TICKERS, "ticks": TICKS,
           "klines": KLINES}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIME = DATE_OF


def expected(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What SQL must show for rows written to ``table``: file columns then partitions."""
    out = []
    for row in rows:
        record = {name: row.get(name) for name in SCHEMAS[table].names}
        for column, source in DERIVED_TS.items():
            if column in record:
                record[column] = EPOCH + timedelta(microseconds=row[source] // 1000)
        record["exchange"] = row["exchange"]
        if "symbol" in PARTITIONS[table]:
            record["symbol"] = row["symbol"]
        record["date"] = date.fromisoformat(utc_date(row[TIME[table]]))
        out.append(record)
    return sorted(out, key=_order(table))


def sql_rows(lake: Lake, table: str) -> list[dict[str, Any]]:
    result = lake.query(f"SELECT * FROM {table}")
    return sorted((dict(zip(result.columns, row, strict=True)) for row in result.rows()),
                  key=_order(table))


def _order(table: str) -> Any:
    """By time, then every value: rows can share an instant (a pack and a ticker at once)."""
    return lambda r: (r[TIME[table]], repr(sorted(r.items())))


@pytest.mark.parametrize("table", TABLES)
def test_views_return_exactly_the_rows_written_with_partition_columns(
    lake: Lake, table: str
) -> None:
    assert sql_rows(lake, table) == expected(table, WRITTEN[table])


def test_exact_decimals_and_nanoseconds_beyond_2_53_survive(lake: Lake) -> None:
    result = lake.query(
        "SELECT ts_ns, price, qty, typeof(price) AS t FROM trades WHERE price = 90000.5"
    )
    ((ts_ns, price, qty, kind),) = result.rows()
    assert ts_ns == T0 + 86_400 * SECOND + 5 > 2**53
    assert (price, qty, kind) == (Decimal("90000.5"), Decimal("0.00000001"), "DECIMAL(18,8)")
    big = lake.query("SELECT qty FROM trades WHERE ts_ns = 1795651200000000007").rows()
    assert big == [(Decimal("12345678.12345678"),)]
    assert lake.query("SELECT sum(qty) AS s FROM trades").rows()[0][0] == sum(
        (t["qty"] for t in ALL_TRADES), Decimal(0)
    )


def test_column_types_are_the_documented_ones(lake: Lake) -> None:
    result = lake.query("SELECT * FROM trades LIMIT 0")
    assert dict(zip(result.columns, result.types, strict=True)) == {
        "ts": "TIMESTAMP WITH TIME ZONE",
        "ts_ns": "BIGINT",
        "recv_ns": "BIGINT",
        "side": "VARCHAR",
        "price": "DECIMAL(18,8)",
        "qty": "DECIMAL(38,8)",  # the files' decimal(18, 8), widened: price * qty is exact
        "sequence": "BIGINT",
        "from_snapshot": "BOOLEAN",
        "spool_offset": "BIGINT",
        "msg_index": "SMALLINT",
        "exchange": "VARCHAR",
        "symbol": "VARCHAR",
        "date": "DATE",
    }


def test_the_obvious_notional_query_is_exact(lake: Lake) -> None:
    """``sum(price * qty)`` as a user types it: no DECIMAL(18) overflow, the exact sum."""
    rows = lake.query("SELECT symbol, sum(price * qty) AS notional, "
                      "list(price) AS p, list(qty) AS q FROM trades GROUP BY symbol").rows()
    assert rows
    for _, notional, prices, qtys in rows:
        assert notional == sum(p * q for p, q in zip(prices, qtys, strict=True))


def test_pyarrow_dataset_and_pandas_read_the_same_rows(lake: Lake, lake_root: Path) -> None:
    via_sql = lake.query("SELECT * FROM trades").to_arrow()
    columns = [*SCHEMAS["trades"].names, "exchange", "symbol", "date"]

    def normal(table: pa.Table) -> list[dict[str, Any]]:
        rows = table.select(columns).to_pylist()
        for row in rows:
            row["side"] = str(row["side"])
            row["date"] = str(row["date"])
        return sorted(rows, key=lambda r: r["ts_ns"])

    dataset = ds.dataset(lake_root / "trades", format="parquet", partitioning="hive")
    frame = pd.read_parquet(lake_root / "trades", engine="pyarrow")
    from_pandas = pa.Table.from_pandas(frame.astype({"side": str}), preserve_index=False)
    assert normal(via_sql) == normal(dataset.to_table()) == normal(from_pandas)
    assert len(normal(via_sql)) == len(ALL_TRADES)


def test_temporary_and_foreign_files_are_not_read(lake_root: Path) -> None:
    partition = next((lake_root / "trades").glob("*/*/*"))
    table = pq.read_table(next(partition.glob("part-*.parquet")))
    pq.write_table(table, partition / "_tmp-1.parquet")
    pq.write_table(table, partition / ".part-2.parquet")
    pq.write_table(table, lake_root / "trades" / "stray.parquet")
    (partition / "notes.txt").write_text("not parquet")
    lake = Lake(lake_root)
    assert lake.query("SELECT count(*) FROM trades").rows() == [(len(ALL_TRADES),)]
    assert sum(t.files for t in lake.tables() if t.name == "trades") == 3


def test_files_published_after_connect_are_seen_by_the_next_query(lake: Lake) -> None:
    # A connection reads the live file list of its start; each query opens a fresh one.
    before = lake.query("SELECT count(*) FROM trades").rows()[0][0]
    write_table(Path(lake.base), "trades", [trade(T0 + 5 * SECOND, "1", "1", offset=50)])
    after = lake.query("SELECT count(*) FROM trades").rows()[0][0]
    assert (before, after) == (len(ALL_TRADES), len(ALL_TRADES) + 1)


def test_local_partition_pruning_reads_only_matching_files(lake: Lake) -> None:
    plan = lake.query(
        "EXPLAIN ANALYZE SELECT count(*) FROM trades "
        "WHERE symbol = 'BTCUSD' AND date = DATE '2026-11-26'"
    ).rows()
    text = "\n".join(str(cell) for row in plan for cell in row)
    assert re.search(r"Scanning Files:\s*1/3", text), text


# -- empty lakes and tails -------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_empty_lake_gives_empty_views_with_the_documented_columns(
    empty_lake: Lake, table: str
) -> None:
    result = empty_lake.query(f"SELECT * FROM {table}")
    assert result.num_rows == 0
    assert result.columns == [*SCHEMAS[table].names, *PARTITIONS[table]]


def test_tail_rows_appear_in_the_views(lake: Lake) -> None:
    fresh = [
        trade(T0 + 86_400 * SECOND + 60 * SECOND, "90010", "0.5", "buy", offset=20),
        trade(T0 + 2 * 86_400 * SECOND, "90020", "0.25", "sell", symbol="ETHUSD", offset=21),
    ]
    tails = {"trades": tail_table("trades", fresh)}
    result = lake.query("SELECT * FROM trades ORDER BY ts_ns", tails=tails)
    rows = [dict(zip(result.columns, r, strict=True)) for r in result.rows()]
    assert rows == expected("trades", ALL_TRADES + fresh)
    dated = lake.query(
        "SELECT count(*) FROM trades WHERE date = DATE '2026-11-27'", tails=tails
    ).rows()
    assert dated == [(1,)]


def test_empty_lake_with_a_tail_works(empty_lake: Lake) -> None:
    tails = {
        "trades": tail_table("trades", CANDLE_TRADES),
        "raw": tail_table("raw", RAW),
    }
    result = empty_lake.query("SELECT * FROM trades ORDER BY ts_ns", tails=tails)
    assert [dict(zip(result.columns, r, strict=True)) for r in result.rows()] == expected(
        "trades", CANDLE_TRADES
    )
    assert empty_lake.query("SELECT count(*) FROM raw", tails=tails).rows() == [(len(RAW),)]
    candles = empty_lake.query(
        "SELECT count(*) FROM candles('BTCUSD', INTERVAL 1 MINUTE)", tails=tails
    )
    assert candles.rows() == [(2,)]


def test_tails_for_unknown_tables_are_refused(lake: Lake) -> None:
    with pytest.raises(QueryError, match="unknown tables"):
        lake.query("SELECT 1", tails={"trade": tail_table("trades", CANDLE_TRADES)})


# -- a non-local filesystem: the pyarrow.dataset path (S3 in production) -----------------------


@pytest.fixture
def subtree_lake(tmp_path: Path) -> tuple[Lake, CountingHandler]:
    write_lake(
        tmp_path / "bucket" / "prefix",
        trades=ALL_TRADES,
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
    handler = CountingHandler(pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem()))
    return Lake("s3://bucket/prefix", filesystem=pafs.PyFileSystem(handler)), handler


@pytest.mark.parametrize("table", TABLES)
def test_dataset_path_returns_the_same_rows(
    subtree_lake: tuple[Lake, CountingHandler], table: str
) -> None:
    lake, _ = subtree_lake
    assert not lake.local
    assert sql_rows(lake, table) == expected(table, WRITTEN[table])


def test_dataset_path_prunes_partitions(subtree_lake: tuple[Lake, CountingHandler]) -> None:
    """A statement reads only the files of the partitions its filters keep. (A filesystem
    written in Python is read when the statement is planned, not lazily by DuckDB: see
    ``catalog.connection``; the pruning is the same.)"""
    lake, handler = subtree_lake
    handler.opened.clear()
    rows = lake.query(
        "SELECT count(*), sum(qty) FROM trades "
        "WHERE symbol = 'BTCUSD' AND date = DATE '2026-11-26'"
    ).rows()
    assert rows == [(2, Decimal("12345678.12345679"))]
    data = [p for p in handler.opened if "/_ticklake/" not in p]
    assert data and {p.split("/")[-2] for p in data} == {"date=2026-11-26"}
    assert all("symbol=BTCUSD" in p for p in data)


def test_dataset_path_with_tail_and_macros(subtree_lake: tuple[Lake, CountingHandler]) -> None:
    lake, _ = subtree_lake
    tails = {"trades": tail_table("trades", [trade(T0 + 150 * SECOND, "97", "1", offset=30)])}
    result = lake.query("SELECT count(*) FROM candles('BTCUSD', INTERVAL 1 MINUTE)", tails=tails)
    assert result.rows() == [(4,)]  # minutes 0, 1, 2 of day one and one minute of day two


def test_s3_filesystem_from_the_usual_aws_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from ticklake.catalog.lake import _s3_from_environment

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    options = _s3_from_environment().__reduce__()[1][0]
    assert (options["endpoint_override"], options["scheme"], options["region"]) == (
        "127.0.0.1:8333",
        "http",
        "eu-west-1",
    )
