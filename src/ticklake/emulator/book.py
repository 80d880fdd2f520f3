"""Order book channel (reference §6.1, §9.11): a simulated book and per-subscription views.

:class:`BookSim` keeps a band of price levels on each side of the market's touch and moves
them every batch period: crossed levels are deleted, the touch is always present, levels
appear, change size and vanish; now and then a delete is emitted for a level that does not
exist (real feeds do that). Each step leaves its changes to the full book in
:attr:`BookSim.changes` (qty 0 = gone: the ground truth's book records) and its spurious
deletes in :attr:`BookSim.absent` (not a change: the level was not there).

:class:`BookView` is one subscription: it remembers the levels the client holds, sends a
snapshot on subscribe and every ``book_snapshot_interval`` seconds (right after that batch's
incremental, with its sequence and timestamp: a check, as on Phemex), and incrementals (qty 0
= delete). A limited-depth view only reports levels inside its top N; a level pushed out of
the top N is *not* deleted on the wire (the client must trim), and is sent again when it comes
back. The view keeps the last few states it moved through (:attr:`BookView.history`), which a
``book_stale_snapshot`` fault sends as a snapshot of an earlier instant.

Params: ``[sym]`` → depth 30; ``[sym, true]`` → full book; ``[sym, bool, depth]`` with depth
in {0, 1, 5, 10, 30} (0 = full). The fast/slow cadence flag is accepted but every view is
updated each batch period.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

from ticklake.emulator.products import Product

__all__ = ["DEPTHS", "BookSim", "BookState", "BookView", "Levels", "parse_book_params"]

DEPTHS = frozenset({0, 1, 5, 10, 30})
BAND = 60  # levels kept per side
MIN_LEVELS = 40  # market makers refill: at least this many levels per side (top 30 is full)
_FILL_HOLE = 0.05  # chance per tick that an empty level inside the band gets an order
_CHANGES = 4  # up to this many random size changes per side and tick
_VANISH = 0.08  # chance that a changed (non-touch) level is cancelled
_ABSENT_DELETE = 0.03  # chance per tick of a delete for a level that is not in the book
_HISTORY = 8  # earlier states a view keeps (a stale snapshot is the oldest of them)

Levels = dict[int, int]  # price ticks -> qty units


def parse_book_params(params: object) -> tuple[str, int] | None:
    """(symbol, depth) from subscribe params, or None when they are invalid."""
    if not isinstance(params, list) or not params or not isinstance(params[0], str):
        return None
    depth = 30
    if len(params) >= 2:
        if not isinstance(params[1], bool):
            return None
        if params[1]:
            depth = 0
    if len(params) >= 3:
        raw = params[2]
        if isinstance(raw, bool) or not isinstance(raw, int) or raw not in DEPTHS:
            return None
        depth = raw
    return params[0], depth


class BookSim:
    """The full simulated book of one symbol."""

    def __init__(self, product: Product, seed: int, touch: tuple[int, int] | None) -> None:
        self.p = product
        self.rng = random.Random(f"ticklake-emulator-book:{seed}:{product.symbol}")
        self.bids: Levels = {}
        self.asks: Levels = {}
        self.absent: tuple[Levels, Levels] = ({}, {})  # spurious deletes of the last step
        self.changes: tuple[Levels, Levels] = ({}, {})  # the last step's changes (0 = gone)
        if touch is not None:
            bid, ask = touch
            for i in range(BAND):
                self.bids[bid - i] = self._size()
                self.asks[ask + i] = self._size()

    @classmethod
    def empty(cls, product: Product) -> BookSim:
        """The book of a listed symbol that does not trade."""
        return cls(product, 0, None)

    def _size(self) -> int:
        steps = math.exp(self.rng.gauss(math.log(self.p.qty_median_steps * 8), 1.0))
        return max(1, int(steps)) * self.p.qty_step_units

    def step(self, touch: tuple[int, int]) -> bool:
        """Move to the market's touch; True if anything changed."""
        bid, ask = touch
        before = (dict(self.bids), dict(self.asks))
        self._side(self.bids, bid, -1)
        self._side(self.asks, ask, +1)
        spurious: tuple[Levels, Levels] = ({}, {})
        if self.rng.random() < _ABSENT_DELETE:
            side = self.rng.randrange(2)
            levels, start, sign = (self.bids, bid, -1) if side == 0 else (self.asks, ask, 1)
            missing = [start + sign * i for i in range(BAND) if start + sign * i not in levels]
            if missing:
                spurious[side][self.rng.choice(missing)] = 0
        self.absent = spurious
        self.changes = (_changed(before[0], self.bids), _changed(before[1], self.asks))
        return bool(self.changes[0] or self.changes[1] or spurious[0] or spurious[1])

    def _side(self, levels: Levels, touch: int, sign: int) -> None:
        rng = self.rng
        for px in [px for px in levels if (px - touch) * sign < 0 or (px - touch) * sign >= BAND]:
            del levels[px]  # crossed by the new touch, or fell out of the band
        if touch not in levels:
            levels[touch] = self._size()
        for i in range(1, BAND):
            px = touch + sign * i
            if px not in levels and rng.random() < _FILL_HOLE:
                levels[px] = self._size()
        for _ in range(rng.randint(0, _CHANGES)):
            px = touch + sign * min(BAND - 1, int(rng.expovariate(1 / 6)))
            if px != touch and px in levels and rng.random() < _VANISH:
                del levels[px]
            else:
                levels[px] = self._size()
        i = 1
        while len(levels) < MIN_LEVELS:  # refill the holes nearest to the touch
            px = touch + sign * i
            if px not in levels:
                levels[px] = self._size()
            i += 1

    def top(self, depth: int) -> tuple[Levels, Levels]:
        """Best ``depth`` levels per side (0 = all): bids descending, asks ascending."""
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        if depth:
            bids, asks = bids[:depth], asks[:depth]
        return dict(bids), dict(asks)


# (sequence, timestamp ns, bids, asks) of one instant, as a view held it
BookState = tuple[int, int, Levels, Levels]


@dataclass(eq=False)
class BookView:
    """What one subscription has been told about one symbol's book."""

    product: Product
    depth: int
    last_snapshot: float = 0.0
    bids: Levels = field(default_factory=dict)
    asks: Levels = field(default_factory=dict)
    sequence: int = -1  # of the state held (-1: no snapshot yet)
    ts_ns: int = 0
    last_sent: int = -1  # sequence of the last message the client was sent
    # Earlier states, oldest first. The level dicts are replaced, never changed in place, so
    # keeping references is enough.
    history: deque[BookState] = field(default_factory=lambda: deque(maxlen=_HISTORY))
    # An incremental held back by a ``book_out_of_order`` fault: (text, sequence, ts_ns).
    held: tuple[str, int, int] | None = None

    def snapshot(self, book: BookSim, sequence: int, ts_ns: int, now: float,
                 extra: tuple[int, int] | None) -> str:
        bids, asks = book.top(self.depth)
        self._move(sequence, ts_ns, bids, asks)
        self.last_snapshot = now
        return self.encode("snapshot", bids, asks, sequence, ts_ns, extra)

    def advance(self, book: BookSim, sequence: int, ts_ns: int) -> tuple[Levels, Levels]:
        """Hold the book's current top; the levels a client needs to follow (maybe none)."""
        cur_bids, cur_asks = book.top(self.depth)
        bids = _diff(self.bids, cur_bids, book.bids, book.absent[0])
        asks = _diff(self.asks, cur_asks, book.asks, book.absent[1])
        self._move(sequence, ts_ns, cur_bids, cur_asks)
        return bids, asks

    def incremental(self, book: BookSim, sequence: int, ts_ns: int,
                    extra: tuple[int, int] | None) -> str | None:
        bids, asks = self.advance(book, sequence, ts_ns)
        if not bids and not asks:
            return None
        return self.encode("incremental", bids, asks, sequence, ts_ns, extra)

    def earlier(self) -> BookState | None:
        """The oldest remembered state older than the last message sent (None: none yet)."""
        for state in self.history:
            if state[0] < self.last_sent:
                return state
        return None

    def _move(self, sequence: int, ts_ns: int, bids: Levels, asks: Levels) -> None:
        if self.sequence >= 0:
            self.history.append((self.sequence, self.ts_ns, self.bids, self.asks))
        self.sequence, self.ts_ns, self.bids, self.asks = sequence, ts_ns, bids, asks

    def encode(self, kind: str, bids: Levels, asks: Levels, sequence: int, ts_ns: int,
               extra: tuple[int, int] | None) -> str:
        p = self.product
        ask_rows = ",".join(self._level(px, q) for px, q in sorted(asks.items()))
        bid_rows = ",".join(self._level(px, q) for px, q in sorted(bids.items(), reverse=True))
        body = f'{{"asks":[{ask_rows}],"bids":[{bid_rows}]}}'
        depth = f'"depth":{self.depth}'
        tail = f'"sequence":{sequence},"symbol":"{p.symbol}","timestamp":{ts_ns},"type":"{kind}"'
        if p.channel == "trade_p":
            keys = f'"dts":{extra[0]},"mts":{extra[1]},' if extra is not None else ""
            return f'{{{depth},{keys}"orderbook_p":{body},{tail}}}'
        return f'{{"book":{body},{depth},{tail}}}'

    def _level(self, px: int, qty: int) -> str:
        p = self.product
        price = px * p.tick_units
        if p.channel == "trade_p":
            return f'["{p.price_str(price)}","{p.qty_str(qty)}"]'
        return f"[{price},{qty}]"


def _changed(before: Levels, after: Levels) -> Levels:
    """Levels that differ between two states of a side: new quantities, 0 for removed."""
    out: Levels = {px: q for px, q in after.items() if before.get(px) != q}
    for px in before:
        if px not in after:
            out[px] = 0
    return out


def _diff(held: Levels, top: Levels, full: Levels, absent: Levels) -> Levels:
    """Levels to send so that a client holding ``held`` sees ``top``."""
    out: Levels = {px: q for px, q in top.items() if held.get(px) != q}
    for px in held:
        if px not in top and px not in full:
            out[px] = 0  # really gone (a level merely pushed out of the top N is not sent)
    for px in absent:
        out.setdefault(px, 0)
    return out
