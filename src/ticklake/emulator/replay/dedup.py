"""Each exchange message once, whatever number of times the archive holds it.

The archive holds a message several times when several connections received it (a sharded
recorder, two recorders into one Kafka topic), and holds history again in every resubscribe
snapshot. The rules, applied in archive order:

* trade incrementals: once per (symbol, sequence). A message a connection receives again
  with a sequence it already had (a resend, or the next incremental overlapping the
  snapshot, §9.10) keeps only the trades not served yet, judged as the recorder judges them
  (below);
* trade snapshots are history, not served. Their trades that no message served yet — newer
  than the newest trade served, or at that instant beyond the number served there (identical
  rows are real, §4) — are the trades only the snapshot holds (the recorder was away): they
  become one ``incremental`` of the snapshot's family format and sequence, placed at their
  newest trade. Older trades missing from every frame stay missing: a gap stays a gap;
* book incrementals: once per (symbol, sequence); book snapshots once per (symbol,
  sequence, timestamp), and the market state drops those of an instant the book is already
  past (:mod:`~ticklake.emulator.replay.market`);
* 24 h tickers and ticks: once per (channel, symbol, exchange timestamp) (the pack: per
  timestamp);
* klines: a message whose every bar version (interval, bar start, content) was served is
  dropped. Kline snapshots only inform the bars a subscription starts with.

Memory stays bounded: each symbol remembers its newest keys only (:class:`Recent`); a
duplicate arriving later than that many newer messages would be served again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

import msgspec

from ticklake.emulator.replay.wire import (
    BOOK,
    BOOK_SNAPSHOT,
    KLINE,
    KLINE_SNAPSHOT,
    PACK,
    TICK,
    TICKER,
    TRADES,
    Frame,
    Item,
    kline_rows,
)

__all__ = ["Dedup", "Recent"]

_REMEMBER = 50_000  # keys per (channel, symbol)
_CONNECTIONS = 64  # connections whose last trade sequences are kept
_S = 1_000_000_000
Row = tuple[int, str, int | str, int | str]


class Recent:
    """A set of the newest ``size`` keys added."""

    __slots__ = ("_keys", "_order", "_size")

    def __init__(self, size: int = _REMEMBER) -> None:
        self._keys: set[Hashable] = set()
        self._order: deque[Hashable] = deque()
        self._size = size

    def add(self, key: Hashable) -> bool:
        """True if ``key`` is new (and remember it)."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self._size:
            self._keys.discard(self._order.popleft())
        return True

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys


class _Served:
    """The trades of one symbol served so far, as the recorder's dedup keeps them: the
    newest timestamp and the multiset of rows at it (``feed/phemex/dedup.py``'s rule, written
    again here: the emulator shares no code with the client)."""

    __slots__ = ("boundary", "last_ts")

    def __init__(self) -> None:
        self.last_ts = -1  # -1: nothing served, not even an (empty) first snapshot
        self.boundary: dict[Row, int] = {}

    def advance(self, rows: list[Row], ts: int) -> None:
        """Account for ``rows`` served; ``ts``: their newest timestamp."""
        if ts > self.last_ts:
            self.last_ts, self.boundary = ts, {}
        elif ts < self.last_ts:
            return
        boundary = self.boundary
        for row in rows:
            if row[0] == ts:
                boundary[row] = boundary.get(row, 0) + 1

    def unseen(self, rows: list[Row]) -> list[Row]:
        left = dict(self.boundary)
        out = []
        for row in rows:
            if row[0] < self.last_ts:
                continue
            if row[0] == self.last_ts and left.get(row, 0) > 0:
                left[row] -= 1
                continue
            out.append(row)
        return out


class Dedup:
    """Frames in archive order → items, each message once (module doc)."""

    def __init__(self, symbols: frozenset[str] | None, ticks: frozenset[str] | None) -> None:
        self.symbols = symbols  # None: every symbol
        self.ticks = ticks
        self.recent: dict[tuple[str, str], Recent] = {}
        self.served: dict[str, _Served] = {}
        self.conn_seq: dict[int, dict[str, int]] = {}  # (LRU: most recent connection last)
        self._conn_id = -1  # the last connection and its sequences (the common case)
        self._conn_seqs: dict[str, int] = {}
        self.conn_ts: dict[int, int] = {}  # each connection's newest exchange time
        self.dropped = 0  # duplicate messages
        self.recovered = 0  # trades served from snapshots

    def _new(self, channel: str, symbol: str, key: Hashable) -> bool:
        recent = self.recent.get((channel, symbol))
        if recent is None:
            recent = self.recent[(channel, symbol)] = Recent()
        if recent.add(key):
            return True
        self.dropped += 1
        return False

    def _wanted(self, symbol: str | None) -> bool:
        return symbol is not None and (self.symbols is None or symbol in self.symbols)

    def _saw(self, conn_id: int, ts: int) -> None:
        if ts > self.conn_ts.get(conn_id, 0):
            self.conn_ts[conn_id] = ts

    def items(self, f: Frame, text: str, conn_id: int) -> list[Item]:
        """What one archived frame adds to the timeline (often nothing)."""
        if f.trades is not None or f.trades_p is not None:
            return self._trades(f, text, conn_id)
        if f.reply:
            return []
        if f.book is not None or f.orderbook_p is not None:
            return self._book(f, text, conn_id)
        if f.kline is not None or f.kline_p is not None:
            return self._kline(f, text, conn_id)
        for channel in ("market24h", "spot_market24h", "market24h_p"):
            named = getattr(f, channel)
            if named is not None:
                ts = f.timestamp if f.timestamp is not None else named.timestamp
                if ts is None or not self._wanted(named.symbol):
                    return []
                return self._ticker(TICKER, channel, named.symbol or "", ts, text, conn_id)
        if f.data is not None and f.method == f"{PACK}.update" and f.timestamp is not None:
            return self._ticker(TICKER, PACK, "*", f.timestamp, text, conn_id)
        for channel in ("tick", "tick_p"):
            named = getattr(f, channel)
            if named is not None and named.symbol is not None and named.timestamp is not None:
                if self.ticks is not None and named.symbol not in self.ticks:
                    return []
                return self._ticker(TICK, channel, named.symbol, named.timestamp, text, conn_id)
        return []

    def _ticker(self, kind: int, channel: str, symbol: str, ts: int, text: str,
                conn_id: int) -> list[Item]:
        self._saw(conn_id, ts)
        if not self._new(channel, symbol, ts):
            return []
        return [Item(kind, channel, symbol, ts, 0, text)]

    def _trades(self, f: Frame, text: str, conn_id: int) -> list[Item]:
        symbol, seq = f.symbol, f.sequence
        if symbol is None or seq is None or f.type not in ("snapshot", "incremental"):
            return []
        p = f.trades_p is not None
        rows: list[Row] = (f.trades_p if p else f.trades) or []  # type: ignore[assignment]
        if rows:
            self._saw(conn_id, _newest(rows))
        if not self._wanted(symbol):
            return []
        channel = "trade_p" if p else "trade"
        seqs = self._connection(conn_id)
        previous = seqs.get(symbol, -1)
        if seq > previous:
            seqs[symbol] = seq
        served = self.served.get(symbol)
        if served is None:
            served = self.served[symbol] = _Served()
        if f.type == "snapshot":
            new = rows[::-1] if served.last_ts < 0 else served.unseen(rows[::-1])
            served.last_ts = max(served.last_ts, 0)  # even an empty first snapshot starts it
            if not new:
                return []
            newest = _newest(new)
            served.advance(new, newest)
            self.recovered += len(new)
            return [Item(TRADES, channel, symbol, newest, seq,
                         _trades_text(p, symbol, seq, "incremental", new), new)]
        if not rows or not self._new(channel, symbol, seq):
            return []
        if seq <= previous:  # this connection had it (§9.10): only what was not served
            fresh = served.unseen(rows)
            if not fresh:
                self.dropped += 1
                return []
            if len(fresh) < len(rows):
                text = _trades_text(p, symbol, seq, "incremental", fresh)
                rows = fresh
        newest = _newest(rows)
        served.advance(rows, newest)
        return [Item(TRADES, channel, symbol, newest, seq, text, rows)]

    def _connection(self, conn_id: int) -> dict[str, int]:
        """``conn_id``'s last trade sequence per symbol (the connections kept: the most
        recently seen)."""
        if conn_id == self._conn_id:
            return self._conn_seqs
        seqs = self.conn_seq.pop(conn_id, None)
        if seqs is None:
            seqs = {}
            if len(self.conn_seq) >= _CONNECTIONS:
                del self.conn_seq[next(iter(self.conn_seq))]
        self.conn_seq[conn_id] = seqs
        self._conn_id, self._conn_seqs = conn_id, seqs
        return seqs

    def _book(self, f: Frame, text: str, conn_id: int) -> list[Item]:
        symbol, seq = f.symbol, f.sequence
        if not self._wanted(symbol) or seq is None or f.type not in ("snapshot", "incremental"):
            return []
        assert symbol is not None
        ts = f.timestamp if f.timestamp is not None else self.conn_ts.get(conn_id, 0)
        self._saw(conn_id, ts)
        p = f.orderbook_p is not None
        channel = "orderbook_p" if p else "orderbook"
        levels = f.orderbook_p if p else f.book
        body = (levels, f.depth)
        if f.type == "snapshot":  # (the same check received on several connections: once)
            if not self._new(channel, symbol, ("snapshot", seq, ts)):
                return []
            return [Item(BOOK_SNAPSHOT, channel, symbol, ts, seq, text, body)]
        if not self._new(channel, symbol, seq):
            return []
        return [Item(BOOK, channel, symbol, ts, seq, text, body)]

    def _kline(self, f: Frame, text: str, conn_id: int) -> list[Item]:
        symbol = f.symbol
        p = f.kline_p is not None
        rows = kline_rows((f.kline_p if p else f.kline) or [])
        if not self._wanted(symbol) or not rows or f.type not in ("snapshot", "incremental"):
            return []
        assert symbol is not None
        channel = "kline_p" if p else "kline"
        # Kline messages carry no time of their own (§6.1), only bar starts: a message is
        # placed at its connection's newest exchange time (when the exchange sent it, as
        # near as the archive tells), never before its newest bar began.
        ts = max(self.conn_ts.get(conn_id, 0), max(r[0] for r in rows) * _S)
        seq = f.sequence or 0
        by_interval: dict[int, list[tuple[int, bytes]]] = {}
        for start, interval, raw in rows:
            by_interval.setdefault(interval, []).append((start, raw))
        out = []
        for interval, bars in by_interval.items():
            slot = f"{symbol}@{interval}"
            if f.type == "snapshot":
                out.append(Item(KLINE_SNAPSHOT, channel, slot, ts, seq, None, (bars, text)))
                continue
            fresh = [self._new(channel, slot, raw) for _, raw in bars]
            if any(fresh):
                out.append(Item(KLINE, channel, slot, ts, seq, text, (bars, text)))
        return out


_encode = msgspec.json.Encoder()


def _newest(rows: list[Row]) -> int:
    # (rows are tuples led by their timestamp: max() finds the newest in C)
    return rows[0][0] if len(rows) == 1 else max(rows)[0]


def _trades_text(p: bool, symbol: str, seq: int, kind: str, rows: list[Row]) -> str:
    """A trade message of ``rows`` (as the wire has them) in the family's key order."""
    key = "trades_p" if p else "trades"
    body = _encode.encode(rows).decode()
    return (f'{{"sequence":{seq},"symbol":{_encode.encode(symbol).decode()},'
            f'"type":"{kind}","{key}":{body}}}')
