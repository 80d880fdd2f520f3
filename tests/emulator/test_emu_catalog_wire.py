"""Exchange catalogs over a real socket, with a raw client: each family's trades on its channel
with its key and number format, on the tick the *served* payload announces, equal to the ground
truth; 1,000-trade snapshots in the 2021 shape; delisted symbols refused (6001)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator.catalog_payload import payload

DECIMAL = re.compile(r"^(0|[1-9]\d*)(\.\d*[1-9])?$")
PATHS = ("/public/products", "/exchange/public/cfg/v2/products")
SAMPLE = (
    "BTCUSD", "uBTCUSD", "cETHUSD", "XRPUSD", "ONEUSD",  # COIN-M: settle BTC, USD, ETH
    "BTCUSDT", "u1000PEPEUSDT", "NOTUSDT", "SOLUSDT",  # USDⓈ-M
    "sBTCUSDT", "sSHIBUSDT", "sVPADUSDT", "sBTCTRY", "sPEPEUSDT",  # spot: scales 8/2/4, TRY 4
)
Row = tuple[str, int, str, str, str]


@dataclass(frozen=True)
class Scale:
    """What a client derives from the products payload for one symbol."""

    kind: str  # Perpetual | PerpetualV2 | Spot
    price_scale: int
    qty_scale: int
    tick: Decimal  # in wire units: Ep/Ev integers, or real for strings
    step: Decimal

    @property
    def channel(self) -> str:
        return "trade_p" if self.kind == "PerpetualV2" else "trade"


def scales_from(body: dict[str, Any]) -> dict[str, Scale]:
    data = body["data"]
    value_scale = {c["currency"]: c["valueScale"] for c in data["currencies"]}
    out = {}
    for row in data["products"]:
        if row["type"] == "Perpetual":
            ps = row["priceScale"]
            tick = Decimal(str(row["tickSize"])).scaleb(ps)
            out[row["symbol"]] = Scale("Perpetual", ps, 0, tick, Decimal(1))
        else:  # spot: the quote currency's scale for prices, the base currency's for qty
            qs, bs = value_scale[row["quoteCurrency"]], value_scale[row["baseCurrency"]]
            out[row["symbol"]] = Scale("Spot", qs, bs, Decimal(row["quoteTickSizeEv"]),
                                       Decimal(row["baseTickSizeEv"]))
    for row in data.get("perpProductsV2", []):
        out[row["symbol"]] = Scale("PerpetualV2", 0, 0, Decimal(row["tickSize"]),
                                   Decimal(row["qtyStepSize"]))
    return out


def real(value: Decimal) -> str:
    return f"{value.normalize():f}"


def decode(symbol: str, scale: Scale, row: list[Any]) -> Row:
    """Check one wire row's formats and tick; return it in ground-truth form."""
    ts, side, price, qty = row
    assert type(ts) is int and ts > 2**53 and side in ("Buy", "Sell"), row
    if scale.kind == "PerpetualV2":
        assert isinstance(price, str) and isinstance(qty, str), row
        assert DECIMAL.match(price) and DECIMAL.match(qty), row
        p, q = Decimal(price), Decimal(qty)
    else:
        assert type(price) is int and type(qty) is int, row
        p, q = Decimal(price), Decimal(qty)
    assert p > 0 and p % scale.tick == 0, (symbol, row, scale)
    assert q > 0 and q % scale.step == 0, (symbol, row, scale)
    return (symbol, ts, side, real(p.scaleb(-scale.price_scale)),
            real(q.scaleb(-scale.qty_scale)))


def read_truth(path: Path) -> set[Row]:
    out = set()
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out.add((r["symbol"], r["ts_ns"], r["side"], r["price"], r["qty"]))
    return out


def test_every_family_on_its_channel_key_format_and_tick(kit: Any, tmp_path: Path) -> None:
    truth_path = tmp_path / "truth.jsonl"
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        for path in PATHS:
            status, body = await kit.aget(f"http://127.0.0.1:{emu.port}{path}")
            assert status == 200 and json.loads(body) == payload("exchange")
        scales = scales_from(json.loads(body))
        raw = await kit.Raw.open(emu.url)
        for symbol in SAMPLE:
            await raw.request(f"{scales[symbol].channel}.subscribe", [symbol])
        await raw.request("orderbook_p.subscribe", ["u1000PEPEUSDT"])
        await raw.request("orderbook.subscribe", ["sSHIBUSDT"])
        for symbol in SAMPLE:  # a snapshot and two incrementals of trades each
            await kit.eventually(
                lambda s=symbol: sum("trades" in m or "trades_p" in m
                                     for m in raw.data(s)) >= 3,
                what=f"trades of {symbol}")
        for symbol, key in (("u1000PEPEUSDT", "orderbook_p"), ("sSHIBUSDT", "book")):
            await kit.eventually(  # books of served catalog symbols move once watched
                lambda s=symbol, k=key: any(k in m and m["type"] == "incremental"
                                            for m in raw.data(s)),
                what=f"book incrementals of {symbol}")
        await raw.close()
        got.update(scales=scales, messages=raw.data())

    kit.run(EmulatorConfig(catalog="exchange", symbols=SAMPLE, rate=100.0, history=30,
                           snapshot_size=20, truth_path=str(truth_path)), scenario)
    scales, truth = got["scales"], read_truth(truth_path)
    seen = set()
    for msg in got["messages"]:
        symbol, scale = msg["symbol"], scales[msg["symbol"]]
        strings = scale.kind == "PerpetualV2"
        if "book" in msg or "orderbook_p" in msg:
            assert ("orderbook_p" in msg) == strings
            book = msg["orderbook_p" if strings else "book"]
            for price, qty in book["asks"] + book["bids"]:
                assert Decimal(price) % scale.tick == 0 and Decimal(qty) % scale.step == 0
            continue
        key = "trades_p" if strings else "trades"
        assert key in msg and ("dts" in msg) == strings, msg
        for row in msg[key]:
            decoded = decode(symbol, scale, row)
            assert decoded in truth, decoded
            seen.add(symbol)
    assert seen == set(SAMPLE)


def test_2021_snapshots_hold_1000_trades(kit: Any) -> None:
    symbols = ("XRPUSD", "sSHIBUSDT", "sVPADUSDT")

    async def scenario(emu: Emulator) -> None:
        _, body = await kit.aget(f"http://127.0.0.1:{emu.port}/public/products")
        scales = scales_from(json.loads(body))
        raw = await kit.Raw.open(emu.url)
        for symbol in symbols:
            await raw.request("trade.subscribe", [symbol])
        usdt_m = await raw.request("trade_p.subscribe", ["BTCUSDT"])  # no USDⓈ-M in 2021
        for symbol in symbols:
            (snapshot, *_) = await raw.wait_data(symbol, 1, "snapshot")
            rows = snapshot["trades"]
            assert len(rows) == 1000, (symbol, len(rows))
            times = [r[0] for r in rows]
            assert times == sorted(times, reverse=True)  # newest first
            for row in rows:
                decode(symbol, scales[symbol], row)
        assert "BTCUSDT" not in scales
        assert (await raw.reply(usdt_m))["error"]["code"] == 6001
        await raw.close()

    cfg = EmulatorConfig(catalog="exchange-2021", symbols=symbols, rate=20.0, history=1200)
    assert cfg.snapshot_trades == 1000
    kit.run(cfg, scenario)


def test_explicit_snapshot_size_wins_over_the_2021_default(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["sBTCUSDT"])
        (snapshot, *_) = await raw.wait_data("sBTCUSDT", 1, "snapshot")
        assert len(snapshot["trades"]) == 7
        await raw.close()

    kit.run(EmulatorConfig(catalog="exchange-2021", symbols=("sBTCUSDT",), history=50,
                           snapshot_size=7), scenario)


def test_delisted_refused_being_settled_and_unserved_silent(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        refused = {
            21: ("trade.subscribe", ["LENDUSD"]),  # COIN-M, delisted in Nov 2020
            22: ("trade_p.subscribe", ["SRMUSDT"]),
            23: ("trade.subscribe", ["sUSDTTRY"]),  # delisted in ROQ's capture
            24: ("orderbook.subscribe", ["LENDUSD"]),
            25: ("trade_p.subscribe", ["XRPUSD"]),  # listed, but not a _p symbol
        }
        for rid, (method, params) in refused.items():
            await raw.request(method, params, rid=rid)
        await raw.request("trade.subscribe", ["OMGUSD"], rid=31)  # BeingSettled
        await raw.request("trade.subscribe", ["XRPUSD"], rid=32)  # listed, not served
        await raw.request("trade.subscribe", ["BTCUSD"], rid=33)
        for rid in refused:
            reply = await raw.reply(rid)
            assert reply == {"error": {"code": 6001, "message": "invalid argument"},
                             "id": rid, "result": None}
        await raw.wait_data("BTCUSD", 4)  # a witness: everything sent before has arrived
        for rid, symbol in ((31, "OMGUSD"), (32, "XRPUSD")):
            assert (await raw.reply(rid))["result"] == {"status": "success"}
            assert [(m["type"], m["trades"]) for m in raw.data(symbol)] == [("snapshot", [])]
        assert not raw.data("LENDUSD") and not raw.data("SRMUSDT")
        await raw.close()

    kit.run(EmulatorConfig(catalog="exchange", symbols=("BTCUSD",), rate=200.0), scenario)


def test_all_symbols_at_a_low_rate(kit: Any) -> None:
    """300+ symbols at 2 trades/s each: trades spread over the symbols at about that rate."""

    async def scenario(emu: Emulator) -> None:
        symbols = emu.config.symbols
        assert len(symbols) >= 300
        await kit.eventually(lambda: emu.trades_produced >= 2500, 30,
                             "2500 trades across the catalog")
        produced = emu.state()["trades_produced"]
        traded = [s for s in symbols if produced[s] > 0]
        assert len(traded) >= 0.4 * len(symbols)
        assert max(produced.values()) <= 150  # a per-symbol rate, not a catalog-wide one
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade_p.subscribe", ["SOLUSDT"])
        await raw.request("trade.subscribe", ["sSOLUSDT"])
        await raw.wait_data("SOLUSDT", 1, "snapshot")
        await raw.wait_data("sSOLUSDT", 1, "snapshot")
        await raw.close()

    kit.run(EmulatorConfig(catalog="exchange", symbols=("all",), rate=2.0), scenario)
