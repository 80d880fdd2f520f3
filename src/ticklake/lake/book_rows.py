"""Order-book events → ``book_updates`` and ``book_snapshots`` rows, columnar like trades.

A message appends its levels (the decoder's own ``(price, qty)`` tuples) to one flat list and
one tuple of per-message values (times, sequence, offset, how many levels of each kind);
every ``CHUNK_ROWS`` rows of the batch the lists become numpy arrays. Sides, actions, levels
and per-row copies of the message's values come from ``np.repeat`` over the counts, so a
level costs one list slot until its chunk is sealed, and nothing per row runs in Python but
the two ``np.fromiter`` reads. (Row-wise lists of Python ints cost 27 µs per message and
~700 MB on a 63 MiB batch of book frames.)
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter

import numpy as np
import pyarrow as pa

from ticklake.feed.events import BookSnapshot, BookUpdated
from ticklake.lake.arrays import coded, decimal_array, int64, strings, timestamps
from ticklake.schemas import SCHEMAS
from ticklake.tables import DECIMAL_SCALE

_PRICE, _QTY = itemgetter(0), itemgetter(1)
_NULL = -1
_SIDES = strings(("bid", "ask"))
ACTIONS = ("snapshot", "update", "trim", "invalid")
_ACTIONS = strings(ACTIONS)
REASONS = ("subscribe", "cadence")
_REASONS = strings(REASONS)
_SNAPSHOT, _UPDATE, _TRIM, _INVALID = range(4)
# book_updates: a message's rows are its bids, its asks, the bids and asks it trimmed, and
# (an invalid book) one marker row, in that order; the side of each group:
_UPDATE_GROUP_SIDES = np.array([0, 1, 0, 1, _NULL], np.int8)


class _Rows:
    """One symbol's pending levels and per-message values, and its sealed column chunks."""

    __slots__ = ("chunks", "levels", "meta", "price_mul", "qty_mul", "symbol")

    def __init__(self, symbol: str, price_scale: int, qty_scale: int) -> None:
        self.symbol = symbol
        self.price_mul = 10 ** (DECIMAL_SCALE - price_scale)
        self.qty_mul = 10 ** (DECIMAL_SCALE - qty_scale)
        self.levels: list[tuple[int, int]] = []
        self.meta: list[tuple[int, ...]] = []
        self.chunks: list[pa.RecordBatch] = []

    def scaled(self, price_scale: int, qty_scale: int) -> bool:
        return bool(self.price_mul == 10 ** (DECIMAL_SCALE - price_scale)
                    and self.qty_mul == 10 ** (DECIMAL_SCALE - qty_scale))

    def _take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pending per-message values (one row per message) and the levels' prices and
        quantities at the lake's scale; the pending lists start again empty."""
        meta = np.array(self.meta, dtype=np.int64)
        levels, n = self.levels, len(self.levels)
        self.meta, self.levels = [], []
        # (the decoder refused any level beyond decimal(18, 8): no overflow here)
        return (meta, np.fromiter(map(_PRICE, levels), np.int64, n) * self.price_mul,
                np.fromiter(map(_QTY, levels), np.int64, n) * self.qty_mul)

    def _sealed(self, name: str, cols: dict[str, np.ndarray]) -> None:
        """A chunk's columns as the table's Arrow arrays at once (the numpy copies go: no
        concatenation of a whole batch's columns is ever held beside its table)."""
        schema = SCHEMAS[name]
        arrays = {"ts": timestamps(cols["ts_ns"]), "price": decimal_array(cols["price"]),
                  "qty": decimal_array(cols["qty"]), "side": coded(cols["side"], _SIDES)}
        if name == "book_updates":
            arrays["action"] = coded(cols["action"], _ACTIONS)
        else:
            arrays["reason"] = coded(cols["reason"], _REASONS)
            arrays["level"] = pa.Array.from_buffers(
                pa.int32(), len(cols["level"]),
                [None, pa.py_buffer(cols["level"].astype(np.int32))])
        for column in schema.names:
            if column not in arrays:
                arrays[column] = int64(cols[column])
        self.chunks.append(pa.RecordBatch.from_arrays([arrays[n] for n in schema.names],
                                                      schema=schema))

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.chunks)


class BookUpdateRows(_Rows):
    """``book_updates``: every level as received, the levels trimmed, the invalid markers."""

    __slots__ = ()

    def add(self, event: BookUpdated, offset: int) -> int:
        levels = self.levels
        levels += event.bids
        levels += event.asks
        trimmed_bids, trimmed_asks = event.trimmed_bids, event.trimmed_asks
        if trimmed_bids:
            levels += zip(trimmed_bids, repeat(0))
        if trimmed_asks:
            levels += zip(trimmed_asks, repeat(0))
        self.meta.append((event.ts_ns, event.recv_ns, event.sequence, offset,
                          _SNAPSHOT if event.snapshot else _UPDATE, len(event.bids),
                          len(event.asks), len(trimmed_bids), len(trimmed_asks), 0))
        return len(event.bids) + len(event.asks) + len(trimmed_bids) + len(trimmed_asks)

    def add_invalid(self, ts_ns: int, recv_ns: int, sequence: int, offset: int) -> int:
        """The book is unknown from here to its next snapshot: one marker row (side null,
        price and quantity 0)."""
        self.levels.append((0, 0))
        self.meta.append((ts_ns, recv_ns, sequence, offset, _INVALID, 0, 0, 0, 0, 1))
        return 1

    def seal(self) -> None:
        if not self.meta:
            return
        meta, price, qty = self._take()
        m = len(meta)
        group_counts = meta[:, 5:10].ravel()
        per_message = meta[:, 5:10].sum(axis=1)
        kind = meta[:, 4]
        group_actions = np.column_stack(
            (kind, kind, np.full(m, _TRIM), np.full(m, _TRIM), np.full(m, _INVALID)))
        self._sealed("book_updates", {
            "ts_ns": np.repeat(meta[:, 0], per_message),
            "recv_ns": np.repeat(meta[:, 1], per_message),
            "sequence": np.repeat(meta[:, 2], per_message),
            "spool_offset": np.repeat(meta[:, 3], per_message),
            "side": np.repeat(np.tile(_UPDATE_GROUP_SIDES, m), group_counts),
            "action": np.repeat(group_actions.ravel().astype(np.int8), group_counts),
            "price": price,
            "qty": qty,
        })


class BookSnapshotRows(_Rows):
    """``book_snapshots``: the whole trimmed book at an instant, numbered best first."""

    __slots__ = ()

    def add(self, event: BookSnapshot, offset: int) -> int:
        levels = self.levels
        levels += event.bids
        levels += event.asks
        through = offset if event.after_message else offset - 1
        self.meta.append((event.ts_ns, event.sequence, REASONS.index(event.reason), through,
                          offset, len(event.bids), len(event.asks)))
        return len(event.bids) + len(event.asks)

    def seal(self) -> None:
        if not self.meta:
            return
        meta, price, qty = self._take()
        m = len(meta)
        group_counts = meta[:, 5:7].ravel()
        per_message = meta[:, 5:7].sum(axis=1)
        group_starts = np.cumsum(group_counts) - group_counts
        rows = int(group_counts.sum())
        self._sealed("book_snapshots", {
            "ts_ns": np.repeat(meta[:, 0], per_message),
            "sequence": np.repeat(meta[:, 1], per_message),
            "reason": np.repeat(meta[:, 2].astype(np.int8), per_message),
            "through_offset": np.repeat(meta[:, 3], per_message),
            "spool_offset": np.repeat(meta[:, 4], per_message),
            "side": np.repeat(np.tile(np.array([0, 1], np.int8), m), group_counts),
            "level": np.arange(rows) - np.repeat(group_starts, group_counts) + 1,
            "price": price,
            "qty": qty,
        })
