"""Off the emulator's path: whole product families of an exchange-shaped catalog (hundreds of
listed symbols, today's payload and the 2021 one), recorded by ``--family`` through the real
pipeline, checked against the emulator's truth at the live edge and in the lake."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ticklake.catalog import Lake
from ticklake.config import load_settings
from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator.catalog import listed_symbols
from ticklake.feed.phemex import default_products
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.live_edge import query_lake
from ticklake.pipeline import Recording, build_recording
from ticklake.spool import Spool

from ..reliability.common import compare_lake, lake_trades, truth_trades
from ..reliability.stack import FAST_FEED
from ..support import Key, scaled, wait_until

# (catalog, the client's family name, the emulator's): every family of both payload shapes.
CASES = [("exchange", "coin-m", "coin_m"), ("exchange", "usd-m", "usdt_m"),
         ("exchange", "spot", "spot"), ("exchange-2021", "coin-m", "coin_m"),
         ("exchange-2021", "spot", "spot")]
SHARDS = 2  # a family of 100+ symbols is more than one recorder's 5 x 20 subscriptions


@contextlib.asynccontextmanager
async def shards(tmp_path: Path, emulator: Emulator,
                 family: str) -> AsyncIterator[list[tuple[Recording, Path, str]]]:
    """``record --family FAMILY --shard i/2`` for i = 0, 1: each its own spool and lake; the
    publish interval long, so that what SQL sees comes from the spool's tail."""
    runs: list[tuple[Recording, Path, str, asyncio.Task[None]]] = []
    try:
        for index in range(SHARDS):
            spool, lake = tmp_path / f"spool{index}", str(tmp_path / f"lake{index}")
            settings = load_settings(
                feed={"url": emulator.url, "symbols": [f"all:{family}"],
                      "shard": (index, SHARDS), **FAST_FEED},
                lake={"root": lake, "spool": str(spool), "buffer_seconds": 300.0})
            recording = await build_recording(settings.feed, None, settings.lake)
            runs.append((recording, spool, lake,
                         asyncio.create_task(recording.run())))
        for recording, *_ in runs:
            await wait_until(lambda r=recording: r.status().totals.state == "streaming", 30,
                             "every shard streaming")
        yield [(recording, spool, lake) for recording, spool, lake, _ in runs]
    finally:
        for *_, task in runs:
            task.cancel()
        for *_, task in runs:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a check that reads files or runs SQL, off the event loop the recorders run on."""
    deadline = time.monotonic() + scaled(timeout)
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out after {scaled(timeout):.0f}s: {what}"
        await asyncio.sleep(0.1)


def edge_trades(runs: list[tuple[Recording, Path, str]]) -> Counter[Key]:
    seen: Counter[Key] = Counter()
    for _, spool, lake in runs:
        seen.update(lake_trades(lake, spool))
    return seen


def rejected(lake: str, spool: Path | None = None) -> int:
    sql = "SELECT count(*) FROM rejected"
    rows = query_lake(lake, spool, sql).rows() if spool else Lake(lake).query(sql).rows()
    return int(rows[0][0])


@pytest.mark.parametrize(("catalog", "family", "emulator_family"), CASES,
                         ids=[f"{c}-{f}" for c, f, _ in CASES])
def test_a_whole_family_is_recorded_exactly_at_the_live_edge_and_in_the_lake(
        tmp_path: Path, catalog: str, family: str, emulator_family: Any) -> None:
    symbols = listed_symbols(catalog, emulator_family)
    assert len(symbols) >= 100

    async def scenario() -> None:
        truth = tmp_path / "truth.jsonl"
        served = "all:usdt-m" if family == "usd-m" else f"all:{family}"
        config = EmulatorConfig(catalog=catalog, symbols=(served,), rate=0.4,
                                truth_path=str(truth))
        async with Emulator(config) as emulator:
            emulator.halt()
            async with shards(tmp_path, emulator, family) as runs:
                subscribed = sorted(sub.symbol for recording, *_ in runs
                                    for session in recording.sessions.sessions
                                    for sub in session.protocol.subscriptions())
                assert subscribed == sorted(symbols)  # exactly the payload's family
                emulator.resume()
                await eventually(lambda: len({k[0] for k in truth_trades(truth)}) >= 50, 60,
                                 "trades of 50 symbols")
                emulator.halt()
                made = truth_trades(truth)
                # While recording, SQL over lake + tail holds every trade made, once each.
                await eventually(lambda: edge_trades(runs) == made, 30,
                                 "every trade made, at the live edge")
                assert all(rejected(lake, spool) == 0 for _, spool, lake in runs)
        # After the stop (the lake drained): the lakes hold the same, and nothing rejected.
        total: Counter[Key] = Counter()
        for index in range(SHARDS):
            total.update(lake_trades(str(tmp_path / f"lake{index}")))
            assert rejected(str(tmp_path / f"lake{index}")) == 0
        assert total == truth_trades(truth)
        assert len({k[0] for k in total}) >= 50

    asyncio.run(scenario())


def test_a_spool_copied_to_a_clean_machine_decodes_as_recorded(tmp_path: Path) -> None:
    """A recorder's spool, copied before anything was published, is read elsewhere by a
    process that knows only the shipped products: its control record names the rest."""
    symbols = ("BTCUSD", *listed_symbols("exchange", "coin_m")[5:7],
               *listed_symbols("exchange", "usdt_m")[3:5], *listed_symbols("exchange", "spot")[4:6])

    async def scenario() -> Path:
        truth = tmp_path / "truth.jsonl"
        config = EmulatorConfig(catalog="exchange", symbols=symbols, rate=5.0,
                                truth_path=str(truth))
        async with Emulator(config) as emulator:
            settings = load_settings(
                feed={"url": emulator.url, "symbols": list(symbols), **FAST_FEED},
                lake={"root": str(tmp_path / "lake"), "spool": str(tmp_path / "spool"),
                      "buffer_seconds": 300.0})
            recording = await build_recording(settings.feed, None, settings.lake)
            task = asyncio.create_task(recording.run())
            await eventually(lambda: len({k[0] for k in truth_trades(truth)}) == len(symbols)
                             and recording.status().totals.trades >= 60, 30, "trades of all")
            emulator.halt()
            await eventually(lambda: recording.status().totals.trades
                             >= sum(truth_trades(truth).values()), 20, "all delivered")
            shutil.copytree(tmp_path / "spool", tmp_path / "copied")  # nothing published yet
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return truth

    truth = asyncio.run(scenario())
    copied, elsewhere = tmp_path / "copied", str(tmp_path / "elsewhere")
    spool = Spool(copied)
    writer = LakeWriter(spool, spool.cursors, LakeStorage(elsewhere), default_products(),
                        BufferingHints(size_mib=64, interval=3600))
    assert lake_trades(elsewhere, copied) == truth_trades(truth)  # SQL before publishing
    assert writer.drain()
    assert lake_trades(elsewhere) == truth_trades(truth)
    assert rejected(elsewhere) == 0
    result = compare_lake(elsewhere, truth)
    assert result.lost_silently == result.duplicated == result.invented == 0
