"""Nothing assumes the snapshot holds 200 trades (1,000 until May 2022, §4), and a decoder's
state carries what a spool's control record told it."""

from __future__ import annotations

import json

import msgspec

from ticklake.feed.events import FrameRejected, TradesReceived
from ticklake.feed.phemex import Family, Product, ProductTable, default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.feed.phemex.dedup import MIN_SNAPSHOT_CAPACITY, SymbolTrades, TradeCursor
from ticklake.feed.phemex.normalize import Row
from ticklake.feed.phemex.trades import replay_decoder

WALL = 1_800_000_000 * 10**9


def rows(first_ts: int, count: int) -> list[Row]:
    """``count`` trades from ``first_ts`` on, newest first (as a snapshot lists them)."""
    return [(first_ts + i, "Buy", 100 + i, 1) for i in reversed(range(count))]


def test_a_1000_trade_snapshot_teaches_the_capacity() -> None:
    state = SymbolTrades()
    state.merge_snapshot(rows(1_000, 1_000))  # 2021: the first snapshot is full
    state.advance([(5_000, "Buy", 1, 1)])
    # A resubscribe snapshot of 600 rows, none seen: shorter than 1,000, so it is all of them.
    assert state.merge_snapshot(rows(6_000, 600)).gap is None
    # A full one (1,000 rows) that does not reach back: trades between may be lost.
    state.advance([(9_000, "Buy", 1, 1)])
    assert state.merge_snapshot(rows(10_000, 1_000)).gap == (9_000, 10_000)


def test_a_snapshot_shorter_than_any_capacity_phemex_used_is_complete() -> None:
    state = SymbolTrades()
    state.merge_snapshot([])  # a quiet symbol: nothing learned
    state.advance([(100, "Buy", 1, 1)])
    assert state.merge_snapshot(rows(200, MIN_SNAPSHOT_CAPACITY - 1)).gap is None
    state.advance([(10_000, "Buy", 1, 1)])
    assert state.merge_snapshot(rows(20_000, MIN_SNAPSHOT_CAPACITY)).gap == (10_000, 20_000)


def test_a_pinned_capacity_wins_and_the_learned_one_survives_a_cursor() -> None:
    state = SymbolTrades()
    state.merge_snapshot(rows(0, 1_000))
    state.advance([(5_000, "Buy", 1, 1)])
    assert state.merge_snapshot(rows(6_000, 20), capacity=20).gap == (5_000, 6_000)
    cursor = msgspec.json.decode(msgspec.json.encode(state.cursor()), type=TradeCursor)
    assert cursor.largest_snapshot == 1_000
    restored = SymbolTrades(cursor)
    restored.advance([(7_000, "Buy", 1, 1)])
    assert restored.merge_snapshot(rows(8_000, 999)).gap is None
    old = msgspec.json.decode(b'{"last_ts_ns": 5, "boundary": []}', type=TradeCursor)
    assert old.largest_snapshot == 0  # cursors saved before this field still load


EXTRA = Product("Z001USD", Family.COIN_M, 4, 0)


def frame(symbol: str, ts: int) -> bytes:
    return json.dumps({"sequence": ts, "symbol": symbol, "type": "incremental",
                       "trades": [[ts, "Sell", 123_4567, 3]]}).encode()


def test_the_decoder_state_keeps_the_control_records_products() -> None:
    decoder = replay_decoder(b"", default_products())
    params = DecodeParams.of(ProductTable([EXTRA], source="test"), None)
    assert decoder.decode(encode_control(params), CONTROL_CONN_ID, WALL) == []
    (event,) = decoder.decode(frame("Z001USD", WALL), 7, WALL)
    assert isinstance(event, TradesReceived) and event.price_scale == 4
    # Restarted from the saved state, past the control record: Z001USD still decodes.
    restarted = replay_decoder(decoder.state(), default_products())
    (again,) = restarted.decode(frame("Z001USD", WALL + 1), 7, WALL + 1)
    assert isinstance(again, TradesReceived) and again.trades[0].price_text == "123.4567"
    # A decoder never told about it rejects it: never a guess.
    (unknown,) = replay_decoder(b"", default_products()).decode(frame("Z001USD", WALL), 7, WALL)
    assert isinstance(unknown, FrameRejected) and "unknown symbol" in unknown.reason


def test_a_topics_folded_connection_id_still_marks_a_control_record() -> None:
    decoder = replay_decoder(b"", default_products())
    params = encode_control(DecodeParams.of(ProductTable([EXTRA]), None))
    assert decoder.decode(params, (3 << 32) | CONTROL_CONN_ID, WALL) == []
    assert isinstance(decoder.decode(frame("Z001USD", WALL), 7, WALL)[0], TradesReceived)


def test_state_saved_before_control_records_existed_still_loads() -> None:
    old = b'{"BTCUSD": {"last_ts_ns": 100, "boundary": [[100, "Buy", 1, 1]]}}'
    decoder = replay_decoder(old, default_products()).trades
    assert decoder.cursors()["BTCUSD"].last_ts_ns == 100 and decoder.params is None
