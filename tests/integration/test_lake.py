"""Frames recorded from the emulator end up in the lake equal to its ground truth."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from ticklake.feed.phemex import default_products
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.spool import Spool

from ..seaweed import SeaweedFS
from ..support import Key, wait_until
from .harness import Run, recording
from .lake_runner import LakeRunner

SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")


async def record_into_lake(
    tmp_path: Path, storage: LakeStorage, *, faults: bool = True,
    during: Callable[[Run, LakeWriter], Awaitable[None]] | None = None,
) -> Run:
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()
    lake = LakeWriter(spool, spool.cursors, storage, default_products(),
                      BufferingHints(size_mib=1.0, interval=0.3))
    runner = LakeRunner(lake, retain=spool.retain, poll_interval=0.02)
    runner.start()
    try:
        async with recording(tmp_path, SYMBOLS, on_frame=writer.append,
                             flush_frames=writer.flush, rate=50.0) as run:
            await run.streaming()
            await wait_until(lambda: len(run.trades) > 300, 20, "300 trades")
            if faults:
                for kind in ("close", "garbage", "duplicate", "stall"):
                    before = run.session.stats.connects
                    run.emulator.inject(kind, "all")
                    if kind in ("close", "stall"):
                        await run.reconnected(before)
            if during is not None:
                await during(run, lake)
            await run.caught_up()
    finally:
        writer.close()
        await asyncio.to_thread(runner.stop, True)
    return run


def lake_keys(table: pa.Table) -> Counter[Key]:  # type: ignore[name-defined]  # noqa: F821
    rows = table.to_pylist()
    return Counter((r["symbol"], r["ts_ns"], r["side"], r["price"].normalize(),
                    r["qty"].normalize()) for r in rows)


def truth_keys(run: Run) -> Counter[Key]:
    return Counter((s, ts, side, p.normalize(), q.normalize())
                   for s, ts, side, p, q in run.compare().truth.elements())


def test_trades_in_the_lake_equal_the_ground_truth(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    run = asyncio.run(record_into_lake(tmp_path, LakeStorage(str(root))))
    dataset = ds.dataset(root / "trades", format="parquet", partitioning="hive")
    trades = dataset.to_table()
    assert lake_keys(trades) == truth_keys(run)  # count, values, exactness
    assert sum(lake_keys(trades).values()) == len(run.trades)
    # The same rows through DuckDB and pandas.
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    by_duckdb = con.sql(
        f"SELECT symbol, ts_ns, side, price, qty FROM read_parquet('{root}/trades/**/*.parquet',"
        " hive_partitioning = true)"
    ).fetchall()
    assert Counter((s, t, side, Decimal(p).normalize(), Decimal(q).normalize())
                   for s, t, side, p, q in by_duckdb) == truth_keys(run)
    frame = trades.to_pandas()
    assert len(frame) == len(by_duckdb) and frame["ts_ns"].dtype.kind == "i"
    # Nothing else: every frame in raw, the garbage in rejected.
    raw = ds.dataset(root / "raw", format="parquet", partitioning="hive").to_table()
    assert raw.num_rows == run.session.stats.frames
    assert sorted(raw.column("spool_offset").to_pylist()) == list(range(raw.num_rows))
    rejected = ds.dataset(root / "rejected", format="parquet", partitioning="hive").to_table()
    assert rejected.num_rows == len(run.rejected) > 0


def test_trades_land_on_a_real_s3_server(tmp_path: Path, seaweed: SeaweedFS) -> None:
    fs = seaweed.filesystem()
    prefix = f"{seaweed.bucket}/{tmp_path.name}"
    run = asyncio.run(record_into_lake(tmp_path, LakeStorage(f"s3://{prefix}", fs),
                                       faults=False))
    trades = ds.dataset(f"{prefix}/trades", format="parquet", partitioning="hive",
                        filesystem=fs).to_table()
    assert lake_keys(trades) == truth_keys(run)
    paths = [i.path for i in fs.get_file_info(pafs.FileSelector(prefix, recursive=True))]
    assert not [p for p in paths if "/_ticklake/tmp/" in p]


def test_an_object_store_outage_loses_nothing(tmp_path: Path) -> None:
    server = SeaweedFS(tmp_path / "seaweedfs")
    server.start()
    try:
        fs = server.filesystem()
        prefix = f"{server.bucket}/outage"

        async def outage(run: Run, lake: LakeWriter) -> None:
            await wait_until(lambda: lake.stats.batches > 0, 20, "a first publish")
            await asyncio.to_thread(server.stop)
            # A failed publish: any publish that was in flight at the stop has ended (the
            # writer publishes one batch at a time).
            await wait_until(lambda: lake.stats.failures >= 1, 30, "a publish to fail")
            published = lake.stats.batches
            trades_before = len(run.trades)
            await wait_until(lambda: lake.stats.failures >= 2, 30, "publishes to fail")
            await wait_until(lambda: len(run.trades) > trades_before + 100, 20, "more trades")
            assert lake.stats.batches == published  # nothing published while down
            await asyncio.to_thread(server.start)
            await wait_until(lambda: lake.stats.batches > published, 60, "delivery to resume")

        run = asyncio.run(record_into_lake(tmp_path, LakeStorage(f"s3://{prefix}", fs),
                                           faults=False, during=outage))
        trades = ds.dataset(f"{prefix}/trades", format="parquet", partitioning="hive",
                            filesystem=fs).to_table()
        assert lake_keys(trades) == truth_keys(run)
    finally:
        server.stop()
