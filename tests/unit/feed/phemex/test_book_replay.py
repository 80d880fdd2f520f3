"""Order books rebuilt by a replay of the spool (the lake writer's decoder): the live path's
rules read off the frames — resends, reconnects, an invalid book taking its channel's books
with it — cadence snapshots, trims, and all of it surviving a restart from the saved state."""

from __future__ import annotations

import json

from ticklake.feed.events import (
    BookGap,
    BookInvalid,
    BookSnapshot,
    BookUpdated,
    DuplicateMessage,
    Event,
)
from ticklake.feed.phemex import ProductTable, default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.feed.phemex.trades import ReplayDecoder, replay_decoder

PRODUCTS = default_products()
RECV = 1_800_000_000_000_000_000
S = 1_000_000_000


def frame(kind: str, seq: int, bids: list[list[int]], asks: list[list[int]] | None = None,
          symbol: str = "BTCUSD", ts: int | None = None) -> bytes:
    key = "orderbook_p" if symbol.endswith("USDT") and not symbol.startswith("s") else "book"
    if key == "orderbook_p":
        bids = [[f"{p / 10**4}", f"{q}"] for p, q in bids]  # type: ignore[misc]
        asks = [[f"{p / 10**4}", f"{q}"] for p, q in asks or []]  # type: ignore[misc]
    body = {"asks": asks if asks is not None else [[1010000, 5]], "bids": bids}
    return json.dumps({key: body, "depth": 30, "sequence": seq, "symbol": symbol,
                       "timestamp": ts if ts is not None else seq, "type": kind}).encode()


def kinds(events: list[Event]) -> list[type]:
    return [type(e) for e in events]


def configured(depth: int | None = 30, snapshot_ms: int = 1000) -> ReplayDecoder:
    decoder = replay_decoder(b"", PRODUCTS)
    params = DecodeParams.of(ProductTable(PRODUCTS.listing()), None, depth, snapshot_ms)
    assert decoder.decode(encode_control(params), CONTROL_CONN_ID, RECV) == []
    return decoder


def test_rows_as_received_a_resend_dropped_and_the_state_survives_a_restart() -> None:
    decoder = replay_decoder(b"", PRODUCTS)
    first = decoder.decode(frame("snapshot", 5, [[1000000, 3]]), 1, RECV)
    assert kinds(first) == [BookUpdated, BookSnapshot]
    assert isinstance(first[1], BookSnapshot) and first[1].reason == "subscribe"
    assert first[1].after_message and first[1].bids == [(1000000, 3)]
    assert kinds(decoder.decode(frame("incremental", 6, [[999000, 1]]), 1, RECV)) == [BookUpdated]
    assert decoder.decode(frame("incremental", 6, [[999000, 1]]), 1, RECV) == [
        DuplicateMessage("BTCUSD", 6, 2)]
    periodic = decoder.decode(frame("snapshot", 6, [[1000000, 3], [999000, 1]]), 1, RECV)
    assert kinds(periodic) == [BookUpdated]  # the same sequence, the same book: a check passed
    again = replay_decoder(decoder.state(), PRODUCTS)  # a restarted writer
    assert again.decode(frame("incremental", 6, [[999000, 1]]), 1, RECV) == [
        DuplicateMessage("BTCUSD", 6, 2)]
    (updated,) = again.decode(frame("incremental", 7, [[999000, 0]]), 1, RECV)
    assert isinstance(updated, BookUpdated)


def test_a_frame_from_a_new_connection_means_a_reconnect_and_leaves_a_gap() -> None:
    decoder = replay_decoder(b"", PRODUCTS)
    decoder.decode(frame("snapshot", 5, [[1000000, 3]], ts=10 * S), 1, RECV)
    decoder.decode(frame("incremental", 6, [[999000, 1]], ts=11 * S), 1, RECV)
    # The new connection's incremental before its snapshot: nothing to apply it to.
    assert decoder.decode(frame("incremental", 9, [[998000, 1]], ts=14 * S), 2, RECV) == []
    events = decoder.decode(frame("snapshot", 9, [[1000000, 2]], ts=15 * S), 2, RECV)
    assert kinds(events) == [BookGap, BookUpdated, BookSnapshot]
    gap = events[0]
    assert isinstance(gap, BookGap) and (gap.from_ns, gap.to_ns) == (11 * S, 15 * S)
    assert "resubscribed" in gap.reason


def test_an_invalid_book_takes_its_channels_books_on_that_connection_with_it() -> None:
    decoder = replay_decoder(b"", PRODUCTS)
    decoder.decode(frame("snapshot", 5, [[1000000, 3]], ts=10 * S), 1, RECV)
    decoder.decode(frame("snapshot", 5, [[1000000, 3]], symbol="ETHUSD", ts=10 * S), 1, RECV)
    decoder.decode(frame("snapshot", 5, [[1000000, 3]], symbol="BTCUSDT", ts=10 * S), 1, RECV)
    crossed = decoder.decode(frame("incremental", 6, [[1020000, 1]], ts=12 * S), 1, RECV)
    # The cadence snapshot of 12 s holds the book before the crossing message.
    assert kinds(crossed) == [BookSnapshot, BookUpdated, BookInvalid]
    assert "crossed" in crossed[2].reason  # type: ignore[attr-defined]
    # The live session unsubscribed `orderbook` on that connection: ETHUSD waits too ...
    assert decoder.decode(frame("incremental", 7, [[999000, 1]], symbol="ETHUSD"), 1, RECV) == []
    # ... while the USDⓈ-M book (`orderbook_p`) goes on.
    usdt = decoder.decode(frame("incremental", 7, [[999000, 1]], symbol="BTCUSDT"), 1, RECV)
    assert kinds(usdt) == [BookUpdated]
    # A restart in the middle keeps the open gap; the next snapshot closes it.
    again = replay_decoder(decoder.state(), PRODUCTS)
    events = again.decode(frame("snapshot", 9, [[1000000, 2]], ts=20 * S), 1, RECV)
    assert kinds(events) == [BookGap, BookUpdated, BookSnapshot]
    gap = events[0]
    assert isinstance(gap, BookGap) and (gap.from_ns, gap.to_ns) == (10 * S, 20 * S)


def test_cadence_snapshots_hold_the_book_before_the_first_message_past_each_instant() -> None:
    decoder = configured(snapshot_ms=1000)
    decoder.decode(frame("snapshot", 5, [[1000000, 3]], ts=10 * S + S // 2), 1, RECV)
    decoder.decode(frame("incremental", 6, [[999000, 1]], ts=10 * S + 7 * S // 10), 1, RECV)
    events = decoder.decode(frame("incremental", 7, [[999000, 0]], ts=12 * S + S // 3), 1, RECV)
    assert kinds(events) == [BookSnapshot, BookUpdated]
    cadence = events[0]
    assert isinstance(cadence, BookSnapshot) and cadence.reason == "cadence"
    assert cadence.ts_ns == 12 * S and not cadence.after_message and cadence.sequence == 6
    assert cadence.bids == [(1000000, 3), (999000, 1)]
    # The next message in the same second: none.
    assert kinds(decoder.decode(frame("incremental", 8, [[998000, 1]], ts=12 * S + S // 2),
                                1, RECV)) == [BookUpdated]
    assert BookSnapshot not in kinds(
        configured(snapshot_ms=0).decode(frame("snapshot", 5, [[1000000, 3]]), 1, RECV))


def test_levels_leaving_the_subscribed_depth_are_trimmed_rows_only_at_depth_30() -> None:
    bids = [[1000000 - 500 * i, 1] for i in range(30)]
    for depth, trimmed in ((30, [1000000 - 500 * 29]), (None, [])):
        decoder = configured(depth=depth)
        decoder.decode(frame("snapshot", 5, bids), 1, RECV)
        (updated,) = decoder.decode(frame("incremental", 6, [[1000100, 2]]), 1, RECV)
        assert isinstance(updated, BookUpdated) and updated.trimmed_bids == trimmed


def test_a_message_stamped_on_a_cadence_instant_still_gets_that_instants_snapshot() -> None:
    decoder = configured(snapshot_ms=1000)
    decoder.decode(frame("snapshot", 5, [[1000000, 3]], ts=10 * S), 1, RECV)
    decoder.decode(frame("incremental", 6, [[999000, 1]], ts=11 * S), 1, RECV)
    events = decoder.decode(frame("incremental", 7, [[998000, 1]], ts=12 * S), 1, RECV)
    cadence = events[0]
    assert isinstance(cadence, BookSnapshot) and cadence.ts_ns == 11 * S
    assert cadence.bids == [(1000000, 3), (999000, 1)]  # the book at 11 s holds its message
