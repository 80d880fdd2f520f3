"""Trade messages: exact decoding of the reference's samples and real captures (§4, §5)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ticklake.feed.events import FrameRejected, GapDetected, TradesReceived
from ticklake.feed.phemex import (
    Family,
    PhemexProtocol,
    Product,
    ProductTable,
    Subscription,
    default_products,
)

from .helpers import WALL, connect_and_ack, feed, make_protocol, rows_of, trades_of

FIXTURES = Path(__file__).parents[3] / "fixtures" / "phemex"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_coin_m_snapshot_is_emitted_oldest_first_with_exact_prices() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    (event,) = feed(protocol, fixture("in_trade_snapshot_doc.json"), 50)
    assert isinstance(event, TradesReceived) and event.snapshot
    assert [(t.ts_exchange_ns, t.side, t.price, t.qty) for t in event.trades] == [
        (1573716995033683000, "buy", Decimal("8673.5"), Decimal(52)),
        (1573716998128563500, "buy", Decimal("8673.5"), Decimal(56)),
    ]
    first = event.trades[0]
    assert (first.exchange, first.symbol, first.sequence, first.from_snapshot) == (
        "phemex", "BTCUSD", 1167852, True,
    )
    assert first.ts_recv_ns == WALL + 50


def test_real_capture_keeps_identical_rows_and_full_nanosecond_precision() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    trades = trades_of(feed(protocol, fixture("in_trade_snapshot_capture_2025.json")))
    assert rows_of(trades) == [
        (1758950929672637218, "buy", 1095929000, 201),
        (1758950929672637218, "buy", 1095929000, 201),
        (1758962421019961472, "sell", 1093110000, 1),
        (1758962421019961472, "sell", 1093078000, 1),
    ]
    assert trades[0].ts_exchange_ns > 2**53  # never went through a float
    assert trades[3].price == Decimal("109307.8")


def test_incremental_after_snapshot_is_emitted_as_live() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    feed(protocol, fixture("in_trade_snapshot_doc.json"))
    (event,) = feed(protocol, fixture("in_trade_incremental_doc.json"))
    assert isinstance(event, TradesReceived) and not event.snapshot
    assert rows_of(event.trades) == [(1573717116484024300, "buy", 86730000, 21)]


def test_usd_m_decimal_strings_become_exact_scaled_integers() -> None:
    protocol = make_protocol("BTCUSDT")
    connect_and_ack(protocol)
    snapshot = trades_of(feed(protocol, fixture("in_trade_p_snapshot_doc.json")))
    live = trades_of(feed(protocol, fixture("in_trade_p_incremental_doc.json")))
    assert [(t.price, t.qty) for t in snapshot + live] == [
        (Decimal("20699"), Decimal("0.001")),
        (Decimal("20703.6"), Decimal("0.669")),
        (Decimal("20700.3"), Decimal("0.649")),
    ]
    assert snapshot[0].price_e == 2069900000000 and snapshot[0].price_scale == 8


def test_unknown_top_level_keys_are_ignored_in_a_real_capture() -> None:
    products = default_products().merged(
        ProductTable([Product("APTUSDT", Family.USD_M, price_scale=8, qty_scale=8)])
    )
    protocol = PhemexProtocol([Subscription("trade_p", "APTUSDT")], products)
    connect_and_ack(protocol)
    trades = trades_of(feed(protocol, fixture("in_trade_p_incremental_capture_2025.json")))
    assert [(t.price, t.qty) for t in trades] == [
        (Decimal("2.008"), Decimal("247.7")),
        (Decimal("2.008"), Decimal("266.1")),
    ]


def test_spot_prices_and_quantities_use_their_own_scales() -> None:
    protocol = make_protocol("sBTCUSDT")
    connect_and_ack(protocol)
    (trade,) = trades_of(feed(protocol, fixture("in_spot_snapshot_doc.json")))
    assert (trade.price, trade.qty) == (Decimal("8673.5"), Decimal("0.0056"))


def test_order_book_pushes_are_not_rejected_and_produce_no_trades() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    assert feed(protocol, fixture("in_book_capture_2025.json")) == []


def test_malformed_frames_become_rejections_with_a_reason() -> None:
    protocol = make_protocol("BTCUSD", "BTCUSDT")
    connect_and_ack(protocol)
    bad = [
        "not json",
        "[1, 2, 3]",
        "{}",
        '{"sequence":1,"symbol":"BTCUSD","type":"incremental","trades":[[1,"Buy",2]]}',
        '{"sequence":1,"symbol":"BTCUSD","type":"incremental","trades":[["1","Buy",2,3]]}',
        '{"sequence":1,"symbol":"BTCUSD","type":"incremental","trades":[[1.5e18,"Buy",2,3]]}',
        '{"sequence":1,"symbol":"BTCUSD","type":"incremental","trades":[[1,"bid",2,3]]}',
        '{"sequence":1,"symbol":"BTCUSD","type":"incremental","trades":[[-1,"Buy",2,3]]}',
        '{"sequence":1,"symbol":"BTCUSD","type":"update","trades":[[1,"Buy",2,3]]}',
        '{"symbol":"BTCUSD","type":"incremental","trades":[[1,"Buy",2,3]]}',
        '{"sequence":1,"symbol":"NOPE","type":"incremental","trades":[[1,"Buy",2,3]]}',
        '{"sequence":1,"symbol":"BTCUSDT","type":"incremental","trades_p":[[1,"Buy","1e3","1"]]}',
        '{"sequence":1,"symbol":"BTCUSDT","type":"incremental","trades_p":[[1,"Buy","1","0.123456789"]]}',
    ]
    for text in bad:
        events = feed(protocol, text)
        assert len(events) == 1, text
        assert isinstance(events[0], FrameRejected), text
        assert events[0].reason and events[0].frame == text


def test_first_snapshot_reports_no_gap() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    events = feed(protocol, fixture("in_trade_snapshot_capture_2025.json"))
    assert not [e for e in events if isinstance(e, GapDetected)]
