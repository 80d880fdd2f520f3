"""The Live page's ticker strip against a real recording of the emulator's 24 h tickers, in
Chromium: the mark, index and funding rate shown are those of a publication the exchange sent
for the chosen symbol, exactly (rates in percent); a trades-only recording shows no strip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page

from ..unit.dashboard.stack import LiveStack
from .pages import wait_js

STRIP = "document.getElementById('live-ticker')"


@pytest.fixture
def ticker_live(tmp_path: Path) -> Iterator[LiveStack]:
    stack = LiveStack(tmp_path, rate=20.0, buffer_seconds=0.5,
                      feed={"channels": ("trades", "tickers", "ticks")}, ticker_interval=0.2,
                      truth_path=str(tmp_path / "truth.jsonl")).start()
    try:
        yield stack
    finally:
        stack.stop()


def percent(rate: str) -> str:
    return f"{format((Decimal(rate) * 100).normalize(), 'f')}%"


def test_the_strip_shows_a_publication_of_the_chosen_symbol_exactly(
        ticker_live: LiveStack, page: Page, tmp_path: Path) -> None:
    page.goto(ticker_live.url)
    wait_js(page, f"() => !{STRIP}.hidden && document.getElementById('live-mark')"
                  ".textContent !== '–'")
    shown = page.evaluate("""() => ['live-mark', 'live-index', 'live-funding', 'live-pred']
                              .map(id => document.getElementById(id).textContent)""")
    published = [json.loads(line) for line in
                 (tmp_path / "truth.tickers.jsonl").read_text().splitlines()]
    candidates = [
        [format(Decimal(p["mark_price"]).normalize(), "f"),
         format(Decimal(p["index_price"]).normalize(), "f"),
         percent(p["funding_rate"]), percent(p["pred_funding_rate"])]
        for p in published if p.get("symbol") == "BTCUSD" and p.get("channel") == "market24h"]
    assert shown in candidates
    # the ticker and tick subscriptions name no symbol of their own to choose
    options = page.evaluate("() => [...document.getElementById('live-symbol').options]"
                            ".map(o => o.value)")
    assert options == ["BTCUSD"]


@pytest.fixture
def trades_live(tmp_path: Path) -> Iterator[LiveStack]:
    """Trades only. Requested before ``page``, so the page closes first (see ``live``)."""
    stack = LiveStack(tmp_path, rate=20.0).start()
    try:
        yield stack
    finally:
        stack.stop()


def test_a_recording_without_tickers_shows_no_strip(trades_live: LiveStack, page: Page) -> None:
    page.goto(trades_live.url)
    wait_js(page, "() => window.__ticklake !== undefined "
                  "&& document.getElementById('st-trades').textContent !== '–'")
    assert page.evaluate(f"() => {STRIP}.hidden") is True
