"""Order-book messages of one step to one view, and the book faults that corrupt them.

The true book (:class:`~ticklake.emulator.book.BookSim`) is never touched: a fault changes
only what one connection is told, and every firing is a ``fault`` record of the book truth
(:mod:`~ticklake.emulator.truth`), so a test can match each inconsistency a client sees with
its cause. Kinds (armed on a connection's plan, see :mod:`~ticklake.emulator.faults`), with
the keys their record adds to ``fault, symbol, conn, ts_ns, sequence``:

* ``book_drop``: the next incremental that changes the client's book (and is not followed by a
  periodic snapshot in the same step) is not sent; the view moves on as if it had been, so the
  client's book differs from the truth in the dropped levels until they are sent again or the
  next snapshot. ``ts_ns``/``sequence``: the message not sent (a later periodic snapshot may
  carry the same sequence).
* ``book_out_of_order``: the next incremental that changes the client's book is held back and
  sent right after the following one: the sequence goes backwards. ``ts_ns``/``sequence``: the
  late message; ``after_ts_ns``/``after_sequence``: the one that overtook it. Recorded when
  the swap happens; a periodic snapshot due meanwhile sends the held message first, in order,
  and the fault waits for the next incremental instead.
* ``book_stale_snapshot``: an extra snapshot after the step's messages, of an instant before
  the last message sent (the oldest the view remembers, up to 8 steps back): its sequence,
  timestamp and levels are the true ones of then. ``ts_ns``/``sequence``: as stated in it;
  ``sent_ts_ns``/``sent_after_sequence``: the step it was sent in and the last sequence the
  client had been sent.
* ``book_unknown_delete``: the step's next incremental also deletes a level that exists
  neither in the book nor in what the client holds (a hole inside the levels the client
  holds, else a price beyond the book). ``side`` (``bid``/``ask``) and ``price``. The
  exchange does this by itself now and then (BookSim's spurious deletes): those are recorded
  once per step with ``conn`` null, as they go to every view of the symbol.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from ticklake.emulator.book import BookSim, BookView, Levels
from ticklake.emulator.faults import BookArm, FaultKind

if TYPE_CHECKING:
    from ticklake.emulator.connection import Client
    from ticklake.emulator.server import Emulator
    from ticklake.emulator.truth import BookTruthWriter

__all__ = ["BookSender"]

Extra = Callable[[], tuple[int, int] | None]  # dts/mts for a ``_p`` message, or None
SIDES = ("bid", "ask")


class BookSender:
    """Sends each view its step's incremental and snapshot, applying armed book faults."""

    def __init__(self, emu: Emulator, extra: Extra) -> None:
        self.emu = emu
        self.extra = extra
        self.truth: BookTruthWriter | None = None
        self._rng = random.Random(f"ticklake-emulator-book-faults:{emu.config.seed}")

    def step(self, client: Client, view: BookView, book: BookSim, sequence: int,
             ts_ns: int, now: float, changed: bool) -> None:
        """One batch period for one view: incremental, then the periodic or a stale snapshot."""
        due = now - view.last_snapshot >= self.emu.config.book_snapshot_interval
        if changed:
            self._incremental(client, view, book, sequence, ts_ns, due)
        if due:
            self._release(client, view)  # a held incremental may not pass the snapshot
            # After the step's incremental, with its sequence and timestamp: the periodic
            # snapshot is for self-verification (§6.1, a real capture).
            self.send(client, view, view.snapshot(book, sequence, ts_ns, now, self.extra()),
                      sequence)
        else:
            self._stale_snapshot(client, view, ts_ns)

    def send(self, client: Client, view: BookView, text: str, sequence: int) -> None:
        self.emu.send(client, text, data=True)
        view.last_sent = max(view.last_sent, sequence)

    def _incremental(self, client: Client, view: BookView, book: BookSim, sequence: int,
                     ts_ns: int, snapshot_due: bool) -> None:
        held = (view.bids, view.asks)  # what the client holds before this step
        bids, asks = view.advance(book, sequence, ts_ns)
        if not bids and not asks:
            return
        # Only a message that changes the client's book makes a visible drop or swap, and
        # not right before a snapshot, which would undo it at once.
        changes = not snapshot_due and any(
            q or px in old for levels, old in ((bids, held[0]), (asks, held[1]))
            for px, q in levels.items())
        plan, symbol = client.plan, view.product.symbol
        drop = plan.book_arm(FaultKind.BOOK_DROP, symbol) if changes else None
        if drop is not None:
            plan.book_fired(drop)
            self._record(FaultKind.BOOK_DROP, client, view, ts_ns, sequence)
            return
        self._unknown_delete(client, view, book, (bids, asks), held)
        text = view.encode("incremental", bids, asks, sequence, ts_ns, self.extra())
        if view.held is not None:
            self._swap(client, view, text, sequence, ts_ns)
            return
        swap = plan.book_arm(FaultKind.BOOK_OUT_OF_ORDER, symbol) if changes else None
        if swap is not None:
            plan.book_fired(swap)  # taken now: a connection's other views must not take it
            view.held = (text, sequence, ts_ns)
            return
        self.send(client, view, text, sequence)

    def _swap(self, client: Client, view: BookView, text: str, sequence: int,
              ts_ns: int) -> None:
        """This incremental overtakes the held one, which follows it: sequence goes back."""
        assert view.held is not None
        late, late_sequence, late_ts = view.held
        view.held = None
        self.send(client, view, text, sequence)
        self.emu.send(client, late, data=True)
        self._record(FaultKind.BOOK_OUT_OF_ORDER, client, view, late_ts, late_sequence,
                     after_ts_ns=ts_ns, after_sequence=sequence)

    def _release(self, client: Client, view: BookView) -> None:
        """A snapshot is due: the held incremental goes out in order, the fault waits."""
        if view.held is None:
            return
        text, sequence, _ = view.held
        view.held = None
        self.send(client, view, text, sequence)
        client.plan.book.append(BookArm(FaultKind.BOOK_OUT_OF_ORDER, view.product.symbol, 1))

    def _stale_snapshot(self, client: Client, view: BookView, ts_ns: int) -> None:
        plan = client.plan
        arm = plan.book_arm(FaultKind.BOOK_STALE_SNAPSHOT, view.product.symbol)
        state = view.earlier() if arm is not None else None
        if arm is None or state is None:
            return
        plan.book_fired(arm)
        then_sequence, then_ts, bids, asks = state
        sent_after = view.last_sent
        text = view.encode("snapshot", bids, asks, then_sequence, then_ts, self.extra())
        self.emu.send(client, text, data=True)
        self._record(FaultKind.BOOK_STALE_SNAPSHOT, client, view, then_ts, then_sequence,
                     sent_ts_ns=ts_ns, sent_after_sequence=sent_after)

    def _unknown_delete(self, client: Client, view: BookView, book: BookSim,
                        levels: tuple[Levels, Levels], held: tuple[Levels, Levels]) -> None:
        arm = client.plan.book_arm(FaultKind.BOOK_UNKNOWN_DELETE, view.product.symbol)
        if arm is None:
            return
        client.plan.book_fired(arm)
        side = self._rng.randrange(2)
        px = self._absent_price(side, (book.bids, book.asks)[side], held[side], levels[side])
        levels[side][px] = 0
        self._record(FaultKind.BOOK_UNKNOWN_DELETE, client, view, view.ts_ns, view.sequence,
                     side=SIDES[side], price=self._price(view, px))

    def _absent_price(self, side: int, full: Levels, held: Levels, sent: Levels) -> int:
        """A price (ticks) in no level of the book, the client's book or this message."""
        taken = full.keys() | held.keys() | sent.keys()
        if not taken:
            return 1
        if held:
            lo, hi = min(held), max(held)
            holes = [px for px in range(lo, hi + 1) if px not in taken]
            if holes:
                return self._rng.choice(holes)
        beyond = (min(taken) - 1 - self._rng.randrange(5) if side == 0
                  else max(taken) + 1 + self._rng.randrange(5))
        return max(1, beyond)

    def _price(self, view: BookView, px: int) -> str:
        product = view.product
        return product.price_str(px * product.tick_units)

    def _record(self, kind: FaultKind, client: Client, view: BookView, ts_ns: int,
                sequence: int, **extra: str | int) -> None:
        if self.truth is not None:
            self.truth.fault(kind.value, view.product.symbol, client.id, ts_ns, sequence,
                             **extra)
