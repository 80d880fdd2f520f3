"""Order books, sans-I/O: exact parsing of every payload shape, and a book that is replaced by
snapshots, updated by incrementals, trimmed to its depth and never served wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ticklake.feed.events import (
    BookGap,
    BookInvalid,
    BookUpdated,
    BookWaiting,
    DuplicateMessage,
    FrameRejected,
)
from ticklake.feed.phemex import PhemexProtocol, Subscription, default_products
from ticklake.feed.phemex.book import BookLevels, SymbolBook, decode_book

from .helpers import connect_and_ack, feed, sent

FIXTURES = Path(__file__).parents[3] / "fixtures" / "phemex"
PRODUCTS = default_products()
BTCUSD, BTCUSDT, SPOT = (PRODUCTS.require(s) for s in ("BTCUSD", "BTCUSDT", "sBTCUSDT"))
RECV = 1_800_000_000_000_000_000


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text().strip()


def snapshot(seq: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]],
             ts: int | None = None) -> BookLevels:
    return BookLevels("BTCUSD", True, seq, ts if ts is not None else seq, bids, asks)


def incremental(seq: int, bids: list[tuple[int, int]] = (),  # type: ignore[assignment]
                asks: list[tuple[int, int]] = (),  # type: ignore[assignment]
                ts: int | None = None) -> BookLevels:
    return BookLevels("BTCUSD", False, seq, ts if ts is not None else seq, list(bids),
                      list(asks))


# -- parsing -----------------------------------------------------------------------------


def test_a_coin_m_snapshot_keeps_the_wires_scaled_integers() -> None:
    levels = decode_book(fixture("in_book_capture_2025.json"), BTCUSD, RECV)
    assert isinstance(levels, BookLevels)
    assert (levels.snapshot, levels.sequence, levels.ts_ns) == (
        True, 20256544456, 1759032884308731357)
    assert levels.bids == [(1094472000, 190034), (1094471000, 804)]
    assert levels.asks == [(1094473000, 1307083), (1094528000, 1806)]


def test_a_usd_m_incremental_is_scaled_exactly_from_its_decimal_strings() -> None:
    levels = decode_book(fixture("in_orderbook_p_incremental_doc.json"), BTCUSDT, RECV)
    assert isinstance(levels, BookLevels)
    assert levels.asks == [(2070290000000, 71800000)]  # 20702.9 and 0.718 at scale 8
    assert levels.bids == [(2070050000000, 0)]  # qty 0: a delete
    assert not levels.snapshot


def test_a_message_without_timestamp_is_stamped_with_its_receive_time() -> None:
    levels = decode_book(fixture("in_book_incremental_doc.json"), BTCUSD, RECV)
    assert isinstance(levels, BookLevels)
    assert (levels.ts_ns, levels.asks, levels.bids) == (RECV, [(86775000, 4621)], [])


def test_a_timestamp_sent_as_digits_is_read_as_its_number() -> None:
    text = json.dumps({"book": {"asks": [], "bids": [[1, 2]]}, "sequence": 3,
                       "symbol": "BTCUSD", "timestamp": "1759032884308731357", "type": "snapshot"})
    levels = decode_book(text, BTCUSD, RECV)
    assert isinstance(levels, BookLevels) and levels.ts_ns == 1759032884308731357


def test_spot_books_are_scaled_integers_too() -> None:
    text = json.dumps({"book": {"asks": [[9000012000000, 150000]], "bids": []}, "depth": 30,
                       "sequence": 7, "symbol": "sBTCUSDT", "timestamp": 5, "type": "snapshot"})
    levels = decode_book(text, SPOT, RECV)
    assert isinstance(levels, BookLevels) and levels.asks == [(9000012000000, 150000)]


def test_unreadable_book_messages_are_rejected_with_their_reason() -> None:
    cases: dict[str, Any] = {
        "more decimals than the product's scale": {
            "orderbook_p": {"asks": [["1.123456789", "1"]], "bids": []}},
        "neither key": {},
        "both keys": {"book": {"asks": [], "bids": []}, "orderbook_p": {"asks": [], "bids": []}},
        "a negative price": {"book": {"asks": [[-1, 5]], "bids": []}},
        "three numbers in a level": {"book": {"asks": [[1, 5, 6]], "bids": []}},
        "a timestamp that is not a number": {"book": {"asks": [], "bids": []},
                                             "timestamp": "soon"},
    }
    for case, body in cases.items():
        text = json.dumps({"symbol": "BTCUSDT", "type": "incremental", "sequence": 1, **body})
        rejected = decode_book(text, BTCUSDT, RECV)
        assert isinstance(rejected, FrameRejected), case
        assert rejected.reason.startswith("order book message:") and rejected.frame == text


# -- the book ----------------------------------------------------------------------------


def test_incrementals_insert_replace_and_delete_and_unknown_deletes_are_harmless() -> None:
    book = SymbolBook(BTCUSD, depth=None)
    book.apply(snapshot(10, [(100, 1), (99, 2)], [(101, 3), (102, 4)]), RECV)
    events = book.apply(incremental(11, bids=[(100, 5), (98, 1), (97, 0)],
                                    asks=[(101, 0)]), RECV)
    assert [type(e) for e in events] == [BookUpdated]
    assert book.top() == ([(100, 5), (99, 2), (98, 1)], [(102, 4)])


def test_each_side_is_trimmed_to_the_subscribed_depth() -> None:
    book = SymbolBook(BTCUSD, depth=2)
    book.apply(snapshot(1, [(100, 1), (99, 1), (98, 1)], [(102, 1), (103, 1)]), RECV)
    assert book.top() == ([(100, 1), (99, 1)], [(102, 1), (103, 1)])
    book.apply(incremental(2, asks=[(101, 1)]), RECV)  # a better ask pushes 103 out
    assert book.top() == ([(100, 1), (99, 1)], [(101, 1), (102, 1)])
    book.apply(incremental(3, asks=[(101, 0)]), RECV)  # 103 is not updated until it returns
    assert book.top() == ([(100, 1), (99, 1)], [(102, 1)])
    book.apply(incremental(4, asks=[(103, 7)]), RECV)  # ... which the exchange sends next
    assert book.top() == ([(100, 1), (99, 1)], [(102, 1), (103, 7)])


def test_a_periodic_snapshot_that_agrees_moves_the_verified_instant() -> None:
    book = SymbolBook(BTCUSD)
    book.apply(snapshot(1, [(100, 1)], [(101, 1)], ts=1_000), RECV)
    book.apply(incremental(2, bids=[(99, 4)], ts=2_000), RECV)
    events = book.apply(snapshot(2, [(100, 1), (99, 4)], [(101, 1)], ts=2_000), RECV)
    assert [type(e) for e in events] == [BookUpdated]  # the same sequence again: normal
    assert book.good_since_ns == 2_000


def test_a_periodic_snapshot_that_disagrees_records_a_gap_and_replaces_the_book() -> None:
    book = SymbolBook(BTCUSD)
    book.apply(snapshot(1, [(100, 1)], [(101, 1)], ts=1_000), RECV)
    book.apply(incremental(2, bids=[(99, 4)], ts=2_000), RECV)  # an update was lost after it
    events = book.apply(snapshot(5, [(100, 1), (99, 3)], [(101, 1), (103, 2)], ts=5_000), RECV)
    gap, updated = events
    assert gap == BookGap("BTCUSD", 1_000, 5_000, "snapshot 5 differs from the book built "
                          "from incrementals in 2 levels")
    assert isinstance(updated, BookUpdated) and updated.snapshot
    assert book.top() == ([(100, 1), (99, 3)], [(101, 1), (103, 2)])


def test_a_stale_snapshot_is_ignored() -> None:
    book = SymbolBook(BTCUSD)
    book.apply(snapshot(5, [(100, 1)], [(101, 1)]), RECV)
    book.apply(incremental(7, bids=[(99, 2)]), RECV)
    assert book.apply(snapshot(6, [(100, 9)], [(101, 9)]), RECV) == []
    assert book.stale_snapshots == 1 and book.top() == ([(100, 1), (99, 2)], [(101, 1)])


def test_a_resent_incremental_is_dropped() -> None:
    book = SymbolBook(BTCUSD)
    book.apply(snapshot(5, [(100, 1)], [(101, 1)]), RECV)
    book.apply(incremental(6, bids=[(99, 2)]), RECV)
    events = book.apply(incremental(6, bids=[(99, 2)]), RECV)
    assert events == [DuplicateMessage("BTCUSD", 6, 1)]


def test_a_backwards_sequence_invalidates_until_the_next_snapshot_and_leaves_a_gap() -> None:
    book = SymbolBook(BTCUSD)
    book.apply(snapshot(5, [(100, 1)], [(101, 1)], ts=500), RECV)
    events = book.apply(incremental(4, bids=[(99, 2)], ts=600), RECV)
    assert events == [BookInvalid("BTCUSD", 4, 600, "sequence went backwards: 4 after 5")]
    assert book.top() is None  # never served while it cannot be trusted
    assert book.apply(incremental(8, bids=[(98, 1)], ts=800), RECV) == []
    assert book.apply(snapshot(7, [(100, 1)], [(101, 1)], ts=700), RECV) == []  # stale
    events = book.apply(snapshot(9, [(100, 2)], [(101, 1)], ts=900), RECV)
    assert events[0] == BookGap("BTCUSD", 500, 900, "sequence went backwards: 4 after 5")
    assert book.top() == ([(100, 2)], [(101, 1)])


def test_a_crossed_book_is_invalid() -> None:
    book = SymbolBook(BTCUSD)
    book.apply(snapshot(5, [(100, 1)], [(101, 1)], ts=500), RECV)
    events = book.apply(incremental(6, bids=[(101, 1)], ts=600), RECV)
    assert isinstance(events[0], BookUpdated)  # recorded as received all the same
    assert events[1] == BookInvalid("BTCUSD", 6, 600, "crossed book: bid 101 >= ask 101")
    assert not book.live


def test_incrementals_before_the_first_snapshot_are_not_applied() -> None:
    book = SymbolBook(BTCUSD)
    assert book.apply(incremental(3, bids=[(99, 2)]), RECV) == []
    assert book.top() is None
    events = book.apply(snapshot(4, [(100, 1)], [(101, 1)]), RECV)
    assert [type(e) for e in events] == [BookUpdated]  # a first snapshot leaves no gap


def test_a_resubscribe_leaves_a_gap_from_the_last_message_to_its_snapshot() -> None:
    book = SymbolBook(BTCUSD)
    book.apply(snapshot(5, [(100, 1)], [(101, 1)], ts=500), RECV)
    book.apply(incremental(6, bids=[(99, 1)], ts=600), RECV)
    book.reconnected()
    assert book.top() is None
    events = book.apply(snapshot(3, [(100, 1)], [(101, 1)], ts=900), RECV)  # a new session
    assert events[0] == BookGap("BTCUSD", 600, 900,
                                "resubscribed: the book was not followed meanwhile")


# -- against an independent model ------------------------------------------------------------

_PRICE = st.integers(1, 60)
_CHANGE = st.tuples(_PRICE, st.integers(0, 5))


@settings(max_examples=200, deadline=None)
@given(bids=st.lists(_CHANGE, max_size=12), asks=st.lists(_CHANGE, max_size=12),
       steps=st.lists(st.tuples(st.lists(_CHANGE, max_size=4), st.lists(_CHANGE, max_size=4)),
                      max_size=40),
       depth=st.sampled_from([None, 1, 3, 30]))
def test_the_book_is_the_model_trimmed_to_depth(
        bids: list[tuple[int, int]], asks: list[tuple[int, int]],
        steps: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]],
        depth: int | None) -> None:
    """Bids below 100, asks from 100 (never crossed): a plain dict applied and sorted after
    each message, cut at the depth, is what the book serves."""
    book = SymbolBook(BTCUSD, depth)

    def bid_side(levels: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(100 - p, q) for p, q in levels]

    def ask_side(levels: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(100 + p, q) for p, q in levels]

    model_bids = {p: q for p, q in bid_side(bids) if q}
    model_asks = {p: q for p, q in ask_side(asks) if q}

    def cut(side: dict[int, int], reverse: bool) -> dict[int, int]:
        return dict(sorted(side.items(), reverse=reverse)[:depth])

    model_bids, model_asks = cut(model_bids, True), cut(model_asks, False)
    book.apply(snapshot(1, bid_side(bids), ask_side(asks)), RECV)
    for seq, (b, a) in enumerate(steps, start=2):
        book.apply(incremental(seq, bid_side(b), ask_side(a)), RECV)
        for side, changes in ((model_bids, bid_side(b)), (model_asks, ask_side(a))):
            for price, qty in changes:
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        model_bids, model_asks = cut(model_bids, True), cut(model_asks, False)
        assert book.top() == (list(model_bids.items()), list(model_asks.items()))


# -- through the protocol ------------------------------------------------------------------


def _book_protocol(*subs: Subscription) -> PhemexProtocol:
    protocol = PhemexProtocol(list(subs), PRODUCTS)
    connect_and_ack(protocol)
    return protocol


def _push(protocol: PhemexProtocol, body: dict[str, Any], now: int = 0) -> list[Any]:
    return feed(protocol, body, now)


def test_book_subscriptions_name_the_channel_and_depth_of_each_family() -> None:
    protocol = PhemexProtocol([Subscription.book(BTCUSD), Subscription.book(BTCUSDT, None),
                               Subscription.book(SPOT)], PRODUCTS)
    protocol.connection_made(0)
    assert [(r["method"], r["params"]) for r in sent(protocol)] == [
        ("orderbook.subscribe", ["BTCUSD"]), ("orderbook_p.subscribe", ["BTCUSDT", True]),
        ("orderbook.subscribe", ["sBTCUSDT"])]


def test_book_frames_become_book_events_and_a_bad_one_is_rejected() -> None:
    protocol = _book_protocol(Subscription.book(BTCUSD))
    snap = {"book": {"asks": [[1010000, 5]], "bids": [[1000000, 3]]}, "depth": 30,
            "sequence": 10, "symbol": "BTCUSD", "timestamp": 100, "type": "snapshot"}
    (updated,) = _push(protocol, snap)
    assert isinstance(updated, BookUpdated) and updated.snapshot and updated.bids == [(1000000, 3)]
    assert protocol.books.books["BTCUSD"].top() == ([(1000000, 3)], [(1010000, 5)])
    (rejected,) = _push(protocol, {**snap, "book": {"asks": [["x", 1]], "bids": []}})
    assert isinstance(rejected, FrameRejected)
    other = {**snap, "symbol": "ETHUSD"}  # not followed: its raw frame is all that is kept
    assert _push(protocol, other) == []


def test_an_invalid_book_is_taken_again_by_unsubscribing_and_subscribing_its_channel() -> None:
    protocol = _book_protocol(Subscription.book(BTCUSD), Subscription.book(SPOT),
                              Subscription.trades(BTCUSD))
    snap = {"book": {"asks": [[1010000, 5]], "bids": [[1000000, 3]]}, "depth": 30,
            "sequence": 10, "symbol": "BTCUSD", "timestamp": 100, "type": "snapshot"}
    _push(protocol, snap)
    _push(protocol, {**snap, "symbol": "sBTCUSDT"})
    crossing = {**snap, "type": "incremental", "sequence": 11, "timestamp": 110,
                "book": {"asks": [], "bids": [[1020000, 1]]}}
    events = _push(protocol, crossing)
    # The crossed book waits; the spot book, dropped with its channel, says it waits too.
    assert [type(e) for e in events] == [BookUpdated, BookInvalid, BookWaiting]
    assert events[2] == BookWaiting("sBTCUSDT", "orderbook resubscribed")
    assert [(r["method"], r["params"]) for r in sent(protocol)] == [
        ("orderbook.unsubscribe", []),  # drops every book of the channel on the connection
        ("orderbook.subscribe", ["BTCUSD"]), ("orderbook.subscribe", ["sBTCUSDT"])]
    fresh = {**snap, "sequence": 20, "timestamp": 200}
    gap, _ = _push(protocol, fresh)
    assert gap == BookGap("BTCUSD", 100, 200, "crossed book: bid 1020000 >= ask 1010000")
    assert protocol.books.books["BTCUSD"].live


def test_a_reconnect_takes_every_book_again_and_records_the_gap() -> None:
    protocol = _book_protocol(Subscription.book(BTCUSD))
    snap = {"book": {"asks": [[1010000, 5]], "bids": [[1000000, 3]]}, "depth": 30,
            "sequence": 10, "symbol": "BTCUSD", "timestamp": 100, "type": "snapshot"}
    _push(protocol, snap)
    protocol.connection_lost()
    protocol.connection_made(5)
    assert [r["params"] for r in sent(protocol)] == [["BTCUSD"]]
    assert protocol.books.books["BTCUSD"].top() is None
    assert protocol.events_received() == [BookWaiting("BTCUSD", "a new connection")]
    gap, _ = _push(protocol, {**snap, "sequence": 3, "timestamp": 300})
    assert gap == BookGap("BTCUSD", 100, 300, "resubscribed: the book was not followed meanwhile")


def test_unsubscribing_one_book_keeps_the_others_of_its_channel() -> None:
    protocol = _book_protocol(Subscription.book(BTCUSD), Subscription.book(SPOT))
    protocol.unsubscribe(Subscription.book(BTCUSD), 0)
    assert [(r["method"], r["params"]) for r in sent(protocol)] == [
        ("orderbook.unsubscribe", []), ("orderbook.subscribe", ["sBTCUSDT"])]
    assert set(protocol.books.books) == {"sBTCUSDT"}
