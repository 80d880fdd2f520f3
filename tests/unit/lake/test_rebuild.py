"""``rebuild`` over lakes the real LakeWriter wrote from a three-day spool: an unchanged parser
gives back every partition as it was (and writes nothing), files from before a column gain
it and nothing else changes, a parser fix changes exactly the rows it fixes, the writer's
decoder checkpoints are where a day starts, and a partition another writer changed meanwhile
is left alone."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklake.catalog import Lake
from ticklake.lake.checkpoints import CHECKPOINT_DIR, checkpoint_offsets, save_checkpoint
from ticklake.lake.rebuild import DERIVED, REBUILD_LOG, rebuild
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import Manifest, build

from .recorded import AFTER, DAYS, Recorded, record

TODAY = dt.date.fromisoformat(AFTER)


@pytest.fixture
def recorded(tmp_path: Path) -> Recorded:
    return record(tmp_path)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def rows(root: Path, table: str, columns: str = "*") -> Counter[tuple[Any, ...]]:
    return Counter(Lake(str(root)).query(f"SELECT {columns} FROM {table}",
                                         max_rows=None).rows())


def test_an_unchanged_parser_gives_every_partition_back_and_writes_nothing(
        recorded: Recorded) -> None:
    before = files(recorded.root)
    report = rebuild(recorded.storage, today=TODAY)
    assert report.changed == [] and report.skipped == []
    assert set(DAYS) <= set(report.days)
    for table in ("trades", "book_updates", "book_snapshots", "rejected", "gaps"):
        stats = report.tables[table]
        assert stats.partitions > 0 and stats.unchanged == stats.partitions, (table, stats)
        assert stats.rows_before == stats.rows_after > 0
    assert files(recorded.root) == before


def test_a_day_starts_at_the_writers_checkpoint_and_equals_a_decode_from_the_start(
        recorded: Recorded) -> None:
    store = recorded.storage.manifest_store()
    saved = checkpoint_offsets(store, "spool")
    assert len(saved) >= len(DAYS)  # one per UTC day of receive time (and the first publish)
    last_day = rebuild(recorded.storage, last_day=DAYS[-1], first_day=DAYS[-1], today=TODAY,
                       dry_run=True)
    assert last_day.changed == []
    assert last_day.records_decoded < recorded.frames // 2  # from just before the day
    shutil.rmtree(Path(store.path(CHECKPOINT_DIR)))
    scratch = rebuild(recorded.storage, first_day=DAYS[-1], last_day=DAYS[-1], today=TODAY,
                      dry_run=True)
    assert scratch.changed == [] and scratch.records_decoded > last_day.records_decoded


def test_a_checkpoint_is_what_makes_a_mid_stream_start_exact(recorded: Recorded) -> None:
    # An empty state where the writer had books and de-duplication state: the day's books
    # cannot be rebuilt from it (no snapshot until the reconnect), and the report says so.
    store = recorded.storage.manifest_store()
    for offset in checkpoint_offsets(store, "spool"):
        save_checkpoint(store, "spool", offset, b"")
    report = rebuild(recorded.storage, today=TODAY, dry_run=True)
    assert report.tables["book_updates"].rebuilt > 0
    assert report.tables["book_updates"].only_before > 0


def drop_column(root: Path, table: str, day: str, column: str) -> list[Path]:
    """Files of ``day`` rewritten as an older ticklake wrote them (without ``column``); the
    manifest rebuilt from the files, as ``ticklake manifest`` would."""
    changed = []
    for path in root.glob(f"{table}/*/*/date={day}/*.parquet"):
        pq.write_table(pq.read_table(path).drop_columns([column]), path)
        changed.append(path)
    shutil.rmtree(root / "_ticklake" / "manifest")
    build(LakeStorage(str(root)).manifest_store())
    return changed


def test_files_from_before_msg_index_gain_it_and_nothing_else_changes(
        recorded: Recorded) -> None:
    root = recorded.root
    pristine = rows(root, "trades")
    old = drop_column(root, "trades", DAYS[1], "msg_index")
    assert old and rows(root, "trades") != pristine
    report = rebuild(recorded.storage, tables=("trades",), today=TODAY)
    stats = report.tables["trades"]
    assert stats.rebuilt == len(report.changed) == 2  # BTCUSD's and BTCUSDT's day
    assert stats.columns_changed == {"msg_index"}
    assert stats.only_before == stats.only_after > 0
    assert rows(root, "trades") == pristine
    assert not any(p.exists() for p in old)  # swapped, then deleted
    again = rebuild(recorded.storage, tables=("trades",), today=TODAY)
    assert again.changed == [] and again.tables["trades"].unchanged == stats.partitions


def test_a_parser_fix_changes_exactly_the_rows_it_fixes(recorded: Recorded) -> None:
    root = recorded.root
    pristine = rows(root, "trades")
    # An old parser's bug: it read BTCUSDT's prices one tick high on the second day.
    path = sorted(root.glob(f"trades/*/symbol=BTCUSDT/date={DAYS[1]}/*.parquet"))[3]
    table = pq.read_table(path)
    bug = [offset % 4 == 0 for offset in table["spool_offset"].to_pylist()]
    prices = [price + 1 if wrong else price
              for price, wrong in zip(table["price"].to_pylist(), bug, strict=True)]
    pq.write_table(table.set_column(table.schema.get_field_index("price"), "price",
                                    pa.array(prices, table["price"].type)), path)
    broken = sum(bug)
    assert broken > 0 and rows(root, "trades") != pristine
    report = rebuild(recorded.storage, today=TODAY)
    stats = report.tables["trades"]
    assert report.changed == [f"trades/phemex/BTCUSDT/{DAYS[1]}"]
    assert (stats.only_before, stats.only_after, stats.columns_changed) == (
        broken, broken, {"price"})
    assert rows(root, "trades") == pristine


def test_a_partition_another_writer_changed_meanwhile_is_left_alone(
        recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    root = recorded.root
    drop_column(root, "trades", DAYS[1], "msg_index")
    # ``ticklake compact`` (or a late file) commits to the day while the rebuild decodes.
    real_refresh = Manifest.refresh

    def meanwhile(self: Manifest) -> bool:
        target = next(e for e in self.files("trades") if DAYS[1] in e.path)
        log = LakeStorage(str(root)).open_manifest_log("compact")
        log.commit([], [target.path])  # (the file stays: only the manifest moved)
        monkeypatch.setattr(Manifest, "refresh", real_refresh)
        return real_refresh(self)

    monkeypatch.setattr(Manifest, "refresh", meanwhile)
    report = rebuild(recorded.storage, tables=("trades",), today=TODAY)
    assert report.skipped and all(DAYS[1] in name for name in report.skipped)
    monkeypatch.undo()
    manifest = Manifest(recorded.storage.manifest_store())
    assert not [e for e in manifest.files("trades") if "/compact-" in e.path
                and DAYS[1] in e.path]  # nothing of the rebuild was committed
    assert list(root.glob(f"trades/*/*/date={DAYS[1]}/compact-*")) == []  # deleted
    assert rows(root, "trades", "count(*) FILTER (WHERE msg_index IS NULL)") == Counter(
        {(len(Lake(str(root)).query(f"SELECT 1 FROM trades WHERE date = '{DAYS[1]}'",
                                    max_rows=None).rows()),): 1})  # the day still old


def test_every_derived_table_is_named_and_nothing_else_is_accepted(recorded: Recorded) -> None:
    with pytest.raises(ValueError, match="cannot rebuild 'raw'"):
        rebuild(recorded.storage, tables=("raw",), today=TODAY)
    assert "trades" in DERIVED and "anomalies" not in DERIVED
    assert REBUILD_LOG == "rebuild"
