"""Tickers and ticks (§6.3, §6.4): every payload shape the exchange has served, read exactly.

The messages are the reference's and its sources' samples (cryptofeed's and ccxt's comments,
ROQ's test captures), with the scales §7 states: BTCUSD prices at 4 decimals, funding at 8
(``Er``), its turnover in BTC ``Ev`` (8); ETHUSD settles in USD (``Ev`` 4); sBTCUSDT at 8."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ticklake.feed.phemex import default_products
from ticklake.feed.phemex.products import parse_products_payload
from ticklake.feed.phemex.tickers import (
    TICKER_COLUMNS,
    TickerError,
    TickerRow,
    TickRow,
    parse_ticker_frame,
)

PRODUCTS = default_products()
RECV = 1_700_000_000_000_000_000
PACK_FIELDS = ["symbol", "openRp", "highRp", "lowRp", "lastRp", "volumeRq", "turnoverRv",
               "openInterestRv", "indexRp", "markRp", "fundingRateRr", "predFundingRateRr"]
STX = ["STXUSDT", "0.64649", "0.8628", "0.61215", "0.71737", "4519387", "3210827.98166",
       "697635", "0.71720205", "0.71720205", "0.0001", "-0.0001"]


def one(message: dict[str, object]) -> TickerRow:
    rows = parse_ticker_frame(json.dumps(message), PRODUCTS, RECV)
    assert len(rows) == 1 and isinstance(rows[0], TickerRow)
    return rows[0]


def exact(row: TickerRow) -> dict[str, Decimal | None]:
    return {k: None if v is None else Decimal(v).scaleb(-8) for k, v in row.values.items()}


def test_coin_m_market24h_is_scaled_by_price_ratio_and_settle_value_scales() -> None:
    row = one({"market24h": {
        "close": 87425000, "fundingRate": 10000, "high": 92080000, "indexPrice": 87450475,
        "low": 87009000, "markPrice": 87453092, "open": 91946000, "openInterest": 7265740,
        "predFundingRate": -4127, "symbol": "BTCUSD", "turnover": 1378541546893,
        "volume": 12246900}, "timestamp": 1590019200123456789})
    assert (row.symbol, row.ts_ns, row.channel, row.extra) == (
        "BTCUSD", 1590019200123456789, "market24h", {})
    assert exact(row) == {
        "open": Decimal("9194.6"), "high": Decimal("9208"), "low": Decimal("8700.9"),
        "last": Decimal("8742.5"), "bid": None, "ask": None,
        "index_price": Decimal("8745.0475"), "mark_price": Decimal("8745.3092"),
        "volume": Decimal(12246900), "turnover": Decimal("13785.41546893"),  # BTC, Ev 8
        "open_interest": Decimal(7265740), "funding_rate": Decimal("0.0001"),
        "pred_funding_rate": Decimal("-0.00004127"),
    }


def test_a_usd_settled_coin_m_contract_takes_its_turnover_at_the_usd_scale() -> None:
    row = one({"market24h": {"close": 23005000, "symbol": "ETHUSD", "turnover": 123456789,
                             "volume": 10}, "timestamp": RECV})
    assert exact(row)["turnover"] == Decimal("12345.6789")  # USD, Ev 4


def test_spot_market24h_takes_base_and_quote_scales() -> None:
    row = one({"spot_market24h": {
        "askEp": 958148000000, "bidEp": 957884000000, "highEp": 962000000000,
        "lastEp": 958220000000, "lowEp": 928049000000, "openEp": 935597000000,
        "symbol": "sBTCUSDT", "timestamp": 1592847265888272100,
        "turnoverEv": 146074214388978, "volumeEv": 15492228900},
        "timestamp": 1592847265888272100})
    values = exact(row)
    assert (values["bid"], values["ask"], values["last"]) == (
        Decimal("9578.84"), Decimal("9581.48"), Decimal("9582.2"))
    assert (values["volume"], values["turnover"]) == (
        Decimal("154.922289"), Decimal("1460742.14388978"))
    assert values["mark_price"] is None and values["funding_rate"] is None
    assert row.ts_ns == 1592847265888272100


def test_the_usd_m_pack_is_read_by_field_names_and_keeps_appended_columns() -> None:
    """ccxt reads the pack by position; a reordered or grown layout must not shift values."""
    base = {"method": "perp_market24h_pack_p.update", "timestamp": "1677094918686806209",
            "type": "snapshot"}
    before_2024 = parse_ticker_frame(json.dumps({**base, "fields": PACK_FIELDS,
                                                  "data": [STX]}), PRODUCTS, RECV)
    fields = [*reversed(PACK_FIELDS), "bidRp", "askRp", "newColumnRv"]
    grown = parse_ticker_frame(json.dumps({
        **base, "fields": fields, "data": [[*reversed(STX), "0.7171", "0.7175", "12.5"]]}),
        PRODUCTS, RECV)
    (old,), (new,) = before_2024, grown
    assert isinstance(old, TickerRow) and isinstance(new, TickerRow)
    assert old.ts_ns == new.ts_ns == 1677094918686806209
    assert exact(old) == {
        "open": Decimal("0.64649"), "high": Decimal("0.8628"), "low": Decimal("0.61215"),
        "last": Decimal("0.71737"), "bid": None, "ask": None,
        "index_price": Decimal("0.71720205"), "mark_price": Decimal("0.71720205"),
        "volume": Decimal(4519387), "turnover": Decimal("3210827.98166"),
        "open_interest": Decimal(697635), "funding_rate": Decimal("0.0001"),
        "pred_funding_rate": Decimal("-0.0001"),
    }
    assert exact(new) == {**exact(old), "bid": Decimal("0.7171"), "ask": Decimal("0.7175")}
    assert new.extra == {"newColumnRv": "12.5"} and old.extra == {}


def test_market24h_p_reads_its_own_names() -> None:
    row = one({"market24h_p": {
        "closeRp": "20639.4", "fundingRateRr": "-0.00005", "highRp": "20800",
        "indexPriceRp": "20640.12", "lowRp": "20500.5", "markPriceRp": "20641",
        "openInterestRv": "1234.567", "openRp": "20600", "predFundingRateRr": "0.0001",
        "symbol": "BTCUSDT", "turnoverRv": "987654321.5", "volumeRq": "47890.123"},
        "timestamp": 1666854171201355264})
    values = exact(row)
    assert (values["last"], values["funding_rate"], values["volume"]) == (
        Decimal("20639.4"), Decimal("-0.00005"), Decimal("47890.123"))
    assert set(values) == set(TICKER_COLUMNS)


def test_ticks_carry_their_own_scale_or_a_decimal_string() -> None:
    (index,) = parse_ticker_frame(json.dumps({"tick": {
        "last": 93385362, "scale": 4, "symbol": ".BTC", "timestamp": 1580635719408000000}}),
        PRODUCTS, RECV)
    (funding,) = parse_ticker_frame(json.dumps({"tick_p": {
        "last": "-0.00012345", "symbol": ".BTCUSDTFR8H", "timestamp": 1580635719408000001}}),
        PRODUCTS, RECV)
    assert index == TickRow(".BTC", 1580635719408000000, "tick", 933853620000)
    assert funding == TickRow(".BTCUSDTFR8H", 1580635719408000001, "tick_p", -12345)


def test_the_products_payload_gives_coin_m_value_scales_from_the_settle_currency() -> None:
    payload = {"code": 0, "data": {
        "currencies": [{"currency": "BTC", "valueScale": 8}, {"currency": "USD",
                                                              "valueScale": 4}],
        "products": [
            {"symbol": "BTCUSD", "type": "Perpetual", "priceScale": 4, "settleCurrency": "BTC"},
            {"symbol": "uBTCUSD", "type": "Perpetual", "priceScale": 4, "valueScale": 4,
             "settleCurrency": "USD"},
            {"symbol": "XUSD", "type": "Perpetual", "priceScale": 4}]}}
    table = parse_products_payload(json.dumps(payload))
    assert [table.require(s).value_scale for s in ("BTCUSD", "uBTCUSD", "XUSD")] == [8, 4, None]
    # A turnover whose scale the payload does not state is refused, never guessed.
    with pytest.raises(TickerError, match="valueScale is unknown"):
        parse_ticker_frame(json.dumps({"market24h": {"symbol": "XUSD", "turnover": 5}}),
                           table, RECV)
    (row,) = parse_ticker_frame(json.dumps({"market24h": {"symbol": "XUSD", "close": 5}}),
                                table, RECV)
    assert isinstance(row, TickerRow) and row.values["last"] == 5 * 10**4


@pytest.mark.parametrize(("message", "reason"), [
    ({"market24h": {"symbol": "NOPE", "close": 1}}, "unknown symbol 'NOPE'"),
    ({"market24h": {"symbol": "BTCUSD", "close": "87425000"}}, "expected an integer"),
    ({"market24h": {"close": 1}}, "without a symbol"),
    ({"market24h_p": {"symbol": "BTCUSDT", "closeRp": 20639.4}}, "expected a decimal string"),
    ({"market24h_p": {"symbol": "BTCUSDT", "closeRp": "1.123456789"}}, "more than 8 decimals"),
    ({"market24h_p": {"symbol": "BTCUSD", "closeRp": "1"}}, "not a USDⓈ-M product"),
    ({"fields": ["openRp"], "data": [["1"]]}, "no 'symbol'"),
    ({"fields": ["symbol", "openRp"], "data": [["BTCUSDT"]]}, "1 values for 2 fields"),
    ({"tick": {"symbol": ".BTC", "last": 1, "scale": 12}}, "scale 12"),
    ({"tick": {"symbol": ".BTC", "last": 1}}, "scale None"),
    ({"market24h": {"symbol": "BTCUSD"}, "timestamp": -5}, "not a timestamp"),
    ({"kline": []}, "no ticker or tick payload"),
])
def test_an_unreadable_ticker_names_its_problem(message: dict[str, object],
                                                reason: str) -> None:
    with pytest.raises(TickerError, match=reason.replace("(", r"\(")):
        parse_ticker_frame(json.dumps(message), PRODUCTS, RECV)
