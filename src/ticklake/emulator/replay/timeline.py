"""The archive as one timeline of items in exchange order: rows → frames → each message once
→ ordered by (exchange timestamp, sequence, archive order).

Archive order is receive order per connection, and connections receive with different
delays, so items wait in a heap until the newest exchange time read is ``reorder_s`` past
them: within that window the order is exact. An item older than what was already released
(a recorder that lagged more than the window) is released at once, out of order rather
than lost.

Rows received before ``--from`` (the lead-in) go through the same path with ``prime`` set:
they build the market state a subscription's snapshot is made of, and are never served.

Runs in a worker thread (:meth:`Timeline.batch` reads the lake), never on the event loop.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

from ticklake.emulator.replay.config import ReplayConfig
from ticklake.emulator.replay.dedup import Dedup
from ticklake.emulator.replay.products import Products
from ticklake.emulator.replay.source import CONTROL, Archive, RawRow
from ticklake.emulator.replay.wire import Item, decode

__all__ = ["Timeline", "TimelineStats"]

_S = 1_000_000_000


@dataclass
class TimelineStats:
    rows: int = 0  # raw rows read (control records included)
    frames: int = 0  # frames decoded
    undecodable: int = 0  # no JSON object of a known shape (the recorder rejected them too)
    items: int = 0  # released items (lead-in included)
    late: int = 0  # items released after a later one (beyond the reorder window)


class Timeline:
    """Items of the archive in exchange order, in batches (see the module doc)."""

    def __init__(self, archive: Archive, config: ReplayConfig, products: Products) -> None:
        lo = config.from_ns
        start = None if lo is None else lo - int(config.lead_in_s * _S)
        self._rows: Iterator[RawRow] = archive.rows(start, config.to_ns)
        self._from = lo
        self._window = int(config.reorder_s * _S)
        symbols = frozenset(products.listings) if config.symbols else None
        ticks = frozenset(products.ticks) if config.symbols else None
        self.dedup = Dedup(symbols, ticks)
        self.stats = TimelineStats()
        self._heap: list[tuple[int, int, int, Item]] = []
        self._newest = -(2**63)  # newest exchange time read
        self._released: tuple[int, int, int] | None = None
        self._idx = 0
        self.done = False

    def batch(self, size: int = 2_048) -> list[Item]:
        """The next items (up to about ``size``); [] once the archive is exhausted."""
        out: list[Item] = []
        heap, stats, rows, items = self._heap, self.stats, self._rows, self.dedup.items
        first = self._from
        while len(out) < size:
            row = next(rows, None)
            if row is None:
                while heap:
                    out.append(self._pop())
                self.done = True
                break
            stats.rows += 1
            recv_ns, conn_id, _, payload = row
            if conn_id & CONTROL == CONTROL:
                continue  # the recorder's own record: the products are read at start
            frame = decode(payload)
            if frame is None:
                stats.undecodable += 1
                continue
            stats.frames += 1
            prime = first is not None and recv_ns < first
            for item in items(frame, payload, conn_id):
                item.prime = prime
                item.idx = self._idx
                self._idx += 1
                heapq.heappush(heap, (item.ts, item.seq, item.idx, item))
                self._newest = max(self._newest, item.ts)
            limit = self._newest - self._window
            while heap and heap[0][0] <= limit:
                out.append(self._pop())
        stats.items += len(out)
        return out

    def _pop(self) -> Item:
        ts, seq, idx, item = heapq.heappop(self._heap)
        key = (ts, seq, idx)
        if self._released is not None and key < self._released:
            self.stats.late += 1
        else:
            self._released = key
        return item
