"""The exchange's bars in the lake, and ticklake's own candles reconciled with them.

The real pipeline records the emulator's trades and klines of the three families at two
intervals. The emulator's exchange clock runs 20 times faster than the wall (``clock_speed``),
so 60-second bars close every three seconds. Every bar version the emulator's truth says it
published is a ``klines`` row, once, exact, but those of a frame the emulator broke on
purpose, which is quarantined whole; ``kline_check`` finds ticklake's candles from the
recorded trades equal to the exchange's bars wherever the recording holds the whole bar and no
gap (open and close too where several fills of one order share the edge instant: the trades'
``msg_index`` orders them); and where a recorded gap lost trades, it names exactly the bars
the gap touches.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ticklake.catalog import Lake

from ..reliability.stack import Stack, pipeline
from ..support import wait_until

SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")
# Beyond the shipped defaults: the exchange catalog's scales in every family.
EXCHANGE_SYMBOLS = ("XRPUSD", "GOLDUSD", "CHZUSDT", "MKRUSDT", "XMRUSDT", "sSHIBUSDT",
                    "sPEPEUSDT", "sBTCTRY")
SPEED = 20.0  # exchange seconds per wall second
RATE = 10.0  # trades per exchange second per symbol (200 a wall second at SPEED)
VALUES = ("last_close", "open", "high", "low", "close", "volume", "turnover")
S = 10**9


def truth_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def exchange_now_s(stack: Stack) -> int:
    """The market's clock (exchange time), seconds."""
    market = stack.emulator.market
    assert market is not None
    return market.clock_ns // S


async def closed_bars(stack: Stack, count: int, after_s: int | None = None) -> None:
    """Wait until ``count`` more 60 s bars than at ``after_s`` (default: now) have closed."""
    start = exchange_now_s(stack) if after_s is None else after_s
    until = (start // 60 + count + 1) * 60 + 2
    await wait_until(lambda: exchange_now_s(stack) >= until, 30 + (until - start) / SPEED,
                     f"{count} bars to close")


async def everything_received(stack: Stack) -> None:
    """Halt the market (no bar changes, nothing more is pushed), then wait until the recorder
    received every frame the emulator wrote to its one connection."""
    await stack.settle()

    def received() -> bool:
        sent = sum(c.frames_sent for c in stack.emulator.clients.values())
        return stack.stats.frames == sent

    await wait_until(received, 15, "every frame sent to be received")


def tied_edges(root: str, symbol: str) -> int:
    """Bars whose open or close is one of several fills at one instant in one message: only
    ``msg_index`` orders them (the fills of one taker order), so these bars prove it."""
    return Lake(root).query(f"""
        WITH t AS (SELECT time_bucket(INTERVAL 1 MINUTE, ts) AS bucket, * FROM trades
                   WHERE symbol = '{symbol}'),
        edges AS (SELECT bucket, min(ts_ns) AS first_ns, max(ts_ns) AS last_ns
                  FROM t GROUP BY bucket)
        SELECT count(DISTINCT bucket) FROM (
            SELECT t.bucket, t.ts_ns, t.spool_offset FROM t JOIN edges USING (bucket)
            WHERE t.ts_ns IN (edges.first_ns, edges.last_ns)
            GROUP BY ALL HAVING count(DISTINCT price) > 1)""").rows()[0][0]


def check(root: str, symbol: str) -> list[dict[str, Any]]:
    return Lake(root).query(
        f"SELECT * FROM kline_check('{symbol}', INTERVAL 1 MINUTE)").table.to_pylist()


@pytest.mark.parametrize(("catalog", "symbols"), [("basic", SYMBOLS),
                                                  ("exchange", EXCHANGE_SYMBOLS)])
def test_every_published_bar_is_recorded_and_the_candles_reconcile(
        tmp_path: Path, catalog: str, symbols: tuple[str, ...]) -> None:
    truth = tmp_path / "truth.klines.jsonl"

    async def scenario() -> tuple[str, int]:
        async with pipeline(tmp_path, symbols,
                            feed={"channels": ("trades", "klines"), "kline_intervals": (60, 300)},
                            rate=RATE, clock_speed=SPEED, catalog=catalog) as stack:
            await closed_bars(stack, 2)
            connections = stack.emulator.inject("kline_malformed", "all", None, 2)
            await closed_bars(stack, 2)
            await everything_received(stack)
            await stack.stop()
            return stack.lake_root, connections

    root, connections = asyncio.run(scenario())
    lake = Lake(root)
    rows = lake.query("SELECT * FROM klines").table.to_pylist()
    got = sorted((r["symbol"], r["interval_s"], r["ts_ns"] // S, r["sequence"],
                  r["from_snapshot"], *(Decimal(r[v]).normalize() for v in VALUES))
                 for r in rows)
    lines = truth_lines(truth)
    # a frame the emulator broke is quarantined whole: none of its bars is a row
    faults = [f for f in lines if f.get("fault") == "kline_malformed"]
    broken = {(f["symbol"], f["interval"], f["ts_ns"], f["sequence"]) for f in faults}
    assert len(faults) == 2 * connections  # (8 symbols take more than one connection)
    lines = [t for t in lines if "fault" not in t
             and (t["symbol"], t["interval"], t["ts_ns"], t["sequence"]) not in broken]
    assert len(lines) < len(truth_lines(truth)) - len(faults)  # the broken frames had bars
    rejected = lake.query("SELECT reason FROM rejected").rows()
    assert len(rejected) == len(faults) and all("kline" in r[0] for r in rejected), rejected
    want = sorted((t["symbol"], t["interval"], t["ts"], t["sequence"], t["type"] == "snapshot",
                   *(Decimal(t[v]).normalize() for v in VALUES)) for t in lines)
    assert got == want
    assert {(r[0], r[1]) for r in got} == {(s, i) for s in symbols for i in (60, 300)}

    for symbol in symbols:
        bars = check(root, symbol)
        statuses = [b["status"] for b in bars]
        assert set(statuses) <= {"match", "outside"}, (symbol, bars)
        assert statuses.count("match") >= 3, (symbol, statuses)
        # the exchange's final bars, exact: the check compared all five values of each
        assert all(b["volume"] == b["bar_volume"] and b["close"] == b["bar_close"]
                   for b in bars if b["status"] == "match")
    assert sum(tied_edges(root, symbol) for symbol in symbols) >= 1


def test_a_recorded_gap_names_the_bars_it_touches(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, list[dict[str, Any]]]:
        async with pipeline(tmp_path, SYMBOLS, feed={"channels": ("trades", "klines")},
                            rate=RATE, clock_speed=SPEED) as stack:
            await closed_bars(stack, 1)
            # Refused for 2 s of wall time (40 s of trades, 400 a symbol): the resubscribe
            # snapshot (the last 200 trades) cannot cover them, so the recorder records a gap.
            stack.emulator.inject("refuse", "all", 2.0, 1)
            await wait_until(lambda: stack.recording.status().totals.connects >= 2, 30,
                             "the reconnect")
            await closed_bars(stack, 2)
            await stack.stop()
            gaps = Lake(stack.lake_root).query(
                "SELECT symbol, from_ns, to_ns FROM gaps WHERE channel = 'trades'"
            ).table.to_pylist()
            return stack.lake_root, gaps

    root, gaps = asyncio.run(scenario())
    assert {g["symbol"] for g in gaps} == set(SYMBOLS), gaps
    for symbol in SYMBOLS:
        mine = [g for g in gaps if g["symbol"] == symbol]
        bars = check(root, symbol)
        touched = {b["bucket"] for b in bars if any(
            g["from_ns"] < _ns(b["bucket"]) + 60 * S and g["to_ns"] >= _ns(b["bucket"])
            for g in mine)}
        inside = [b for b in bars if b["status"] != "outside"]
        assert touched, (symbol, mine, bars)
        for b in inside:
            if b["bucket"] in touched:
                assert "a recorded gap" in b["reason"], b
            else:
                assert b["status"] == "match", b
        assert any(b["bucket"] not in touched for b in inside), bars  # bars after the gap
        assert any(b["status"] == "differs" for b in inside if b["bucket"] in touched)


def _ns(bucket: Any) -> int:
    return int(bucket.timestamp()) * S
