"""Requests, acks, errors and the heartbeat schedule of the sans-I/O core (reference §2, §3)."""

from __future__ import annotations

import json

from ticklake.feed.events import (
    ConnectionStale,
    FrameRejected,
    Pong,
    Subscribed,
    SubscribeFailed,
    SubscriptionAbandoned,
)
from ticklake.feed.phemex import ProtocolConfig, Subscription

from .helpers import S, connect_and_ack, feed, make_protocol, sent


def test_connection_sends_one_subscribe_per_symbol_on_the_family_channel() -> None:
    protocol = make_protocol("BTCUSD", "BTCUSDT", "sBTCUSDT")
    protocol.connection_made(0)
    requests = sent(protocol)
    assert [(r["method"], r["params"]) for r in requests] == [
        ("trade.subscribe", ["BTCUSD"]),
        ("trade_p.subscribe", ["BTCUSDT"]),
        ("trade.subscribe", ["sBTCUSDT"]),
    ]
    assert len({r["id"] for r in requests}) == 3
    assert all(isinstance(r["id"], int) for r in requests)


def test_ack_with_the_request_id_activates_the_subscription() -> None:
    events = connect_and_ack(make_protocol("BTCUSD"))
    assert events == [Subscribed("trade", "BTCUSD")]


def test_error_reply_to_subscribe_is_a_named_failure_and_is_retried_with_backoff() -> None:
    config = ProtocolConfig(subscribe_retry_ns=1 * S, max_subscribe_attempts=3)
    protocol = make_protocol("BTCUSD", config=config)
    protocol.connection_made(0)
    (request,) = sent(protocol)
    error = {"error": {"code": 6001, "message": "invalid argument"}, "id": request["id"],
             "result": None}
    assert feed(protocol, error, 0) == [
        SubscribeFailed("trade", "BTCUSD", 6001, "invalid argument", 1)
    ]
    assert protocol.next_deadline() == 1 * S
    protocol.handle_timer(1 * S)
    (retry,) = [r for r in sent(protocol) if r["method"] == "trade.subscribe"]
    assert retry["id"] != request["id"]
    error["id"] = retry["id"]
    feed(protocol, error, 1 * S)
    assert protocol.next_deadline() == 3 * S  # doubled
    protocol.handle_timer(3 * S)
    (third,) = [r for r in sent(protocol) if r["method"] == "trade.subscribe"]
    error["id"] = third["id"]
    assert feed(protocol, error, 3 * S) == [
        SubscriptionAbandoned("trade", "BTCUSD", 6001, "invalid argument", 3)
    ]


def test_server_ping_every_interval_and_pong_reports_round_trip() -> None:
    protocol = make_protocol()
    connect_and_ack(protocol)
    assert protocol.next_deadline() == 5 * S
    protocol.handle_timer(5 * S - 1)
    assert sent(protocol) == []
    protocol.handle_timer(5 * S)
    (ping,) = sent(protocol)
    assert ping["method"] == "server.ping" and ping["params"] == []
    events = feed(protocol, {"error": None, "id": ping["id"], "result": "pong"}, 5 * S + 7_000)
    assert events == [Pong(7_000)]
    assert protocol.next_deadline() == 10 * S


def test_late_pong_makes_the_connection_stale() -> None:
    protocol = make_protocol(config=ProtocolConfig(pong_timeout_ns=2 * S))
    connect_and_ack(protocol)
    protocol.handle_timer(5 * S)
    sent(protocol)
    feed(protocol, {"sequence": 1, "symbol": "BTCUSD", "type": "incremental", "trades": []},
         6 * S)
    assert protocol.next_deadline() == 7 * S
    protocol.handle_timer(7 * S)
    events = protocol.events_received()
    assert len(events) == 1 and isinstance(events[0], ConnectionStale)
    assert "pong" in events[0].reason
    assert protocol.stale and protocol.next_deadline() is None


def test_silence_makes_the_connection_stale_even_when_pongs_are_not_due() -> None:
    config = ProtocolConfig(ping_interval_ns=100 * S, silence_timeout_ns=15 * S)
    protocol = make_protocol(config=config)
    connect_and_ack(protocol)
    assert protocol.next_deadline() == 15 * S
    protocol.handle_timer(15 * S)
    (event,) = protocol.events_received()
    assert isinstance(event, ConnectionStale) and "no frame" in event.reason


def test_unanswered_subscribe_makes_the_connection_stale() -> None:
    protocol = make_protocol(config=ProtocolConfig(request_timeout_ns=3 * S))
    protocol.connection_made(0)
    sent(protocol)
    protocol.handle_timer(3 * S)
    (event,) = protocol.events_received()
    assert isinstance(event, ConnectionStale)
    assert "trade.subscribe BTCUSD" in event.reason


def test_reconnect_resubscribes_everything_with_fresh_ids() -> None:
    protocol = make_protocol("BTCUSD", "ETHUSD")
    protocol.connection_made(0)
    first = sent(protocol)
    protocol.connection_lost()
    protocol.connection_made(10 * S)
    second = sent(protocol)
    assert [r["params"] for r in second] == [r["params"] for r in first]
    assert not {r["id"] for r in first} & {r["id"] for r in second}


def test_unsubscribe_sends_the_single_symbol_form() -> None:
    protocol = make_protocol("BTCUSD")
    connect_and_ack(protocol)
    protocol.unsubscribe(Subscription("trade", "BTCUSD"), 1)
    (request,) = sent(protocol)
    assert request["method"] == "trade.unsubscribe" and request["params"] == ["BTCUSD"]
    assert protocol.subscriptions() == []


def test_reply_to_an_unknown_id_is_rejected_not_ignored() -> None:
    protocol = make_protocol()
    connect_and_ack(protocol)
    (event,) = feed(protocol, {"error": None, "id": 999, "result": {"status": "success"}})
    assert isinstance(event, FrameRejected) and "999" in event.reason


def test_requests_are_valid_json_rpc_envelopes() -> None:
    protocol = make_protocol()
    protocol.connection_made(0)
    (text,) = protocol.data_to_send()
    assert set(json.loads(text)) == {"id", "method", "params"}


def test_error_reply_without_id_is_matched_to_the_only_pending_subscribe() -> None:
    protocol = make_protocol("BTCUSD")
    protocol.connection_made(0)
    sent(protocol)
    error = {"error": {"code": 6001, "message": "invalid argument"}, "id": None, "result": None}
    (event,) = feed(protocol, error)
    assert isinstance(event, SubscribeFailed) and event.symbol == "BTCUSD"


def test_a_symbol_that_streamed_before_is_retried_for_ever_with_a_capped_backoff() -> None:
    config = ProtocolConfig(subscribe_retry_ns=S, subscribe_retry_cap_ns=4 * S,
                            max_subscribe_attempts=2, ping_interval_ns=10**6 * S,
                            silence_timeout_ns=10**6 * S, request_timeout_ns=10**6 * S)
    protocol = make_protocol("BTCUSD", config=config)
    connect_and_ack(protocol)
    protocol.connection_lost()
    now = 10 * S
    protocol.connection_made(now)
    request = sent(protocol)[0]
    for attempt in range(1, 8):
        error = {"error": {"code": 6001, "message": "x"}, "id": request["id"], "result": None}
        (event,) = feed(protocol, error, now)
        assert isinstance(event, SubscribeFailed) and event.attempts == attempt
        assert protocol.next_deadline() == now + min(2 ** (attempt - 1), 4) * S
        now = protocol.next_deadline() or 0
        protocol.handle_timer(now)
        request = next(r for r in sent(protocol) if r["method"] == "trade.subscribe")


def test_text_that_cannot_be_utf8_is_rejected_not_raised() -> None:
    protocol = make_protocol()
    connect_and_ack(protocol)
    (event,) = feed(protocol, '{"id": "\ud800"}')
    assert isinstance(event, FrameRejected)
