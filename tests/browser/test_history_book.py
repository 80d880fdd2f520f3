"""The History page's mid and spread, in Chromium, over a lake the real pipeline recorded from
the emulator with order books: the page draws the book's mid over the candles and its spread
in its own pane, each point the exchange's true top of book at a candle's start, with prices
at the instrument's precision; a symbol without books draws none (and no error); a window too
long to ask the book for says to zoom in."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page

from ticklake.dashboard import DashboardConfig

from ..unit.dashboard.book_lake import NO_BOOK, BookLake, record_book_lake
from ..unit.dashboard.client import request
from ..unit.dashboard.stack import LakeServer
from .pages import chart, wait_js

MS = 1_000_000
HISTORY = "window.__ticklake.history"
LABELS = """() => [...document.querySelectorAll(
                    '#hist-chart .ytick text, #hist-chart .y3tick text')].map(t => t.textContent)"""


@pytest.fixture(scope="module")
def book_lake(tmp_path_factory: pytest.TempPathFactory) -> BookLake:
    return record_book_lake(tmp_path_factory.mktemp("history-book"))


@pytest.fixture(scope="module")
def book_board(book_lake: BookLake) -> Iterator[LakeServer]:
    server = LakeServer(DashboardConfig(str(book_lake.root), None, port=0)).start()
    try:
        yield server
    finally:
        server.stop()


def book_loaded(page: Page, symbol: str, after: int) -> dict[str, Any]:
    """Once the page drew ``symbol``'s window with its book (or none): the window it asked,
    the book it kept (null: none drawn) and the traces drawn."""
    wait_js(page, f"""() => {{ const h = {HISTORY};
        return h && h.symbol === '{symbol}' && h.bookLoads > {after}; }}""", timeout=30)
    shown: dict[str, Any] = page.evaluate(f"""() => {{ const h = {HISTORY};
        return {{since: h.since, until: h.until, book: h.book, bookLoads: h.bookLoads,
                 info: document.getElementById('hist-info').textContent,
                 error: !document.getElementById('hist-error').hidden}}; }}""")
    shown["traces"] = {t["name"]: t for t in chart(page, "hist-chart")}
    return shown


def api(board: LakeServer, symbol: str, shown: dict[str, Any]) -> dict[str, Any]:
    """What /api/book_top answers for the window the page shows (as the page asks it)."""
    reply = request(f"{board.url}/api/book_top?symbol={symbol}&since={math.floor(shown['since'])}"
                    f"&until={math.ceil(shown['until'])}&buckets=1200")
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json()
    return body


def points(trace: dict[str, Any]) -> list[tuple[float, float]]:
    """(x, y) drawn, without the breaks (null y) where the book is unknown."""
    return [(x, y) for x, y in zip(trace["x"], trace["y"], strict=True) if y is not None]


def test_mid_and_spread_are_the_true_book_for_a_symbol_with_books_and_absent_without(
        book_board: LakeServer, book_lake: BookLake, page: Page) -> None:
    page.goto(book_board.url + "/#history")
    shown = book_loaded(page, "BTCUSD", 0)  # the first symbol, zoomed to its data
    book = api(book_board, "BTCUSD", shown)
    assert shown["book"] == book and len(book["t"]) >= 20
    assert f"mid/spread at {len(book['t'])} instants" in shown["info"] and not shown["error"]
    mid, spread = shown["traces"]["mid"], shown["traces"]["spread"]
    assert points(mid) == list(zip(book["t"], book["mid"], strict=True))
    assert points(spread) == list(zip(book["t"], book["spread"], strict=True))
    assert (mid.get("yaxis", "y"), spread["yaxis"]) == ("y", "y3")  # over the candles; own pane
    # at candle starts: the candles' step, epoch-aligned as their buckets are
    assert book["step"] == page.get_attribute("#hist-chart", "data-step")
    step = book["step_ms"]
    assert all(t % step == 0 for t in [*book["t"], *shown["traces"]["price"]["x"]])
    digits = 0
    for t, m, s in zip(book["t"], book["mid"], book["spread"], strict=True):
        bids, asks = book_lake.truth.book_at("BTCUSD", int(t) * MS, 1)
        (bid,), (ask,) = bids, asks
        assert (m, s) == ((float(bid) + float(ask)) / 2, float(ask - bid)), t
        digits = max(digits, *(max(0, -int(p.normalize().as_tuple().exponent))
                               for p in (bid, ask)))
    # Prices at the instrument's precision: no SI suffix ("90k"), no two labels alike.
    assert book["price_decimals"] == digits == 1
    layout = page.evaluate("""() => { const l = document.getElementById('hist-chart').layout;
        return [l.yaxis.tickformat, l.yaxis3.tickformat, l.yaxis.hoverformat]; }""")
    assert layout == [".1f", ".1f", ".1f"]
    labels = page.evaluate(LABELS)
    assert labels and all(re.fullmatch(r"\d+\.\d", label) for label in labels), labels
    price_labels = [Decimal(x) for x in labels if Decimal(x) > 1_000]
    assert len(set(price_labels)) == len(price_labels) >= 2

    # A symbol without books: its candles, no book, no error.
    page.select_option("#hist-symbol", NO_BOOK)
    shown = book_loaded(page, NO_BOOK, shown["bookLoads"])
    assert shown["book"] is None and not shown["error"]
    assert api(book_board, NO_BOOK, shown)["t"] == []
    assert set(shown["traces"]) == {"price", "buy volume", "sell volume"}
    assert "no order book" in shown["info"]
    assert shown["traces"]["price"]["x"]  # the candles are there
    assert all(re.fullmatch(r"\d+\.\d\d", label) for label in page.evaluate(LABELS))

    # Back to a symbol with books, over a window longer than the book is asked for.
    page.select_option("#hist-symbol", "BTCUSDT")
    shown = book_loaded(page, "BTCUSDT", shown["bookLoads"])
    assert points(shown["traces"]["mid"]) == list(zip(shown["book"]["t"], shown["book"]["mid"],
                                                      strict=True))
    until = shown["until"]
    page.evaluate(f"""() => {{
        document.getElementById('hist-since').value = new Date({until} - 7200000)
          .toISOString().slice(0, 19);
        document.getElementById('hist-until').value = new Date({until}).toISOString()
          .slice(0, 19); }}""")
    page.click("#hist-load")
    shown = book_loaded(page, "BTCUSDT", shown["bookLoads"])
    assert shown["book"] is None and "mid" not in shown["traces"] and not shown["error"]
    assert "zoom to 60 min or less for the order book" in shown["info"]
    assert shown["traces"]["price"]["x"]
