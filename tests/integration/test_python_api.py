"""The Python API against the emulator over a real socket: what the program is handed live
is the exchange's trades, trade for trade; a slow program loses only what it is told it
lost (the lake keeps everything); callbacks; and the lake read back over a real S3 server."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

import ticklake
from ticklake.catalog import Lake
from ticklake.emulator import Emulator, EmulatorConfig

from ..reliability.common import compare_lake
from ..reliability.procs import control, emulator_process, kill_group, recorder, stop_recorder
from ..reliability.stack import FAST_FEED
from ..seaweed import SeaweedFS
from ..support import key_of, read_truth, wait_until
from ..unit.api.test_lake_api import DAY, T0, write_lake_rows

SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")


async def streaming(live: ticklake.LiveRecording) -> None:
    await wait_until(lambda: live.status().totals.state == "streaming", 15, "streaming")


async def delivered(live: ticklake.LiveRecording, emulator: Emulator) -> None:
    """Halt the market, then wait until the recorder received every trade it made."""
    emulator.halt()
    produced = emulator.trades_produced
    await wait_until(lambda: live.status().totals.trades >= produced, 20,
                     f"all {produced} trades received")


def test_the_program_is_handed_the_exchanges_trades_and_the_lake_has_them(
        tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"

    async def scenario() -> list[Any]:
        async with Emulator(EmulatorConfig(symbols=SYMBOLS, truth_path=str(truth),
                                           rate=40.0)) as emulator:
            emulator.halt()  # the truth starts when the recording streams
            items: list[Any] = []
            async with ticklake.record(SYMBOLS, url=emulator.url, lake=tmp_path / "lake",
                                       spool=tmp_path / "spool", **FAST_FEED) as live:
                await streaming(live)
                emulator.resume()
                await wait_until(lambda: emulator.trades_produced >= 200, 20, "200 trades")
                emulator.inject("close", "all", None, 1)  # a reconnect: a snapshot in between
                await wait_until(lambda: live.status().totals.connects >= 2, 20, "a reconnect")
                await wait_until(lambda: emulator.trades_produced >= 400, 20, "400 trades")
                await delivered(live, emulator)
                expected = live.status().totals.trades
                async for item in live:
                    items.append(item)
                    if sum(isinstance(i, ticklake.Trade) for i in items) == expected:
                        break
                assert live.dropped_trades == live.dropped_gaps == 0
            return items

    items = asyncio.run(scenario())
    trades = [i for i in items if isinstance(i, ticklake.Trade)]
    assert Counter(map(key_of, trades)) == Counter(read_truth(truth))
    assert {t.symbol for t in trades} == set(SYMBOLS)
    result = compare_lake(str(tmp_path / "lake"), truth)
    assert (result.recorded, result.duplicated, result.lost_silently) == (len(trades), 0, 0)


def test_a_slow_program_is_told_what_it_lost_and_the_recorder_never_waits(
        tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"

    async def scenario() -> tuple[int, int, int]:
        async with Emulator(EmulatorConfig(symbols=SYMBOLS, truth_path=str(truth),
                                           rate=40.0)) as emulator:
            emulator.halt()
            async with ticklake.record(SYMBOLS, url=emulator.url, lake=tmp_path / "lake",
                                       spool=tmp_path / "spool", maxsize=5,
                                       **FAST_FEED) as live:
                await streaming(live)
                emulator.resume()
                # The program reads nothing while 300 trades arrive (far more than 5 messages).
                await wait_until(lambda: emulator.trades_produced >= 300, 20, "300 trades")
                await delivered(live, emulator)
                received = live.status().totals.trades
                handed = 0
                async for item in live:
                    handed += isinstance(item, ticklake.Trade)
                    if handed + live.dropped_trades == received:
                        break
                return received, handed, live.dropped_trades

    received, handed, dropped = asyncio.run(scenario())
    assert dropped > 0 and handed + dropped == received
    result = compare_lake(str(tmp_path / "lake"), truth)
    assert (result.recorded, result.duplicated, result.lost_silently) == (received, 0, 0)


def test_callbacks_get_every_trade_and_an_error_in_one_ends_the_recording(
        tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with Emulator(EmulatorConfig(symbols=SYMBOLS, truth_path=str(truth),
                                           rate=40.0)) as emulator:
            emulator.halt()
            plain: list[Any] = []
            awaited: list[Any] = []

            async def on_trade(trade: ticklake.Trade) -> None:
                awaited.append(trade)

            async with ticklake.record(SYMBOLS, url=emulator.url, on_trade=on_trade,
                                       on_gap=plain.append, **FAST_FEED) as live:
                await streaming(live)
                emulator.resume()
                await wait_until(lambda: emulator.trades_produced >= 200, 20, "200 trades")
                await delivered(live, emulator)
                await wait_until(lambda: len(awaited) == live.status().totals.trades, 20,
                                 "every trade handed to the callback")

            def fail(trade: ticklake.Trade) -> None:
                msg = f"the program's own error at {trade.symbol}"
                raise LookupError(msg)

            emulator.resume()
            with pytest.raises(LookupError, match="the program's own error"):
                async with ticklake.record(SYMBOLS, url=emulator.url, on_trade=fail,
                                           **FAST_FEED) as live:
                    await live.wait()  # ends by itself: the callback failed
            return awaited, plain

    awaited, gaps = asyncio.run(scenario())
    assert gaps == []
    first = read_truth(truth)[: len(awaited)]
    assert Counter(map(key_of, awaited)) == Counter(first)


def test_a_lake_on_a_real_s3_server_reads_like_the_local_one(
        tmp_path: Path, seaweed: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    local = write_lake_rows(tmp_path / "lake")
    fs = seaweed.filesystem()
    prefix = f"{seaweed.bucket}/{tmp_path.name}"
    pafs.copy_files(str(local), prefix, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=fs)
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)
    remote = ticklake.open_lake(f"s3://{prefix}")
    window = {"symbols": ["BTCUSD"], "since": T0 + DAY, "until": T0 + 2 * DAY}
    got = remote.read("trades", **window)
    assert got.num_rows == 75
    assert got.equals(ticklake.open_lake(local).read("trades", **window))
    assert len(remote.files("trades", **window)) == 1
    assert remote.candles("BTCUSD", "1 day").num_rows == 3


def test_follow_attaches_to_a_recorder_in_another_process_and_gets_what_the_lake_gets(
        tmp_path: Path) -> None:
    spool, lake = tmp_path / "spool", tmp_path / "lake"
    with emulator_process(tmp_path, "--rate", "40",
                          "--symbols", "BTCUSD,BTCUSDT,sBTCUSDT") as (url, truth):
        process = recorder(url, str(lake), spool, symbols="BTCUSD,BTCUSDT,sBTCUSDT")

        async def scenario() -> list[Any]:
            items: list[Any] = []

            async def consume() -> None:
                async for item in ticklake.follow(spool, start="lake"):
                    items.append(item)

            await wait_until((spool / "segments").is_dir, 30, "the recorder's spool")
            task = asyncio.create_task(consume())
            try:
                await wait_until(lambda: len(items) >= 400, 30, "400 trades followed")
                control(url, "fault", kind="close", target="all")  # a reconnect
                await wait_until(lambda: len(items) >= 800, 30, "800 trades followed")
                assert await asyncio.to_thread(stop_recorder, process) == 0
                recorded = Lake(str(lake)).query("SELECT count(*) FROM trades").rows()[0][0]
                await wait_until(lambda: len(items) >= recorded, 20, "every trade followed")
            finally:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                task.cancel()
            return items

        try:
            items = asyncio.run(scenario())
        finally:
            kill_group(process)
    trades = [i for i in items if isinstance(i, ticklake.Trade)]
    in_lake = Counter((s, t, side, p, q) for s, t, side, p, q in Lake(str(lake)).query(
        "SELECT symbol, ts_ns, side, price, qty FROM trades", max_rows=None).rows())
    assert Counter(map(key_of, trades)) == in_lake
    assert not Counter(map(key_of, trades)) - Counter(read_truth(truth))  # nothing invented
    assert len({t.symbol for t in trades}) == 3
