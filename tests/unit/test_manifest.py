"""The manifest: commits as sets, checkpoints, two writers of a log, the build from files, and
a publish cut short at every step (the writer's redo leaves each row listed once)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from ticklake.catalog import Lake
from ticklake.errors import ManifestError
from ticklake.feed.phemex import default_products
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import CURSOR, INTENT, BufferingHints, LakeWriter
from ticklake.manifest import (
    CHECKPOINT_EVERY,
    Manifest,
    ManifestLog,
    ManifestStore,
    build,
    entry_for,
    mark_complete,
)
from ticklake.spool import Spool

from .lake.test_tail import EXTRA, control, record


def entry(name: str, symbol: str = "BTCUSD", rows: int = 1) -> object:
    return entry_for(f"trades/exchange=phemex/symbol={symbol}/date=2026-11-25/{name}.parquet",
                     "trades", ("phemex", symbol, "2026-11-25"), rows, 100, {"ts_ns": (1, 2)})


def names(manifest: Manifest) -> list[str]:
    return [e.name.removesuffix(".parquet") for e in manifest.files("trades")]


def test_commits_are_sets_and_a_reader_follows_them(tmp_path: Path) -> None:
    store = ManifestStore(str(tmp_path))
    mark_complete(store)
    log = ManifestLog(store, "spool")
    reader = Manifest(store)
    assert names(reader) == []
    log.commit([entry("part-00000000000000000000-00000000000000000002")])
    log.commit([entry("part-00000000000000000000-00000000000000000002")])  # a redo: once
    assert reader.refresh() and reader.generation == 1
    assert names(reader) == ["part-00000000000000000000-00000000000000000002"]
    assert not reader.refresh()  # nothing new: one probe per log, no change
    log.commit([entry("part-00000000000000000002-00000000000000000005")])
    log.commit([entry("compact-00000000000000000000-00000000000000000005")])
    assert reader.refresh()
    assert names(reader) == ["compact-00000000000000000000-00000000000000000005"]
    log.commit(remove=[reader.files("trades")[0].path])  # inputs a compact file hid show again
    reader.refresh()
    assert len(names(reader)) == 2
    log.commit(remove=[e.path for e in reader.files("trades")])
    reader.refresh()
    assert names(reader) == []


def test_a_cold_reader_starts_from_the_last_checkpoint(tmp_path: Path) -> None:
    store = ManifestStore(str(tmp_path))
    mark_complete(store)
    log = ManifestLog(store, "spool")
    for i in range(CHECKPOINT_EVERY * 2 + 3):
        log.commit([entry(f"part-{i:020d}-{i + 1:020d}")])
    cold = ManifestStore(str(tmp_path))
    reader = Manifest(cold)
    assert len(reader.files("trades")) == CHECKPOINT_EVERY * 2 + 3
    assert cold.gets <= 3 + 3 + 1 + 1  # marker? pointer, checkpoint, 3 commits, 1 miss
    assert ManifestLog(cold, "spool").version == CHECKPOINT_EVERY * 2 + 3


def test_two_writers_of_one_log_on_a_local_disk_lose_nothing(tmp_path: Path) -> None:
    store = ManifestStore(str(tmp_path))
    mark_complete(store)
    first, second = ManifestLog(store, "compact"), ManifestLog(store, "compact")
    first.commit([entry("part-00000000000000000000-00000000000000000001")])
    second.commit([entry("part-00000000000000000001-00000000000000000002")])  # version taken
    assert (first.version, second.version) == (1, 2)
    assert len(Manifest(store).files("trades")) == 2


def test_build_imports_the_files_of_a_lake_without_one_and_is_idempotent(tmp_path: Path) -> None:
    storage = LakeStorage(str(tmp_path / "lake"))
    storage.ensure_marker()
    table = pa.table({"ts_ns": pa.array([5, 9], pa.int64())})
    for name in ("part-00000000000000000000-00000000000000000002",
                 "part-00000000000000000002-00000000000000000004"):
        storage.publish(f"trades/exchange=phemex/symbol=X/date=2026-11-25/{name}.parquet", table)
    storage.publish("trades/not-a-partition/x.parquet", table)  # not in the layout: left out
    store = storage.manifest_store()
    stats = build(store)
    assert (stats.files, stats.added, stats.removed) == (2, 2, 0)
    files = Manifest(store).files("trades")
    assert [(f.rows, f.ranges["ts_ns"]) for f in files] == [(2, (5, 9)), (2, (5, 9))]
    assert build(store).added == 0
    storage.delete(files[0].path)
    assert build(store).removed == 1
    assert len(Manifest(store).files("trades")) == 1


class CrashAt:
    """Cursors that fail once at one step of a publish, as a kill -9 there would leave it."""

    def __init__(self, cursors: object, step: str) -> None:
        self.cursors, self.step = cursors, step

    def load(self, name: str) -> tuple[int, bytes]:
        return self.cursors.load(name)  # type: ignore[attr-defined, no-any-return]

    def commit(self, name: str, offset: int, state: bytes = b"") -> None:
        if name == self.step:
            msg = f"killed before committing {name}"
            raise OSError(msg)
        self.cursors.commit(name, offset, state)  # type: ignore[attr-defined]


@pytest.mark.parametrize("step", [INTENT, "manifest", CURSOR])
def test_a_publish_cut_short_lists_each_row_once_after_the_redo(tmp_path: Path,
                                                                  step: str) -> None:
    """Cut before the intent, after the files (before their manifest commit), and after the
    manifest commit (before the cursor): the next writer's redo lists each file once."""
    spool_dir, root = tmp_path / "spool", tmp_path / "lake"
    spool = Spool(spool_dir)
    with spool.writer() as writer:
        writer.append(control(EXTRA))
        record(writer, 0, 30)
        writer.sync()
    hints = BufferingHints(size_mib=64, interval=3600)
    cut = LakeWriter(spool, CrashAt(spool.cursors, step), LakeStorage(str(root)),
                     default_products(), hints)
    if step == "manifest":
        def killed(*_: object, **__: object) -> int:
            msg = "killed before the manifest commit"
            raise ManifestError(msg)
        cut.manifest.commit = killed  # type: ignore[method-assign]
    cut.poll()
    assert not cut.publish()
    if step != INTENT:  # the files are there; readers must not see them twice (or at all yet)
        assert Lake(root).query("SELECT count(*) FROM trades").rows() == [
            (0 if step == "manifest" else 30,)]
    redo = LakeWriter(spool, spool.cursors, LakeStorage(str(root)), default_products(), hints)
    redo.poll()
    assert redo.publish() and redo.committed_offset == 31
    lake = Lake(root)
    counts = lake.query("SELECT symbol, count(*) FROM trades GROUP BY ALL ORDER BY 1").rows()
    assert counts == [("Z001USD", 10), ("Z002USDT", 10), ("sZ003USDT", 10)]
    assert len({e.path for e in lake.entries("trades")}) == len(lake.entries("trades")) == 3
