"""The lake writer compacts its own closed hours and days after a publish: every row stays
exactly once, the store ends with one file per closed hour of today and ``ceil(bytes /
target)`` per closed day, and deletes that did not happen (a writer killed, a store
refusing) are done by the next writer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ticklake.catalog import Lake
from ticklake.emulator import Market
from ticklake.emulator.frames import trade_row, trades_message
from ticklake.emulator.products import PRODUCTS
from ticklake.errors import FilesGone, ManifestError, StorageError
from ticklake.feed.phemex import default_products
from ticklake.lake.autocompact import HOUR_NS, plan_runs
from ticklake.lake.layout import file_path
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.manifest import FileEntry, ManifestLog
from ticklake.model import RawFrame
from ticklake.spool import Spool

MIDNIGHT = 1_795_564_800 * 10**9  # 2026-11-25 00:00 UTC
MINUTE = 60 * 10**9
SQL = "SELECT symbol, ts_ns, side, price, qty, spool_offset FROM trades"


# -- the plan, on file entries -----------------------------------------------------------------


def entry(first: int, end: int, last_ns: int, *, date: str = "2026-11-25", size: int = 1000,
          stream: str = "") -> FileEntry:
    partition = ("phemex", "BTCUSD", date)
    return FileEntry(file_path("trades", partition, first, end, stream=stream), "trades",
                     partition, 10, size, {"ts_ns": (last_ns - MINUTE, last_ns)})


def test_today_merges_each_closed_hour_and_leaves_the_current_one() -> None:
    now = MIDNIGHT + 2 * HOUR_NS + 30 * MINUTE  # 02:30
    files = [entry(0, 10, MIDNIGHT + 10 * MINUTE), entry(10, 20, MIDNIGHT + 50 * MINUTE),
             entry(20, 30, MIDNIGHT + HOUR_NS + 5 * MINUTE),  # hour 01, alone: stays
             entry(30, 40, MIDNIGHT + 2 * HOUR_NS + MINUTE),  # the current hour
             entry(40, 50, MIDNIGHT + 2 * HOUR_NS + 9 * MINUTE)]
    runs = plan_runs(files, "", now, 2**30)
    assert [[f.path for f in run.files] for run in runs] == [[files[0].path, files[1].path]]
    assert (runs[0].first, runs[0].end) == (0, 20)


def test_a_file_of_the_current_hour_stops_the_run_even_if_later_ones_look_closed() -> None:
    now = MIDNIGHT + 2 * HOUR_NS
    files = [entry(0, 10, MIDNIGHT + 5 * MINUTE), entry(10, 20, now + MINUTE),
             entry(20, 30, MIDNIGHT + 7 * MINUTE), entry(30, 40, MIDNIGHT + 9 * MINUTE)]
    assert plan_runs(files, "", now, 2**30) == []


def test_a_closed_day_becomes_files_of_about_the_target_size() -> None:
    now = MIDNIGHT + HOUR_NS
    day = [entry(i * 10, i * 10 + 10, MIDNIGHT - HOUR_NS, date="2026-11-24", size=40)
           for i in range(7)]
    big = entry(70, 80, MIDNIGHT - 1, date="2026-11-24", size=500)
    runs = plan_runs([*day, big], "", now, 100)
    assert [len(run.files) for run in runs] == [2, 2, 2]  # 40+40, 40+40, 40+40, 40 alone, big
    assert all(big not in run.files for run in runs)


def test_only_this_streams_files_are_planned() -> None:
    now = MIDNIGHT + 2 * HOUR_NS
    mine = [entry(0, 10, MIDNIGHT + MINUTE), entry(10, 20, MIDNIGHT + 2 * MINUTE)]
    theirs = [entry(0, 10, MIDNIGHT + MINUTE, stream="trades.3"),
              entry(10, 20, MIDNIGHT + 2 * MINUTE, stream="trades.3")]
    runs = plan_runs([*mine, *theirs], "", now, 2**30)
    assert [run.files for run in runs] == [tuple(mine)]
    runs = plan_runs([*mine, *theirs], "trades.3", now, 2**30)
    assert [run.files for run in runs] == [tuple(theirs)]


# -- the writer, on a spool ----------------------------------------------------------------------


@dataclass
class Recorder:
    """A spool fed one minute of market at a time and a lake writer publishing small files,
    its wall clock the market's."""

    tmp_path: Path
    now: int = MIDNIGHT - 90 * MINUTE  # 22:30 the day before
    produced: int = 0
    sequence: int = 0
    writers: list[LakeWriter] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.spool = Spool(self.tmp_path / "spool")
        self.appender = self.spool.writer()
        self.market = Market(("BTCUSD",), seed=5, rate=1.0, start_ns=self.now)
        self.storage = LakeStorage(str(self.tmp_path / "lake"))
        self.restart()

    def restart(self) -> None:
        """A new writer, as after kill -9 (the old one is dropped without a drain)."""
        self.writer = LakeWriter(self.spool, self.spool.cursors, self.storage,
                                 default_products(),
                                 BufferingHints(size_mib=0.002, interval=3600, compact_mib=64),
                                 wall_clock=lambda: self.now)

    def run_until(self, end: int) -> None:
        product = PRODUCTS["BTCUSD"]
        while self.now < end:
            self.now += MINUTE
            batch = self.market.advance(self.now)
            if batch:
                self.sequence += 1
                text = trades_message(product, "incremental", self.sequence,
                                      [trade_row(product, t) for t in batch])
                self.appender.append(RawFrame(1, self.now, text.encode()))
                self.produced += len(batch)
            self.appender.sync()
            self.writer.poll()
        self.writer.drain()

    def stored(self, table: str) -> set[str]:
        return {info.path for info in self.storage.list_files(table)}

    def live(self, table: str) -> set[str]:
        return {e.path for e in self.writer.manifest.files().values() if e.table == table}

    def rows(self) -> Counter[tuple[object, ...]]:
        result = Lake(self.storage.root).query(SQL)
        return Counter(tuple(row.values()) for row in result.table.to_pylist())


def names(paths: set[str], date: str) -> list[str]:
    return sorted(p.rsplit("/", 1)[1] for p in paths if f"date={date}/" in p)


def test_the_writer_keeps_one_file_per_closed_hour_and_day_and_every_row_once(
        tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    recorder.run_until(MIDNIGHT + 2 * HOUR_NS + 20 * MINUTE)  # 02:20 of 2026-11-25
    rows = recorder.rows()
    assert sum(rows.values()) == recorder.produced
    assert recorder.writer.stats.files_compacted > 20
    for table in ("trades", "raw"):
        stored = recorder.stored(table)
        assert stored == recorder.live(table)  # the inputs are deleted, nothing else is
        old_day = names(stored, "2026-11-24")
        assert len(old_day) == 1 and old_day[0].startswith("compact-"), old_day
        today = names(stored, "2026-11-25")
        compacted = [n for n in today if n.startswith("compact-")]
        assert len(compacted) == 2, today  # hours 00 and 01
        assert len(today) - len(compacted) >= 2  # the current hour's files, as published
    # An engine reading the Hive tree sees each row once: nothing superseded is left.
    files = sorted(recorder.stored("trades"))
    plain = Lake(recorder.storage.root).query(
        "SELECT count(*) AS n FROM read_parquet(" + repr([f"{recorder.storage.root}/{f}"
                                                           for f in files]) + ")")
    assert plain.table.column("n")[0].as_py() == recorder.produced


def test_deletes_that_did_not_happen_are_done_by_the_next_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(tmp_path)
    recorder.run_until(MIDNIGHT - 5 * MINUTE)

    def refuse(self: LakeStorage, path: str) -> None:
        msg = f"cannot delete {path}: refused"
        raise StorageError(msg)

    with monkeypatch.context() as patch:  # no delete happens: as if killed before each
        patch.setattr(LakeStorage, "delete", refuse)
        recorder.run_until(MIDNIGHT + 2 * HOUR_NS + 5 * MINUTE)
    left = recorder.stored("trades") - recorder.live("trades")
    assert len(left) > 20  # more than a checkpoint's worth of commits ago
    assert recorder.rows().total() == recorder.produced  # readers see each row once
    recorder.restart()
    recorder.run_until(recorder.now + 10 * MINUTE)
    assert recorder.stored("trades") == recorder.live("trades")
    assert recorder.stored("raw") == recorder.live("raw")
    assert recorder.rows().total() == recorder.produced


def test_a_statement_planned_before_a_compaction_is_planned_again(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    recorder.run_until(MIDNIGHT + 50 * MINUTE)
    lake = Lake(recorder.storage.root)
    stale = lake.database()
    try:
        recorder.run_until(MIDNIGHT + HOUR_NS + 10 * MINUTE)  # hour 00 closes: compacted
        with pytest.raises(FilesGone):
            stale.query(SQL)
    finally:
        stale.close()
    assert lake.query(SQL).table.num_rows == recorder.produced


def test_a_compaction_cut_before_its_commit_is_done_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(tmp_path)
    recorder.run_until(MIDNIGHT - 5 * MINUTE)
    real_commit = ManifestLog.commit

    def cut(self: ManifestLog, add: Iterable[FileEntry] = (), remove: Iterable[str] = ()) -> int:
        remove = tuple(remove)
        if remove:  # a compaction's commit: its merged files are published, then it stops
            msg = "killed before the compaction's commit"
            raise ManifestError(msg)
        return real_commit(self, add, remove)

    compacted = recorder.writer.stats.files_compacted
    with monkeypatch.context() as patch:
        patch.setattr(ManifestLog, "commit", cut)
        recorder.run_until(MIDNIGHT + HOUR_NS + 20 * MINUTE)
        assert recorder.writer.stats.files_compacted == compacted
    orphans = recorder.stored("trades") - recorder.live("trades")
    assert orphans and all(p.rsplit("/", 1)[1].startswith("compact-") for p in orphans)
    assert recorder.rows().total() == recorder.produced  # the manifest never listed them
    recorder.restart()
    recorder.run_until(recorder.now + 10 * MINUTE)
    assert recorder.writer.stats.files_compacted > 0  # the new writer's own count
    assert recorder.stored("trades") == recorder.live("trades")
    assert recorder.stored("raw") == recorder.live("raw")
    assert recorder.rows().total() == recorder.produced
