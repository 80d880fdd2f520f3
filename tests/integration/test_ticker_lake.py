"""24 h tickers, ticks and klines in the lake equal what the exchange published.

The real pipeline records the emulator's ticker channels of the three families (the USDⓈ-M
pack with a column appended that no client knows) and the index/mark/funding ticks; every
publication the emulator's truth says it sent is a row, once, with every value exact, across a
reconnect, and a frame the emulator broke on purpose is quarantined whole.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ticklake.catalog import Lake
from ticklake.feed.phemex.tickers import TICKER_COLUMNS

from ..reliability.stack import pipeline
from ..support import wait_until

SYMBOLS = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
# Beyond the shipped defaults: the exchange catalog's scales in every family (its ticker
# channels carry every listed symbol, hundreds).
EXCHANGE_SYMBOLS = ("BTCUSD", "XRPUSD", "GOLDUSD", "BTCUSDT", "CHZUSDT", "MKRUSDT", "sSHIBUSDT",
                    "sPEPEUSDT", "sBTCTRY")


def truth_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def exact(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value)).normalize()


@pytest.mark.parametrize(("catalog", "symbols"), [("basic", SYMBOLS),
                                                  ("exchange", EXCHANGE_SYMBOLS)])
def test_tickers_and_ticks_equal_the_exchanges_publications(
        tmp_path: Path, catalog: str, symbols: tuple[str, ...]) -> None:
    tickers_truth, ticks_truth = tmp_path / "truth.tickers.jsonl", tmp_path / "truth.ticks.jsonl"

    async def scenario() -> str:
        async with pipeline(tmp_path, symbols, feed={"channels": ("trades", "tickers", "ticks")},
                            rate=20.0, ticker_interval=0.2, ticker_pack_fields="appended",
                            catalog=catalog) as stack:
            def published(channel: str) -> int:
                return sum(line.get("channel") == channel and "fault" not in line
                           for line in truth_lines(tickers_truth))

            def enough(count: int) -> bool:
                return min(published(c) for c in (
                    "market24h", "spot_market24h", "perp_market24h_pack_p")) >= count

            await wait_until(lambda: enough(5), 30, "5 publications of every ticker channel")
            stack.emulator.inject("ticker_malformed", "all", None, 2)
            await wait_until(lambda: enough(10), 30, "10 publications of every ticker channel")
            stack.emulator.inject("close", "all", None, 1)  # a reconnect: resubscribed
            await wait_until(lambda: stack.recording.status().totals.connects >= 2, 30,
                             "the reconnect")
            await wait_until(lambda: enough(20), 30, "20 publications of every ticker channel")
            await wait_until(lambda: len(truth_lines(ticks_truth)) >= 40, 30, "ticks")
            await stack.stop()
            return stack.lake_root

    root = asyncio.run(scenario())
    lake = Lake(root)
    rows = lake.query("SELECT * FROM tickers").table.to_pylist()
    got = sorted(
        (r["channel"], r["symbol"], r["ts_ns"],
         tuple(exact(r[c]) for c in TICKER_COLUMNS), json.loads(r["extra"] or "{}"))
        for r in rows)
    lines = truth_lines(tickers_truth)
    # A frame the emulator broke is quarantined whole: none of its rows is in the lake.
    faults = [f for f in lines if f.get("fault") == "ticker_malformed"]
    broken = {(f["channel"], f.get("symbol"), f["ts_ns"]) for f in faults}  # (a pack: no symbol)
    assert faults

    def was_broken(t: dict[str, Any]) -> bool:
        return bool({(t["channel"], t["symbol"], t["ts_ns"]), (t["channel"], None, t["ts_ns"])}
                    & broken)

    want = sorted(
        (t["channel"], t["symbol"], t["ts_ns"], tuple(exact(t[c]) for c in TICKER_COLUMNS),
         t.get("extra") or {})
        for t in lines if "fault" not in t and not was_broken(t))
    assert got == want
    assert {r[0] for r in got} == {"market24h", "spot_market24h", "perp_market24h_pack_p"}
    assert {r[1] for r in got} >= set(symbols)  # (and every other listed symbol)
    assert all(r[4] for r in got if r[0] == "perp_market24h_pack_p")  # the appended column
    ticks = sorted((r["channel"], r["symbol"], r["ts_ns"], exact(r["value"]))
                   for r in lake.query("SELECT * FROM ticks").table.to_pylist())
    assert ticks == sorted((t["channel"], t["symbol"], t["ts_ns"], exact(t["value"]))
                           for t in truth_lines(ticks_truth))
    assert {t[1] for t in ticks} >= {".BTC", ".MBTC", ".BTCFR8H", ".BTCUSDT", ".MBTCUSDT"}
    rejected = lake.query("SELECT reason FROM rejected").rows()
    assert len(rejected) == len(faults), rejected
