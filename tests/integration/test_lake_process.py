"""The lake writer child process runs while a publish is due and exits in between.

A real recording from the emulator into a spool, with ``LakeProcess`` (the recorder's writer
process) on an interval far above its linger: it must start for each publish, be gone between
publishes, and still put every trade into the lake exactly once; a child that exited idle
leaves what it had not published to the next one, and ``stop`` drains without one running.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pyarrow.dataset as ds

from ticklake.feed.phemex import default_products
from ticklake.lake.hints import INTENT, BufferingHints
from ticklake.lake.runner import LakeProcess
from ticklake.spool import Spool

from ..support import scaled, wait_until
from .harness import recording
from .test_lake import lake_keys, truth_keys

SYMBOLS = ("BTCUSD", "BTCUSDT")


def test_the_writer_process_runs_only_around_publishes(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()
    runner = LakeProcess(writer, tmp_path / "spool", str(root), default_products(),
                         BufferingHints(size_mib=64.0, interval=1.5), linger=0.3, tick=0.05)
    runner.set_durable(writer.durable_offset)
    writer.on_durable = runner.set_durable
    alive: list[bool] = []
    committed: list[int] = []

    async def record() -> object:
        async def sample() -> None:
            while True:
                alive.append(runner.alive)
                committed.append(runner.writer.committed_offset)
                await asyncio.sleep(0.05)

        runner.start()
        sampler = asyncio.create_task(sample())
        try:
            async with recording(tmp_path, SYMBOLS, on_frame=writer.append, rate=40.0) as run:
                await run.streaming()
                await wait_until(lambda: runner.starts >= 3 and not runner.alive, 60,
                                 "three writer processes, the last one gone")
                await run.caught_up()
        finally:
            sampler.cancel()
            writer.close()
            await asyncio.to_thread(runner.stop, True)
        return run

    run = asyncio.run(record())
    trades = ds.dataset(root / "trades", format="parquet", partitioning="hive").to_table()
    assert lake_keys(trades) == truth_keys(run)
    assert sum(lake_keys(trades).values()) == len(run.trades)
    assert runner.writer.committed_offset == run.session.stats.frames
    # Published in steps, with no writer process between them (after the first publish).
    steps = sorted(set(committed))
    assert len(steps) >= 3, steps
    first = committed.index(steps[1])
    assert not all(alive[first:]), "the writer process never exited between publishes"
    raw = ds.dataset(root / "raw", format="parquet", partitioning="hive").to_table()
    assert sorted(raw.column("spool_offset").to_pylist()) == list(range(raw.num_rows))


def test_stop_drains_with_no_writer_process_running(tmp_path: Path) -> None:
    """Frames spooled while no child runs (the interval is far away) are published by the
    drain on stop, by a child started for it."""
    root = tmp_path / "lake"
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()
    runner = LakeProcess(writer, tmp_path / "spool", str(root), default_products(),
                         BufferingHints(size_mib=64.0, interval=3600.0), tick=0.05)
    runner.set_durable(writer.durable_offset)
    writer.on_durable = runner.set_durable

    async def record() -> object:
        runner.start()
        try:
            async with recording(tmp_path, SYMBOLS, on_frame=writer.append, rate=40.0) as run:
                await run.streaming()
                await wait_until(lambda: len(run.trades) > 100, 30, "100 trades")
                await run.caught_up()
                assert runner.starts == 0 and not runner.alive
        finally:
            writer.close()
            await asyncio.to_thread(runner.stop, True)
        return run

    run = asyncio.run(record())
    assert runner.starts == 1
    trades = ds.dataset(root / "trades", format="parquet", partitioning="hive").to_table()
    assert lake_keys(trades) == truth_keys(run)


def test_stop_drains_a_running_writer_process(tmp_path: Path) -> None:
    """An interval within the linger keeps one child for the whole run; stop drains it."""
    root = tmp_path / "lake"
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()
    runner = LakeProcess(writer, tmp_path / "spool", str(root), default_products(),
                         BufferingHints(size_mib=64.0, interval=0.5), tick=0.05)
    runner.set_durable(writer.durable_offset)
    writer.on_durable = runner.set_durable

    async def record() -> object:
        runner.start()
        try:
            async with recording(tmp_path, SYMBOLS, on_frame=writer.append, rate=40.0) as run:
                await run.streaming()
                await wait_until(lambda: runner.writer.committed_offset > 0, 60, "a publish")
                await run.caught_up()
                assert runner.alive  # the interval is within its linger: it stays
        finally:
            writer.close()
            await asyncio.to_thread(runner.stop, True)
        return run

    run = asyncio.run(record())
    assert runner.starts == 1
    assert runner.writer.committed_offset == run.session.stats.frames
    trades = ds.dataset(root / "trades", format="parquet", partitioning="hive").to_table()
    assert lake_keys(trades) == truth_keys(run)


def test_a_batch_left_half_published_is_finished_at_start(tmp_path: Path) -> None:
    """A crash between the intent and the cursor: the next start redoes that batch at once,
    not an interval later."""
    root = tmp_path / "lake"
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()

    async def record() -> None:
        async with recording(tmp_path, SYMBOLS, on_frame=writer.append, rate=40.0) as run:
            await run.streaming()
            await wait_until(lambda: len(run.trades) > 50, 30, "50 trades")

    asyncio.run(record())
    end = writer.end_offset
    writer.close()
    spool.cursors.commit(INTENT, end, json.dumps({"first": 0}).encode())  # then "kill -9"
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()
    runner = LakeProcess(writer, tmp_path / "spool", str(root), default_products(),
                         BufferingHints(size_mib=64.0, interval=3600.0), tick=0.05)
    runner.start()
    try:
        assert runner.starts == 1
        deadline = time.monotonic() + scaled(60)
        while runner.writer.committed_offset < end:
            assert time.monotonic() < deadline, "the batch was not redone"
            time.sleep(0.05)
    finally:
        writer.close()
        runner.stop(drain=False)
    raw = ds.dataset(root / "raw", format="parquet", partitioning="hive").to_table()
    assert sorted(raw.column("spool_offset").to_pylist()) == list(range(end))
