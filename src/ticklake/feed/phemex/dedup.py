"""Snapshot recovery without duplicates — the heart of lossless Phemex trade recording.

Phemex sends no trade id, and identical rows occur (several fills at one nanosecond, §4). On
every (re)subscribe it sends the latest 200 trades, newest first. We keep, per symbol, the
newest exchange timestamp emitted (``last_ts``) and the multiset of rows emitted *at* that
timestamp (``boundary``). A snapshot row is new when it is newer than ``last_ts``, or at
``last_ts`` beyond the count already emitted; older rows were seen. When a full snapshot does
not reach back past ``last_ts`` the trades in between may be lost, and we say so with a gap
whose bounds are inclusive: every trade with ``from_ns <= ts <= to_ns`` is suspect. A snapshot
shorter than the exchange's capacity holds every trade there is, so it leaves no gap. The
capacity has changed (1,000 before May 2022, 200 since: §4), so nothing assumes it is 200: it
is the largest snapshot this symbol has been sent, and at least the smallest capacity Phemex
has used (a shorter snapshot is complete under either), unless the user pins it.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from ticklake.feed.phemex.normalize import Row

# The smallest trade-snapshot capacity Phemex has used (§4: 1,000 until May 2022, 200 since).
MIN_SNAPSHOT_CAPACITY = 200
# Cursors saved before rows kept the wire's side spelled it "buy"/"sell".
_WIRE_SIDES = {"buy": "Buy", "sell": "Sell"}


class TradeCursor(msgspec.Struct, frozen=True):
    """Where a symbol's trade stream stands; persist it to resume without duplicates."""

    last_ts_ns: int
    boundary: list[Row]
    largest_snapshot: int = 0  # rows in the largest snapshot seen: the capacity, learned


class SnapshotMerge(msgspec.Struct, frozen=True):
    new_rows: list[Row]
    duplicates: int
    gap: tuple[int, int] | None


class SymbolTrades:
    """De-duplication state of one symbol (spans connections)."""

    __slots__ = ("boundary", "largest_snapshot", "last_ts")

    def __init__(self, cursor: TradeCursor | None = None) -> None:
        self.last_ts = -1 if cursor is None else cursor.last_ts_ns
        self.largest_snapshot = 0 if cursor is None else cursor.largest_snapshot
        # A multiset as a plain dict: Counter's Python-level methods cost a microsecond a
        # message on the hot path, where the boundary is mostly one row.
        self.boundary: dict[Row, int] = {}
        if cursor is not None:
            for ts, side, price, qty in cursor.boundary:
                row = (ts, _WIRE_SIDES.get(side, side), price, qty)
                self.boundary[row] = self.boundary.get(row, 0) + 1

    @property
    def started(self) -> bool:
        return self.last_ts >= 0

    def cursor(self) -> TradeCursor:
        return TradeCursor(self.last_ts, sorted(Counter(self.boundary).elements()),
                           self.largest_snapshot)

    def advance(self, rows: list[Row], newest: int | None = None) -> None:
        """Account for rows that were emitted (``newest``: their newest timestamp, if the
        caller knows it already)."""
        if len(rows) == 1:  # the common live case, without the loop
            row = rows[0]
            ts = row[0]
            if ts > self.last_ts:
                self.last_ts = ts
                self.boundary = {row: 1}
            elif ts == self.last_ts:
                self.boundary[row] = self.boundary.get(row, 0) + 1
            return
        if not rows:
            return
        # Only rows at the newest timestamp can stay on the boundary: find it in C (tuples
        # compare by their first item first), then count just those rows.
        ts = max(rows)[0] if newest is None else newest
        if ts > self.last_ts:
            self.last_ts = ts
            self.boundary = boundary = {}
        elif ts == self.last_ts:
            boundary = self.boundary
        else:
            return
        for row in rows:
            if row[0] == ts:
                boundary[row] = boundary.get(row, 0) + 1

    def unseen(self, rows: list[Row]) -> tuple[list[Row], int]:
        """Rows not emitted before, and how many were: older than the boundary, or at it
        within the count already emitted (a multiset, since identical rows are real)."""
        last = self.last_ts
        unmatched = dict(self.boundary)
        new: list[Row] = []
        duplicates = 0
        for row in rows:
            ts = row[0]
            if ts < last:
                duplicates += 1
            elif ts == last and unmatched.get(row, 0) > 0:
                unmatched[row] -= 1
                duplicates += 1
            else:
                new.append(row)
        return new, duplicates

    def merge_snapshot(self, newest_first: list[Row],
                       capacity: int | None = None) -> SnapshotMerge:
        """Rows of a snapshot not emitted before (oldest first), and the gap it leaves.
        ``capacity``: the exchange's snapshot size if pinned; None learns it (module doc)."""
        rows = newest_first[::-1]
        if capacity is None:
            capacity = max(MIN_SNAPSHOT_CAPACITY, self.largest_snapshot)
        self.largest_snapshot = max(self.largest_snapshot, len(rows))
        if not self.started:
            # Even an empty first snapshot says "this is everything so far".
            self.last_ts = 0
            return SnapshotMerge(rows, 0, None)
        if not rows:
            return SnapshotMerge(rows, 0, None)
        new, duplicates = self.unseen(rows)
        # A snapshot shorter than the exchange's capacity holds every trade there is.
        oldest = min(row[0] for row in rows)
        complete = len(rows) < capacity or oldest < self.last_ts
        gap = None if complete else (self.last_ts, oldest)
        return SnapshotMerge(new, duplicates, gap)
