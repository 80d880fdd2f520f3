"""One symbol's order book as the archive tells it, at the replay's position (§6.1).

Levels stay as the wire had them (integers for ``book``, decimal strings for
``orderbook_p``), so a snapshot built from them is written in the exchange's own numbers.
The book follows the recorded subscription's rules: a snapshot replaces it, an incremental
sets levels (qty 0 deletes, also a level it does not hold), and with a limited depth the
client trims each side to the depth (the exchange does not delete a level that leaves the
top N: "How to manage local orderbook?").
"""

from __future__ import annotations

import msgspec

from ticklake.emulator.replay.wire import Levels, Num

__all__ = ["Book"]

Side = dict[Num, Num]  # price -> qty, as on the wire
_encode = msgspec.json.Encoder()


def _price(value: Num) -> float:
    return float(value) if isinstance(value, str) else value


def _zero(qty: Num) -> bool:
    return float(qty) == 0.0 if isinstance(qty, str) else qty == 0


class Book:
    __slots__ = ("asks", "bids", "depth", "key", "known", "sequence", "symbol", "ts")

    def __init__(self, symbol: str, key: str) -> None:
        self.symbol = symbol
        self.key = key  # "book" (COIN-M, spot) or "orderbook_p" (USDⓈ-M)
        self.bids: Side = {}
        self.asks: Side = {}
        self.depth = 30  # the recorded subscription's (the messages' ``depth``; 0 = full)
        self.sequence = 0
        self.ts = 0
        self.known = False  # a snapshot started it (else nothing can be served of it)

    def replace(self, levels: Levels, depth: int | None, sequence: int, ts: int) -> None:
        self.bids = {p: q for p, q in levels.bids if not _zero(q)}
        self.asks = {p: q for p, q in levels.asks if not _zero(q)}
        self._moved(depth, sequence, ts)
        self.known = True

    def apply(self, levels: Levels, depth: int | None, sequence: int, ts: int) -> None:
        for side, rows in ((self.bids, levels.bids), (self.asks, levels.asks)):
            for price, qty in rows:
                if _zero(qty):
                    side.pop(price, None)
                else:
                    side[price] = qty
        self._moved(depth, sequence, ts)

    def _moved(self, depth: int | None, sequence: int, ts: int) -> None:
        if depth is not None:
            self.depth = depth
        self.sequence = max(self.sequence, sequence)
        self.ts = max(self.ts, ts)
        if self.depth:
            for side, best_first in ((self.bids, True), (self.asks, False)):
                if len(side) > self.depth:
                    keep = sorted(side, key=_price, reverse=best_first)[:self.depth]
                    kept = {p: side[p] for p in keep}
                    side.clear()
                    side.update(kept)

    def snapshot(self, depth: int) -> str:
        """A ``snapshot`` message of this book (best ``depth`` levels a side; 0: all), keys in
        the reference's order (§6.1 samples)."""
        bids = sorted(self.bids.items(), key=lambda lv: _price(lv[0]), reverse=True)
        asks = sorted(self.asks.items(), key=lambda lv: _price(lv[0]))
        if depth:
            bids, asks = bids[:depth], asks[:depth]
        body = (f'{{"asks":{_encode.encode(asks).decode()},'
                f'"bids":{_encode.encode(bids).decode()}}}')
        tail = (f'"sequence":{self.sequence},"symbol":{_encode.encode(self.symbol).decode()},'
                f'"timestamp":{self.ts},"type":"snapshot"')
        if self.key == "orderbook_p":
            return f'{{"depth":{self.depth},"orderbook_p":{body},{tail}}}'
        return f'{{"book":{body},"depth":{self.depth},{tail}}}'
