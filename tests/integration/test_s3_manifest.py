"""Reading a lake on a real S3 server (SeaweedFS) through its manifest: no listing.

The lake is written by the real lake writer (a spool of Phemex trade frames, published in
batches to ``s3://``), so its manifest has one commit per publish in the ``spool`` log. It is
then read through a pyarrow filesystem that counts what the reader asks of the store: LISTs
(``get_file_info`` with a selector), stats (``get_file_info`` of paths) and opens (a GET).

- a cold open lists the manifest's logs once and no table directory;
- SQL answers equal what was appended (counts, sums, candles with since/until);
- a warm database answers statement after statement with no LIST and opens exactly the files
  of the partitions (and time ranges) the statement's filters select;
- a publish made afterwards is seen after ``Lake.refresh()``, which reads only the next
  version of the log (re-listing the logs only every 30 s: the manifest's clock is ours);
- a ``LiveEdge`` keeps its database across queries and follows publishes, never listing.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

import ticklake.catalog.lake as catalog_lake
from ticklake import live_edge
from ticklake.catalog import Lake
from ticklake.catalog.connection import LakeDatabase
from ticklake.feed.phemex import Family, Product, ProductTable, default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.manifest import Manifest, ManifestStore
from ticklake.model import RawFrame
from ticklake.spool import Spool

from ..seaweed import SeaweedFS

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
DAY0 = datetime(2026, 11, 25, tzinfo=UTC)
START = DAY0 + timedelta(hours=20)  # batches of 100 minutes from 20:00: one straddles midnight
BATCH = timedelta(minutes=100)
STEP = timedelta(minutes=5)  # one trade per symbol every 5 minutes
FIRST_BATCHES = 4  # published before the reader opens the lake; one more after
# Families with each wire format (scaled integers, or decimal strings for USDⓈ-M); named by
# the spool's control record, as a recorder does.
PRODUCTS = [Product("Z001USD", Family.COIN_M, 4, 0), Product("sZ003USDT", Family.SPOT, 8, 6),
            Product("Z002USDT", Family.USD_M, 8, 8)]
SYMBOLS = sorted(p.symbol for p in PRODUCTS)
CONN_ID = 7
RECV_DELAY = 5_000_000  # ns between a trade and its frame's arrival


def ns(when: datetime) -> int:
    return int((when - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * SECOND


def day(when_ns: int) -> str:
    return datetime.fromtimestamp(when_ns // SECOND, tz=UTC).date().isoformat()


@dataclass(frozen=True)
class Trade:
    symbol: str
    ts_ns: int
    side: str
    price: Decimal
    qty: Decimal
    batch: int

    @property
    def date(self) -> str:
        return day(self.ts_ns)


def batch_trades(batch: int, sequence: Counter[str]) -> list[Trade]:
    """Every symbol's trades of one batch, in time order (the order a recorder spools)."""
    out = []
    begin = START + batch * BATCH
    for step in range(BATCH // STEP):
        when = ns(begin + step * STEP)
        for index, product in enumerate(PRODUCTS):
            n = sequence[product.symbol]
            sequence[product.symbol] += 1
            side = "buy" if (n + index) % 2 else "sell"
            if product.family is Family.COIN_M:  # price in 1e-4, whole contracts
                price, qty = Decimal(1_000_000 + 37 * n) / 10**4, Decimal(1 + n % 7)
            elif product.family is Family.SPOT:  # price in 1e-8, qty in 1e-6
                price, qty = Decimal(5_000_000_000 + n) / 10**8, Decimal(3 + n) / 10**6
            else:
                price, qty = Decimal(f"{100 + n % 13}.5"), Decimal(f"0.00{1 + n % 9}")
            out.append(Trade(product.symbol, when + index * SECOND, side, price, qty, batch))
    return out


def frame(trade: Trade, sequence: int) -> RawFrame:
    product = next(p for p in PRODUCTS if p.symbol == trade.symbol)
    side = trade.side.capitalize()
    message: dict[str, Any] = {"sequence": sequence, "symbol": trade.symbol,
                               "type": "incremental"}
    if product.family is Family.USD_M:
        message["trades_p"] = [[trade.ts_ns, side, str(trade.price), str(trade.qty)]]
    else:
        message["trades"] = [[trade.ts_ns, side, int(trade.price * 10**product.price_scale),
                              int(trade.qty * 10**product.qty_scale)]]
    return RawFrame(CONN_ID, trade.ts_ns + RECV_DELAY, json.dumps(message).encode())


class Recorder:
    """A spool and the real lake writer publishing it to S3, one batch per :meth:`publish`."""

    def __init__(self, tmp_path: Path, root: str, filesystem: pafs.FileSystem) -> None:
        self.spool = Spool(tmp_path / "spool")
        self.trades: list[Trade] = []
        self.frames = 0
        self._sequence: Counter[str] = Counter()
        params = DecodeParams.of(ProductTable(PRODUCTS, source="test"), None)
        self.spool.writer().append(
            RawFrame(CONTROL_CONN_ID, ns(START) - SECOND, encode_control(params)))
        self.frames += 1
        self.writer = LakeWriter(
            self.spool, self.spool.cursors, LakeStorage(root, filesystem=filesystem),
            default_products(),  # knows none of PRODUCTS: the control record names them
            BufferingHints(size_mib=64, interval=3600, compact_mib=0))  # several files each

    def publish(self) -> list[Trade]:
        batch = max((t.batch for t in self.trades), default=-1) + 1
        trades = batch_trades(batch, self._sequence)
        for trade in trades:
            self.spool.writer().append(frame(trade, 1_000 + len(self.trades)))
            self.trades.append(trade)
            self.frames += 1
        self.spool.writer().sync()
        published = self.writer.stats.batches
        assert self.writer.drain(), self.writer.stats.last_error
        assert self.writer.stats.batches == published + 1  # one publish: one manifest commit
        assert self.writer.committed_offset == self.frames
        return trades

    def close(self) -> None:
        self.spool.close()


class CountingHandler(pafs.FileSystemHandler):  # type: ignore[misc]
    """Delegates to a filesystem and records what was asked of it: LISTs (a selector),
    stats (paths) and opens for reading (each a GET on S3)."""

    def __init__(self, inner: pafs.FileSystem) -> None:
        self.inner = inner
        self.lists: list[str] = []
        self.stats: list[str] = []
        self.opened: list[str] = []
        self._lock = threading.Lock()  # pyarrow opens a dataset's files from its threads

    def clear(self) -> None:
        with self._lock:
            self.lists.clear()
            self.stats.clear()
            self.opened.clear()

    def counts(self) -> dict[str, int]:
        return {"LIST": len(self.lists), "HEAD": len(self.stats), "GET": len(self.opened)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountingHandler) and other.inner == self.inner

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path: str) -> str:
        return str(self.inner.normalize_path(path))

    def get_file_info(self, paths: list[str]) -> Any:
        with self._lock:
            self.stats.extend(paths)
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> Any:
        with self._lock:
            self.lists.append(selector.base_dir)
        return self.inner.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        _refuse("created", path)

    def delete_dir(self, path: str) -> None:
        _refuse("deleted", path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        _refuse("deleted", path)

    def delete_root_dir_contents(self) -> None:
        _refuse("deleted", "/")

    def delete_file(self, path: str) -> None:
        _refuse("deleted", path)

    def move(self, src: str, dest: str) -> None:
        _refuse("moved", src)

    def copy_file(self, src: str, dest: str) -> None:
        _refuse("copied", src)

    def open_input_stream(self, path: str) -> Any:
        with self._lock:
            self.opened.append(path)
        return self.inner.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        with self._lock:
            self.opened.append(path)
        return self.inner.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        _refuse("wrote", path)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        _refuse("wrote", path)


def _refuse(what: str, path: str) -> None:
    msg = f"a reader {what} {path}"  # readers only read
    raise AssertionError(msg)


class FakeClock:
    """The manifest's monotonic clock: re-listing the logs is due only when we say so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every manifest a ``Lake`` opens in this test reads ``clock`` (the discovery interval
    on an object store is 30 s of it)."""
    fake = FakeClock()

    class ClockedManifest(Manifest):
        def __init__(self, store: ManifestStore, **kwargs: Any) -> None:
            super().__init__(store, clock=fake, **kwargs)
            assert self.discover_every == 30.0  # the object-store default

    monkeypatch.setattr(catalog_lake, "Manifest", ClockedManifest)
    return fake


@pytest.fixture
def s3_lake(tmp_path: Path, seaweed: SeaweedFS) -> Iterator[tuple[str, Recorder]]:
    root = f"s3://{seaweed.bucket}/{tmp_path.name}"
    recorder = Recorder(tmp_path, root, seaweed.filesystem())
    try:
        yield root, recorder
    finally:
        recorder.close()


# -- what the statements must answer, from the appended trades -------------------------------


def at(text: str) -> int:
    return ns(datetime.fromisoformat(text).replace(tzinfo=UTC))


def candles(trades: list[Trade], symbol: str, step: timedelta, since: int,
            until: int) -> list[tuple[Any, ...]]:
    """(bucket, open, high, low, close, volume, trades) as the ``candles`` macro computes."""
    buckets: dict[int, list[Trade]] = {}
    width = int(step.total_seconds()) * SECOND
    for trade in sorted(trades, key=lambda t: t.ts_ns):
        if trade.symbol == symbol and since <= trade.ts_ns < until:
            buckets.setdefault(trade.ts_ns // width * width, []).append(trade)
    return [(datetime.fromtimestamp(start // SECOND, tz=UTC), group[0].price,
             max(t.price for t in group), min(t.price for t in group), group[-1].price,
             sum(t.qty for t in group), len(group))
            for start, group in sorted(buckets.items())]


@dataclass
class Check:
    """A statement, its rows, and which trades it needs (None: it reads no trades file)."""

    sql: str
    rows: list[tuple[Any, ...]]
    needs: Callable[[Trade], bool] | None
    raw_dates: tuple[str, ...] = ()  # the raw partitions it reads


def checks(trades: list[Trade]) -> list[Check]:
    d0, d1 = DAY0.date().isoformat(), (DAY0 + timedelta(days=1)).date().isoformat()

    def count(pred: Callable[[Trade], bool]) -> list[tuple[Any, ...]]:
        return [(sum(1 for t in trades if pred(t)),)]

    def total(pred: Callable[[Trade], bool]) -> list[tuple[Any, ...]]:
        return [(sum((t.qty for t in trades if pred(t)), Decimal(0)),)]

    per_symbol = [(s, sum(1 for t in trades if t.symbol == s),
                   sum(t.qty for t in trades if t.symbol == s)) for s in SYMBOLS]
    since, until = at(f"{d0} 22:00:00"), at(f"{d1} 01:00:00")
    late = at(f"{d1} 01:00:00")
    early = at(f"{d0} 21:40:00")
    lo, hi = at(f"{d0} 23:00:00"), at(f"{d1} 00:30:00")
    def of(symbol: str) -> Callable[[Trade], bool]:
        return lambda t: t.symbol == symbol

    out = [Check(f"SELECT count(*) FROM trades WHERE symbol = '{s}'", count(of(s)), of(s))
           for s in SYMBOLS]
    out += [
        Check(f"SELECT sum(qty) FROM trades WHERE symbol = 'sZ003USDT' AND date = DATE '{d1}'",
              total(lambda t: t.symbol == "sZ003USDT" and t.date == d1),
              lambda t: t.symbol == "sZ003USDT" and t.date == d1),
        Check(f"SELECT count(*) FROM trades WHERE date = DATE '{d0}'",
              count(lambda t: t.date == d0), lambda t: t.date == d0),
        Check("SELECT symbol, count(*), sum(qty) FROM trades GROUP BY symbol ORDER BY symbol",
              per_symbol, lambda t: True),
        Check("SELECT bucket, open, high, low, close, volume, trades FROM candles('Z001USD', "
              f"INTERVAL 1 HOUR, since := '{d0} 22:00:00', until := '{d1} 01:00:00')",
              candles(trades, "Z001USD", timedelta(hours=1), since, until),
              lambda t: t.symbol == "Z001USD" and since <= t.ts_ns < until),
        Check(f"SELECT count(*) FROM trades WHERE ts >= TIMESTAMPTZ '{d1} 01:00:00+00'",
              count(lambda t: t.ts_ns >= late), lambda t: t.ts_ns >= late),
        Check(f"SELECT count(*) FROM trades WHERE ts_ns < {early}",
              count(lambda t: t.ts_ns < early), lambda t: t.ts_ns < early),
        Check("SELECT count(*), sum(qty) FROM trades WHERE symbol IN ('Z001USD', 'Z002USDT') "
              f"AND date = DATE '{d1}'",
              [(count(lambda t: t.symbol != "sZ003USDT" and t.date == d1)[0][0],
                total(lambda t: t.symbol != "sZ003USDT" and t.date == d1)[0][0])],
              lambda t: t.symbol != "sZ003USDT" and t.date == d1),
        Check("SELECT max(price), min(price) FROM trades WHERE symbol = 'Z002USDT' AND ts "
              f"BETWEEN TIMESTAMPTZ '{d0} 23:00:00+00' AND TIMESTAMPTZ '{d1} 00:30:00+00'",
              [(max(t.price for t in trades if t.symbol == "Z002USDT" and lo <= t.ts_ns <= hi),
                min(t.price for t in trades if t.symbol == "Z002USDT" and lo <= t.ts_ns <= hi))],
              lambda t: t.symbol == "Z002USDT" and lo <= t.ts_ns <= hi),
        Check(f"SELECT count(*) FROM trades t WHERE t.symbol = 'Z001USD' AND t.date = '{d0}'",
              count(lambda t: t.symbol == "Z001USD" and t.date == d0),
              lambda t: t.symbol == "Z001USD" and t.date == d0),
        Check(f"SELECT count(*) FROM raw WHERE date = DATE '{d1}'",  # a frame per trade
              count(lambda t: day(t.ts_ns + RECV_DELAY) == d1), None, (d1,)),
        Check("SELECT 42", [(42,)], None),
        Check("SELECT count(*) FROM gaps", [(0,)], None),  # a table without files
        Check("SELECT trades, volume FROM vwap('Z002USDT', INTERVAL 1 DAY, "
              f"since := '{d1}', until := '{d1} 00:30:00')",
              [(sum(1 for t in trades if t.symbol == "Z002USDT" and at(d1) <= t.ts_ns < hi),
                sum(t.qty for t in trades
                    if t.symbol == "Z002USDT" and at(d1) <= t.ts_ns < hi))],
              lambda t: t.symbol == "Z002USDT" and at(d1) <= t.ts_ns < hi),
    ]
    return out


# -- the test ----------------------------------------------------------------------------------


class Reader:
    """The lake opened through a counting filesystem, and which file holds which trades."""

    def __init__(self, root: str, recorder: Recorder, inner: pafs.FileSystem) -> None:
        self.root = root
        self.recorder = recorder
        self.base = root.removeprefix("s3://")
        self.manifest_dir = f"{self.base}/_ticklake/manifest"
        self.handler = CountingHandler(inner)
        self.filesystem = pafs.PyFileSystem(self.handler)
        self.lake = Lake(root, filesystem=self.filesystem)
        self.files_of: dict[tuple[str, str, int], str] = {}  # (symbol, date, batch) -> file
        self.raw_files: dict[str, set[str]] = {}  # date -> its raw files
        self.observed: dict[str, object] = {}  # counts, printed at the end (pytest -s)

    def version(self, number: int) -> str:
        """The path of a version of the ``spool`` log."""
        return f"{self.manifest_dir}/spool/{number:020d}.json"

    def read_entries(self) -> None:
        """Which file holds which batch's trades of each partition, from the manifest."""
        entries = self.lake.entries("trades")
        trades = self.recorder.trades
        assert sum(e.rows for e in entries) == len(trades)
        self.files_of.clear()
        for entry in entries:
            _, symbol, date = entry.partition
            low, high = entry.ranges["ts_ns"]
            (batch,) = {t.batch for t in trades if t.symbol == symbol and low <= t.ts_ns <= high}
            self.files_of[symbol, date, batch] = f"{self.base}/{entry.path}"
        assert len(self.files_of) == len(entries)
        self.raw_files.clear()
        for entry in self.lake.entries("raw"):
            self.raw_files.setdefault(entry.partition[1], set()).add(f"{self.base}/{entry.path}")

    def needed(self, check: Check, trades: list[Trade] | None = None) -> set[str]:
        """The files holding the trades (of ``trades``, default all) ``check`` needs."""
        files = {self.files_of[t.symbol, t.date, t.batch] for t in trades or self.recorder.trades
                 if check.needs is not None and check.needs(t)}
        return files | {p for d in check.raw_dates for p in self.raw_files[d]}

    def run(self, database: LakeDatabase, check: Check) -> dict[str, int]:
        """Run ``check``: its rows, no LIST or HEAD, exactly (and once) the files it needs."""
        handler = self.handler
        handler.clear()
        assert database.query(check.sql).rows() == check.rows, check.sql
        assert handler.lists == [] and handler.stats == [], (check.sql, handler.counts())
        assert set(handler.opened) == self.needed(check), check.sql
        assert len(handler.opened) == len(set(handler.opened)), check.sql  # each file once
        return handler.counts()


def cold_open(reader: Reader) -> LakeDatabase:
    """4. The marker, the manifest, one LIST of its logs; no table directory, no data file."""
    handler, base = reader.handler, reader.base
    database = reader.lake.database()
    reader.observed["cold open"] = handler.counts()
    assert handler.lists == [reader.manifest_dir], handler.lists
    assert handler.stats == [f"{base}/_ticklake/lake.json"], handler.stats
    # lake.json, the manifest's marker, the log's checkpoint pointer (none yet: fewer than 20
    # commits), its versions and a probe of the next one.
    assert set(handler.opened) == {
        f"{base}/_ticklake/lake.json", f"{reader.manifest_dir}/manifest.json",
        f"{reader.manifest_dir}/spool/_last_checkpoint.json",
        *(reader.version(v) for v in range(1, FIRST_BATCHES + 2))}, handler.opened
    manifest = reader.lake.manifest
    assert manifest is not None and manifest.versions == {"spool": FIRST_BATCHES}
    assert manifest.store.lists == 1
    # It holds what the writer published: a file per batch, symbol and date.
    reader.read_entries()
    assert len({(s, d) for s, d, _ in reader.files_of}) == 6  # 3 symbols x 2 days
    assert len(reader.files_of) == 15  # 3 files a symbol on day one, 2 on day two
    return database


def answers_and_warm_reads(reader: Reader, database: LakeDatabase) -> None:
    """1. Every statement answers as the appended trades say (the first ones cold); 2. then
    20 more: no LIST, no HEAD, no manifest read, exactly the files each one's filters
    select (partitions and time ranges)."""
    statements = checks(reader.recorder.trades)
    for check in statements:
        reader.run(database, check)
    rows = database.query("SELECT symbol, ts_ns, side, price, qty FROM trades "
                          "ORDER BY ts_ns, symbol").rows()
    assert rows == [(t.symbol, t.ts_ns, t.side, t.price, t.qty) for t in
                    sorted(reader.recorder.trades, key=lambda t: (t.ts_ns, t.symbol))]
    reader.observed["warm queries"] = [
        (statements[i % len(statements)].sql, reader.run(database, statements[i % len(statements)]))
        for i in range(20)]


def refresh_after_publish(reader: Reader, database: LakeDatabase, clock: FakeClock) -> None:
    """3. A publish after the database opened: the database keeps its files until the lake is
    refreshed, which reads the next version of the log and lists nothing."""
    handler, lake, recorder = reader.handler, reader.lake, reader.recorder
    published = recorder.publish()
    assert {t.date for t in published} == {(DAY0 + timedelta(days=1)).date().isoformat()}
    before = [t for t in recorder.trades if t not in published]
    first = checks(before)[0]
    handler.clear()
    assert database.query(first.sql).rows() == first.rows
    assert handler.lists == [] and set(handler.opened) == reader.needed(first, before)
    database.close()
    handler.clear()
    assert lake.refresh() is True
    reader.observed["refresh with a new commit"] = handler.counts()
    assert handler.lists == [] and handler.stats == []
    assert handler.opened == [reader.version(FIRST_BATCHES + 1),
                              reader.version(FIRST_BATCHES + 2)]
    assert lake.manifest is not None
    assert lake.manifest.versions == {"spool": FIRST_BATCHES + 1}
    reader.read_entries()
    assert len(reader.files_of) == 18  # the new batch's file per symbol
    handler.clear()
    database = lake.database()  # (refreshes again: one probe of the next version)
    assert handler.lists == [] and handler.opened == [reader.version(FIRST_BATCHES + 2)]
    try:
        for check in checks(recorder.trades):
            reader.run(database, check)
    finally:
        database.close()
    handler.clear()
    assert lake.refresh() is False
    reader.observed["refresh without a commit"] = handler.counts()
    assert handler.lists == [] and handler.opened == [reader.version(FIRST_BATCHES + 2)]
    # Only once the discovery interval (30 s of the manifest's clock) has passed does a
    # refresh list the manifest's logs again, once, for logs new writers started.
    clock.now += 29.9
    handler.clear()
    assert lake.refresh() is False and handler.lists == []
    clock.now += 0.1
    handler.clear()
    assert lake.refresh() is False
    reader.observed["refresh after 30 s"] = handler.counts()
    assert handler.lists == [reader.manifest_dir]


def live_edge_queries(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live edge (the dashboard's reader) keeps its database while the manifest is
    unchanged: each query probes the next version of the log, never lists."""
    handler, recorder = reader.handler, reader.recorder
    monkeypatch.setattr(live_edge, "Lake", lambda r: Lake(r, filesystem=reader.filesystem))
    edge = live_edge.LiveEdge(reader.root, None)
    try:
        sql = "SELECT count(*) FROM trades WHERE symbol = 'Z001USD'"
        expected = sum(1 for t in recorder.trades if t.symbol == "Z001USD")
        handler.clear()
        assert edge.query(sql).rows() == [(expected,)]
        assert handler.lists == [reader.manifest_dir]  # its lake's cold open
        counts = []
        for _ in range(5):
            handler.clear()
            assert edge.query(sql).rows() == [(expected,)]
            counts.append(handler.counts())
            assert handler.lists == []
            manifest_reads = [p for p in handler.opened if p.startswith(reader.manifest_dir)]
            assert manifest_reads == [reader.version(FIRST_BATCHES + 2)]
        reader.observed["live edge queries"] = counts
        published = recorder.publish()
        expected += sum(1 for t in published if t.symbol == "Z001USD")
        handler.clear()
        assert edge.query(sql).rows() == [(expected,)]
        assert handler.lists == []
    finally:
        edge.close()


def test_the_lake_on_s3_is_read_through_its_manifest_without_listing(
    s3_lake: tuple[str, Recorder], seaweed: SeaweedFS, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, recorder = s3_lake
    for _ in range(FIRST_BATCHES):
        recorder.publish()
    reader = Reader(root, recorder, seaweed.filesystem())
    database = cold_open(reader)
    answers_and_warm_reads(reader, database)
    refresh_after_publish(reader, database, clock)
    live_edge_queries(reader, monkeypatch)
    print(json.dumps(reader.observed, indent=1))
