"""A lake recorded by the real pipeline from the emulator with order books, for the History
page's mid and spread: ``BOOK_SYMBOLS``' trades and books (``--channels trades,book``, as
tests/integration/test_book_macros.py records them), the emulator's book truth, and trades of
``NO_BOOK`` over the same time copied in as another tool would (a symbol without books)."""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass
from pathlib import Path

from ticklake.catalog import Lake
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import build

from ...reliability.common import TruthBooks, truth_books
from ...reliability.stack import pipeline
from ...support import scaled, wait_until
from ..catalog.helpers import trade, write_table

BOOK_SYMBOLS = ("BTCUSD", "BTCUSDT")
NO_BOOK = "ETHUSD"
MS = 1_000_000


@dataclass(frozen=True)
class BookLake:
    root: Path
    truth: TruthBooks

    def book_span_ms(self, symbol: str) -> tuple[int, int]:
        """From just after the lake's first book of ``symbol`` to its last book message."""
        ((first, last),) = Lake(str(self.root)).query(
            f"SELECT (SELECT min(ts_ns) FROM book_snapshots WHERE symbol = '{symbol}'), "
            f"(SELECT max(ts_ns) FROM book_updates WHERE symbol = '{symbol}')").rows()
        return first // MS + 1, last // MS


def record_book_lake(tmp: Path, trades_per_symbol: int = 200) -> BookLake:
    """Record until every symbol traded ``trades_per_symbol`` times (~5 s at 40/s), stop the
    recording (the lake holds everything), then add ``NO_BOOK``'s trades. In a thread of its
    own: the caller may be inside Playwright's event loop."""
    async def scenario() -> None:
        async with pipeline(tmp, BOOK_SYMBOLS, feed={"channels": ("trades", "book")},
                            lake={"book_snapshot_seconds": 0.5}, rate=40.0,
                            book_snapshot_interval=1.0) as stack:
            market = stack.emulator.market
            assert market is not None
            await wait_until(
                lambda: min(market.produced(s) for s in BOOK_SYMBOLS) >= trades_per_symbol,
                30, f"{trades_per_symbol} trades of every symbol")
            await stack.settle()
            await stack.stop()

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="record-book-lake")
    thread.start()
    thread.join(scaled(120))
    assert not thread.is_alive(), "the recording did not stop"
    if failure:
        raise failure[0]
    root = tmp / "lake"
    ((lo, hi),) = Lake(str(root)).query("SELECT min(ts_ns), max(ts_ns) FROM trades").rows()
    rng = random.Random(5)
    times = sorted(rng.randrange(lo, hi + 1) for _ in range(trades_per_symbol))
    write_table(root, "trades", [
        trade(ts, f"{3_000 + rng.randint(-500, 500) / 100:.2f}", str(rng.randint(1, 90)),
              rng.choice(("buy", "sell")), symbol=NO_BOOK, offset=i)
        for i, ts in enumerate(times)])
    build(LakeStorage(str(root)).manifest_store())  # as `ticklake lake manifest` does
    return BookLake(root, truth_books(tmp / "truth.jsonl"))
