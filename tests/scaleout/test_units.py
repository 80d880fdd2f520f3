"""The pieces of the scale-out path without a broker: log URIs, file names per stream, the
re-send filter, and one partition's delivery into a local lake (re-sends, products in-band,
a crash between intent and cursor, a new owner resuming from the lake's cursor)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from pathlib import Path

import pytest

from ticklake.catalog import Lake
from ticklake.emulator import Market
from ticklake.emulator.frames import trade_row, trades_message
from ticklake.emulator.products import PRODUCTS
from ticklake.errors import BrokerError, StorageError
from ticklake.feed.phemex import default_products
from ticklake.lake.compact import compact
from ticklake.lake.layout import file_path, stream_id
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import CURSOR, INTENT, BufferingHints
from ticklake.scaleout.deliver import LakePartition, delivered_position
from ticklake.scaleout.log import LogRecord, parse_log_uri
from ticklake.scaleout.log.dedup import HighWater
from ticklake.scaleout.log.frames import (
    CONN,
    GEN,
    KIND,
    OFF,
    PRODUCTS_KIND,
    REC,
    RECV,
    encode_products,
    fold_conn_id,
    symbol_key,
    u64,
)
from ticklake.spool import CursorStore
from ticklake.tables import parse_file_name, parse_stream_file_name, superseded


@pytest.mark.parametrize(("text", "brokers", "topic"), [
    ("kafka://127.0.0.1:9092/ticks", ("127.0.0.1:9092",), "ticks"),
    ("kafka://a:1,b.example:2/t.x-y_z", ("a:1", "b.example:2"), "t.x-y_z"),
])
def test_log_uris(text: str, brokers: tuple[str, ...], topic: str) -> None:
    uri = parse_log_uri(text)
    assert (uri.brokers, uri.topic, str(uri)) == (brokers, topic, text)


@pytest.mark.parametrize(("text", "problem"), [
    ("ticks", "expected kafka://"), ("http://h:1/t", "expected kafka://"),
    ("kafka://h:1", "no topic"), ("kafka://h:1/", "no topic"),
    ("kafka://h:1/a/b", "a topic is"), ("kafka://h/t", "needs host:port"),
    ("kafka://h:0/t", "not a port"), ("kafka://h:x/t", "not a port"),
    ("kafka://h$:1/t", "not a host"), ("kafka://h:1,/t", "needs host:port"),
])
def test_bad_log_uris_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(BrokerError) as caught:
        parse_log_uri(text)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_file_names_carry_the_stream_and_old_names_still_parse() -> None:
    stream = stream_id("ticks-v2", 3)
    path = file_path("raw", ("phemex", "2026-11-25"), 10, 20, stream=stream)
    name = path.rsplit("/", 1)[1]
    assert name == f"part-{10:020d}-{20:020d}-ticks-v2.3.parquet"
    assert parse_stream_file_name(name) == ("part", 10, 20, "ticks-v2.3")
    assert parse_file_name(name) == ("part", 10, 20)
    old = file_path("raw", ("phemex", "2026-11-25"), 10, 20).rsplit("/", 1)[1]
    assert parse_stream_file_name(old) == ("part", 10, 20, "")
    assert parse_stream_file_name("part-1-2-bad stream.parquet") is None
    with pytest.raises(ValueError, match="invalid stream"):
        stream_id("a/b", 0)


def test_a_compact_file_hides_only_its_own_streams_files() -> None:
    a, b = stream_id("t", 0), stream_id("t", 1)
    names = [f"part-{1:020d}-{5:020d}-{a}.parquet", f"part-{1:020d}-{5:020d}-{b}.parquet",
             f"part-{1:020d}-{5:020d}.parquet", f"compact-{0:020d}-{9:020d}-{a}.parquet"]
    assert superseded(names) == {names[0]}


def test_the_high_water_mark_drops_re_sends_per_recorder() -> None:
    marks = HighWater()
    assert [marks.admit("r1", o, 1) for o in (0, 1, 2)] == [True] * 3
    assert marks.admit("r2", 0, 1)  # another recorder's offsets are its own
    assert not marks.admit("r1", 1, 1) and not marks.admit("r1", 2, 1)
    assert marks.admit("r1", 3, 1) and marks.dropped == 2
    restored = HighWater.from_state(marks.state())
    assert (restored.marks, restored.generations) == ({"r1": 3, "r2": 0}, {"r1": 1, "r2": 1})


def test_a_replaced_producers_late_frames_cannot_hide_the_re_sent_ones() -> None:
    """Generation 2 re-sends from offset 4; a late frame 9 of generation 1 lands between its
    frames: taking it would drop the re-sent 5..8 as "seen" and lose them."""
    marks = HighWater()
    assert all(marks.admit("r", o, 1) for o in range(5))
    arrivals = [(4, 2), (5, 2), (9, 1), (6, 2), (7, 2), (8, 2), (9, 2), (10, 2)]
    admitted = [o for o, gen in arrivals if marks.admit("r", o, gen)]
    assert admitted == [5, 6, 7, 8, 9, 10]


def test_symbol_keys() -> None:
    assert symbol_key(b'{"sequence":1,"symbol":"BTCUSD","trades":[]}') == b"BTCUSD"
    assert symbol_key(b'{"id":1,"result":{"status":"success"}}') == b"_"


# -- one partition into a local lake -------------------------------------------------------

TOPIC, PARTITION = "ticks", 2


class Feed:
    """Kafka records as two recorders' shippers would put them in one partition."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []
        self.frames: Counter[tuple[int, int, str]] = Counter()
        self.trades = 0

    def products(self, recorder: str) -> None:
        value = encode_products([default_products().require(s) for s in ("BTCUSD", "ETHUSD")])
        self._add(value, {KIND: PRODUCTS_KIND, REC: recorder.encode()})

    def frame(self, recorder: str, number: int, spool_offset: int, payload: bytes,
              recv_ns: int, fresh: bool = True) -> None:
        conn = fold_conn_id(number, 1)
        generation = 1 if fresh else 2  # a re-send comes from the restarted shipper
        self._add(payload, {REC: recorder.encode(), OFF: u64(spool_offset),
                            GEN: u64(generation), RECV: u64(recv_ns), CONN: u64(conn)})
        if fresh:
            self.frames[(conn, recv_ns, payload.decode())] += 1

    def _add(self, value: bytes, headers: dict[str, bytes]) -> None:
        self.records.append(LogRecord(PARTITION, len(self.records), None, value, headers, 0))


def build_feed() -> Feed:
    """Recorder a (BTCUSD) and b (ETHUSD) interleaved; a re-sends its frames 3..5 (crash)."""
    feed = Feed()
    feed.products("a" * 16)
    feed.products("b" * 16)
    start = 1_795_600_000 * 10**9
    market = Market(("BTCUSD", "ETHUSD"), seed=5, rate=20.0, start_ns=start)
    sent: list[tuple[int, bytes, int]] = []
    seq = {"BTCUSD": 0, "ETHUSD": 0}
    now = start
    for _ in range(20):
        now += 10**9
        made = market.advance(now)
        for symbol in ("BTCUSD", "ETHUSD"):
            batch = [t for t in made if t.symbol == symbol]
            if not batch:
                continue
            seq[symbol] += 1
            product = PRODUCTS[symbol]
            text = trades_message(product, "incremental", seq[symbol],
                                  [trade_row(product, t) for t in batch]).encode()
            recorder, number = ("a" * 16, 1) if symbol == "BTCUSD" else ("b" * 16, 2)
            offset = sum(1 for r, _, _ in sent if r == number)
            feed.frame(recorder, number, offset, text, now)
            sent.append((number, text, now))
            feed.trades += len(batch)
    for offset in (3, 4, 5):  # recorder a restarted from an older cursor
        _, text, recv = [s for s in sent if s[0] == 1][offset]
        feed.frame("a" * 16, 1, offset, text, recv, fresh=False)
    return feed


def lake_frames(root: str) -> Counter[tuple[int, int, str]]:
    rows = Lake(root).query("SELECT conn_id, recv_ns, payload FROM raw").rows()
    return Counter((int(c), int(r), str(p)) for c, r, p in rows)


def test_a_partition_reaches_the_lake_once_across_a_crash_and_a_new_owner(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = build_feed()
    storage = LakeStorage(str(tmp_path / "lake"))
    # A batch every ~1 KiB, kept as published (no compaction: the test counts files).
    hints = BufferingHints(size_mib=0.001, interval=3600, compact_mib=0)
    first = LakePartition(TOPIC, PARTITION, storage, hints)
    assert first.start_offset() == 0
    half = len(feed.records) // 2
    first.handle(feed.records[:half])
    committed = [offset for _ in range(50) if (offset := first.poll()) is not None]
    assert committed and committed == sorted(committed)
    # The owner dies after publishing a batch's files, before committing its cursor: the
    # next owner must redo exactly that range (same names: overwritten, never doubled).
    def dying(name: str, offset: int, state: bytes = b"") -> None:
        if name == CURSOR:
            msg = "killed before the cursor commit"
            raise StorageError(msg)
        real_commit(name, offset, state)

    real_commit = first.cursors.store.commit
    monkeypatch.setattr(first.cursors.store, "commit", dying)
    first.handle(feed.records[half:])
    while first.writer.stats.failures == 0:
        first.poll()
    intent_end, intent = first.cursors.store.load(INTENT)
    assert intent_end > first.cursors.committed and intent
    files_before = len(storage.list_files("raw"))
    second = LakePartition(TOPIC, PARTITION, storage, hints)
    resume = second.start_offset()
    assert resume == delivered_position(storage, TOPIC, PARTITION) <= half
    assert second.writer._redo_end == intent_end  # the pending intent is redone
    second.handle(feed.records[resume:])
    while second.poll() is not None:
        pass
    second.close(revoked=False)
    assert delivered_position(storage, TOPIC, PARTITION) == len(feed.records)
    assert lake_frames(storage.root) == feed.frames  # every frame once, re-sends dropped
    trades = Lake(storage.root).query("SELECT count(*) FROM trades").rows()[0][0]
    assert trades == feed.trades
    assert second.source.high_water.dropped == 3
    assert {c >> 32 for c, _, _ in lake_frames(storage.root)} == {1, 2}  # recorders apart
    names = [f.path.rsplit("/", 1)[1] for f in storage.list_files("raw")]
    assert all(n.endswith(f"-{TOPIC}.{PARTITION}.parquet") for n in names)
    assert len(names) >= files_before  # the crashed batch's files were rewritten in place
    ranges = sorted(parse_file_name(n)[1:] for n in names)  # type: ignore[index]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges))


def test_compaction_merges_a_kafka_streams_files_by_its_lake_cursor(tmp_path: Path) -> None:
    feed = build_feed()
    storage = LakeStorage(str(tmp_path / "lake"))
    partition = LakePartition(TOPIC, PARTITION, storage,
                              BufferingHints(0.001, 3600, compact_mib=0))  # compacted below
    partition.handle(feed.records)
    partition.close(revoked=False)
    before = lake_frames(storage.root)
    files = len(storage.list_files("raw"))
    assert files > 2
    # The local spool's cursor store is empty: only the lake's cursor vouches for the stream.
    stats = compact(storage, CursorStore(tmp_path / "no-spool" / "cursors"),
                    today=dt.date(2100, 1, 1))
    names = [f.path.rsplit("/", 1)[1] for f in storage.list_files("raw")]
    assert stats.files_merged >= files and len(names) == 1
    assert names[0].startswith("compact-") and names[0].endswith(f"-{TOPIC}.{PARTITION}.parquet")
    assert lake_frames(storage.root) == before
