"""Order books over a real socket: the client's books equal the emulator's true books.

The emulator (the witness) moves each symbol's book every batch, sends a snapshot on
subscribe and periodically, incrementals in between, trims nothing for the client, and now and
then deletes a level that does not exist. The client follows COIN-M, USDⓈ-M and spot books at
depth 30 and full; once the market halts, every book it serves must equal the truth, and no
book may have been found inconsistent on the way.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from ticklake.emulator import Emulator
from ticklake.feed.events import BookGap, BookInvalid, BookUpdated

from ..support import wait_until
from .harness import recording

BOOKS: tuple[tuple[str, int | None], ...] = (
    ("BTCUSD", 30), ("BTCUSDT", 30), ("sBTCUSDT", None), ("ETHUSD", None))
SCALE = 8  # the client's scale of USDⓈ-M prices and quantities (decimal strings on the wire)


def truth(emulator: Emulator, symbol: str, depth: int | None) -> tuple[list[tuple[int, int]],
                                                                        list[tuple[int, int]]]:
    """The emulator's book, as the client's scaled integers."""
    book = emulator.fanout.books[symbol]
    product = emulator.products[symbol]
    bids, asks = book.top(depth or 0)
    if product.channel == "trade_p":
        price_k, qty_k = 10 ** (SCALE - product.price_exp), 10 ** (SCALE - product.qty_exp)
    else:
        price_k = qty_k = 1

    def scaled(levels: dict[int, int]) -> list[tuple[int, int]]:
        return [(px * product.tick_units * price_k, qty * qty_k) for px, qty in levels.items()]

    return scaled(bids), scaled(asks)


def test_books_of_every_family_equal_the_exchanges_after_periodic_snapshots(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        symbols = tuple(s for s, _ in BOOKS)
        async with recording(tmp_path, symbols, books=BOOKS, rate=50.0,
                             book_snapshot_interval=1.0) as run:
            await run.streaming()

            def snapshots() -> Counter[str]:
                return Counter(e.symbol for e in run.events
                               if isinstance(e, BookUpdated) and e.snapshot)

            # The first snapshot and at least two periodic ones per book, incrementals between.
            await wait_until(lambda: all(snapshots()[s] >= 3 for s, _ in BOOKS), 30,
                             "three snapshots of every book")
            run.emulator.halt()
            books = run.session.protocol.books.books

            def equal() -> bool:
                return all(books[s].top() == truth(run.emulator, s, d) for s, d in BOOKS)

            await wait_until(equal, 10, "every book equal to the exchange's")
            updates = Counter(e.symbol for e in run.events
                              if isinstance(e, BookUpdated) and not e.snapshot)
            assert all(updates[s] > 20 for s, _ in BOOKS), updates
            broken = [e for e in run.events if isinstance(e, BookGap | BookInvalid)]
            assert broken == []
            assert run.rejected == []

    asyncio.run(scenario())
