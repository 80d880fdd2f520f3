"""The not-yet-published tail: spool records past the lake writer's cursor, as Arrow tables.

SQL unions these with the published files so a trade is queryable within a second of its
arrival. The tail starts exactly at the committed cursor, with the de-duplication state saved
there, so the seam has neither a gap nor a duplicate.

:class:`SpoolTail` keeps the tail incrementally: each refresh decodes only the records
appended since the last one, and drops the rows the writer has published since (by its
cursor), so a query at the live edge costs what arrived, not the whole unpublished tail.
Decoding goes through ``replay_decoder``, which follows the spool's control records: every
symbol decodes with the products the recorder had, whatever ``products`` this reader has.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ticklake.feed.phemex.products import ProductTable
from ticklake.feed.phemex.trades import ReplayDecoder, replay_decoder
from ticklake.lake.batch import Batch
from ticklake.lake.writer import CURSOR, Cursors, RecordSource, unfinished_publish
from ticklake.tables import PARTITIONS

_READ = 10_000  # records per spool read
_FAN_IN = 8  # pieces of one level merged into one of the next (one Arrow chunk each)
_TOP_LEVEL = 4  # pieces of 8**4 records and more are not merged again


@dataclass(frozen=True)
class Seam:
    """Where the lake ends and the tail begins: the writer's cursor, and the spool range
    ``[cursor, end)`` of a publish begun from it (its files may be listed already, while
    the tail holds its rows: a reader leaves those files out)."""

    cursor: int
    in_progress: tuple[int, int] | None


def _in_progress(cursors: Cursors, cursor: int) -> tuple[int, int] | None:
    end = unfinished_publish(cursors, cursor)
    return None if end is None else (cursor, end)


@dataclass
class _Piece:
    """Rows decoded from spool records ``[first, end)``, per table (partition columns on).
    ``level``: about log8 of its records (pieces of one level are merged into the next)."""

    first: int
    end: int
    tables: dict[str, pa.Table]
    level: int = 0

    def since(self, offset: int) -> _Piece:
        """The rows of spool records at ``offset`` and after."""
        kept = {name: table.filter(pc.greater_equal(table["spool_offset"], offset))
                for name, table in self.tables.items()}
        return _Piece(offset, self.end, {k: t for k, t in kept.items() if t.num_rows},
                      self.level)


def _merged(pieces: list[_Piece]) -> _Piece:
    names = sorted({name for piece in pieces for name in piece.tables})
    tables = {name: pa.concat_tables([p.tables[name] for p in pieces if name in p.tables])
              .combine_chunks() for name in names}
    return _Piece(pieces[0].first, pieces[-1].end, tables, pieces[0].level + 1)


class SpoolTail:
    """The unpublished tail of one spool, kept up to date by :meth:`refresh` (thread-safe)."""

    def __init__(self, source: RecordSource, cursors: Cursors, products: ProductTable,
                 max_records: int = 2_000_000) -> None:
        self.source = source
        self.cursors = cursors
        self.products = products  # for frames recorded before control records existed
        self.max_records = max_records
        self.decoded = 0  # records decoded so far (the cost of the refreshes, for benches)
        self._lock = threading.Lock()
        self._decoder: ReplayDecoder | None = None
        self._seam = 0  # the lake cursor the pieces start at
        self._end = 0  # the next spool offset to decode
        self._pieces: list[_Piece] = []
        self._built: dict[str, pa.Table] = {}  # the last tables handed out
        self._changed: set[str] = set()  # tables with rows added or dropped since then

    def refresh(self) -> tuple[dict[str, pa.Table], Seam]:
        """Rows of every table from the lake cursor on, and the seam they start at."""
        with self._lock:
            offset, state = self.cursors.load(CURSOR)
            seam = Seam(offset, _in_progress(self.cursors, offset))
            if self._decoder is None or not self._seam <= offset <= self._end:
                # First refresh, or the writer moved past what was decoded (or the lake's
                # cursor went back: another lake): start again from the cursor.
                self._decoder = replay_decoder(state, self.products)
                self._pieces, self._end, self._built = [], offset, {}
            elif offset > self._seam:
                self._drop_before(offset)
                self._changed.update(self._built)
            self._seam = offset
            self._read(self._decoder)
            return self._tables(), seam

    def seam(self) -> Seam:
        """The seam as the writer's cursors say now (a caller checks it did not move)."""
        offset, _ = self.cursors.load(CURSOR)
        return Seam(offset, _in_progress(self.cursors, offset))

    def _drop_before(self, offset: int) -> None:
        kept = [p if p.first >= offset else p.since(offset)
                for p in self._pieces if p.end > offset]
        self._pieces = [p for p in kept if p.tables]

    def _read(self, decoder: ReplayDecoder) -> None:
        budget = self.max_records - (self._end - self._seam)
        if budget <= 0:
            return
        batch = Batch(self._end, self._end)
        while batch.records < budget:
            records = self.source.read(batch.end, max_records=min(_READ, budget - batch.records))
            if not records:
                break
            for record in records:
                batch.add_record(decoder, record.offset, record.conn_id, record.recv_ns,
                                 record.payload)
        if batch.records == 0:
            return
        self.decoded += batch.records
        self._end = batch.end
        tables = _with_partition_columns(batch)
        if tables:
            # A piece's level grows with its size, so that a big first read (the whole tail)
            # is never merged again with the small pieces that follow it.
            level = int(math.log(batch.records, _FAN_IN))
            self._pieces.append(_Piece(batch.first, batch.end, tables, level))
            self._changed.update(tables)
        # Merge every run of _FAN_IN small pieces of one level into one piece of the next:
        # the tables keep a few chunks per 4,096 records, a row is copied at most _TOP_LEVEL
        # times, and no merge copies more than 4,096 records (no latency spike).
        pieces = self._pieces
        while (len(pieces) >= _FAN_IN and pieces[-1].level < _TOP_LEVEL
               and all(p.level == pieces[-1].level for p in pieces[-_FAN_IN:])):
            pieces[-_FAN_IN:] = [_merged(pieces[-_FAN_IN:])]

    def _tables(self) -> dict[str, pa.Table]:
        """The tail per table; a table without new or dropped rows since the last call is
        the same object (a connection keeps it registered)."""
        names = {name for piece in self._pieces for name in piece.tables}
        tables = {}
        for name in sorted(names):
            table = self._built.get(name)
            if table is None or name in self._changed:
                table = pa.concat_tables([p.tables[name] for p in self._pieces
                                          if name in p.tables])
            tables[name] = table
        self._built, self._changed = tables, set()
        return tables


def _with_partition_columns(batch: Batch) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    trades = batch.trades_with_partitions()
    if trades is not None:
        out["trades"] = trades
    for table, partitions in batch.tables(with_trades=False).items():
        pieces = []
        for partition, rows in partitions.items():
            with_keys = rows
            for key, value in zip(PARTITIONS[table], partition, strict=True):
                with_keys = with_keys.append_column(
                    key, pa.array([value] * rows.num_rows, pa.string())
                )
            pieces.append(with_keys)
        if pieces:
            out[table] = pa.concat_tables(pieces)
    return out


def read_tail(source: RecordSource, cursors: Cursors, products: ProductTable,
              max_records: int = 2_000_000) -> tuple[dict[str, pa.Table], Seam]:
    """The whole tail, decoded once (a one-off query: ``ticklake sql``)."""
    return SpoolTail(source, cursors, products, max_records).refresh()
