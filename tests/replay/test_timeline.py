"""The timeline: each exchange message once, trades only a resubscribe snapshot holds served as
one incremental (and a gap left a gap), everything in exchange order."""

from __future__ import annotations

import json
from pathlib import Path

from ticklake.emulator.replay.wire import (
    BOOK,
    BOOK_SNAPSHOT,
    KLINE,
    KLINE_SNAPSHOT,
    TICKER,
    TRADES,
    Item,
)

from .helpers import SECOND, T0, Archived, book, items, kline, lake_of, tick, ticker, trades

MS = 1_000_000


def _served(found: list[Item], kind: int = TRADES) -> list[Item]:
    return [i for i in found if i.kind == kind and not i.prime]


def _rows(found: list[Item]) -> list[list[object]]:
    out: list[list[object]] = []
    for item in _served(found):
        message = json.loads(item.text or "")
        assert message["type"] == "incremental"
        out.extend(message.get("trades") or message["trades_p"])
    return out


def _trade(ms: int, price: int = 900_000_000, qty: int = 1, side: str = "Buy") -> list[object]:
    return [T0 + ms * MS, side, price, qty]


def test_a_message_several_connections_received_is_served_once(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    for conn in (1, 2, 3):
        archived.add(trades("BTCUSD", 10, [_trade(1)]), conn)
        archived.add(book("BTCUSD", 11, T0 + 2 * MS, bids=[[899_990_000, 5]]), conn)
        archived.add(ticker("BTCUSD", T0 + 3 * MS, 900_000_000), conn)
        archived.add(kline("BTCUSD", 12, [[T0 // SECOND, 60, 1, 1, 1, 1, 1, 1, 1]]), conn)
    found = items(lake_of(tmp_path, archived))
    assert [i.kind for i in found] == [TRADES, BOOK, TICKER, KLINE]
    assert found[0].text == archived.rows[1]["payload"]  # verbatim


def test_trades_only_a_resubscribe_snapshot_holds_become_one_incremental(
        tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    t = [_trade(ms, 900_000_000 + ms) for ms in range(8)]
    archived.add(trades("BTCUSD", 100, [t[1], t[0]], "snapshot"), 1)  # the first subscribe
    archived.add(trades("BTCUSD", 101, [t[2]]), 1)
    archived.add(trades("BTCUSD", 102, [t[3]]), 1)
    # Disconnected: t4..t6 went to nobody; the snapshot after reconnecting holds them.
    archived.add(trades("BTCUSD", 110, [t[6], t[5], t[4], t[3], t[2]], "snapshot"), 2,
                 after_ns=50 * MS)
    archived.add(trades("BTCUSD", 111, [t[7]]), 2)
    found = items(lake_of(tmp_path, archived))
    assert _rows(found) == t
    recovered = _served(found)[3]
    assert recovered.text == json.dumps(
        {"sequence": 110, "symbol": "BTCUSD", "type": "incremental", "trades": t[4:7]},
        separators=(",", ":"))
    assert (recovered.ts, recovered.seq) == (t[6][0], 110)  # at its newest trade


def test_recovered_usdm_trades_keep_their_decimal_strings(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    rows = [[T0 + i * MS, "Sell", f"90000.{i}", "0.001"] for i in range(4)]
    archived.add(trades("BTCUSDT", 5, rows[:2][::-1], "snapshot", p=True), 1)
    archived.add(trades("BTCUSDT", 9, rows[::-1], "snapshot", p=True), 2)
    found = items(lake_of(tmp_path, archived))
    assert [json.loads(i.text or "") for i in _served(found)] == [
        {"sequence": 5, "symbol": "BTCUSDT", "type": "incremental", "trades_p": rows[:2]},
        {"sequence": 9, "symbol": "BTCUSDT", "type": "incremental", "trades_p": rows[2:]}]


def test_a_gap_stays_a_gap(tmp_path: Path) -> None:
    """The snapshot after a long disconnect does not reach back: nothing is invented."""
    archived = Archived()
    archived.control()
    t = [_trade(ms, 900_000_000 + ms) for ms in range(10)]
    archived.add(trades("BTCUSD", 1, [], "snapshot"), 1)
    archived.add(trades("BTCUSD", 2, t[0:2]), 1)
    archived.add(trades("BTCUSD", 20, [t[9], t[8]], "snapshot"), 2, after_ns=SECOND)
    assert _rows(items(lake_of(tmp_path, archived))) == [t[0], t[1], t[8], t[9]]


def test_identical_trades_at_one_instant_are_counted_not_merged(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    same = _trade(5)
    archived.add(trades("BTCUSD", 1, [], "snapshot"), 1)
    archived.add(trades("BTCUSD", 2, [same]), 1)
    # Two fills at one nanosecond, byte-identical (§4); the incremental carried only one.
    archived.add(trades("BTCUSD", 3, [same, same, _trade(4)], "snapshot"), 2)
    assert _rows(items(lake_of(tmp_path, archived))) == [same, same]


def test_an_incremental_overlapping_its_snapshot_serves_only_the_new_trades(
        tmp_path: Path) -> None:
    """§9.10: a snapshot's sequence may be the next incremental's."""
    archived = Archived()
    archived.control()
    t = [_trade(ms, 900_000_000 + ms) for ms in range(4)]
    archived.add(trades("BTCUSD", 50, [t[1], t[0]], "snapshot"), 1)
    archived.add(trades("BTCUSD", 50, [t[1], t[2]]), 1)
    archived.add(trades("BTCUSD", 50, [t[0], t[1]]), 1)  # all seen: dropped
    archived.add(trades("BTCUSD", 51, [t[3]]), 1)
    found = items(lake_of(tmp_path, archived))
    assert _rows(found) == t
    assert json.loads(_served(found)[1].text or "")["trades"] == [t[2]]


def test_items_come_in_exchange_order_whatever_the_receive_order(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    # Connection 2 lags: what it received later happened earlier.
    archived.add(trades("BTCUSD", 7, [_trade(5)]), 1)
    archived.add(trades("BTCUSDT", 3, [[T0 + 2 * MS, "Buy", "1", "1"]], p=True), 2)
    archived.add(book("BTCUSD", 9, T0 + 5 * MS, asks=[[900_010_000, 2]]), 1)  # ts tie: by seq
    archived.add(book("BTCUSDT", 8, T0 + 5 * MS, asks=[["90001", "2"]], p=True), 2)
    archived.add(book("sBTCUSDT", 8, T0 + 5 * MS, asks=[[9_000_100_000_000, 2]]), 3)
    found = items(lake_of(tmp_path, archived))
    assert [(i.symbol, i.ts - T0, i.seq) for i in found] == [
        ("BTCUSDT", 2 * MS, 3), ("BTCUSD", 5 * MS, 7), ("BTCUSDT", 5 * MS, 8),
        ("sBTCUSDT", 5 * MS, 8), ("BTCUSD", 5 * MS, 9)]


def test_a_kline_message_is_placed_at_its_connection_s_exchange_time(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    start = T0 // SECOND
    archived.add(book("BTCUSD", 1, T0, bids=[[1, 1]], kind="snapshot"), 1)
    archived.add(kline("BTCUSD", 2, [[start, 60, 1, 1, 1, 1, 1, 1, 1]], "snapshot"), 1)
    archived.add(book("BTCUSD", 3, T0 + 35 * SECOND, bids=[[2, 1]]), 1)
    bar = [start, 60, 1, 1, 2, 1, 2, 5, 9]
    archived.add(kline("BTCUSD", 4, [bar]), 1)
    archived.add(kline("BTCUSD", 4, [bar]), 2)  # the same version from another connection
    archived.add(kline("BTCUSD", 5, [[start, 60, 1, 1, 3, 1, 3, 6, 9]]), 1)
    found = items(lake_of(tmp_path, archived))
    klines = [i for i in found if i.kind in (KLINE, KLINE_SNAPSHOT)]
    assert [(i.kind, i.symbol, i.ts - T0) for i in klines] == [
        (KLINE_SNAPSHOT, "BTCUSD@60", 0), (KLINE, "BTCUSD@60", 35 * SECOND),
        (KLINE, "BTCUSD@60", 35 * SECOND)]
    assert klines[0].text is None  # a snapshot informs the bars, it is not served


def test_frames_before_from_build_the_state_and_are_not_served(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    archived.add(book("BTCUSD", 1, T0 + MS, bids=[[1, 1]], kind="snapshot"))
    archived.add(trades("BTCUSD", 2, [_trade(2)]))
    start = archived.add(trades("BTCUSD", 3, [_trade(3)]))
    archived.add(trades("BTCUSD", 4, [_trade(4)]))
    found = items(lake_of(tmp_path, archived), from_ns=start)
    assert [(i.kind, i.seq, i.prime) for i in found] == [
        (BOOK_SNAPSHOT, 1, True), (TRADES, 2, True), (TRADES, 3, False), (TRADES, 4, False)]
    assert [i.seq for i in items(tmp_path, from_ns=start, lead_in_s=0)] == [3, 4]


def test_symbols_keep_only_their_frames(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    archived.add(trades("BTCUSD", 1, [_trade(1)]))
    archived.add(trades("sBTCUSDT", 2, [_trade(2)]))
    archived.add(ticker("BTCUSD", T0 + 3 * MS, 1))
    archived.add(ticker("ETHUSD", T0 + 3 * MS, 1))
    archived.add(tick(".BTC", T0 + 4 * MS, 1))
    archived.add(tick(".ETH", T0 + 4 * MS, 1))
    found = items(lake_of(tmp_path, archived), symbols=("BTCUSD",))
    assert [(i.channel, i.symbol) for i in found] == [
        ("trade", "BTCUSD"), ("market24h", "BTCUSD"), ("tick", ".BTC")]


def test_replies_and_undecodable_frames_are_never_served(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    archived.add('{"error":null,"id":1,"result":{"status":"success"}}')
    archived.add('{"error":null,"id":2,"result":"pong"}')
    archived.add('{"error":{"code":6001,"message":"invalid argument"},"id":null,"result":null}')
    archived.add("not json")
    archived.add('{"sequence":1,"symbol":"BTCUSD","type":"incremental","trades":[[1,"Buy","x",1]]}')
    assert items(lake_of(tmp_path, archived)) == []
