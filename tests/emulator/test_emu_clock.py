"""The exchange clock (``clock_speed``, ``clock_start_ns``): exchange time runs k times faster
than real time, every exchange timestamp and window follows it, the network stays real.

Timing assertions are ratios with generous bounds over seconds of real time, and every wait
is a condition with a deadline scaled by TICKLAKE_TEST_TIMEOUT_FACTOR.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_emu_klines import (
    VALUES,
    decode,
    kept,
    kline_pushes,
    read_jsonl,
    rebuild,
    scales_of,
)

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator import clock as clock_module
from ticklake.emulator.clock import ExchangeClock, parse_clock_start

NS = 1_000_000_000
SPEED = 20.0
# A minute-aligned exchange time in the past, far from the wall clock.
MINUTE = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * NS
BAR = MINUTE // NS  # its kline bar's ts (bars are stamped in seconds)


# ---------------------------------------------------------------- the clock itself


def test_clock_is_exact_integer_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    mono = [5_000]
    monkeypatch.setattr(clock_module.time, "monotonic_ns", lambda: mono[0])
    monkeypatch.setattr(clock_module.time, "time_ns", lambda: 1_700_000_000_123_456_789)
    real = ExchangeClock()  # speed 1, start = the wall clock at creation
    fast = ExchangeClock(SPEED, MINUTE)
    slow = ExchangeClock(0.1, MINUTE)
    assert real.start_ns == 1_700_000_000_123_456_789 and real.now_ns() == real.start_ns
    seen = []
    for elapsed in (1, 7, 999_999_999, 3600 * NS + 3, 10**15 + 1):
        mono[0] = 5_000 + elapsed
        assert real.now_ns() == 1_700_000_000_123_456_789 + elapsed  # no float anywhere
        assert fast.now_ns() == MINUTE + 20 * elapsed
        seen.append(slow.now_ns())
        # 0.1 as the float holds it, exactly: floor(elapsed * 3602879701896397 / 2**55)
        assert slow.now_ns() == MINUTE + elapsed * 3602879701896397 // 2**55
    assert seen == sorted(seen)


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan, math.inf])
def test_bad_clock_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="clock_speed must be > 0"):
        EmulatorConfig(clock_speed=speed)
    with pytest.raises(ValueError, match="clock speed"):
        ExchangeClock(speed)


@pytest.mark.parametrize("start", [-1, 1.5, "2024-03-01", 2**62])
def test_bad_clock_start(start: Any) -> None:
    with pytest.raises(ValueError, match="clock_start_ns must be"):
        EmulatorConfig(clock_start_ns=start)


def test_parse_clock_start() -> None:
    for text in ("2024-03-01T00:00:00Z", "2024-03-01 00:00", "2024-03-01T01:00:00+01:00",
                 "1709251200000", " 2024-03-01T00:00:00.000000Z "):
        assert parse_clock_start(text) == MINUTE, text
    assert parse_clock_start("2024-03-01T00:00:00.123456Z") == MINUTE + 123_456_000
    for text in ("yesterday", "-5", "", "2024-13-01"):
        with pytest.raises(ValueError, match="ISO-8601"):
            parse_clock_start(text)


# ---------------------------------------------------------------- on the wire


def test_trades_and_tickers_run_at_the_clock_speed(kit: Any, tmp_path: Path) -> None:
    """At speed 20 the trades' timestamps advance ~20 exchange seconds per real second
    (rate 10 per exchange second: ~200 trades per real second), and the tickers, pushed every
    real second, are stamped ~20 exchange seconds apart."""
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        for channel, params in (("trade", ["BTCUSD"]), ("market24h", ["BTCUSD"])):
            await raw.reply(await raw.request(f"{channel}.subscribe", params))

        def pairs() -> list[tuple[float, int]]:  # (arrival, newest trade ts) per incremental
            return [(t, max(r[0] for r in m["trades"]))
                    for t, m in zip(raw.times, raw.messages(), strict=True)
                    if isinstance(m, dict) and m.get("type") == "incremental" and m["trades"]]

        await kit.eventually(lambda: len(pairs()) > 2 and pairs()[-1][0] - pairs()[0][0] > 3,
                             15, "3 s of trades")
        got["pairs"], got["wall_ns"] = pairs(), time.time_ns()
        got["tickers"] = [m["timestamp"] for m in raw.messages()
                          if isinstance(m, dict) and "market24h" in m]
        await raw.close()

    kit.run(EmulatorConfig(rate=10, history=20, clock_speed=SPEED), scenario)
    (t0, ts0), (t1, ts1) = got["pairs"][0], got["pairs"][-1]
    ratio = (ts1 - ts0) / NS / (t1 - t0)
    assert 0.6 * SPEED < ratio < 1.5 * SPEED, ratio
    assert ts1 > got["wall_ns"] + 30 * NS, "exchange time ran ahead of the wall clock"
    tickers = got["tickers"]  # the one after the ack, then one per real ticker_interval (1 s)
    assert len(tickers) >= 3 and tickers == sorted(tickers)
    gaps = sorted(b - a for a, b in itertools.pairwise(tickers[1:]))
    assert 0.5 * SPEED * NS < gaps[len(gaps) // 2] < 1.5 * SPEED * NS, gaps


def test_clock_start_is_honoured_and_history_precedes_it(kit: Any, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    start = MINUTE + 7 * NS
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        await kit.eventually(lambda: emu.trades_produced > 150, 10, "live trades")
        got["state"] = emu.state()["clock"]

    kit.run(EmulatorConfig(rate=50, history=100, truth_path=str(truth), clock_start_ns=start),
            scenario)
    stamps = [r["ts_ns"] for r in read_jsonl(truth)]
    history, live = stamps[:100], stamps[100:]
    assert history == sorted(history) and history[-1] < start
    assert start - history[0] < 3600 * NS  # the history is just before it, not at the wall
    assert live and start < live[0] < start + 5 * NS
    assert start < got["state"]["now_ns"] < start + 600 * NS
    assert got["state"]["speed"] == 1.0


def test_a_60s_kline_bar_closes_in_seconds(kit: Any, tmp_path: Path) -> None:
    """At speed 20, starting 50 exchange seconds into a minute, the next minute (entirely
    live) closes ~3.5 real seconds later: the bar after it appears, and every closed bar a
    client keeps equals the bar rebuilt from the trade truth."""
    truth = tmp_path / "truth.jsonl"
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        got["scales"] = await scales_of(kit, emu)
        raw = await kit.Raw.open(emu.url)
        began = time.monotonic()
        await raw.reply(await raw.request("kline.subscribe", ["BTCUSD", 60]))

        def newest() -> int:
            return max((row[0] for m in kline_pushes(raw) for row in m["kline"]), default=0)

        await kit.eventually(lambda: newest() >= BAR + 120, 15, "bar 00:02 on the wire")
        got["real_s"] = time.monotonic() - began
        await raw.close()
        got["msgs"] = [decode(m, got["scales"]) for m in kline_pushes(raw)]
        assert emu.market is not None
        got["clock"] = emu.market.clock_ns

    kit.run(EmulatorConfig(rate=5, history=100, truth_path=str(truth), clock_speed=SPEED,
                           clock_start_ns=MINUTE + 50 * NS), scenario)
    assert got["real_s"] < 15 * kit.FACTOR  # 70 exchange seconds: ~3.5 s
    bars = kept(got["msgs"], "BTCUSD", 60)
    assert {BAR, BAR + 60, BAR + 120} <= set(bars)
    expected = rebuild(read_jsonl(truth), "BTCUSD", 60, got["clock"])
    closed = [ts for ts in bars if ts < max(bars)]
    assert closed and BAR + 60 in closed and bars[BAR + 60][5] > 0  # traded, live
    assert {ts: bars[ts] for ts in closed} == {ts: expected[ts] for ts in closed}
    # The kline truth agrees: the last version published of the bar is the bar.
    lines = [r for r in read_jsonl(tmp_path / "truth.klines.jsonl") if r["ts"] == BAR + 60]
    assert tuple(Decimal(lines[-1][k]) for k in VALUES) == expected[BAR + 60]


def test_swing_labels_are_in_exchange_time(kit: Any, tmp_path: Path) -> None:
    """A 20 exchange-second swing at speed 20: the label's start/end are exchange times
    (near the clock), and trades past its end arrive about a real second later."""
    truth, labels = tmp_path / "truth.jsonl", tmp_path / "labels.jsonl"
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        url = f"http://127.0.0.1:{emu.port}/control/swing?k=40&seconds=20&direction=down"
        status, body = await kit.aget(url)
        assert status == 200
        got["label"] = label = json.loads(body)["label"]
        await kit.eventually(lambda: emu.market is not None
                             and emu.market.clock_ns > label["end_ns"] + 5 * NS,
                             10, "the swing over")

    kit.run(EmulatorConfig(rate=50, history=50, truth_path=str(truth), labels_path=str(labels),
                           clock_speed=SPEED, clock_start_ns=MINUTE), scenario)
    label = got["label"]
    assert MINUTE < label["start_ns"] < MINUTE + 600 * NS
    assert label["end_ns"] - label["start_ns"] == 20 * NS
    assert [json.loads(line) for line in labels.read_text().splitlines()] == [label]
    rows = [(r["ts_ns"], float(r["price"])) for r in read_jsonl(truth)]
    before = [p for ts, p in rows if ts < label["start_ns"]][-20:]
    after = [p for ts, p in rows if ts > label["end_ns"]][:20]
    assert before and after
    moved_bp = (sum(after) / len(after) / (sum(before) / len(before)) - 1) * 1e4
    expected_bp = label["move_bp"]  # 40 local sigmas scaled to the 20 s
    assert -1.4 * expected_bp < moved_bp < -0.6 * expected_bp
