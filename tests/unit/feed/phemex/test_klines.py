"""kline / kline_p messages (reference §6.2) → exact bars; the subscription's params."""

from __future__ import annotations

import json

import pytest

from ticklake.feed.events import FrameRejected, KlineRow, KlinesReceived
from ticklake.feed.phemex import PhemexProtocol, Subscription, default_products
from ticklake.feed.phemex.klines import KlineError, parse_klines

from .helpers import feed, sent

E8 = 10**8
PRODUCTS = default_products()
# the reference's sample (C): BTCUSD, a daily bar, no scales in the message
SAMPLE = {"kline": [[1590019200, 86400, 95165000, 95160000, 95160000, 95160000, 95160000, 164,
                     1723413]], "sequence": 1118993873, "symbol": "BTCUSD", "type": "snapshot"}


def parse(body: dict[str, object]) -> KlinesReceived:
    return parse_klines(json.dumps(body), PRODUCTS.get, 7)


def test_a_coin_m_bar_is_scaled_by_the_product_and_ts_is_seconds() -> None:
    event = parse(SAMPLE)
    assert (event.symbol, event.channel, event.sequence, event.snapshot) == (
        "BTCUSD", "kline", 1118993873, True)
    # 9516.5 then 9516 USD; 164 contracts; turnover 0.01723413 BTC (valueScale 8)
    assert event.rows == [KlineRow(1590019200 * 10**9, 86400, 951650000000, 951600000000,
                                   951600000000, 951600000000, 951600000000, 164 * E8,
                                   1723413)]


def test_the_scales_a_message_states_come_first_and_spot_volume_is_base_currency() -> None:
    spot = {"kline": [[1700000000, 60, 9000000000000, 9000000000000, 9100000000000,
                       8900000000000, 9050000000000, 12345, 1117222500000000]],
            "priceScale": 8, "qtyScale": 6, "valueScale": 8, "sequence": 5,
            "symbol": "sBTCUSDT", "type": "incremental"}
    (bar,) = parse(spot).rows
    assert (bar.close, bar.volume, bar.turnover) == (90500 * E8, 12345 * 100, 11172225 * E8)
    stated = {**SAMPLE, "priceScale": 2}
    assert parse(stated).rows[0].open == 951600 * E8


def test_kline_p_bars_are_decimal_strings() -> None:
    body = {"kline_p": [[1700000040, 60, "90000.1", "90000.1", "90010", "89990.5", "90005",
                         "1.234", "111066.17"]],
            "sequence": 9, "symbol": "BTCUSDT", "type": "incremental", "priceScale": 0}
    (bar,) = parse(body).rows
    assert (bar.high, bar.low, bar.volume, bar.turnover) == (
        90010 * E8, 8999050000000, 123400000, 11106617000000)


@pytest.mark.parametrize(("body", "reason"), [
    ({**SAMPLE, "kline": [[1590019200, 86400, 1, 2, 3]]}, "a bar of 5 values"),
    ({**SAMPLE, "kline": [[1590019200.5, 86400, 1, 1, 1, 1, 1, 1, 1]]}, "not whole seconds"),
    ({**SAMPLE, "kline": [[1590019200, 2**31, 1, 1, 1, 1, 1, 1, 1]]}, "not whole seconds"),
    ({**SAMPLE, "kline": [[1590019200, 86400, 1, "1", 1, 1, 1, 1, 1]]}, "non-negative integer"),
    ({**SAMPLE, "symbol": "BTCUSDT"}, "a usd-m product"),
    ({**SAMPLE, "symbol": "NOPE"}, "unknown symbol"),
    ({**SAMPLE, "type": "delta"}, "without symbol, sequence or type"),
    ({**SAMPLE, "kline": [[1590019200, 86400, 10**20, 1, 1, 1, 1, 1, 1]]}, "beyond"),
])
def test_an_unreadable_kline_message_is_refused_with_its_reason(body: dict[str, object],
                                                                 reason: str) -> None:
    with pytest.raises(KlineError, match=reason):
        parse(body)


def test_subscribe_names_the_interval_and_the_protocol_emits_the_bars() -> None:
    subs = [Subscription.klines(PRODUCTS.require("BTCUSD"), 60),
            Subscription.klines(PRODUCTS.require("BTCUSDT"), 3600)]
    protocol = PhemexProtocol(subs, PRODUCTS)
    protocol.connection_made(0)
    assert [(r["method"], r["params"]) for r in sent(protocol)] == [
        ("kline.subscribe", ["BTCUSD", 60]), ("kline_p.subscribe", ["BTCUSDT", 3600])]
    (event,) = feed(protocol, SAMPLE)
    assert isinstance(event, KlinesReceived) and len(event.rows) == 1
    (rejected,) = feed(protocol, {**SAMPLE, "kline": [[1]]})
    assert isinstance(rejected, FrameRejected) and "a bar of 1 values" in rejected.reason
    protocol.unsubscribe(subs[0], 1)
    assert [(r["method"], r["params"]) for r in sent(protocol)] == [
        ("kline.unsubscribe", ["BTCUSD"])]
    with pytest.raises(ValueError, match="kline interval 61"):
        Subscription.klines(PRODUCTS.require("BTCUSD"), 61)
