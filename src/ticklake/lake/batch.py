"""Spool records → columnar rows per table and partition, ready to become Parquet files.

A ``Batch`` is built from a contiguous spool offset range ``[first, end)``; decoding goes
through ``ReplayDecoder``, the same code the live session runs, so the lake holds exactly the
trades the live path emitted. Everything here is deterministic: the same records and decoder
state always give the same rows, which is what makes re-publishing after a crash safe.

Columnar all the way: a trade message appends its decoded rows (the protocol's tuples) and
one entry of per-message values to its symbol's buffer; every ``CHUNK_ROWS`` rows the buffer
becomes Arrow arrays (numpy for the scaling, the dates and the decimal words), so no
per-trade Python object outlives a chunk and a full batch costs Arrow bytes, not objects.
Partitions (UTC dates) are split out when the tables are built.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from ticklake.feed.events import (
    BookGap,
    BookInvalid,
    BookSnapshot,
    BookUpdated,
    FrameRejected,
    GapDetected,
    KlinesReceived,
    TickersReceived,
    TicksReceived,
    TradesReceived,
)
from ticklake.feed.phemex.normalize import Row
from ticklake.feed.phemex.trades import EXCHANGE, ReplayDecoder
from ticklake.lake.arrays import (
    DAY_NS,
    bools,
    by_day,
    decimal_array,
    fixed,
    int64,
    places,
    timestamps,
    utc_date,
    utf8,
)
from ticklake.lake.book_rows import BookSnapshotRows, BookUpdateRows
from ticklake.lake.ticker_rows import TickerRows
from ticklake.schemas import SCHEMAS
from ticklake.tables import DECIMAL_SCALE

Partition = tuple[str, ...]
_R = TypeVar("_R", BookUpdateRows, BookSnapshotRows)
_UNSCALED_LIMIT = 10**18  # decimal128(18, 8)
CHUNK_ROWS = 65_536
_MSG_INDEX_MAX = 2**15 - 1  # int16: a message's rows past it tie (docs/lake-layout.md)
# Columns are pulled out of the row tuples one at a time (``np.fromiter`` over ``map``): a
# ``zip(*rows)`` transpose of 64k tuples cost 3x more CPU than the whole conversion.
_FIELD = tuple(itemgetter(i) for i in range(5))
_IS_BUY = "Buy".__eq__  # rows keep the wire's side (feed.events.Row)
_SIDES = pa.Array.from_buffers(
    pa.string(), 2, [None, pa.py_buffer(np.array([0, 3, 7], np.int32)), pa.py_buffer(b"buysell")])


@dataclass
class _Columns:
    """Row-wise values of a rare table (gaps, rejected): plain lists."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def add(self, **values: Any) -> None:
        for name, value in values.items():
            self.columns[name].append(value)


class _TradeBuffer:
    """One symbol's trades: pending rows, plus finished Arrow chunks."""

    __slots__ = ("chunks", "meta", "pending", "price_mul", "qty_mul", "symbol")

    def __init__(self, symbol: str, price_scale: int, qty_scale: int) -> None:
        self.symbol = symbol
        self.price_mul = 10 ** (DECIMAL_SCALE - price_scale)
        self.qty_mul = 10 ** (DECIMAL_SCALE - qty_scale)
        self.pending: list[Row] = []
        # per message: (rows, recv_ns, sequence, snapshot, spool offset)
        self.meta: list[tuple[int, int, int, bool, int]] = []
        self.chunks: list[dict[str, np.ndarray]] = []


class Batch:
    """Rows decoded from spool records ``[first, end)``, grouped by table and partition."""

    def __init__(self, first: int, end: int) -> None:
        self.first = first
        self.end = end
        self.payload_bytes = 0
        self._trades: dict[str, _TradeBuffer] = {}
        self._pending_trades = 0
        self._book_updates: dict[str, BookUpdateRows] = {}
        self._book_snapshots: dict[str, BookSnapshotRows] = {}
        self._book_buffers: list[BookUpdateRows | BookSnapshotRows] = []  # in creation order
        self._pending_book_rows = 0
        self._tickers = TickerRows()
        self._rare: dict[str, dict[Partition, _Columns]] = defaultdict(
            lambda: defaultdict(_Columns))
        # raw: payloads and receive times not yet sealed, sealed chunks, connection id runs
        self._payloads: list[bytes] = []
        self._recv: list[int] = []
        self._raw_chunks: list[tuple[pa.Array, np.ndarray]] = []
        self._sealed = 0  # records already in _raw_chunks
        self._conn_runs: list[list[int]] = []  # [count, conn_id], in offset order

    @property
    def records(self) -> int:
        return self.end - self.first

    def add_record(self, decoder: ReplayDecoder, offset: int, conn_id: int, recv_ns: int,
                   payload: bytes) -> None:
        if offset != self.end:
            msg = f"batch expects offset {self.end}, got {offset}"
            raise ValueError(msg)
        self.end = offset + 1
        self.payload_bytes += len(payload)
        self._payloads.append(payload)
        self._recv.append(recv_ns)
        runs = self._conn_runs
        if runs and runs[-1][1] == conn_id:
            runs[-1][0] += 1
        else:
            runs.append([1, conn_id])
        for event in decoder.decode(payload, conn_id, recv_ns):
            if type(event) is TradesReceived:
                rows = event.rows
                if not rows:
                    continue
                buf = self._trades.get(event.symbol)
                if buf is None:
                    buf = self._trades[event.symbol] = _TradeBuffer(
                        event.symbol, event.price_scale, event.qty_scale)
                buf.pending.extend(rows)
                buf.meta.append((len(rows), recv_ns, event.sequence, event.snapshot, offset))
                self._pending_trades += len(rows)
            elif type(event) is BookUpdated:
                self._pending_book_rows += self._book_rows(
                    self._book_updates, BookUpdateRows, event).add(event, offset)
            elif type(event) is BookSnapshot:
                self._pending_book_rows += self._book_rows(
                    self._book_snapshots, BookSnapshotRows, event).add(event, offset)
            elif type(event) is TickersReceived:
                self._tickers.add_tickers(event.rows, recv_ns, offset)
            elif type(event) is TicksReceived:
                self._tickers.add_ticks(event.rows, recv_ns, offset)
            elif type(event) is KlinesReceived:
                self._tickers.add_klines(event, offset)
            elif isinstance(event, GapDetected):
                gap = event.gap
                self._gap("trades", gap.symbol, gap.from_ns, gap.to_ns, gap.reason,
                          gap.detected_ns, offset)
            elif isinstance(event, BookGap):
                self._gap("book", event.symbol, event.from_ns, event.to_ns, event.reason,
                          recv_ns, offset)
            elif isinstance(event, FrameRejected | BookInvalid):
                if isinstance(event, BookInvalid):
                    self._book_invalid(event, offset, recv_ns)
                    self._pending_book_rows += 1
                reason = (event.reason if isinstance(event, FrameRejected)
                          else f"order book invalid: {event.reason}")
                self._reject(reason, offset, conn_id, recv_ns,
                             payload.decode("utf-8", "replace"))
        if self._pending_trades >= CHUNK_ROWS:
            self._seal_trades()
        if self._pending_book_rows >= CHUNK_ROWS:
            self._seal_books()
        if len(self._payloads) >= CHUNK_ROWS:
            self._seal_raw()

    def _gap(self, channel: str, symbol: str, from_ns: int, to_ns: int, reason: str,
             detected_ns: int, offset: int) -> None:
        self._rare["gaps"][(EXCHANGE, utc_date(detected_ns))].add(
            symbol=symbol, from_ns=from_ns, to_ns=to_ns, reason=reason,
            detected_ns=detected_ns, spool_offset=offset, channel=channel)

    def _book_rows(self, rows: dict[str, _R], kind: type[_R],
                   event: BookUpdated | BookSnapshot) -> _R:
        """The symbol's rows (new ones if the product's scales changed under the old)."""
        found = rows.get(event.symbol)
        if found is None or not found.scaled(event.price_scale, event.qty_scale):
            found = rows[event.symbol] = kind(event.symbol, event.price_scale, event.qty_scale)
            self._book_buffers.append(found)
        return found

    def _book_invalid(self, event: BookInvalid, offset: int, recv_ns: int) -> None:
        """The book is unknown from here to its next snapshot: one marker row, so a reader
        serves no book even before the gap that follows is written (when it closes)."""
        rows = self._book_updates.get(event.symbol)
        if rows is None:  # (scales matter not: the marker's price and quantity are 0)
            rows = self._book_updates[event.symbol] = BookUpdateRows(event.symbol, 0, 0)
            self._book_buffers.append(rows)
        rows.add_invalid(event.ts_ns, recv_ns, event.sequence, offset)

    def _reject(self, reason: str, offset: int, conn_id: int, recv_ns: int, text: str) -> None:
        self._rare["rejected"][(EXCHANGE, utc_date(recv_ns))].add(
            recv_ns=recv_ns, conn_id=conn_id, spool_offset=offset, reason=reason, payload=text
        )

    # -- sealing pending rows into arrays --------------------------------------------------

    def _seal_trades(self) -> None:
        for buf in self._trades.values():
            if buf.pending:
                self._seal_symbol(buf)
        self._pending_trades = 0

    def _seal_books(self) -> None:
        for rows in self._book_buffers:
            rows.seal()
        self._pending_book_rows = 0

    def _seal_symbol(self, buf: _TradeBuffer) -> None:
        rows, meta = buf.pending, buf.meta
        buf.pending, buf.meta = [], []
        n, m = len(rows), len(meta)
        counts, recv, seq, offsets = (
            np.fromiter(map(_FIELD[i], meta), np.int64, m) for i in (0, 1, 2, 4))
        snap = np.fromiter(map(_FIELD[3], meta), bool, m)
        price_max, qty_max = _UNSCALED_LIMIT // buf.price_mul, _UNSCALED_LIMIT // buf.qty_mul
        try:
            price = np.fromiter(map(_FIELD[2], rows), np.int64, n)
            qty = np.fromiter(map(_FIELD[3], rows), np.int64, n)
            ok = (price < price_max) & (qty < qty_max)
        except OverflowError:  # beyond int64 on the wire: the slow, exact way
            prices, qtys = [row[2] for row in rows], [row[3] for row in rows]
            ok = np.array([p < price_max and q < qty_max
                           for p, q in zip(prices, qtys, strict=True)], dtype=bool)
            price = np.array([p if good else 0 for p, good in zip(prices, ok, strict=True)],
                             dtype=np.int64)
            qty = np.array([q if good else 0 for q, good in zip(qtys, ok, strict=True)],
                           dtype=np.int64)
        chunk = {
            "ts_ns": np.fromiter(map(_FIELD[0], rows), np.int64, n),
            "recv_ns": np.repeat(recv, counts),
            "buy": np.fromiter(map(_IS_BUY, map(_FIELD[1], rows)), bool, n),
            "price": price * buf.price_mul,
            "qty": qty * buf.qty_mul,
            "sequence": np.repeat(seq, counts),
            "from_snapshot": np.repeat(snap, counts),
            "spool_offset": np.repeat(offsets, counts),
            # (rows come oldest first: the place in the message orders fills of one instant)
            "msg_index": np.minimum(places(counts), _MSG_INDEX_MAX).astype(np.int16),
        }
        if not ok.all():
            for i in np.flatnonzero(~ok):
                off = int(chunk["spool_offset"][i])
                self._reject("price or quantity beyond decimal(18, 8)", off, self._conn_at(off),
                             int(chunk["recv_ns"][i]), self._text_at(off))
            chunk = {k: v[ok] for k, v in chunk.items()}
        if len(chunk["ts_ns"]):  # every row quarantined: nothing to add (and no empty day)
            buf.chunks.append(chunk)

    def _conn_at(self, offset: int) -> int:
        index = offset - self.first
        for count, conn_id in self._conn_runs:
            if index < count:
                return conn_id
            index -= count
        return 0

    def _text_at(self, offset: int) -> str:
        index = offset - self.first
        if index >= self._sealed:
            return self._payloads[index - self._sealed].decode("utf-8", "replace")
        for text, _ in self._raw_chunks:
            if index < len(text):
                return str(text[index].as_py())
            index -= len(text)
        return ""

    def _seal_raw(self) -> None:
        if not self._payloads:
            return
        text = utf8(self._payloads)
        self._raw_chunks.append((text, np.asarray(self._recv, dtype=np.int64)))
        self._sealed += len(self._payloads)
        self._payloads, self._recv = [], []

    # -- tables ----------------------------------------------------------------------------

    def trades_with_partitions(self) -> pa.Table | None:
        """Every symbol's trades in one table, the partition columns (exchange, symbol, date)
        added as strings: the live tail's form, without a table per partition."""
        self._seal_trades()
        symbols: list[str] = []
        chunks: list[dict[str, np.ndarray]] = []
        for symbol, buf in self._trades.items():
            symbols.extend(symbol for _ in buf.chunks)
            chunks.extend(buf.chunks)
        if not chunks:
            return None
        cols = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        counts = np.fromiter((len(c["ts_ns"]) for c in chunks), np.int64, len(chunks))
        names = list(dict.fromkeys(symbols))
        index = {name: i for i, name in enumerate(names)}
        rows = np.repeat(np.fromiter((index[s] for s in symbols), np.int64, len(symbols)),
                         counts)
        days, day_of_row = np.unique(cols["ts_ns"] // DAY_NS, return_inverse=True)
        dates = pa.array([utc_date(int(day) * DAY_NS) for day in days], pa.string())
        table = _trades_table(cols)
        table = table.append_column("exchange", pa.array([EXCHANGE], pa.string()).take(
            int64(np.zeros(len(rows), np.int64))))
        table = table.append_column("symbol", pa.array(names, pa.string()).take(int64(rows)))
        return table.append_column("date", dates.take(int64(day_of_row)))

    def tables(self, *, with_trades: bool = True) -> dict[str, dict[Partition, pa.Table]]:
        """Arrow tables (the lake schemas) per table and partition (``trades`` left out
        without ``with_trades``: see :meth:`trades_with_partitions`)."""
        self._seal_trades()
        self._seal_raw()
        self._seal_books()
        out: dict[str, dict[Partition, pa.Table]] = {}
        trades: dict[Partition, pa.Table] = {}
        for symbol, buf in self._trades.items() if with_trades else ():
            if not buf.chunks:
                continue
            cols = {k: np.concatenate([c[k] for c in buf.chunks]) for k in buf.chunks[0]}
            for day, index in by_day(cols["ts_ns"]):
                part = cols if index is None else {k: v[index] for k, v in cols.items()}
                trades[(EXCHANGE, symbol, day)] = _trades_table(part)
        if trades:
            out["trades"] = trades
        if self._raw_chunks:
            text = pa.chunked_array([c[0] for c in self._raw_chunks], pa.string())
            recv = np.concatenate([c[1] for c in self._raw_chunks])
            conns = np.repeat(np.array([c for _, c in self._conn_runs], dtype=np.int64),
                              np.array([n for n, _ in self._conn_runs], dtype=np.int64))
            offsets = np.arange(self.first, self.end, dtype=np.int64)
            raw: dict[Partition, pa.Table] = {}
            for day, index in by_day(recv):
                if index is None:
                    payload: Any = text
                    r, c, o = recv, conns, offsets
                else:
                    # chunk by chunk: a take would join the chunks into one string array,
                    # whose 32-bit offsets a batch of over 2 GB of payloads overflows
                    mask = np.zeros(len(recv), dtype=bool)
                    mask[index] = True
                    payload = text.filter(pa.array(mask))
                    r, c, o = recv[index], conns[index], offsets[index]
                raw[(EXCHANGE, day)] = pa.Table.from_arrays(
                    [timestamps(r), int64(r), int64(c), int64(o), payload],
                    schema=SCHEMAS["raw"])
            out["raw"] = raw
        for rows in self._book_buffers:
            if not rows.chunks:
                continue
            name = "book_updates" if isinstance(rows, BookUpdateRows) else "book_snapshots"
            tables = out.setdefault(name, {})
            whole = rows.table()
            for day, index in by_day(whole["ts_ns"].to_numpy()):
                key = (EXCHANGE, rows.symbol, day)
                table = whole if index is None else whole.take(int64(index))
                # (a symbol whose scales changed mid-batch has two buffers)
                tables[key] = pa.concat_tables([tables[key], table]) if key in tables else table
        out.update(self._tickers.tables())
        for table, partitions in self._rare.items():
            out[table] = {key: _to_table(table, cols.columns)
                          for key, cols in partitions.items()}
        return out


def _trades_table(c: dict[str, np.ndarray]) -> pa.Table:
    side = pa.DictionaryArray.from_arrays(
        fixed(pa.int8(), np.where(c["buy"], 0, 1).astype(np.int8)), _SIDES)
    arrays = [
        timestamps(c["ts_ns"]), int64(c["ts_ns"]), int64(c["recv_ns"]), side,
        decimal_array(c["price"]), decimal_array(c["qty"]), int64(c["sequence"]),
        bools(c["from_snapshot"]), int64(c["spool_offset"]),
        fixed(pa.int16(), c["msg_index"]),
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMAS["trades"])


def _to_table(table: str, columns: dict[str, list[Any]]) -> pa.Table:
    schema = SCHEMAS[table]
    arrays: dict[str, pa.Array] = {}
    if table == "rejected":
        arrays["recv_ts"] = timestamps(np.asarray(columns["recv_ns"], dtype=np.int64))
    elif table == "gaps":
        arrays["from_ts"] = timestamps(np.asarray(columns["from_ns"], dtype=np.int64))
        arrays["to_ts"] = timestamps(np.asarray(columns["to_ns"], dtype=np.int64))
    for name in schema.names:
        if name not in arrays:
            arrays[name] = pa.array(columns[name], type=schema.field(name).type)
    return pa.Table.from_arrays([arrays[n] for n in schema.names], schema=schema)

