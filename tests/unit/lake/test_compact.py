"""Compaction merges closed partitions without a duplicate, even when it stops half-way."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from ticklake.catalog import Lake
from ticklake.emulator import Market
from ticklake.emulator.frames import trade_row, trades_message
from ticklake.emulator.products import PRODUCTS
from ticklake.feed.phemex import default_products
from ticklake.lake.compact import compact
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.model import RawFrame
from ticklake.spool import Spool

DAY_NS = 86_400 * 10**9
SQL = "SELECT symbol, ts_ns, side, price, qty, spool_offset FROM trades"


def build_lake(tmp_path: Path) -> tuple[LakeStorage, Spool, int]:
    """Two UTC days of BTCUSD trades, published in many small batches."""
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()
    product = PRODUCTS["BTCUSD"]
    start = 1_795_564_800 * 10**9 - 3600 * 10**9  # 23:00 UTC, the day before 2026-11-25
    market = Market(("BTCUSD",), seed=3, rate=1.0, start_ns=start)
    storage = LakeStorage(str(tmp_path / "lake"))
    lake = LakeWriter(spool, spool.cursors, storage, default_products(),
                      BufferingHints(size_mib=0.002, interval=3600, compact_mib=0))
    sequence, now, produced = 0, start, 0
    while now < start + 2 * 3600 * 10**9:
        now += 60 * 10**9
        batch = market.advance(now)
        if batch:
            sequence += 1
            text = trades_message(product, "incremental", sequence,
                                  [trade_row(product, t) for t in batch])
            writer.append(RawFrame(1, now, text.encode()))
            produced += len(batch)
        writer.sync()
        lake.poll()
    lake.drain()
    writer.close()
    return storage, spool, produced


def rows(storage: LakeStorage) -> Counter[tuple[object, ...]]:
    result = Lake(storage.root).query(SQL)
    return Counter(tuple(row.values()) for row in result.table.to_pylist())


def test_compaction_merges_past_days_only_and_keeps_every_row_once(tmp_path: Path) -> None:
    storage, spool, produced = build_lake(tmp_path)
    before = rows(storage)
    assert sum(before.values()) == produced  # (identical fills at one ns are real)
    files_before = storage.list_files("trades")
    stats = compact(storage, spool.cursors, today=dt.date(2026, 11, 25))
    files_after = storage.list_files("trades")
    assert rows(storage) == before
    old_day = [f for f in files_after if "date=2026-11-24" in f.path]
    new_day = [f for f in files_after if "date=2026-11-25" in f.path]
    assert len(old_day) == 1 and old_day[0].path.rsplit("/", 1)[1].startswith("compact-")
    assert new_day == [f for f in files_before if "date=2026-11-25" in f.path]  # still open
    old_before = [f for f in files_before if "date=2026-11-24" in f.path]
    assert len(old_before) > 5 and stats.files_merged >= len(old_before)
    assert stats.partitions >= 2  # trades and raw of the closed day


def test_a_compaction_that_stopped_before_deleting_shows_no_duplicates(tmp_path: Path) -> None:
    storage, spool, _ = build_lake(tmp_path)
    before = rows(storage)
    day = [f for f in storage.list_files("trades") if "date=2026-11-24" in f.path]
    kept = {f.path: storage.read(f.path) for f in day}
    compact(storage, spool.cursors, today=dt.date(2026, 11, 25))
    for path, table in kept.items():  # as if the process died between publish and delete
        storage.publish(path, table)
    assert rows(storage) == before  # readers skip the inputs the compact file covers
    stats = compact(storage, spool.cursors, today=dt.date(2026, 11, 25))
    assert stats.files_deleted == len(kept)
    assert rows(storage) == before
