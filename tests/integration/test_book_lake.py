"""Order books in the lake: a recording's ``book_updates`` rebuild the exchange's true books.

The real pipeline (sessions → spool → lake writer process) records COIN-M, USDⓈ-M and spot
books at depth 30 and full from the emulator; after the market halts and the recording
drains, the book each symbol's rows rebuild (the rule in docs/lake-layout.md) equals the
emulator's book, and the trades beside them are still every trade once.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from ticklake.catalog import Lake
from ticklake.emulator import Emulator

from ..reliability.common import compare_lake
from ..reliability.stack import pipeline
from ..support import wait_until
from .test_books import truth as live_truth

SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")
Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def true_book(emulator: Emulator, symbol: str, depth: int) -> Book:
    """The emulator's book in exact decimals (prices and sizes as its wire states them)."""
    product = emulator.products[symbol]
    bids, asks = emulator.fanout.books[symbol].top(depth)

    def exact(levels: dict[int, int]) -> dict[Decimal, Decimal]:
        return {Decimal(product.price_str(px * product.tick_units)) if product.channel ==
                "trade_p" else Decimal(px * product.tick_units).scaleb(-product.price_exp):
                Decimal(product.qty_str(qty)) if product.channel == "trade_p"
                else Decimal(qty).scaleb(-product.qty_exp)
                for px, qty in levels.items()}

    return exact(bids), exact(asks)


def rebuilt(lake: Lake, symbol: str) -> Book:
    """The latest snapshot message, then every later row in order: no depth rule to know,
    the rows trim the book themselves."""
    rows = lake.query(
        "SELECT spool_offset, action = 'snapshot', side, price, qty FROM book_updates "
        f"WHERE symbol = '{symbol}' ORDER BY spool_offset").rows()
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    last_message = None
    for offset, snapshot, side, price, qty in rows:
        if snapshot and offset != last_message:
            bids, asks = {}, {}
        last_message = offset
        levels = bids if side == "bid" else asks
        if qty:
            levels[price] = qty
        else:
            levels.pop(price, None)
    return bids, asks


# Beyond the shipped defaults: the exchange catalog's scales and ticks in every family
# (COIN-M ticks of 1 to 10,000 units, USDⓈ-M price decimals 0-7 and qty decimals 0-3, spot
# quantities in 2-8 decimals and a TRY-quoted pair priced in 4).
EXCHANGE_SYMBOLS = ("XRPUSD", "GOLDUSD", "CHZUSDT", "MKRUSDT", "XMRUSDT", "sSHIBUSDT",
                    "sPEPEUSDT", "sBTCTRY")


@pytest.mark.parametrize(("catalog", "symbols"), [("basic", SYMBOLS),
                                                  ("exchange", EXCHANGE_SYMBOLS)])
def test_book_updates_rebuild_the_true_books_beside_every_trade(
        tmp_path: Path, catalog: str, symbols: tuple[str, ...]) -> None:
    async def scenario() -> tuple[str, Path, dict[str, Book]]:
        async with pipeline(tmp_path, symbols, feed={"channels": ("trades", "book")},
                            rate=40.0, book_snapshot_interval=1.0, catalog=catalog) as stack:
            emulator = stack.emulator
            market = emulator.market
            assert market is not None
            # Long enough for incrementals and a periodic snapshot (1 s) of every book.
            await wait_until(lambda: min(market.produced(s) for s in symbols) >= 100, 30,
                             "100 trades of every symbol")

            await stack.settle()  # halted: the books stand still from here
            truth = {s: true_book(emulator, s, 30) for s in symbols}
            # Every book frame the exchange sent is in: the live books equal the truth.
            books = {symbol: book for session in stack.recording.sessions.sessions
                     for symbol, book in session.protocol.books.books.items()}
            await wait_until(lambda: all(books[s].top() == live_truth(emulator, s, 30)
                                         for s in symbols), 20, "the live books complete")
            await stack.stop()
            return stack.lake_root, stack.truth, truth

    root, truth_path, truth = asyncio.run(scenario())
    lake = Lake(root)
    for symbol in symbols:
        assert rebuilt(lake, symbol) == truth[symbol], symbol
    counts = dict(lake.query(
        "SELECT symbol, count(DISTINCT spool_offset) FROM book_updates "
        "WHERE action = 'update' GROUP BY symbol").rows())
    assert all(counts[s] > 5 for s in symbols), counts
    result = compare_lake(root, truth_path)
    assert result.duplicated == result.lost_silently == 0
