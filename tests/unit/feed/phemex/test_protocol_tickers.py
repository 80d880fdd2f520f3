"""24 h tickers and ticks through the sans-I/O core and the replay decoder: subscriptions
(all-symbol channels with ``[]``), the rows kept, quarantine."""

from __future__ import annotations

import json

from ticklake.feed.events import FrameRejected, TickersReceived, TicksReceived
from ticklake.feed.phemex import PhemexProtocol, ProtocolConfig, Subscription, default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.feed.phemex.products import Family
from ticklake.feed.phemex.trades import replay_decoder

from .helpers import feed, sent

E8 = 10**8
PACK = {
    "data": [["BTCUSDT", "90000", "91000.5", "89000", "90500.1", "12.345", "1117222.5", "40",
              "90499.9", "90501", "-0.0001", "0.00005", "90500", "90500.2"],
             ["ETHUSDT", "3000", "3100", "2900", "3050", "1", "3050", "2", "3049", "3050.5",
              "0.0001", "0.0001", "3050", "3050.5"]],
    "fields": ["symbol", "openRp", "highRp", "lowRp", "lastRp", "volumeRq", "turnoverRv",
               "openInterestRv", "indexRp", "markRp", "fundingRateRr", "predFundingRateRr",
               "bidRp", "askRp"],
    "method": "perp_market24h_pack_p.update", "timestamp": 1_795_564_800_123_456_789,
    "type": "snapshot",
}
MARKET24H = {"market24h": {"open": 900000000, "high": 910005000, "low": 890000000,
                           "close": 905001000, "indexPrice": 904999000, "markPrice": 905010000,
                           "openInterest": 123456, "fundingRate": -10000,
                           "predFundingRate": 5000, "symbol": "BTCUSD",
                           "turnover": 12345678901, "volume": 987654},
             "timestamp": 1_795_564_800_000_000_001}


def protocol(*subs: Subscription, keep: frozenset[str] = frozenset()) -> PhemexProtocol:
    return PhemexProtocol(subs, default_products(), ProtocolConfig(ticker_symbols=keep))


def test_all_symbol_channels_subscribe_with_empty_params_and_ticks_by_name() -> None:
    products = default_products()
    subs = [Subscription.tickers(Family.COIN_M), Subscription.tickers(Family.USD_M),
            Subscription.tickers(Family.SPOT), *Subscription.ticks(products.require("BTCUSD")),
            *Subscription.ticks(products.require("BTCUSDT")),
            *Subscription.ticks(products.require("sBTCUSDT"))]
    p = protocol(*subs)
    p.connection_made(0)
    assert [(r["method"], r["params"]) for r in sent(p)] == [
        ("market24h.subscribe", []), ("perp_market24h_pack_p.subscribe", []),
        ("spot_market24h.subscribe", []),
        ("tick.subscribe", [".BTC"]), ("tick.subscribe", [".MBTC"]),
        ("tick.subscribe", [".BTCFR"]), ("tick.subscribe", [".BTCFR8H"]),
        ("tick_p.subscribe", [".BTCUSDT"]), ("tick_p.subscribe", [".MBTCUSDT"]),
        ("tick_p.subscribe", [".BTCUSDTFR"]), ("tick_p.subscribe", [".BTCUSDTFR8H"]),
    ]  # (spot has no index/mark/funding ticks)


def test_a_pack_keeps_the_followed_symbols_rows_exactly() -> None:
    p = protocol(Subscription.tickers(Family.USD_M), keep=frozenset({"BTCUSDT"}))
    (event,) = feed(p, PACK, 5)
    assert isinstance(event, TickersReceived)
    (row,) = event.rows  # ETHUSDT is not followed (and not even in the products)
    assert (row.symbol, row.ts_ns, row.channel) == ("BTCUSDT", PACK["timestamp"],
                                                    "perp_market24h_pack_p")
    assert row.values["last"] == 905001 * E8 // 10 and row.values["bid"] == 90500 * E8
    assert row.values["funding_rate"] == -10_000 and row.values["volume"] == 12_345 * E8 // 1000


def test_coin_m_ticker_and_ticks_become_events_and_an_unfollowed_symbol_nothing() -> None:
    p = protocol(Subscription.tickers(Family.COIN_M), keep=frozenset({"BTCUSD"}))
    (event,) = feed(p, MARKET24H)
    assert isinstance(event, TickersReceived)
    assert event.rows[0].values["mark_price"] == 90501 * E8 // 1
    other = {**MARKET24H, "market24h": {**MARKET24H["market24h"], "symbol": "XRPUSD"}}
    assert feed(p, other) == []  # an unknown, unfollowed symbol is not even scaled
    tick = {"tick": {"last": 93385362, "scale": 4, "symbol": ".BTC",
                     "timestamp": 1_580_635_719_408_000_000}}
    (ticks,) = feed(p, tick)
    assert isinstance(ticks, TicksReceived)
    assert (ticks.rows[0].symbol, ticks.rows[0].value) == (".BTC", 933853620000)


def test_an_unreadable_ticker_is_quarantined_whole_and_junk_is_no_push() -> None:
    p = protocol(Subscription.tickers(Family.USD_M), keep=frozenset({"BTCUSDT", "ETHUSDT"}))
    short = {**PACK, "data": [PACK["data"][0], PACK["data"][1][:-1]]}
    (rejected,) = feed(p, short)
    assert isinstance(rejected, FrameRejected)
    assert "a row of 13 values for 14 fields" in rejected.reason
    bad = {**MARKET24H, "market24h": {**MARKET24H["market24h"], "markPrice": "abc"}}
    p2 = protocol(Subscription.tickers(Family.COIN_M), keep=frozenset({"BTCUSD"}))
    (rejected,) = feed(p2, bad)
    assert isinstance(rejected, FrameRejected) and "markPrice" in rejected.reason
    (junk,) = feed(p2, {"hello": 1})
    assert isinstance(junk, FrameRejected)


def test_the_replay_decoder_keeps_what_the_control_record_says_as_live_did() -> None:
    products = default_products()
    decoder = replay_decoder(b"", products)
    control = encode_control(DecodeParams.of(products, None, ticker_symbols={"BTCUSDT"}))
    assert decoder.decode(control, CONTROL_CONN_ID, 0) == []
    live = feed(protocol(Subscription.tickers(Family.USD_M), keep=frozenset({"BTCUSDT"})),
                PACK, 5)
    recv_ns = live[0].recv_ns  # type: ignore[attr-defined]
    assert decoder.decode(json.dumps(PACK).encode(), 1, recv_ns) == live
    # and a reader resumed from the saved state still keeps the same rows
    resumed = replay_decoder(decoder.state(), products)
    assert resumed.decode(json.dumps(PACK).encode(), 1, recv_ns) == live


def test_only_a_symbols_own_subscriptions_name_a_recorded_symbol() -> None:
    btcusd = default_products().require("BTCUSD")
    assert Subscription.trades(btcusd).of_symbol and Subscription.klines(btcusd, 60).of_symbol
    assert not Subscription.tickers(Family.COIN_M).of_symbol
    assert not any(s.of_symbol for s in Subscription.ticks(btcusd))
