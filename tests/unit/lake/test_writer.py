"""LakeWriter on its own, driven poll by poll with a fake clock: batches by the buffering
hints, files by table, symbol and UTC date, every row exactly once across polls, restarts
and a kill at each step of a publish (intent → files → manifest → cursor).

The record source is the spool's read contract over frames in memory (checked against a real
spool below); the lake is a real local ``LakeStorage`` and the cursors a real
``CursorStore`` (or the lake's own, for a Kafka stream). A kill -9 is a ``Killed`` raised at
the chosen step: nothing of the writer runs after it, and the next writer is built anew.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from ticklake.errors import StorageError
from ticklake.feed.phemex import default_products
from ticklake.lake.cursors import LakeCursorStore
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import (
    CURSOR,
    INTENT,
    BufferingHints,
    Cursors,
    LakeWriter,
    unfinished_publish,
)
from ticklake.manifest import FileEntry, Manifest
from ticklake.model import RawFrame
from ticklake.spool import CursorStore, Spool, SpoolRecord
from ticklake.tables import parse_stream_file_name

MIDNIGHT = 1_795_564_800 * 10**9  # 2026-11-25 00:00 UTC
SECOND = 10**9
MS = 10**6
INTERVAL = 10.0  # seconds of the fake clock
NO_COMPACTION = 0  # compaction renames files; these tests look at the publish alone

TradeKey = tuple[str, int, str, Decimal, Decimal, int]  # symbol, ts_ns, side, price, qty, offset
SCALE = {"BTCUSD": 4, "ETHUSD": 4}  # price in units of 10**-4 (priceEp), qty in contracts


# -- the writer's surroundings -----------------------------------------------------------------


class FrameLog:
    """The spool's read contract over frames in memory: dense offsets from 0, at most
    ``max_records`` records and ``max_bytes`` payload bytes, but at least one record."""

    def __init__(self) -> None:
        self.frames: list[RawFrame] = []

    def append(self, frame: RawFrame) -> int:
        self.frames.append(frame)
        return len(self.frames) - 1

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, offset: int, max_records: int = 10_000,
             max_bytes: int = 16 * 2**20) -> list[SpoolRecord]:
        out: list[SpoolRecord] = []
        taken = 0
        for index in range(offset, min(len(self.frames), offset + max_records)):
            frame = self.frames[index]
            if out and taken + len(frame.payload) > max_bytes:
                break
            out.append(SpoolRecord(index, frame.conn_id, frame.recv_ns, frame.payload))
            taken += len(frame.payload)
        return out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Killed(BaseException):
    """kill -9 at this point (a BaseException: the writer's error handling does not run)."""


class DyingStorage(LakeStorage):
    """A real local lake whose process is killed before its ``die_at``-th file publish."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.die_at: int | None = None
        self.published = 0

    def publish(self, relpath: str, table: pa.Table) -> int:
        self.published += 1
        if self.published == self.die_at:
            raise Killed(relpath)
        return super().publish(relpath, table)


class DyingCursors:
    """Cursors whose process is killed just before it commits ``die_on``."""

    def __init__(self, cursors: Cursors) -> None:
        self.cursors = cursors
        self.die_on: str | None = None

    def load(self, name: str) -> tuple[int, bytes]:
        return self.cursors.load(name)

    def commit(self, name: str, offset: int, state: bytes = b"") -> None:
        if name == self.die_on:
            raise Killed(name)
        self.cursors.commit(name, offset, state)


def trades_message(symbol: str, sequence: int, rows: list[tuple[int, str, int, int]],
                   kind: str = "incremental") -> bytes:
    body = {"sequence": sequence, "symbol": symbol, "type": kind, "trades": [list(r) for r in rows]}
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Feed:
    """Phemex trade messages made by hand into a FrameLog, and the rows the lake must hold."""

    log: FrameLog
    ts: int = MIDNIGHT - 20 * SECOND
    conn_id: int = 1
    sequence: int = 100
    expected: Counter[TradeKey] = field(default_factory=Counter)

    def trades(self, symbol: str = "BTCUSD", count: int = 2, step: int = SECOND) -> int:
        """One message of ``count`` trades, each ``step`` after the last; its offset."""
        rows = []
        for _ in range(count):
            self.ts += step
            rows.append((self.ts, "Buy" if self.ts // SECOND % 2 else "Sell",
                         87_000_000 + self.ts // SECOND % 1000, 1 + self.ts // SECOND % 7))
        self.sequence += 1
        offset = self.log.append(RawFrame(self.conn_id, self.ts + 2 * MS,
                                          trades_message(symbol, self.sequence, rows)))
        self.expected.update(key(symbol, row, offset) for row in rows)
        return offset

    def garbage(self) -> int:
        return self.log.append(RawFrame(self.conn_id, self.ts + 3 * MS, b"\xff not a message"))

    def messages(self, n: int, symbols: tuple[str, ...] = ("BTCUSD", "ETHUSD")) -> None:
        for i in range(n):
            self.trades(symbols[i % len(symbols)])


def key(symbol: str, row: tuple[int, str, int, int], offset: int) -> TradeKey:
    ts, side, price, qty = row
    return (symbol, ts, side.lower(), Decimal(price).scaleb(-SCALE[symbol]), Decimal(qty), offset)


@dataclass
class Rig:
    """A frame log, cursors and a real local lake shared by the writers of one test."""

    tmp_path: Path
    stream: str = ""  # "" the local spool, else a Kafka partition (cursors in the lake)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.log = FrameLog()
        self.feed = Feed(self.log)
        self.root = self.tmp_path / "lake"
        self.storage = DyingStorage(str(self.root))
        self.cursors: Cursors = (LakeCursorStore(self.storage, self.stream) if self.stream
                                 else CursorStore(self.tmp_path / "cursors"))

    def writer(self, size_mib: float = 64.0, interval: float = INTERVAL,
               cursors: Cursors | None = None) -> LakeWriter:
        return LakeWriter(self.log, cursors or self.cursors, self.storage, default_products(),
                          BufferingHints(size_mib, interval, NO_COMPACTION), clock=self.clock,
                          stream=self.stream)

    def publish_due(self, writer: LakeWriter) -> bool:
        """Poll, let the batch come of age on the clock, poll again: whether it published."""
        committed = writer.committed_offset
        writer.poll()
        self.clock.now += INTERVAL
        writer.poll()
        return writer.committed_offset != committed

    # -- what the lake holds ----------------------------------------------------------------

    def stored(self, table: str) -> list[str]:
        return [f.path for f in self.storage.list_files(table)]

    def live(self, table: str) -> list[str]:
        return [e.path for e in self.manifest(table)]

    def manifest(self, table: str) -> list[FileEntry]:
        return Manifest(self.storage.manifest_store()).files(table)

    def ranges(self, table: str) -> list[tuple[int, int]]:
        """The offset ranges the stored files of ``table`` were made from, one per range."""
        out = set()
        for path in self.stored(table):
            parsed = parse_stream_file_name(path.rsplit("/", 1)[1])
            assert parsed is not None and parsed[0] == "part" and parsed[3] == self.stream
            out.add(parsed[1:3])
        return sorted(out)

    def hive(self, table: str) -> pa.Table:
        """``table`` as an engine reading the Hive tree sees it (every stored file)."""
        keys = {"trades": ["exchange", "symbol", "date"]}.get(table, ["exchange", "date"])
        partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]),
                                       flavor="hive")
        return ds.dataset(self.root / table, format="parquet",
                          partitioning=partitioning).to_table()

    def hive_trades(self) -> Counter[TradeKey]:
        return Counter((r["symbol"], r["ts_ns"], r["side"], r["price"], r["qty"],
                        r["spool_offset"]) for r in self.hive("trades").to_pylist())

    def hive_offsets(self) -> list[int]:
        return sorted(self.hive("raw").column("spool_offset").to_pylist())

    def manifest_trades(self) -> Counter[TradeKey]:
        """The trades a ticklake reader sees: DuckDB over the files the manifest lists."""
        entries = self.manifest("trades")
        if not entries:
            return Counter()
        paths = [str(self.root / e.path) for e in entries]
        with duckdb.connect(config={"autoinstall_known_extensions": False}) as con:
            found = con.execute(
                "SELECT symbol, ts_ns, side, price, qty, spool_offset"
                " FROM read_parquet(?, hive_partitioning = true)", [paths]).fetchall()
        return Counter((s, t, side, Decimal(p), Decimal(q), o) for s, t, side, p, q, o in found)

    def manifest_offsets(self) -> list[int]:
        return sorted(o for e in self.manifest("raw")
                      for o in pq.read_table(self.root / e.path).column("spool_offset")
                      .to_pylist())

    def assert_each_row_once(self, end: int) -> None:
        """Every record ``[0, end)`` once in ``raw`` and every trade once in ``trades``, for
        a reader of the Hive tree and a reader of the manifest alike; no file stored that
        the manifest does not list, nothing left unfinished."""
        assert self.hive_offsets() == self.manifest_offsets() == list(range(end))
        assert self.hive_trades() == self.manifest_trades() == self.feed.expected
        for table in ("trades", "raw", "rejected"):
            assert self.stored(table) == self.live(table), table
        ranges = self.ranges("raw")
        assert [first for first, _ in ranges] == [0] + [e for _, e in ranges[:-1]]  # a tiling
        assert self.cursors.load(CURSOR)[0] == end
        assert unfinished_publish(self.cursors, end) is None
        assert not list((self.root / "_ticklake" / "tmp").iterdir())


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


# -- the fake source is the spool's contract ---------------------------------------------------


def test_the_frame_log_reads_like_the_spool(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.feed.messages(40)
    rig.feed.garbage()
    spool = Spool(tmp_path / "spool", segment_bytes=2000)  # several segments
    with spool.writer() as appender:
        for frame in rig.log.frames:
            appender.append(frame)
    for offset, max_records, max_bytes in [(0, 10_000, 2**24), (3, 5, 2**24), (7, 100, 250),
                                           (7, 100, 1), (39, 10, 10**6), (41, 10, 10),
                                           (50, 10, 10)]:
        assert rig.log.read(offset, max_records, max_bytes) == spool.read(
            offset, max_records, max_bytes), (offset, max_records, max_bytes)


# -- batching by the buffering hints ------------------------------------------------------------


def test_a_batch_is_published_once_its_bytes_reach_size_mib(rig: Rig) -> None:
    rig.feed.messages(32)
    sizes = [len(f.payload) for f in rig.log.frames]
    limit = 5 * sizes[0] + 1  # payload bytes
    writer = rig.writer(size_mib=limit / 2**20, interval=3600)
    assert writer.poll()
    # Batches end at the record that takes them to the limit, never further.
    ends, total = [], 0
    for offset, size in enumerate(sizes):
        total += size
        if total >= limit:
            ends.append(offset + 1)
            total = 0
    assert writer.committed_offset == ends[0] < len(rig.log)
    while writer.poll():
        pass
    assert [end for _, end in rig.ranges("raw")] == ends  # the rest is younger than interval
    assert writer.committed_offset == ends[-1] < len(rig.log)
    assert writer.pending_bytes == sum(sizes[ends[-1]:]) < limit


def test_a_batch_is_published_once_its_age_reaches_interval(rig: Rig) -> None:
    writer = rig.writer()
    rig.clock.now += 3 * INTERVAL
    assert not writer.poll()  # nothing to read, nothing due: an idle writer's age is nil
    rig.feed.messages(3)
    assert writer.poll()  # read: the batch's age counts from here
    assert writer.pending_since == rig.clock.now
    assert writer.due_in() == INTERVAL  # what a deliver worker's progress line shows
    rig.feed.messages(2)
    rig.clock.now += INTERVAL - 0.25  # (binary fractions: exact sums)
    writer.poll()
    assert writer.committed_offset == 0 and rig.stored("raw") == []
    assert writer.due_in() == 0.25
    rig.clock.now += 0.25
    assert writer.poll()
    assert writer.committed_offset == 5 and rig.ranges("raw") == [(0, 5)]
    assert writer.pending_since is None and writer.due_in() is None
    # The next batch's age starts with its first record, not with the last publish.
    rig.clock.now += 2 * INTERVAL
    rig.feed.messages(1)
    writer.poll()
    assert writer.committed_offset == 5
    rig.clock.now += INTERVAL
    writer.poll()
    assert rig.ranges("raw") == [(0, 5), (5, 6)]
    rig.assert_each_row_once(6)


def test_files_are_one_per_table_symbol_and_utc_date(rig: Rig) -> None:
    rig.feed.ts = MIDNIGHT - 2 * SECOND - 2 * MS  # the first message's receive time is 23:59:59
    rig.feed.trades("BTCUSD", count=1)  # 23:59:58.998, received 23:59:59.000
    rig.feed.trades("ETHUSD", count=1)  # 23:59:59.998, received 00:00:00.000
    rig.feed.trades("BTCUSD", count=2)  # 00:00:00.998 and 00:00:01.998
    rig.feed.garbage()
    writer = rig.writer()
    assert rig.publish_due(writer)
    name = "part-00000000000000000000-00000000000000000004.parquet"
    assert rig.stored("trades") == [
        f"trades/exchange=phemex/symbol=BTCUSD/date=2026-11-24/{name}",
        f"trades/exchange=phemex/symbol=BTCUSD/date=2026-11-25/{name}",
        f"trades/exchange=phemex/symbol=ETHUSD/date=2026-11-24/{name}",
    ]
    assert rig.stored("raw") == [f"raw/exchange=phemex/date=2026-11-24/{name}",
                                 f"raw/exchange=phemex/date=2026-11-25/{name}"]
    assert rig.stored("rejected") == [f"rejected/exchange=phemex/date=2026-11-25/{name}"]
    assert rig.stored("gaps") == []
    for path in rig.stored("trades"):  # the partition is in the path, not in the file
        symbol, date = path.split("/")[2:4]
        table = pq.read_table(rig.root / path)
        assert "symbol" not in table.schema.names and "date" not in table.schema.names
        expected = sorted(k[1] for k in rig.feed.expected if f"symbol={k[0]}" == symbol)
        assert all(str(v)[:10] == date.removeprefix("date=")
                   for v in table.column("ts").to_pylist())
        assert set(table.column("ts_ns").to_pylist()) <= set(expected)
    assert [e.rows for e in rig.manifest("trades")] == [1, 2, 1]
    rig.assert_each_row_once(4)


# -- exactly once across polls and writers ------------------------------------------------------


def test_every_row_is_published_once_over_many_polls(rig: Rig) -> None:
    writer = rig.writer(size_mib=1500 / 2**20)
    for step in range(120):
        if step % 4:
            rig.feed.messages(step % 5)
        if step % 17 == 0:
            rig.feed.garbage()
        writer.poll()
        writer.poll()  # nothing new: nothing happens twice
        rig.clock.now += INTERVAL / 3
    assert writer.drain()
    assert writer.stats.batches == len(rig.ranges("raw")) > 10
    assert writer.stats.records == len(rig.log)
    rig.assert_each_row_once(len(rig.log))
    assert not writer.poll() and writer.drain()  # nothing left, nothing republished
    assert writer.stats.batches == len(rig.ranges("raw"))


@pytest.mark.parametrize("stream", ["", "ticks.3"])
def test_a_new_writer_resumes_at_the_committed_cursor(tmp_path: Path, stream: str) -> None:
    rig = Rig(tmp_path, stream)
    rig.feed.messages(6)
    first = rig.writer()
    assert rig.publish_due(first)
    assert rig.cursors.load(CURSOR)[0] == 6
    rig.feed.messages(3, ("ETHUSD",))
    first.poll()  # read, not yet due: dropped with the writer (as by kill -9)
    assert first.pending_bytes > 0 and first.committed_offset == 6
    # A reconnect's BTCUSD snapshot repeats its last two trades, published before the cursor,
    # and adds one: only the de-duplication state committed with the cursor knows the two.
    rig.feed.conn_id = 2
    last = sorted((k for k in rig.feed.expected if k[0] == "BTCUSD"), key=lambda k: k[1])[-2:]
    assert {k[5] for k in last} == {4}
    rig.feed.ts += SECOND
    snapshot = [(rig.feed.ts, "Buy", 87_000_999, 9),
                *[(k[1], k[2].capitalize(), int(k[3].scaleb(4)), int(k[4])) for k in last][::-1]]
    offset = rig.log.append(RawFrame(2, rig.feed.ts + MS,
                                     trades_message("BTCUSD", 7, snapshot, "snapshot")))
    rig.feed.expected[key("BTCUSD", snapshot[0], offset)] += 1
    second = rig.writer()
    assert second.committed_offset == 6
    assert rig.publish_due(second)
    assert rig.ranges("raw") == [(0, 6), (6, 10)]
    snapshot_rows = rig.hive("trades").filter(pc.field("from_snapshot")).to_pylist()
    assert [(r["ts_ns"], r["spool_offset"]) for r in snapshot_rows] == [(rig.feed.ts, offset)]
    rig.assert_each_row_once(10)


# -- a kill at every step of a publish ------------------------------------------------------------


MOMENTS = {
    "after the intent": "no file of the batch published",
    "after a file": "one file of the batch published",
    "before the manifest commit": "every file published, none in the manifest",
    "before the cursor": "every file in the manifest, the cursor not moved",
}


@dataclass
class Killer:
    rig: Rig
    writer: LakeWriter
    cursors: DyingCursors
    patch: pytest.MonkeyPatch

    def arm(self, moment: str) -> None:
        if moment == "after the intent":
            self.rig.storage.die_at = self.rig.storage.published + 1
        elif moment == "after a file":
            self.rig.storage.die_at = self.rig.storage.published + 2
        elif moment == "before the manifest commit":
            def killed(*_: object, **__: object) -> int:
                raise Killed(moment)
            self.patch.setattr(self.writer.manifest, "commit", killed)
        else:
            self.cursors.die_on = CURSOR


@pytest.fixture
def killer(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
           tmp_path: Path) -> Iterator[Killer]:
    rig = Rig(tmp_path, request.param)
    cursors = DyingCursors(rig.cursors)
    yield Killer(rig, rig.writer(cursors=cursors), cursors, monkeypatch)


@pytest.mark.parametrize("killer", ["", "ticks.3"], indirect=True, ids=["spool", "kafka"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_a_publish_killed_at_any_step_is_redone_over_the_same_range(killer: Killer,
                                                                    moment: str) -> None:
    rig, writer = killer.rig, killer.writer
    rig.feed.messages(4)
    assert rig.publish_due(writer)  # [0, 4): published whole
    rig.feed.messages(5, ("BTCUSD", "ETHUSD", "BTCUSD"))
    rig.feed.garbage()
    killer.arm(moment)
    with pytest.raises(Killed):
        rig.publish_due(writer)  # [4, 10) dies at the moment
    # What kill -9 there leaves: the intent names [4, 10), the cursor is still at 4.
    assert rig.cursors.load(CURSOR)[0] == 4
    assert rig.cursors.load(INTENT) == (10, b'{"first": 4}')
    assert unfinished_publish(rig.cursors, 4) == 10
    batch_files = [p for t in ("trades", "raw", "rejected") for p in rig.stored(t)
                   if "-00000000000000000004-00000000000000000010" in p]
    assert len(batch_files) == {"after the intent": 0, "after a file": 1}.get(moment, 4)
    listed = moment == "before the cursor"
    assert rig.manifest_offsets() == list(range(10 if listed else 4))  # a batch whole or not
    # Frames arrive while no writer runs; the next writer redoes [4, 10) exactly, then goes on.
    rig.feed.messages(3)
    redo = rig.writer()
    assert redo.committed_offset == 4
    redo.poll()  # a redo is due at once, whatever its age
    assert redo.committed_offset == 10
    assert rig.ranges("raw") == [(0, 4), (4, 10)]
    assert unfinished_publish(rig.cursors, 10) is None  # the intent is finished
    assert rig.publish_due(redo)
    assert rig.ranges("raw") == [(0, 4), (4, 10), (10, 13)]
    rig.assert_each_row_once(13)


def test_a_publish_the_store_refuses_is_retried_over_the_same_range(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = rig.writer()
    rig.feed.messages(4)
    assert rig.publish_due(writer)
    rig.feed.messages(3)
    calls = 0

    def refuse(path: str, table: pa.Table) -> int:
        nonlocal calls
        calls += 1
        msg = f"cannot publish {path}: store unreachable"
        raise StorageError(msg)

    with monkeypatch.context() as patch:
        patch.setattr(rig.storage, "publish", refuse)
        assert not rig.publish_due(writer)
        assert (writer.stats.failures, calls) == (1, 1)
        assert unfinished_publish(rig.cursors, 4) == 7
        rig.feed.messages(2)  # more frames meanwhile: not added to the frozen batch
        assert not writer.poll()  # the backoff (0.5 s) has not passed: not even a read
        assert calls == 1
        rig.clock.now += 0.5
        assert writer.poll()  # retried at once, failed again, backoff doubled
        assert (writer.stats.failures, calls) == (2, 2)
        rig.clock.now += 0.75
        assert not writer.poll()
    rig.clock.now += 0.25
    assert writer.poll()  # the store is back: the same range
    assert writer.committed_offset == 7 and rig.ranges("raw") == [(0, 4), (4, 7)]
    assert rig.publish_due(writer)
    assert rig.ranges("raw") == [(0, 4), (4, 7), (7, 9)]
    rig.assert_each_row_once(9)


# -- bugs these tests found (fixed) ------------------------------------------------------


def test_a_redo_after_size_mib_was_lowered_publishes_each_row_once(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    cursors = DyingCursors(rig.cursors)
    writer = rig.writer(size_mib=64, cursors=cursors)
    rig.feed.messages(20)
    cursors.die_on = CURSOR
    with pytest.raises(Killed):
        rig.publish_due(writer)  # [0, 20): files in the manifest, cursor not moved
    smaller = 3 * len(rig.log.frames[0].payload) / 2**20  # the config changed meanwhile
    redo = rig.writer(size_mib=smaller)
    for _ in range(10):
        rig.publish_due(redo)
    assert redo.drain()
    rig.assert_each_row_once(20)  # was: [0, 3), [3, 6), ... beside the killed [0, 20)
    assert rig.ranges("raw") == [(0, 20)]


def test_a_message_resent_across_a_writer_restart_is_published_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.feed.messages(3)
    assert rig.publish_due(rig.writer())
    rig.log.append(rig.log.frames[-1])  # the exchange sends the last message again
    assert rig.publish_due(rig.writer())  # a new writer: the recorder's child restarted
    one_writer = Rig(tmp_path / "one")
    one_writer.log.frames = list(rig.log.frames)
    assert one_writer.publish_due(one_writer.writer())

    def trades(lake: Rig) -> Counter[tuple[object, ...]]:
        return Counter(k[:5] for k in lake.hive_trades().elements())
    assert trades(one_writer) == Counter(k[:5] for k in rig.feed.expected.elements())
    assert trades(rig) == trades(one_writer)
