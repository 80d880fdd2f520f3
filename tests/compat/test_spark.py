"""Spark (pyspark, local mode) reads the lake and computes the same per-minute OHLCV as DuckDB.

Run by ``make test-compat`` (it installs the ``compat`` extra: pyspark, pandas < 3). The lake is
a real recording from the emulator plus a synthetic file spanning two UTC dates with ties in
exchange time; it is read twice, as written (DELTA_BINARY_PACKED integers and timestamps) and
rewritten with the older plain/dictionary encodings, and Spark must agree with DuckDB on both,
row for row, with exact decimals. Spark reads the live files only (``Lake.files``: superseded
compaction inputs are skipped) with ``basePath`` so exchange/symbol/date come from the paths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklake.catalog import Lake
from ticklake.lake.layout import file_path
from ticklake.lake.storage import PARQUET_OPTIONS, LakeStorage
from ticklake.schemas import TRADES

from ..integration.test_lake import record_into_lake

pytestmark = pytest.mark.compat

# The trade order for open/close: exchange time, then the message sequence; spool offset,
# price and quantity make it total, so both engines pick the same trade on every tie.
ORDER = ("ts_ns", "sequence", "spool_offset", "price", "qty")
DUCKDB_OHLCV = f"""
SELECT symbol, CAST(epoch(time_bucket(INTERVAL 1 MINUTE, ts)) AS BIGINT) AS minute,
       arg_min(price, ({", ".join(ORDER)})) AS open, max(price) AS high, min(price) AS low,
       arg_max(price, ({", ".join(ORDER)})) AS close, sum(qty) AS volume, count(*) AS trades
FROM trades GROUP BY ALL
"""
SPARK_SCHEMA = (
    "ts TIMESTAMP, ts_ns BIGINT, recv_ns BIGINT, side STRING, price DECIMAL(18,8), "
    "qty DECIMAL(18,8), sequence BIGINT, from_snapshot BOOLEAN, spool_offset BIGINT, "
    "exchange STRING, symbol STRING, date DATE"  # typed partitions: a symbol "1000" stays text
)
SPARK_CONFIG = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
}
Row = tuple[Any, ...]


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Spark needs a JRE 17+ (openjdk-17-jre-headless)")
    sql = pytest.importorskip("pyspark.sql", reason="pyspark is not installed: make test-compat")
    scratch = tmp_path_factory.mktemp("spark")
    builder = sql.SparkSession.builder.master("local[2]").appName("ticklake-compat")
    for key, value in {**SPARK_CONFIG, "spark.local.dir": str(scratch / "local"),
                       "spark.sql.warehouse.dir": str(scratch / "warehouse")}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    jvm = session.sparkContext._gateway.proc  # the JVM pyspark started: stopped by its PID
    try:
        yield session
    finally:
        session.stop()
        session.sparkContext._gateway.shutdown()
        jvm.terminate()
        jvm.wait(timeout=30)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the lake as written, the same lake rewritten with plain/dictionary encodings)."""
    base = tmp_path_factory.mktemp("recorded")
    storage = LakeStorage(str(base / "lake"))
    run = asyncio.run(record_into_lake(base, storage, faults=False))
    assert len(run.trades) > 300
    for partition, table in synthetic_trades().items():
        offsets = table["spool_offset"].to_pylist()
        storage.publish(file_path("trades", partition, offsets[0], offsets[-1] + 1), table)
    plain = base / "plain"
    shutil.copytree(base / "lake", plain)
    for path in plain.glob("trades/*/*/*/*.parquet"):
        pq.write_table(pq.read_table(path, schema=TRADES), path, **PARQUET_OPTIONS)
    assert "DELTA_BINARY_PACKED" in encodings(base / "lake")
    assert "DELTA_BINARY_PACKED" not in encodings(plain)
    return base / "lake", plain


def synthetic_trades() -> dict[tuple[str, ...], pa.Table]:
    """Trades across midnight UTC, several per timestamp (ties for open and close)."""
    rng = random.Random(8)
    start = int(dt.datetime(2025, 11, 24, 23, 55, tzinfo=dt.UTC).timestamp()) * 10**9
    rows: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    ts, sequence = start, 1
    for offset in range(10**12, 10**12 + 1_500):
        if rng.random() < 0.6:  # else the same timestamp again: a tie
            ts += rng.randrange(10**6, 2 * 10**9)
            sequence += 1
        day = dt.datetime.fromtimestamp(ts / 10**9, dt.UTC).date().isoformat()
        rows.setdefault(("phemex", "SYNTHUSD", day), []).append({
            "ts": ts // 1_000, "ts_ns": ts, "recv_ns": ts + 5_000_000,
            "side": rng.choice(("buy", "sell")),
            "price": Decimal(rng.randrange(8_600_000_000_000, 8_700_000_000_000)) / 10**8,
            "qty": Decimal(rng.randrange(1, 10**9)) / 10**8,
            "sequence": sequence, "from_snapshot": False, "spool_offset": offset,
        })
    assert len(rows) == 2
    return {key: pa.Table.from_pylist(values, schema=TRADES) for key, values in rows.items()}


def encodings(root: Path) -> set[str]:
    out = set()
    for path in root.glob("trades/*/*/*/*.parquet"):
        meta = pq.read_metadata(path)
        index = meta.schema.names.index("ts_ns")
        for group in range(meta.num_row_groups):
            out.update(meta.row_group(group).column(index).encodings)
    return out


def duckdb_ohlcv(root: Path) -> list[Row]:
    return sorted(tuple(r.values()) for r in Lake(root).query(DUCKDB_OHLCV).table.to_pylist())


def spark_ohlcv(spark: Any, root: Path) -> list[Row]:
    from pyspark.sql import functions as f

    trades = (spark.read.schema(SPARK_SCHEMA).option("basePath", str(root / "trades"))
              .parquet(*Lake(root).files("trades")))
    order = f.struct(*ORDER)
    candles = (
        trades.groupBy("symbol", f.date_trunc("minute", "ts").cast("long").alias("minute"))
        .agg(f.min_by("price", order).alias("open"), f.max("price").alias("high"),
             f.min("price").alias("low"), f.max_by("price", order).alias("close"),
             f.sum("qty").alias("volume"), f.count(f.lit(1)).alias("trades"))
    )
    return sorted(tuple(row) for row in candles.collect())


@pytest.mark.parametrize("encoding", ["delta", "plain"])
def test_spark_computes_the_same_minute_ohlcv_as_duckdb(
    spark: Any, lakes: tuple[Path, Path], encoding: str
) -> None:
    root = lakes[0] if encoding == "delta" else lakes[1]
    expected = duckdb_ohlcv(root)
    got = spark_ohlcv(spark, root)
    assert got == expected
    symbols = {row[0] for row in got}
    assert "SYNTHUSD" in symbols and len(symbols) >= 3
    assert sum(row[-1] for row in got) == Lake(root).query(
        "SELECT count(*) FROM trades").table[0][0].as_py()
    assert all(isinstance(row[2], Decimal) and isinstance(row[6], Decimal) for row in got)
    # Order-free columns also equal ticklake's own candles macro.
    macro = Lake(root).query(
        "SELECT CAST(epoch(bucket) AS BIGINT), high, low, volume, trades "
        "FROM candles('SYNTHUSD', INTERVAL 1 MINUTE)").table.to_pylist()
    assert sorted(tuple(r.values()) for r in macro) == [
        (row[1], row[3], row[4], row[6], row[7]) for row in got if row[0] == "SYNTHUSD"]


def test_spark_reads_partition_columns_from_the_paths(spark: Any, lakes: tuple[Path, Path]) -> None:
    root = lakes[0]
    trades = (spark.read.schema(SPARK_SCHEMA).option("basePath", str(root / "trades"))
              .parquet(*Lake(root).files("trades")))
    got = sorted(tuple(r) for r in trades.groupBy("exchange", "symbol", "date").count().collect())
    expected = sorted(tuple(r.values()) for r in Lake(root).query(
        "SELECT exchange, symbol, date, count(*) FROM trades GROUP BY ALL").table.to_pylist())
    assert got == expected
    assert ("phemex", "SYNTHUSD", dt.date(2025, 11, 24)) in {g[:3] for g in got}
