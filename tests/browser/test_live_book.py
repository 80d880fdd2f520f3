"""The Live page's order book against a real recording of the emulator's books, in Chromium:
the ladder is the exchange's book once the market halts, the depth chart draws it, the spread
chart samples it; an invalid book shows "resyncing"; a trades-only recording shows no book."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ticklake.feed.events import BookInvalid

from ..integration.test_book_lake import true_book
from ..unit.dashboard.stack import LiveStack
from .pages import chart, table_rows, wait_js

LADDER_ROWS = 12  # per side (book.js)
ROWS = "document.querySelectorAll('#book-ladder tbody tr')"
STATE = "document.getElementById('book-state').textContent"


@pytest.fixture
def book_live(tmp_path: Path) -> Iterator[LiveStack]:
    """BTCUSD's trades and book at depth 30; a periodic snapshot every second. Request it
    before ``page`` (see ``live`` in conftest)."""
    stack = LiveStack(tmp_path, rate=50.0, buffer_seconds=0.5,
                      feed={"channels": ("trades", "book")}, book_snapshot_interval=1.0).start()
    try:
        yield stack
    finally:
        stack.stop()


def text(value: Decimal) -> str:
    """The shortest exact decimal text, as the server writes prices and sizes."""
    return format(value.normalize(), "f")


def ladder(bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]) -> list[list[str]]:
    """The rows the page must show: asks (best lowest) above bids, with cumulative sizes."""
    def rows(levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
        total, out = Decimal(0), []
        for price, qty in levels[:LADDER_ROWS]:
            total += qty
            out.append([text(price), text(qty), text(total)])
        return out

    return rows(sorted(asks.items()))[::-1] + rows(sorted(bids.items(), reverse=True))


def test_the_ladder_and_depth_chart_show_the_exchanges_book(
        book_live: LiveStack, page: Page) -> None:
    emulator, recording = book_live.emulator, book_live.recording
    assert emulator is not None and recording is not None
    page.goto(book_live.url)
    wait_js(page, f"() => {STATE} === 'live' && {ROWS}.length === {2 * LADDER_ROWS}")
    wait_js(page, "() => window.__ticklake.book.spreads.t.length >= 3")  # it moves

    book_live.call(emulator.halt)
    bids, asks = book_live.call(true_book, emulator, "BTCUSD", 30)
    expected = ladder(bids, asks)
    shown = f"() => [...{ROWS}].map(r => [...r.cells].map(c => c.textContent))"
    with contextlib.suppress(PlaywrightTimeout):  # the assertion below says how they differ
        wait_js(page, f"want => JSON.stringify(({shown})()) === JSON.stringify(want)", expected)
    assert table_rows(page, "#book-ladder") == expected

    best_bid, best_ask = max(bids), min(asks)
    best = page.evaluate("""() => [...document.querySelectorAll('#book-ladder tr.best')]
                              .map(r => [r.dataset.side, r.cells[0].textContent])""")
    assert best == [["ask", text(best_ask)], ["bid", text(best_bid)]]
    mid = (best_bid + best_ask) / 2
    assert page.text_content("#book-spread") == text(best_ask - best_bid)
    assert page.text_content("#book-mid") == text(mid)
    bp = float((best_ask - best_bid) / mid * 10_000)
    assert float(page.text_content("#book-spread-bp") or "nan") == pytest.approx(bp, abs=0.01)

    wait_js(page, CHARTS_DRAWN)
    drawn = {t["name"]: t for t in chart(page, "book-depth")}
    assert steps(drawn["bids"]) == cumulative(sorted(bids.items(), reverse=True))[::-1]
    assert steps(drawn["asks"]) == cumulative(sorted(asks.items()))
    spreads = chart(page, "book-spreads")[0]
    assert len(spreads["y"]) >= 3 and spreads["y"][-1] == pytest.approx(bp, rel=1e-9)

    # Halted, no snapshot comes: the dashboard told its book is invalid (as the feed says it
    # after a crossed book) shows nothing but "resyncing" until the market resumes.
    book_live.call(recording.bus.publish, BookInvalid("BTCUSD", 0, time.time_ns(), "test"))
    wait_js(page, f"() => {STATE} === 'resyncing' && {ROWS}.length === 0")
    assert "Resyncing the BTCUSD book: test" in (page.text_content("#book-note") or "")
    assert page.text_content("#book-spread") == "–"
    wait_js(page, CHARTS_DRAWN)
    assert chart(page, "book-depth") == []
    book_live.call(emulator.resume)
    wait_js(page, f"() => {STATE} === 'live' && {ROWS}.length === {2 * LADDER_ROWS}")


CHARTS_DRAWN = """() => { const b = window.__ticklake.book;
                         return b.frame !== null && b.drawn === b.frame && !b.chartsQueued; }"""


def steps(trace: dict[str, Any]) -> list[tuple[float, Any]]:
    """(price, cumulative size) as drawn; sizes summed in floating point by the page."""
    return [(x, pytest.approx(y)) for x, y in zip(trace["x"], trace["y"], strict=True)]


def cumulative(levels: list[tuple[Decimal, Decimal]]) -> list[tuple[float, float]]:
    total, out = Decimal(0), []
    for price, qty in levels:
        total += qty
        out.append((float(price), float(total)))
    return out


def test_a_trades_only_recording_shows_no_book(live: LiveStack, page: Page) -> None:
    page.goto(live.url)
    wait_js(page, "() => !document.getElementById('book-note').hidden")
    note = page.text_content("#book-note") or ""
    assert note == ("Order books are not recorded for BTCUSD (record with --channels "
                    "trades,book).")  # the recording's status says which books it follows
    assert page.is_hidden("#book-body")
    assert page.evaluate(f"() => {ROWS}.length") == 0
