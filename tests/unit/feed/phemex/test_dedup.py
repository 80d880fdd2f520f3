"""Snapshot recovery: nothing lost where the snapshot reaches, nothing emitted twice, ever."""

from __future__ import annotations

from collections import Counter

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from ticklake.feed.events import DuplicateMessage, FrameRejected, GapDetected, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, ProtocolConfig, Subscription, default_products
from ticklake.feed.phemex.dedup import SymbolTrades, TradeCursor
from ticklake.feed.phemex.trades import replay_decoder

from .helpers import connect_and_ack, feed, make_protocol, rows_of, trade_msg, trades_of

A = (100, "Buy", 90000_0000, 5)
B = (100, "Sell", 90000_0000, 5)


def newest_first(rows: list[tuple[int, str, int, int]]) -> list[list[object]]:
    return [list(r) for r in reversed(rows)]


def test_resubscribe_snapshot_recovers_missed_trades_without_repeating_seen_ones() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    seen = [(100, "Buy", 1, 1), (101, "Buy", 2, 1), (102, "Sell", 3, 2)]
    feed(protocol, trade_msg("incremental", [list(r) for r in seen], 10))
    protocol.connection_lost()
    missed = [(103, "Buy", 4, 1), (104, "Sell", 5, 1)]
    connect_and_ack(protocol)
    events = feed(protocol, trade_msg("snapshot", newest_first(seen + missed), 20))
    (event,) = events
    assert isinstance(event, TradesReceived)
    assert rows_of(event.trades) == [(103, "buy", 4, 1), (104, "sell", 5, 1)]
    assert event.duplicates_skipped == 3 and all(t.from_snapshot for t in event.trades)


def test_identical_rows_at_the_boundary_are_counted_as_a_multiset() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    feed(protocol, trade_msg("incremental", [list(A), list(A)], 10))  # two identical fills
    protocol.connection_lost()
    connect_and_ack(protocol)
    # The exchange had a third identical fill at the same ns, and one other trade.
    snapshot = newest_first([A, A, A, B])
    trades = trades_of(feed(protocol, trade_msg("snapshot", snapshot, 20)))
    assert Counter(rows_of(trades)) == Counter([(100, "buy", 90000_0000, 5),
                                                (100, "sell", 90000_0000, 5)])


def test_snapshot_that_does_not_reach_back_reports_a_gap_with_bounds() -> None:
    protocol = make_protocol("BTCUSD", config=ProtocolConfig(snapshot_size=3))
    connect_and_ack(protocol)
    feed(protocol, trade_msg("incremental", [[100, "Buy", 1, 1]], 10))
    protocol.connection_lost()
    connect_and_ack(protocol)
    rows = [(200, "Buy", 2, 1), (201, "Buy", 3, 1), (202, "Sell", 4, 1)]
    events = feed(protocol, trade_msg("snapshot", newest_first(rows), 20))
    gaps = [e.gap for e in events if isinstance(e, GapDetected)]
    assert [(g.symbol, g.from_ns, g.to_ns, g.reason) for g in gaps] == [
        ("BTCUSD", 100, 200, "snapshot")
    ]
    assert rows_of(trades_of(events)) == [(200, "buy", 2, 1), (201, "buy", 3, 1),
                                          (202, "sell", 4, 1)]


def test_full_snapshot_starting_exactly_at_the_boundary_reports_a_zero_width_gap() -> None:
    state = SymbolTrades()
    state.advance([(100, "buy", 1, 1)])
    merge = state.merge_snapshot([(101, "buy", 1, 1), (100, "buy", 1, 1)], capacity=2)
    assert merge.gap == (100, 100) and merge.new_rows == [(101, "buy", 1, 1)]


def test_duplicate_incremental_message_is_dropped() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    message = trade_msg("incremental", [[100, "Buy", 1, 1], [100, "Buy", 1, 1]], 10)
    assert len(trades_of(feed(protocol, message))) == 2
    events = feed(protocol, message)
    assert events == [DuplicateMessage("BTCUSD", 10, 2)]


def test_sequence_jump_does_not_lose_anything() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    feed(protocol, trade_msg("incremental", [[100, "Buy", 1, 1]], 10))
    trades = trades_of(feed(protocol, trade_msg("incremental", [[101, "Buy", 1, 1]], 10**12)))
    assert len(trades) == 1


def test_cursor_round_trip_resumes_without_duplicates() -> None:
    first = make_protocol("BTCUSD")
    connect_and_ack(first)
    feed(first, trade_msg("incremental", [list(A), list(A), [99, "Buy", 1, 1]], 10))
    state = msgspec.json.encode(first.trades.saved())  # as persisted beside an offset
    products = default_products()
    decoder = replay_decoder(state, products, 200).trades
    second = PhemexProtocol([Subscription("trade", "BTCUSD")], products,
                            cursors=decoder.cursors())
    connect_and_ack(second)
    trades = trades_of(feed(second, trade_msg("snapshot", newest_first([A, A, A]), 20)))
    assert rows_of(trades) == [(100, "buy", 90000_0000, 5)]


# -- property: a random market, random outages, and the exchange's snapshot rule -----------

row_strategy = st.tuples(st.sampled_from(["Buy", "Sell"]), st.integers(1, 3), st.integers(1, 2))


@st.composite
def market_and_outages(draw: st.DrawFn) -> tuple[list[tuple[int, str, int, int]], list[int]]:
    steps = draw(st.lists(st.tuples(st.integers(0, 2), row_strategy), min_size=1, max_size=120))
    ts, truth = 1000, []
    for dt, (side, price, qty) in steps:
        ts += dt  # dt == 0: several trades at one nanosecond, sometimes identical rows
        truth.append((ts, side, price, qty))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(truth)), max_size=8))))
    return truth, cuts


@settings(max_examples=300, deadline=None)
@given(market_and_outages(), st.integers(1, 12), st.integers(0, 6), st.integers(1, 4),
       st.booleans())
def test_recording_equals_truth_outside_reported_gaps(
    case: tuple[list[tuple[int, str, int, int]], list[int]], capacity: int, outage: int,
    batch: int, replay: bool,
) -> None:
    truth, cuts = case
    protocol = make_protocol("BTCUSD", config=ProtocolConfig(snapshot_size=capacity))
    connect_and_ack(protocol)
    sequence, position, emitted, gaps = 1, 0, [], []

    def deliver(events: list[object]) -> None:
        emitted.extend(rows_of(trades_of(events)))  # type: ignore[arg-type]
        gaps.extend(e.gap for e in events if isinstance(e, GapDetected))

    deliver(feed(protocol, trade_msg("snapshot", [], sequence)))  # nothing traded yet
    for cut in [*cuts, len(truth)]:
        live = truth[position:cut]
        for start in range(0, len(live), batch):  # connected: incrementals of `batch` trades
            rows = [list(row) for row in live[start:start + batch]]
            sequence += 1
            deliver(feed(protocol, trade_msg("incremental", rows, sequence)))
            if replay:  # the server sends the same message again
                deliver(feed(protocol, trade_msg("incremental", rows, sequence)))
        position = cut
        if cut == len(truth):
            break
        protocol.connection_lost()  # trades during the outage are missed...
        position = min(len(truth), position + outage)
        connect_and_ack(protocol)  # ...and the snapshot holds the latest `capacity` trades
        sequence += 1
        snapshot = newest_first(truth[max(0, position - capacity):position])
        deliver(feed(protocol, trade_msg("snapshot", snapshot, sequence)))

    want = Counter((ts, side.lower(), p, q) for ts, side, p, q in truth)
    got = Counter(emitted)
    assert not got - want, "emitted a trade that was not in the truth (a duplicate)"
    for row in want - got:
        assert any(g.from_ns <= row[0] <= g.to_ns for g in gaps), f"lost {row} silently"


def test_incremental_with_the_snapshot_sequence_keeps_its_new_rows() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    feed(protocol, trade_msg("snapshot", [[100, "Buy", 1, 1]], 50))
    # §9.10: the snapshot's sequence may equal the next incremental's; this one adds a fill
    # at the boundary nanosecond and repeats the one the snapshot already had.
    events = feed(protocol, trade_msg("incremental", [[100, "Buy", 1, 1], [100, "Sell", 1, 7]], 50))
    assert rows_of(trades_of(events)) == [(100, "sell", 1, 7)]


def test_a_timestamp_far_in_the_future_is_quarantined_not_trusted() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    (event,) = feed(protocol, trade_msg("incremental", [[2**62, "Buy", 1, 1]], 10))
    assert isinstance(event, FrameRejected) and "future" in event.reason
    feed(protocol, trade_msg("incremental", [[100, "Buy", 1, 1]], 11))
    protocol.connection_lost()
    connect_and_ack(protocol)
    rows = [[101, "Buy", 1, 1], [100, "Buy", 1, 1]]
    assert rows_of(trades_of(feed(protocol, trade_msg("snapshot", rows, 20)))) == [
        (101, "buy", 1, 1)
    ]


def test_a_cursor_saved_with_lowercase_sides_still_matches_the_wire_rows() -> None:
    """Rows keep the wire's "Buy"/"Sell"; cursors saved before that spelled them "buy"/"sell"
    and must still recognise the boundary's rows in the next snapshot."""
    state = SymbolTrades(TradeCursor(100, [(100, "buy", 1, 1), (100, "sell", 2, 1)]))
    merge = state.merge_snapshot([(101, "Buy", 3, 1), (100, "Sell", 2, 1), (100, "Buy", 1, 1)],
                                 capacity=200)
    assert merge.duplicates == 2 and merge.new_rows == [(101, "Buy", 3, 1)]


def test_advancing_over_many_rows_keeps_only_the_newest_timestamp_on_the_boundary() -> None:
    state = SymbolTrades()
    state.advance([(5, "Buy", 1, 1), (7, "Sell", 2, 1), (7, "Sell", 2, 1), (6, "Buy", 3, 1)])
    assert state.last_ts == 7 and state.boundary == Counter({(7, "Sell", 2, 1): 2})
    state.advance([(7, "Buy", 9, 1), (4, "Buy", 1, 1)])
    assert state.boundary == Counter({(7, "Sell", 2, 1): 2, (7, "Buy", 9, 1): 1})
    state.advance([(3, "Buy", 1, 1), (2, "Sell", 1, 1)])  # all older: nothing changes
    assert state.last_ts == 7 and sum(state.boundary.values()) == 3
