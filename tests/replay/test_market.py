"""The market at the replay's position: what each subscription's snapshot is made of, and
which archived book snapshots a client needs."""

from __future__ import annotations

import json
from pathlib import Path

from ticklake.emulator.replay.market import Market
from ticklake.emulator.replay.wire import BOOK, BOOK_SNAPSHOT

from .helpers import SECOND, T0, Archived, book, items, kline, lake_of, ticker, trades

MS = 1_000_000


def _market(root: Path) -> tuple[Market, list[bool]]:
    market = Market()
    served = [market.reach(item) for item in items(root)]
    return market, served


def test_an_archived_book_snapshot_is_served_unless_the_book_is_past_it(
        tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    archived.add(book("BTCUSD", 1, T0, bids=[[10, 1]]))  # before any snapshot: nobody can use it
    archived.add(book("BTCUSD", 2, T0 + MS, bids=[[10, 1]], asks=[[20, 1]], kind="snapshot"))
    archived.add(book("BTCUSD", 3, T0 + 2 * MS, bids=[[11, 2]]))
    # The periodic check: the book as it stands (sequence repeated, §6.1); a client checks.
    archived.add(book("BTCUSD", 3, T0 + 2 * MS, bids=[[11, 2], [10, 1]], asks=[[20, 1]],
                      kind="snapshot"))
    # After a reconnect: the book moved meanwhile.
    archived.add(book("BTCUSD", 9, T0 + 9 * MS, bids=[[12, 1]], asks=[[20, 3]], kind="snapshot"),
                 2)
    archived.add(book("BTCUSD", 10, T0 + 11 * SECOND, bids=[[12, 0]]), 2, after_ns=11 * SECOND)
    # A stale one from a connection that lagged beyond the reorder window: the past.
    archived.add(book("BTCUSD", 4, T0 + 3 * MS, bids=[[1, 1]], asks=[[2, 1]], kind="snapshot"),
                 3)
    market, served = _market(lake_of(tmp_path, archived))
    assert served == [False, True, True, True, True, False, True]
    assert json.loads(market.book_snapshot("BTCUSD", 30) or "") == {
        "book": {"asks": [[20, 3]], "bids": []}, "depth": 30, "sequence": 10,
        "symbol": "BTCUSD", "timestamp": T0 + 11 * SECOND, "type": "snapshot"}
    assert market.book_snapshot("sBTCUSDT", 30) is None  # never started: nothing to send


def test_the_book_at_the_position_follows_the_recorded_depth(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    levels = [[f"{100 + i}", "1"] for i in range(30)]
    archived.add(book("BTCUSDT", 1, T0, asks=levels, bids=[["99", "2"]], kind="snapshot",
                      p=True))
    # A level inside the top 30 pushes the 30th out; the exchange does not delete it (§6.1).
    archived.add(book("BTCUSDT", 2, T0 + MS, asks=[["99.5", "4"]], bids=[["99", "0"]], p=True))
    market, _ = _market(lake_of(tmp_path, archived))
    full = json.loads(market.book_snapshot("BTCUSDT", 0) or "")
    assert full["orderbook_p"]["asks"] == [["99.5", "4"], *levels[:29]]
    assert full["orderbook_p"]["bids"] == []
    assert list(full)[:2] == ["depth", "orderbook_p"]
    assert json.loads(market.book_snapshot("BTCUSDT", 5) or "")["orderbook_p"]["asks"] == [
        ["99.5", "4"], *levels[:4]]


def test_the_trade_snapshot_holds_the_newest_200_trades_newest_first(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    rows = [[T0 + i * MS, "Sell", 900_000_000 + i, 1] for i in range(250)]
    archived.add(trades("BTCUSD", 1, rows[:120][::-1], "snapshot"))
    archived.add(trades("BTCUSD", 2, rows[120:]))
    market, _ = _market(lake_of(tmp_path, archived))
    assert json.loads(market.trade_snapshot("trade", "BTCUSD")) == {
        "sequence": 2, "symbol": "BTCUSD", "type": "snapshot", "trades": rows[50:][::-1]}
    assert json.loads(market.trade_snapshot("trade_p", "BTCUSDT")) == {
        "sequence": 0, "symbol": "BTCUSDT", "type": "snapshot", "trades_p": []}


def test_the_kline_snapshot_holds_each_bar_s_newest_version_newest_first(
        tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    m = T0 // SECOND
    archived.add(kline("BTCUSD", 5, [[m + 60, 60, 2, 2, 2, 2, 2, 1, 1],
                                     [m, 60, 1, 1, 2, 1, 2, 3, 3]], "snapshot"))
    archived.add(kline("BTCUSD", 6, [[m + 60, 60, 2, 2, 4, 2, 4, 2, 2]]))
    archived.add(kline("BTCUSD", 7, [[m + 60, 300, 1, 1, 4, 1, 4, 5, 5]]))  # another interval
    market, _ = _market(lake_of(tmp_path, archived))
    assert json.loads(market.kline_snapshot("kline", "BTCUSD", 60)) == {
        "kline": [[m + 60, 60, 2, 2, 4, 2, 4, 2, 2], [m, 60, 1, 1, 2, 1, 2, 3, 3]],
        "priceScale": 4, "sequence": 7, "symbol": "BTCUSD", "type": "snapshot",
        "valueScale": 8}
    assert json.loads(market.kline_snapshot("kline", "BTCUSD", 900))["kline"] == []


def test_ticker_snapshots_are_the_last_message_of_each_symbol(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    archived.add(ticker("BTCUSD", T0, 1))
    archived.add(ticker("ETHUSD", T0, 2))
    archived.add(ticker("BTCUSD", T0 + SECOND, 3))
    market, _ = _market(lake_of(tmp_path, archived))
    assert market.ticker_snapshot("market24h", "BTCUSD") == [archived.rows[3]["payload"]]
    assert market.ticker_snapshot("market24h", "*") == [archived.rows[3]["payload"],
                                                        archived.rows[2]["payload"]]


def test_book_snapshots_reach_the_market_in_exchange_order(tmp_path: Path) -> None:
    """A stale snapshot (§6.1: one arrived 5 s after its instant) takes its exchange time."""
    archived = Archived()
    archived.control()
    archived.add(book("BTCUSD", 1, T0, bids=[[10, 1]], kind="snapshot"))
    archived.add(book("BTCUSD", 3, T0 + SECOND, bids=[[11, 1]]))
    archived.add(book("BTCUSD", 2, T0 + SECOND // 2, bids=[[10, 1]], kind="snapshot"), 2,
                 after_ns=5 * SECOND)
    archived.add(book("BTCUSD", 1, T0, bids=[[10, 1]], kind="snapshot"), 3)  # received twice
    found = items(lake_of(tmp_path, archived))
    assert [(i.kind, i.seq) for i in found] == [(BOOK_SNAPSHOT, 1), (BOOK_SNAPSHOT, 2),
                                                 (BOOK, 3)]
