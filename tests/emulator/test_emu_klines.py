"""Klines (reference §6.2) on the wire, against the trade truth (``<truth>.jsonl``) and the
kline truth (``<truth>.klines.jsonl``).

A raw client decodes every message with the scales of the served products payload (§7),
independently of the emulator's encoders, and keeps the last version of each bar; the bars it
ends with must be the ones rebuilt here from the true trades, trade for trade. Bars close
every 60 s of exchange time, so the tests move the market's clock ahead themselves
(``fast_forward``: the market produces the trades of the next seconds at once) instead of
waiting for the wall clock.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator.klines import INTERVALS, MAX_BARS, SymbolBars
from ticklake.emulator.products import PRODUCTS
from ticklake.emulator.simulator import Trade
from ticklake.emulator.tickers import TickerSpec

SYMBOLS = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
NS = 1_000_000_000
CANONICAL = re.compile(r"^-?(0|[1-9]\d*)(\.\d*[1-9])?$")  # exact decimal, no trailing zeros
VALUES = ("last_close", "open", "high", "low", "close", "volume", "turnover")
Bars = dict[int, tuple[Decimal, ...]]  # bar ts -> the seven values


def config(tmp_path: Path, **kw: Any) -> EmulatorConfig:
    base: dict[str, Any] = {"symbols": SYMBOLS, "rate": 0.1, "batch_ms": 10, "history": 150,
                            "truth_path": str(tmp_path / "truth.jsonl")}
    return EmulatorConfig(**(base | kw))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def channel_of(symbol: str) -> str:
    return "kline_p" if symbol == "BTCUSDT" else "kline"


# ---------------------------------------------------------------- decoding, as a client would


class Scales:
    """What the served products payload says about each symbol's numbers (§7)."""

    def __init__(self, body: dict[str, Any]) -> None:
        data = body["data"]
        currencies = {c["currency"]: c["valueScale"] for c in data["currencies"]}
        # symbol -> (priceScale, qty scale, turnover scale); None: decimal strings
        self.of: dict[str, tuple[int, int, int] | None] = {}
        for row in data["products"]:
            if row["type"] == "Perpetual":  # contracts; turnover in the settle currency
                self.of[row["symbol"]] = (row["priceScale"], 0, currencies[row["settleCurrency"]])
            elif row["type"] == "Spot":  # base qty; turnover in the quote currency
                self.of[row["symbol"]] = (row["priceScale"], currencies[row["baseCurrency"]],
                                          currencies[row["quoteCurrency"]])
        for row in data["perpProductsV2"]:
            self.of[row["symbol"]] = None


@dataclass(frozen=True)
class Msg:
    channel: str
    symbol: str
    kind: str
    sequence: int
    interval: int
    rows: list[tuple[int, tuple[Decimal, ...]]]  # (ts, the seven values), wire order


def _int(value: Any, scale: int) -> Decimal:
    assert type(value) is int, value
    return Decimal(value).scaleb(-scale)


def _text(value: Any) -> Decimal:
    assert isinstance(value, str) and CANONICAL.match(value), value
    return Decimal(value)


def decode(m: dict[str, Any], scales: Scales, *, stated: bool = True) -> Msg:
    channel = "kline_p" if "kline_p" in m else "kline"
    symbol = m["symbol"]
    scale = scales.of[symbol]
    keys = [channel, "priceScale", "sequence", "symbol", "type"]
    if scale is not None:
        keys = [*keys[:2], *(["qtyScale"] if scale[1] else []), *keys[2:], "valueScale"]
    if not stated:
        keys = [k for k in keys if not k.endswith("Scale")]
    assert list(m) == keys  # no top-level timestamp (§6.1)
    if stated and scale is not None:
        assert m["priceScale"] == scale[0] and m["valueScale"] == scale[2]
        assert m.get("qtyScale", 0) == scale[1]
    elif stated:
        assert m["priceScale"] == 0
    assert type(m["sequence"]) is int and m["type"] in ("snapshot", "incremental")
    rows, intervals = [], set()
    for row in m[channel]:
        assert len(row) == 9, row
        ts, interval, *values = row
        assert type(ts) is int and type(interval) is int and ts % interval == 0
        intervals.add(interval)
        if scale is None:
            rows.append((ts, tuple(_text(v) for v in values)))
        else:
            ps, qs, vs = scale
            rows.append((ts, (*(_int(v, ps) for v in values[:5]), _int(values[5], qs),
                              _int(values[6], vs))))
    assert len(intervals) <= 1
    interval = intervals.pop() if intervals else 0
    return Msg(channel, symbol, m["type"], m["sequence"], interval, rows)


def kline_pushes(raw: Any) -> list[dict[str, Any]]:
    return [m for m in raw.messages() if isinstance(m, dict) and ("kline" in m or "kline_p" in m)]


async def scales_of(kit: Any, emu: Emulator) -> Scales:
    status, body = await kit.aget(f"http://127.0.0.1:{emu.port}/public/products")
    assert status == 200
    return Scales(json.loads(body))


# ---------------------------------------------------------------- the truth, rebuilt


def _turnover(symbol: str, price: Decimal, qty: Decimal) -> Decimal:
    """The emulator's stated rule (the 24 h tickers' one): each trade's value truncated at
    the settle (COIN-M) or quote currency's scale."""
    if symbol == "BTCUSD":  # inverse, 1 USD per contract, settled in BTC (valueScale 8)
        return (qty / price).quantize(Decimal("1e-8"), ROUND_DOWN)
    if symbol == "ETHUSD":  # 0.005 ETH per contract, settled in USD (valueScale 4)
        return (qty * Decimal("0.005") * price).quantize(Decimal("1e-4"), ROUND_DOWN)
    return price * qty  # spot (quote USDT) and USDⓈ-M: exact


def rebuild(trades: list[dict[str, Any]], symbol: str, interval: int, clock_ns: int) -> Bars:
    """Every bar of ``symbol`` from its first trade to the bar holding ``clock_ns``: flat
    where nothing traded, lastClose the previous bar's close (the first bar's: its open)."""
    traded: dict[int, list[Decimal]] = {}
    for t in trades:
        if t["symbol"] != symbol:
            continue
        price, qty = Decimal(t["price"]), Decimal(t["qty"])
        ts = t["ts_ns"] // NS // interval * interval
        bar = traded.get(ts)
        value = _turnover(symbol, price, qty)
        if bar is None:
            traded[ts] = [price, price, price, price, qty, value]
        else:
            bar[1], bar[2], bar[3] = max(bar[1], price), min(bar[2], price), price
            bar[4] += qty
            bar[5] += value
    out: Bars = {}
    if not traded:
        return out
    first = min(traded)
    last = traded[first][0]
    current = clock_ns // NS // interval * interval
    for ts in range(first, current + 1, interval):
        bar = traded.get(ts)
        if bar is None:
            out[ts] = (last, last, last, last, last, Decimal(0), Decimal(0))
        else:
            out[ts] = (last, *bar)
            last = bar[3]
    return out


def kept(msgs: list[Msg], symbol: str, interval: int) -> Bars:
    """What a client keeps: the last version received of each bar."""
    out: Bars = {}
    for m in msgs:
        if m.symbol == symbol and m.interval == interval:
            out.update(m.rows)
    return out


# ---------------------------------------------------------------- moving the clock


async def settle(kit: Any, emu: Emulator, raws: list[Any]) -> None:
    """Two more periods ran (so the bars of the market's clock were pushed) and every frame
    the server wrote has arrived."""
    start = emu.ticks
    await kit.eventually(lambda: emu.ticks >= start + 2, what="two periods")
    await kit.eventually(lambda: sum(len(r.frames) for r in raws)
                         >= sum(c.frames_sent for c in emu.clients.values()), what="frames")


async def fast_forward(kit: Any, emu: Emulator, raws: list[Any], seconds: int,
                       step: int = 15) -> None:
    """The market's clock ``seconds`` ahead, ``step`` at a time, each step pushed and read."""
    market = emu.market
    assert market is not None
    for _ in range(seconds // step):
        emu.fanout.produce(market.clock_ns + step * NS)
        await settle(kit, emu, raws)


async def subscribe(kit: Any, raw: Any, subs: list[tuple[str, list[Any]]]) -> list[int]:
    rids = [await raw.request(f"{channel}.subscribe", params) for channel, params in subs]
    for rid in rids:
        assert (await raw.reply(rid))["result"] == {"status": "success"}
    return rids


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_bars_are_the_trades_bars(kit: Any, tmp_path: Path, symbol: str) -> None:
    """Snapshot (newest first, history and flat bars included) then incrementals (oldest
    first); the last version of every bar equals the bar rebuilt from the true trades."""
    channel, intervals = channel_of(symbol), (60, 300)
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        got["scales"] = await scales_of(kit, emu)
        raw = await kit.Raw.open(emu.url)
        rids = await subscribe(kit, raw, [(channel, [symbol, i]) for i in intervals])
        msgs = raw.messages()
        for rid, interval in zip(rids, intervals, strict=True):  # the ack, then its snapshot
            snap = msgs[raw.index_of_reply(rid) + 1]
            assert snap["type"] == "snapshot" and snap[channel][0][1] == interval
        await fast_forward(kit, emu, [raw], 660)
        assert emu.market is not None
        got["clock"] = emu.market.clock_ns
        got["subs"] = emu.state()["connections"][0]["subscriptions"]
        await raw.close()
        got["msgs"] = [decode(m, got["scales"]) for m in kline_pushes(raw)]

    kit.run(config(tmp_path), scenario)
    msgs: list[Msg] = got["msgs"]
    assert got["subs"] == [f"{channel}:{symbol}@{i}" for i in intervals]
    trades = read_jsonl(tmp_path / "truth.jsonl")
    truth = read_jsonl(tmp_path / "truth.klines.jsonl")
    by_version = {(r["interval"], r["ts"], r["sequence"], r["type"]): r for r in truth}
    for interval in intervals:
        mine = [m for m in msgs if m.interval == interval]
        assert [m.kind for m in mine][:1] == ["snapshot"] and mine[1].kind == "incremental"
        assert {m.kind for m in mine[1:]} == {"incremental"}
        assert [m.sequence for m in mine] == sorted(m.sequence for m in mine)
        for m in mine:  # consecutive bars: newest first in the snapshot, oldest first after
            stamps = [ts for ts, _ in m.rows]
            step = -interval if m.kind == "snapshot" else interval
            assert stamps == list(range(stamps[0], stamps[-1] + step, step)), m.kind
            for ts, values in m.rows:  # the kline truth has every version sent
                record = by_version[(interval, ts, m.sequence, m.kind)]
                assert record["channel"] == channel and record["symbol"] == symbol
                assert all(CANONICAL.match(record[k]) for k in VALUES)
                assert tuple(Decimal(record[k]) for k in VALUES) == values
        expected = rebuild(trades, symbol, interval, got["clock"])
        assert kept(msgs, symbol, interval) == expected
        snapshot = dict(mine[0].rows)
        assert min(snapshot) == min(expected), "the history's bars, from the first"
        flat = [v for v in expected.values() if v[5] == 0]
        if interval == 60:
            assert flat and all(len(set(v[:5])) == 1 for v in flat), "flat bars, exact"
            assert len(expected) > len(flat) + 5
        # the truth alone: a bar's last line (or any final one) is the bar
        lines = [r for r in truth if r["interval"] == interval]
        last_lines = {r["ts"]: tuple(Decimal(r[k]) for k in VALUES) for r in lines}
        assert last_lines == expected
        for r in lines:  # final: closed when published, so already the bar
            if r["final"]:
                assert tuple(Decimal(r[k]) for k in VALUES) == expected[r["ts"]], r
        assert not [r for r in lines if r["ts"] == max(expected) and r["final"]]
        assert len({r["ts"] for r in lines if r["final"]}) > 2


def test_scales_omitted(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        scales = await scales_of(kit, emu)
        raw = await kit.Raw.open(emu.url)
        await subscribe(kit, raw, [("kline", ["BTCUSD", 60]), ("kline", ["sBTCUSDT", 900]),
                                   ("kline_p", ["BTCUSDT", 60])])
        await fast_forward(kit, emu, [raw], 120)
        await raw.close()
        msgs = [decode(m, scales, stated=False) for m in kline_pushes(raw)]
        assert {m.symbol for m in msgs if m.kind == "incremental"} == {
            "BTCUSD", "sBTCUSDT", "BTCUSDT"}

    kit.run(config(tmp_path, kline_scales=False, rate=2), scenario)


def test_invalid_params_6001_and_untraded_symbols(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        bad = {
            1: ("kline.subscribe", ["BTCUSDT", 60]),  # USDⓈ-M via the COIN-M channel
            2: ("kline_p.subscribe", ["BTCUSD", 60]),
            3: ("kline_p.subscribe", ["sBTCUSDT", 60]),
            4: ("kline.subscribe", ["DOGEUSD", 60]),
            5: ("kline.subscribe", ["BTCUSD"]),  # no interval
            6: ("kline.subscribe", ["BTCUSD", 61]),
            7: ("kline.subscribe", ["BTCUSD", "60"]),
            8: ("kline.subscribe", ["BTCUSD", 60.0]),
            9: ("kline.subscribe", ["BTCUSD", True]),
            10: ("kline.subscribe", [["BTCUSD"], 60]),
            11: ("kline.subscribe", "BTCUSD"),
            12: ("kline.subscribe", []),
            13: ("kline.subscribe", [60, "BTCUSD"]),
            14: ("kline.unsubscribe", ["NOPE"]),
            15: ("kline_p.unsubscribe", ["BTCUSD"]),
            16: ("kline.unsubscribe", "BTCUSD"),
        }
        for rid, (method, params) in bad.items():
            await raw.send({"id": rid, "method": method, "params": params})
        # ETHUSD is listed but not traded here: acked, an empty snapshot, then nothing
        await subscribe(kit, raw, [("kline", ["ETHUSD", 60]), ("kline", ["BTCUSD", 86400])])
        await fast_forward(kit, emu, [raw], 90)
        await raw.close()
        err = {"code": 6001, "message": "invalid argument"}
        for rid in bad:
            assert raw.replies(rid) == [{"error": err, "id": rid, "result": None}], rid
        eth = [m for m in kline_pushes(raw) if m["symbol"] == "ETHUSD"]
        assert eth == [{"kline": [], "priceScale": 4, "sequence": eth[0]["sequence"],
                        "symbol": "ETHUSD", "type": "snapshot", "valueScale": 4}]
        others = [m for m in kline_pushes(raw) if m["symbol"] != "ETHUSD"]
        assert {(m["symbol"], m["kline"][0][1]) for m in others} == {("BTCUSD", 86400)}

    kit.run(config(tmp_path, symbols=("BTCUSD", "sBTCUSDT"), rate=20), scenario)


def test_intervals_are_slots(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await subscribe(kit, raw, [("kline", ["BTCUSD", 60]), ("kline", ["BTCUSD", 300])])
        await raw.request("kline.subscribe", ["BTCUSD", 60])  # the same slot again: fine
        await raw.request("kline.subscribe", ["BTCUSD", 900])  # a third slot: over the limit
        assert await raw.wait_closed() == 1008

    kit.run(config(tmp_path, max_subscriptions=2), scenario)


def test_unsubscribe_stops_the_pushes(kit: Any, tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await subscribe(kit, raw, [("kline", ["BTCUSD", 60]), ("kline", ["BTCUSD", 300]),
                                   ("kline", ["sBTCUSDT", 60]), ("kline_p", ["BTCUSDT", 60])])
        await fast_forward(kit, emu, [raw], 30)
        one = await raw.request("kline.unsubscribe", ["BTCUSD", 300])  # every BTCUSD interval
        assert (await raw.reply(one))["result"] == {"status": "success"}
        assert emu.state()["connections"][0]["subscriptions"] == [
            "kline:sBTCUSDT@60", "kline_p:BTCUSDT@60"]
        await fast_forward(kit, emu, [raw], 30)
        later = raw.messages()[raw.index_of_reply(one) + 1:]
        assert {m["symbol"] for m in later} == {"sBTCUSDT", "BTCUSDT"}
        every = await raw.request("kline.unsubscribe", [])
        assert (await raw.reply(every))["result"] == {"status": "success"}
        await fast_forward(kit, emu, [raw], 30)
        later = raw.messages()[raw.index_of_reply(every) + 1:]
        assert later and {m["symbol"] for m in later} == {"BTCUSDT"}  # kline_p: the witness
        assert emu.state()["connections"][0]["subscriptions"] == ["kline_p:BTCUSDT@60"]
        await raw.close()

    kit.run(config(tmp_path, rate=20), scenario)


def test_snapshot_has_the_newest_1000_bars(kit: Any, tmp_path: Path) -> None:
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        got["scales"] = await scales_of(kit, emu)
        emu.halt()  # no trade after the snapshots: they hold every bar there is
        raw = await kit.Raw.open(emu.url)
        await subscribe(kit, raw, [("kline", ["BTCUSD", 60]), ("kline", ["BTCUSD", 3600])])
        await raw.close()
        got["msgs"] = [decode(m, got["scales"]) for m in kline_pushes(raw)]
        assert all(m.kind == "snapshot" for m in got["msgs"])

    # 2500 trades at 0.02/s: about 35 hours of history, more than 1000 minutes
    kit.run(config(tmp_path, symbols=("BTCUSD",), rate=0.02, history=2500), scenario)
    minutes, hours = got["msgs"]
    trades = read_jsonl(tmp_path / "truth.jsonl")
    clock = minutes.rows[0][0] * NS  # the current bar's start: the newest, first
    expected = rebuild(trades, "BTCUSD", 60, clock)
    assert len(expected) > MAX_BARS + 200
    assert len(minutes.rows) == MAX_BARS
    assert dict(minutes.rows) == {ts: expected[ts] for ts in sorted(expected)[-MAX_BARS:]}
    assert dict(hours.rows) == rebuild(trades, "BTCUSD", 3600, clock)


@pytest.mark.parametrize("symbol", ["BTCUSD", "BTCUSDT"])
def test_kline_malformed_fault(kit: Any, tmp_path: Path, symbol: str) -> None:
    channel = channel_of(symbol)
    path = tmp_path / "truth.klines.jsonl"

    async def scenario(emu: Emulator) -> None:
        scales = await scales_of(kit, emu)
        victim, bystander = await kit.Raw.open(emu.url), await kit.Raw.open(emu.url)
        for raw in (victim, bystander):
            await subscribe(kit, raw, [(channel, [symbol, 60])])
        conn = emu.state()["connections"][0]["id"]
        assert emu.inject("kline_malformed", str(conn)) == 1
        await fast_forward(kit, emu, [victim, bystander], 30)
        faults = [r for r in read_jsonl(path) if "fault" in r]
        assert faults == [{"fault": "kline_malformed", "channel": channel, "symbol": symbol,
                           "interval": 60, "conn": conn, "ts_ns": faults[0]["ts_ns"],
                           "sequence": faults[0]["sequence"]}]
        for raw in (victim, bystander):
            await raw.close()
        seq = faults[0]["sequence"]
        broken = [m for m in kline_pushes(victim) if m["sequence"] == seq]
        assert len(broken) == 1 and broken[0]["type"] == "incremental"
        with pytest.raises(AssertionError):
            decode(broken[0], scales)  # a careful client rejects the frame
        good = [m for m in kline_pushes(bystander) if m["sequence"] == seq]
        assert len(good) == 1 and decode(good[0], scales).rows
        for m in kline_pushes(victim):  # only one frame was broken
            if m != broken[0]:
                decode(m, scales)
        assert emu.state()["faults_injected"]["kline_malformed"] == 1

    kit.run(config(tmp_path, rate=20), scenario)


def test_kline_malformed_on_next_connection_breaks_its_snapshot(kit: Any,
                                                                 tmp_path: Path) -> None:
    async def scenario(emu: Emulator) -> None:
        emu.inject("kline_malformed", "next")
        raw = await kit.Raw.open(emu.url)
        await subscribe(kit, raw, [("kline", ["sBTCUSDT", 60])])
        await fast_forward(kit, emu, [raw], 30)
        await raw.close()
        first, second = raw.frames[1:3]
        assert '"abc"' in first and json.loads(first)["type"] == "snapshot"
        assert '"abc"' not in second
        faults = [r for r in read_jsonl(tmp_path / "truth.klines.jsonl") if "fault" in r]
        assert [(f["conn"], f["sequence"]) for f in faults] == [
            (emu.state()["connections_total"], json.loads(first)["sequence"])]

    kit.run(config(tmp_path, rate=20), scenario)


# ---------------------------------------------------------------- the model, without a socket


def test_bars_model_against_brute_force() -> None:
    """Every interval, ``since`` and ``limit`` against bars rebuilt from every trade; more
    minutes than MAX_BARS, so the oldest bars have been dropped, and a last stretch of more
    than MAX_BARS minutes that all traded (the newest bars' lastClose is a dropped bar's)."""
    spec = TickerSpec(PRODUCTS["BTCUSDT"], 7, 1, 1, False)
    rng = random.Random(3)
    bars = SymbolBars(spec)
    trades: list[dict[str, Any]] = []
    ts_ns, price = 1_700_000_000 * NS, 900_000_000
    for i in range(8400):
        if i < 6000:
            ts_ns += rng.choice((0, 1, 3 * NS, 40 * NS, 61 * NS, 61 * NS, 700 * NS))
            if rng.random() < 0.002:
                ts_ns += 300_000 * NS  # days without a trade
        else:
            ts_ns += 30 * NS  # a trade every 30 s: 1200 minutes, every one traded
        price = max(1000, price + 1000 * rng.randint(-9, 9))
        qty = rng.randint(1, 50)
        bars.add(Trade("BTCUSDT", ts_ns, "Buy", price, qty, 0))
        trades.append({"symbol": "BTCUSDT", "ts_ns": ts_ns,
                       "price": str(Decimal(price) / 10_000), "qty": str(Decimal(qty) / 1000)})
    for clock in (ts_ns, ts_ns + 200 * NS):  # at the last trade; flat bars after it
        for interval in INTERVALS:
            expected = rebuild(trades, "BTCUSDT", interval, clock)
            stamps = sorted(expected)
            assert stamps[-1] == clock // NS // interval * interval
            for limit, since in ((MAX_BARS, None), (7, None),
                                 (MAX_BARS, stamps[-min(3, len(stamps))]),
                                 (MAX_BARS, stamps[len(stamps) // 2]), (1, stamps[0])):
                rows = bars.rows(interval, clock, since, limit)
                want = [ts for ts in stamps if since is None or ts >= since][-limit:]
                assert [r[0] for r in rows] == want, (interval, limit, since)
                for ts, *values in rows:
                    got = (*(Decimal(v) / 10_000 for v in values[:5]),
                           Decimal(values[5]) / 1000, Decimal(values[6]) / 10**7)
                    assert got == expected[ts], (interval, ts)
