"""24 h tickers and index/mark/funding ticks (reference §6.3, §6.4) on the wire, against the
ticker truth (``<truth>.tickers.jsonl``, ``<truth>.ticks.jsonl``) and the trade truth.

A raw client decodes every push with the scales of the served products payload (as a client
must, §7), independently of the emulator's encoders.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator.market import Market
from ticklake.emulator.products import PRODUCTS
from ticklake.emulator.tickers import DAY_S, TickerSpec, TickerState, Window

SYMBOLS = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
PACK = "perp_market24h_pack_p"
PACK_METHOD = "perp_market24h_pack_p.update"
SUBSCRIBE_ALL = (
    ("market24h", []), ("spot_market24h", []), ("market24h_p", ["BTCUSDT"]), (PACK, []),
    ("tick", [".BTC"]), ("tick", [".MBTC"]), ("tick", [".BTCFR"]), ("tick", [".BTCFR8H"]),
    ("tick", [".METH"]), ("tick_p", [".BTCUSDT"]), ("tick_p", [".MBTCUSDT"]),
    ("tick_p", [".BTCUSDTFR"]), ("tick_p", [".BTCUSDTFR8H"]),
)
CANONICAL = re.compile(r"^-?(0|[1-9]\d*)(\.\d*[1-9])?$")  # exact decimal, no trailing zeros
TICKER_KEYS = ("open", "high", "low", "last", "bid", "ask", "index_price", "mark_price",
               "volume", "turnover", "open_interest", "funding_rate", "pred_funding_rate")
COIN_M_KEYS = ["open", "high", "low", "close", "indexPrice", "markPrice", "openInterest",
               "fundingRate", "predFundingRate", "symbol", "turnover", "volume"]
SPOT_KEYS = ["askEp", "bidEp", "highEp", "lastEp", "lowEp", "openEp", "symbol", "timestamp",
             "turnoverEv", "volumeEv"]
P_KEYS = ["closeRp", "fundingRateRr", "highRp", "indexPriceRp", "lowRp", "markPriceRp",
          "openInterestRv", "openRp", "predFundingRateRr", "symbol", "turnoverRv", "volumeRq"]
LEGACY = ["symbol", "openRp", "highRp", "lowRp", "lastRp", "volumeRq", "turnoverRv",
          "openInterestRv", "indexRp", "markRp", "fundingRateRr", "predFundingRateRr"]
FIELDS = {"legacy": LEGACY, "2024": [*LEGACY, "bidRp", "askRp"],
          "appended": [*LEGACY, "bidRp", "askRp", "fundingIntervalRq"]}


def config(tmp_path: Path, **kw: Any) -> EmulatorConfig:
    base: dict[str, Any] = {"symbols": SYMBOLS, "rate": 200, "batch_ms": 10, "history": 300,
                            "ticker_interval": 0.1, "truth_path": str(tmp_path / "truth.jsonl")}
    return EmulatorConfig(**(base | kw))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


# ---------------------------------------------------------------- decoding, as a client would


class Scales:
    """What the served products payload says about each symbol's numbers (§7)."""

    def __init__(self, body: dict[str, Any]) -> None:
        data = body["data"]
        currencies = {c["currency"]: c["valueScale"] for c in data["currencies"]}
        self.coin: dict[str, tuple[int, int]] = {}  # symbol -> (priceScale, turnover scale)
        self.spot: dict[str, tuple[int, int]] = {}  # symbol -> (priceScale, base qty scale)
        self.rows = {r["symbol"]: r for r in [*data["products"], *data["perpProductsV2"]]}
        for row in data["products"]:
            if row["type"] == "Perpetual":
                self.coin[row["symbol"]] = (row["priceScale"],
                                            currencies[row["settleCurrency"]])
            elif row["type"] == "Spot":
                self.spot[row["symbol"]] = (row["priceScale"], currencies[row["baseCurrency"]])


def ev(value: Any, scale: int) -> Decimal:
    assert type(value) is int, value
    return Decimal(value).scaleb(-scale)


def rs(value: Any) -> Decimal:
    assert isinstance(value, str) and CANONICAL.match(value), value
    return Decimal(value)


def decode(msg: dict[str, Any], scales: Scales) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(channel, symbol, ts_ns, {column: Decimal | None}) per ticker row of a push."""
    ts = msg["timestamp"]
    assert type(ts) is int and ts > 2**53
    none = dict.fromkeys(TICKER_KEYS)
    if "market24h" in msg:
        m = msg["market24h"]
        ps, vs = scales.coin[m["symbol"]]
        row = none | {
            "open": ev(m["open"], ps), "high": ev(m["high"], ps), "low": ev(m["low"], ps),
            "last": ev(m["close"], ps), "index_price": ev(m["indexPrice"], ps),
            "mark_price": ev(m["markPrice"], ps), "volume": ev(m["volume"], 0),
            "turnover": ev(m["turnover"], vs), "open_interest": ev(m["openInterest"], 0),
            "funding_rate": ev(m["fundingRate"], 8),
            "pred_funding_rate": ev(m["predFundingRate"], 8)}
        return [("market24h", m["symbol"], ts, row)]
    if "spot_market24h" in msg:
        m = msg["spot_market24h"]
        assert m["timestamp"] == ts
        ps, qs = scales.spot[m["symbol"]]
        row = none | {
            "open": ev(m["openEp"], ps), "high": ev(m["highEp"], ps), "low": ev(m["lowEp"], ps),
            "last": ev(m["lastEp"], ps), "bid": ev(m["bidEp"], ps), "ask": ev(m["askEp"], ps),
            "volume": ev(m["volumeEv"], qs), "turnover": ev(m["turnoverEv"], ps)}
        return [("spot_market24h", m["symbol"], ts, row)]
    if "market24h_p" in msg:
        m = msg["market24h_p"]
        row = none | {
            "open": rs(m["openRp"]), "high": rs(m["highRp"]), "low": rs(m["lowRp"]),
            "last": rs(m["closeRp"]), "index_price": rs(m["indexPriceRp"]),
            "mark_price": rs(m["markPriceRp"]), "volume": rs(m["volumeRq"]),
            "turnover": rs(m["turnoverRv"]), "open_interest": rs(m["openInterestRv"]),
            "funding_rate": rs(m["fundingRateRr"]),
            "pred_funding_rate": rs(m["predFundingRateRr"])}
        return [("market24h_p", m["symbol"], ts, row)]
    assert msg["method"] == PACK_METHOD
    names = {"openRp": "open", "highRp": "high", "lowRp": "low", "lastRp": "last",
             "bidRp": "bid", "askRp": "ask", "indexRp": "index_price",
             "markRp": "mark_price", "volumeRq": "volume", "turnoverRv": "turnover",
             "openInterestRv": "open_interest", "fundingRateRr": "funding_rate",
             "predFundingRateRr": "pred_funding_rate"}
    out = []
    for cells in msg["data"]:
        assert len(cells) == len(msg["fields"])
        by_name = dict(zip(msg["fields"], cells, strict=True))  # by name, never position
        row = none | {names[k]: rs(v) for k, v in by_name.items() if k in names}
        row["extra"] = {k: v for k, v in by_name.items() if k not in names and k != "symbol"}
        out.append((PACK, by_name["symbol"], ts, row))
    return out


def ticker_pushes(raw: Any) -> list[dict[str, Any]]:
    return [m for m in raw.messages() if isinstance(m, dict) and (
        {"market24h", "spot_market24h", "market24h_p"} & set(m)
        or m.get("method") == PACK_METHOD)]


def tick_pushes(raw: Any) -> list[dict[str, Any]]:
    return [m for m in raw.messages() if isinstance(m, dict) and ("tick" in m or "tick_p" in m)]


def truth_value(text: str | None) -> Decimal | None:
    if text is None:
        return None
    assert CANONICAL.match(text), text
    return Decimal(text)


async def open_subscribed(kit: Any, emu: Emulator, subs: Any) -> tuple[Any, list[int]]:
    raw = await kit.Raw.open(emu.url)
    rids = [await raw.request(f"{channel}.subscribe", params) for channel, params in subs]
    for rid in rids:
        await raw.reply(rid)
    return raw, rids


async def scales_of(kit: Any, emu: Emulator) -> Scales:
    status, body = await kit.aget(f"http://127.0.0.1:{emu.port}/public/products")
    assert status == 200
    return Scales(json.loads(body))


# ---------------------------------------------------------------- the tests


def test_acks_first_then_the_reference_shapes(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        raw, rids = await open_subscribed(kit, emu, SUBSCRIBE_ALL)
        await kit.eventually(lambda: len([m for m in ticker_pushes(raw)
                                          if m.get("type") == "incremental"]) >= 3,
                             what="three periodic packs")
        await raw.close()
        msgs = raw.messages()
        for rid, (channel, params) in zip(rids, SUBSCRIBE_ALL, strict=True):
            assert raw.replies(rid) == [{"error": None, "id": rid,
                                         "result": {"status": "success"}}]
            # the ack precedes the subscription's first data, which comes right after it
            key = "method" if channel == PACK else channel
            first = next(i for i, m in enumerate(msgs) if key in m and (
                not channel.startswith("tick") or m[channel]["symbol"] == params[0]))
            assert raw.index_of_reply(rid) + 1 == first, (channel, params)
        coin = [m for m in msgs if "market24h" in m]
        assert {m["market24h"]["symbol"] for m in coin} == {"BTCUSD", "ETHUSD"}
        for m in coin:
            assert list(m) == ["market24h", "timestamp"]
            assert list(m["market24h"]) == COIN_M_KEYS
            assert all(type(v) is int for k, v in m["market24h"].items() if k != "symbol")
        spot = [m for m in msgs if "spot_market24h" in m]
        assert spot and {m["spot_market24h"]["symbol"] for m in spot} == {"sBTCUSDT"}
        for m in spot:
            assert list(m["spot_market24h"]) == SPOT_KEYS
            assert all(type(v) is int for v in m["spot_market24h"].values() if v != "sBTCUSDT")
        perp = [m for m in msgs if "market24h_p" in m]
        assert perp and all(list(m["market24h_p"]) == P_KEYS for m in perp)
        assert all(isinstance(v, str) for m in perp for v in m["market24h_p"].values())
        packs = [m for m in msgs if m.get("method") == PACK_METHOD]
        assert [m["type"] for m in packs][:2] == ["snapshot", "incremental"]
        assert {m["type"] for m in packs[1:]} == {"incremental"}
        for m in packs:
            assert list(m) == ["data", "fields", "method", "timestamp", "type"]
            assert m["fields"] == FIELDS["2024"] and [r[0] for r in m["data"]] == ["BTCUSDT"]
            assert all(isinstance(v, str) for row in m["data"] for v in row)
        ticks = tick_pushes(raw)
        scales = {".BTC": 4, ".MBTC": 4, ".METH": 4, ".BTCFR": 8, ".BTCFR8H": 8}
        for m in ticks:
            if "tick" in m:
                t = m["tick"]
                assert list(m) == ["tick"] and list(t) == ["last", "scale", "symbol", "timestamp"]
                assert type(t["last"]) is int and t["scale"] == scales[t["symbol"]]
                assert type(t["timestamp"]) is int and t["timestamp"] > 2**53
            else:
                t = m["tick_p"]
                assert list(t) == ["last", "symbol", "timestamp"]
                assert isinstance(t["last"], str) and CANONICAL.match(t["last"])
        assert {m.get("tick", m.get("tick_p", {})).get("symbol") for m in ticks} == {
            p[0] for c, p in SUBSCRIBE_ALL if c.startswith("tick")}
        state = emu.state()["connections"][0]["subscriptions"]
        assert state[:4] == ["market24h:*", "spot_market24h:*", "market24h_p:BTCUSDT",
                             f"{PACK}:*"]
        assert len(state) == len(SUBSCRIBE_ALL)

    kit.run(config(tmp_path), scenario)


def _turnover(symbol: str, price: Decimal, qty: Decimal) -> Decimal:
    """The emulator's stated rule, from the reference's contract terms (§7): each trade's
    value truncated at the settle (COIN-M) or quote currency's scale."""
    if symbol == "BTCUSD":  # inverse, 1 USD per contract, settled in BTC (valueScale 8)
        return (qty / price).quantize(Decimal("1e-8"), ROUND_DOWN)
    if symbol == "ETHUSD":  # 0.005 ETH per contract, settled in USD (valueScale 4)
        return (qty * Decimal("0.005") * price).quantize(Decimal("1e-4"), ROUND_DOWN)
    return price * qty  # spot (quote USDT, 8 > the digits of price x qty) and USDⓈ-M: exact


def test_values_are_the_truth_and_follow_the_trades(kit: Any, tmp_path: Path) -> None:
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        got["scales"] = await scales_of(kit, emu)
        raw, _ = await open_subscribed(kit, emu, SUBSCRIBE_ALL)
        await kit.eventually(lambda: len(ticker_pushes(raw)) >= 40, what="ticker pushes")
        await raw.close()
        got["raw"] = raw

    kit.run(config(tmp_path), scenario)
    raw, scales = got["raw"], got["scales"]
    truth = read_jsonl(tmp_path / "truth.tickers.jsonl")
    assert truth and all("fault" not in r for r in truth)
    by_key = {(r["channel"], r["symbol"], r["ts_ns"]): r for r in truth}
    assert len(by_key) == len(truth), "one line per (channel, symbol, ts)"
    rows = [row for m in ticker_pushes(raw) for row in decode(m, scales)]
    trades: dict[str, list[tuple[Decimal, Decimal, int]]] = {}
    for t in read_jsonl(tmp_path / "truth.jsonl"):
        trades.setdefault(t["symbol"], []).append(
            (Decimal(t["price"]), Decimal(t["qty"]), t["ts_ns"]))
    last_seen: dict[str, int] = {}
    for channel, symbol, ts, row in rows:
        record = by_key[(channel, symbol, ts)]
        assert list(record) == ["channel", "symbol", "ts_ns", *TICKER_KEYS, "extra"]
        assert {k: truth_value(record[k]) for k in TICKER_KEYS} == {
            k: row[k] for k in TICKER_KEYS}, (channel, symbol, ts)
        assert record["extra"] == row.get("extra", {})
        last_seen[channel] = max(last_seen.get(channel, 0), ts)
        o, h, lo, last = row["open"], row["high"], row["low"], row["last"]
        assert h >= last >= lo and h >= o >= lo
        if row["index_price"] is not None:
            assert abs(row["index_price"] / last - 1) < Decimal("0.005")
            assert abs(row["mark_price"] / last - 1) < Decimal("0.005")
            assert row["open_interest"] >= 0
            for rate in (row["funding_rate"], row["pred_funding_rate"]):
                assert abs(rate) <= Decimal("0.00375") and rate == rate.quantize(Decimal("1e-8"))
        if row["bid"] is not None:
            assert row["bid"] < row["ask"]
        # The 24 h window (the whole run, history included) is a prefix of the symbol's
        # trades: the market had produced them up to its clock when this was published.
        history = trades[symbol]
        volume, turnover = Decimal(0), Decimal(0)
        count = 0
        while volume < row["volume"]:
            price, qty, _ = history[count]
            volume += qty
            turnover += _turnover(symbol, price, qty)
            count += 1
        assert volume == row["volume"] and turnover == row["turnover"], (symbol, ts)
        prices = [p for p, _, _ in history[:count]]
        assert (o, h, lo, last) == (prices[0], max(prices), min(prices), prices[-1])
        assert history[count - 1][2] <= ts
    # Every publication of a channel up to the last one received went to this, the only client.
    sent = {(c, s, t) for c, s, t, _ in rows}
    assert {k for k in by_key if k[2] <= last_seen.get(k[0], 0)} == sent
    check_ticks(raw, tmp_path, by_key)


def check_ticks(raw: Any, tmp_path: Path, by_key: dict[Any, dict[str, Any]]) -> None:
    """Every tick push is a truth line, and each equals the ticker's value of that instant."""
    ticks = read_jsonl(tmp_path / "truth.ticks.jsonl")
    tick_truth = {(r["channel"], r["symbol"], r["ts_ns"]): r["value"] for r in ticks}
    for m in tick_pushes(raw):
        channel = "tick" if "tick" in m else "tick_p"
        t = m[channel]
        value = (Decimal(t["last"]).scaleb(-t["scale"]) if channel == "tick"
                 else Decimal(t["last"]))
        assert truth_value(tick_truth[(channel, t["symbol"], t["timestamp"])]) == value
    periodic = {k[2] for k in by_key if k[0] == "market24h"}
    for (_, symbol, ts), text in tick_truth.items():
        if ts not in periodic:
            continue  # a tick's own on-subscribe publication
        owner, column = {".BTC": ("BTCUSD", "index_price"), ".MBTC": ("BTCUSD", "mark_price"),
                         ".BTCFR": ("BTCUSD", "pred_funding_rate"),
                         ".BTCFR8H": ("BTCUSD", "funding_rate"),
                         ".METH": ("ETHUSD", "mark_price")}.get(symbol, ("", ""))
        if owner:
            assert by_key[("market24h", owner, ts)][column] == text, symbol


@pytest.mark.parametrize("variant", ["legacy", "2024", "appended"])
def test_pack_field_variants(kit: Any, tmp_path: Path, variant: str) -> None:
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        got["scales"] = await scales_of(kit, emu)
        raw, _ = await open_subscribed(kit, emu, [(PACK, [])])
        await kit.eventually(lambda: len(ticker_pushes(raw)) >= 3, what="packs")
        await raw.close()
        got["packs"] = ticker_pushes(raw)

    kit.run(config(tmp_path, symbols=("BTCUSDT", "BTCUSD", "Z002USDT"),
                   ticker_pack_fields=variant), scenario)
    truth = {(r["symbol"], r["ts_ns"]): r for r in read_jsonl(tmp_path / "truth.tickers.jsonl")}
    for m in got["packs"]:
        assert m["fields"] == FIELDS[variant]
        assert [r[0] for r in m["data"]] == ["BTCUSDT", "Z002USDT"]  # traded USDⓈ-M only
        for channel, symbol, ts, row in decode(m, got["scales"]):
            record = truth[(symbol, ts)]
            assert record["channel"] == channel == PACK
            has_touch = variant != "legacy"
            assert (record["bid"] is not None, record["ask"] is not None) == (has_touch,) * 2
            assert truth_value(record["bid"]) == row["bid"]
            expected = {"fundingIntervalRq": "28800"} if variant == "appended" else {}
            assert record["extra"] == row["extra"] == expected


def test_market24h_inner_timestamp_variant(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        raw, _ = await open_subscribed(kit, emu, [("market24h", ["ETHUSD"])])
        await kit.eventually(lambda: len(ticker_pushes(raw)) >= 2, what="tickers")
        await raw.close()
        for m in ticker_pushes(raw):
            inner = m["market24h"]
            assert inner["symbol"] == "ETHUSD" and inner["timestamp"] == m["timestamp"]
            assert list(inner) == [*COIN_M_KEYS[:10], "timestamp", *COIN_M_KEYS[10:]]

    kit.run(config(tmp_path, ticker_inner_timestamp=True), scenario)


def test_unsubscribe_stops_the_data(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        subs = [("market24h", []), ("market24h", ["BTCUSD"]), ("tick", [".BTC"]),
                ("tick", [".MBTC"]), (PACK, []), ("spot_market24h", ["sBTCUSDT"])]
        raw, _ = await open_subscribed(kit, emu, subs)
        await kit.eventually(lambda: len(ticker_pushes(raw)) >= 12, what="tickers")
        un = [await raw.request("market24h.unsubscribe", []),  # both market24h slots
              await raw.request("tick.unsubscribe", [".MBTC"]),
              await raw.request(f"{PACK}.unsubscribe", ["BTCUSDT"]),  # the pack's one slot
              await raw.request("spot_market24h.unsubscribe", [])]
        for rid in un:
            assert (await raw.reply(rid))["result"] == {"status": "success"}
        after = max(raw.index_of_reply(rid) for rid in un)
        # .BTC is still subscribed: it witnesses that later periods went by
        await kit.eventually(lambda: sum(1 for m in raw.messages()[after:]
                                         if "tick" in m) >= 5, what="later ticks")
        later = raw.messages()[after + 1:]
        assert {m["tick"]["symbol"] for m in later if "tick" in m} == {".BTC"}
        assert not [m for m in later if "id" not in m and "tick" not in m]
        assert emu.state()["connections"][0]["subscriptions"] == ["tick:.BTC"]
        await raw.close()

    kit.run(config(tmp_path), scenario)


def test_symbol_filters_and_untraded_symbols(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        one, _ = await open_subscribed(kit, emu, [("market24h", ["BTCUSD"])])
        every, _ = await open_subscribed(kit, emu, [
            ("market24h", []), ("market24h", ["BTCUSD"]), ("market24h", ["ETHUSD"]),
            ("tick", [".ETH"]),
            ("tick", [".BTC"]), ("spot_market24h", []), ("market24h_p", []), (PACK, [])])
        await kit.eventually(lambda: len(tick_pushes(every)) >= 4, what="ticks")
        await kit.eventually(lambda: len(ticker_pushes(one)) >= 4, what="tickers")
        for raw in (one, every):
            await raw.close()
        assert {m["market24h"]["symbol"] for m in ticker_pushes(one)} == {"BTCUSD"}
        # ETHUSD is listed but not traded: acked, never pushed; nor are the other families
        assert {m["tick"]["symbol"] for m in tick_pushes(every)} == {".BTC"}
        pushes = ticker_pushes(every)
        assert pushes and {m["market24h"]["symbol"] for m in pushes} == {"BTCUSD"}
        # one message per symbol and publication, though ``[]`` and a symbol both name it
        stamps = [m["timestamp"] for m in pushes]
        assert len(stamps) == len(set(stamps))

    kit.run(config(tmp_path, symbols=("BTCUSD",)), scenario)


def test_invalid_params_6001_and_no_data(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        bad = {
            1: ("market24h.subscribe", ["BTCUSDT"]),  # USDⓈ-M via the COIN-M channel
            2: ("market24h.subscribe", ["DOGEUSD"]),
            3: ("market24h.subscribe", [["BTCUSD"]]),
            4: ("market24h.subscribe", "BTCUSD"),
            5: ("spot_market24h.subscribe", ["BTCUSD"]),
            6: ("market24h_p.subscribe", ["sBTCUSDT"]),
            7: (f"{PACK}.subscribe", ["BTCUSD"]),
            8: ("tick.subscribe", []),
            9: ("tick.subscribe", [".BTCUSDT"]),  # a tick_p symbol
            10: ("tick_p.subscribe", [".BTC"]),
            11: ("tick.subscribe", [".NOPE"]),
            12: ("tick.subscribe", ["BTCUSD"]),
            13: ("market24h.unsubscribe", ["NOPE"]),
            14: ("tick.unsubscribe", [42]),
        }
        for rid, (method, params) in bad.items():
            await raw.send({"id": rid, "method": method, "params": params})
        witness = await raw.request("tick.subscribe", [".BTCFR8H"])
        await raw.reply(witness)
        await kit.eventually(lambda: len(tick_pushes(raw)) >= 3, what="witness ticks")
        await raw.close()
        err = {"code": 6001, "message": "invalid argument"}
        for rid in bad:
            assert raw.replies(rid) == [{"error": err, "id": rid, "result": None}], rid
        assert not ticker_pushes(raw)
        assert {m["tick"]["symbol"] for m in tick_pushes(raw)} == {".BTCFR8H"}

    kit.run(config(tmp_path), scenario)


def test_subscription_slots_count(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        raw, _ = await open_subscribed(kit, emu, [("market24h", []), ("tick", [".BTC"])])
        await raw.request("tick.subscribe", [".BTC"])  # the same slot again: fine
        await raw.request("tick_p.subscribe", [".BTCUSDT"])  # a third slot: over the limit
        assert await raw.wait_closed() == 1008

    kit.run(config(tmp_path, max_subscriptions=2), scenario)


@pytest.mark.parametrize("channel", ["market24h", "spot_market24h", "market24h_p", PACK])
def test_ticker_malformed_fault(kit: Any, tmp_path: Path, channel: str) -> None:
    truth_path = tmp_path / "truth.tickers.jsonl"
    params = ["BTCUSDT"] if channel == "market24h_p" else []

    async def scenario(emu: Emulator) -> None:
        victim, _ = await open_subscribed(kit, emu, [(channel, params)])
        bystander, _ = await open_subscribed(kit, emu, [(channel, params)])
        await kit.eventually(lambda: len(ticker_pushes(victim)) >= 2, what="tickers")
        conn = emu.state()["connections"][0]["id"]
        assert emu.inject("ticker_malformed", str(conn)) == 1

        def faults() -> list[dict[str, Any]]:
            return [r for r in read_jsonl(truth_path) if "fault" in r]
        await kit.eventually(lambda: bool(faults()), what="the fault's truth line")
        fault = faults()[0]
        assert fault == {"fault": "ticker_malformed", "channel": channel,
                         "symbol": fault["symbol"], "conn": conn, "ts_ns": fault["ts_ns"]}
        ts = fault["ts_ns"]
        await kit.eventually(lambda: any(m["timestamp"] > ts for m in ticker_pushes(victim)),
                             what="a later ticker")
        await kit.eventually(lambda: any(m["timestamp"] >= ts for m in ticker_pushes(bystander)),
                             what="the bystander's copy")
        for raw in (victim, bystander):
            await raw.close()
        scales = await scales_of(kit, emu)
        broken = [m for m in ticker_pushes(victim) if m["timestamp"] == ts
                  and _symbol(m) == fault["symbol"]]
        assert len(broken) == 1
        with pytest.raises((AssertionError, KeyError, ValueError)):
            decode(broken[0], scales)  # a careful client rejects the frame
        # the bystander got the good frame, which is the truth's publication
        good = [m for m in ticker_pushes(bystander) if m["timestamp"] == ts
                and _symbol(m) == fault["symbol"]]
        assert len(good) == 1 and decode(good[0], scales)
        # only one frame was broken: everything else the victim got decodes
        for m in ticker_pushes(victim):
            if m != broken[0]:
                decode(m, scales)
        assert len(faults()) == 1
        assert emu.state()["faults_injected"]["ticker_malformed"] == 1

    kit.run(config(tmp_path), scenario)


def _symbol(m: dict[str, Any]) -> str:
    if m.get("method") == PACK_METHOD:
        return str(m["data"][0][0])  # the broken row is the pack's first
    body = next(v for k, v in m.items() if k != "timestamp")
    return str(body["symbol"])


def test_ticker_malformed_on_next_connection_hits_its_first_ticker(kit: Any,
                                                                   tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        emu.inject("ticker_malformed", "next")
        raw, _ = await open_subscribed(kit, emu, [("market24h", ["BTCUSD"])])
        await kit.eventually(lambda: len(ticker_pushes(raw)) >= 2, what="tickers")
        await raw.close()
        first, second = raw.frames[1:3]
        assert '"markPrice":"abc"' in first and '"markPrice":"abc"' not in second
        faults = [r for r in read_jsonl(tmp_path / "truth.tickers.jsonl") if "fault" in r]
        assert [(f["conn"], f["ts_ns"]) for f in faults] == [
            (emu.state()["connections_total"], json.loads(first)["timestamp"])]

    kit.run(config(tmp_path), scenario)


# ---------------------------------------------------------------- the model, without a socket


def test_window_is_the_last_24_hours_of_buckets() -> None:
    """Against a brute force over every trade: expiry, open, high/low (the monotonic deques)."""
    import random

    rng = random.Random(5)
    window = Window(last=1000)
    trades: list[tuple[int, int, int]] = []  # (second, price, qty)
    sec, price = 0, 1000
    for _ in range(4000):
        sec += rng.choice((0, 0, 1, 7, 600, 3600))
        price = max(1, price + rng.randint(-9, 9))
        qty = rng.randint(1, 50)
        window.add(sec, price, qty, qty * price)
        trades.append((sec, price, qty))
        if rng.random() < 0.1:
            now = sec + rng.choice((0, 5, DAY_S - 1, DAY_S, DAY_S + 3))
            inside = [t for t in trades if t[0] > now - DAY_S]
            got = window.stats(now)
            if not inside:
                assert got == (price, price, price, price, 0, 0)
            else:
                prices = [p for _, p, _ in inside]
                assert got == (prices[0], max(prices), min(prices), price,
                               sum(q for *_, q in inside), sum(q * p for _, p, q in inside))
            trades, sec = inside, now  # time goes on from ``now``


def test_index_mark_funding_open_interest_model() -> None:
    """Seeded (same seed, same values), near the trades, on the tick, funding of both signs."""
    spec = TickerSpec(PRODUCTS["BTCUSDT"], 7, 1, 1, False)
    signs = set()
    for seed in range(12):
        runs = []
        for _ in range(2):
            market = Market(["BTCUSDT"], seed=seed, rate=100, start_ns=0)
            state = TickerState(spec, seed, market.touch("BTCUSDT"), 0)
            out = []
            for step in range(1, 121):
                for trade in market.advance(step * 500_000_000):
                    state.add(trade)
                state.step(step * 500_000_000, market.touch("BTCUSDT"))
                v = state.values(step * 500_000_000)
                assert v.index is not None and v.mark is not None
                assert v.open_interest is not None and v.open_interest >= 0
                assert v.funding_rate is not None and v.pred_funding_rate is not None
                assert v.index % 1000 == 0 and v.mark % 1000 == 0  # on the 0.1 tick
                assert abs(v.index / v.last - 1) < 0.005 and abs(v.mark / v.last - 1) < 0.005
                assert abs(v.funding_rate) <= 375_000 and abs(v.pred_funding_rate) <= 375_000
                signs.add(v.funding_rate > 0)
                out.append(v)
            runs.append(out)
        assert runs[0] == runs[1]
    assert signs == {True, False}
