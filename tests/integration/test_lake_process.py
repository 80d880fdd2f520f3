"""The lake writer child process runs while a publish is due and exits in between.

A real recording from the emulator into a spool, with ``LakeProcess`` (the recorder's writer
process) on an interval far above its linger: it must start for each publish, be gone between
publishes, and still put every trade into the lake exactly once; a child that exited idle
leaves what it had not published to the next one, and ``stop`` drains without one running.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pyarrow.dataset as ds

from ticklake.feed.phemex import default_products
from ticklake.lake.hints import INTENT, BufferingHints
from ticklake.lake.process import LakeProcess
from ticklake.spool import Spool, SpoolWriter

from ..support import scaled, wait_until
from .harness import Run, recording
from .test_lake import lake_keys, truth_keys

SYMBOLS = ("BTCUSD", "BTCUSDT")
During = Callable[[Run, LakeProcess], Awaitable[None]]


def lake_process(tmp_path: Path, interval: float, linger: float = 30.0, size_mib: float = 64.0,
                 ) -> tuple[SpoolWriter, LakeProcess]:
    """A spool writer and the recorder's lake process over it, wired as ``open_lake`` does."""
    writer = Spool(tmp_path / "spool").writer()
    runner = LakeProcess(writer, tmp_path / "spool", str(tmp_path / "lake"), default_products(),
                         BufferingHints(size_mib=size_mib, interval=interval), linger=linger,
                         tick=0.05, restart_backoff=(0.2, 1.0))
    runner.set_durable(writer.durable_offset)
    writer.on_durable = runner.set_durable
    return writer, runner


def record_through(tmp_path: Path, writer: SpoolWriter, runner: LakeProcess,
                   during: During) -> Run:
    """Record from the emulator through ``runner`` until ``during`` returns and the stream
    is caught up; stop with a drain; the lake's trades must equal the ground truth."""

    async def record() -> Run:
        runner.start()
        try:
            async with recording(tmp_path, SYMBOLS, on_frame=writer.append,
                                 flush_frames=writer.flush, rate=40.0) as run:
                await run.streaming()
                await during(run, runner)
                await run.caught_up()
        finally:
            writer.close()
            await asyncio.to_thread(runner.stop, True)
        return run

    run = asyncio.run(record())
    trades = ds.dataset(tmp_path / "lake" / "trades", format="parquet",
                        partitioning="hive").to_table()
    assert lake_keys(trades) == truth_keys(run)
    assert sum(lake_keys(trades).values()) == len(run.trades)
    assert runner.committed_offset == run.session.stats.frames
    return run


def test_the_writer_process_runs_only_around_publishes(tmp_path: Path) -> None:
    """Three publishes, each by a writer process of its own: a process is only started when
    none runs, so the third start means the first two exited by themselves in between."""
    writer, runner = lake_process(tmp_path, interval=1.5, linger=0.3)
    published: list[int] = []

    async def three_children_three_publishes(run: Run, runner: LakeProcess) -> None:
        for start in (1, 2, 3):
            last = published[-1] if published else 0
            await wait_until(lambda s=start, n=last: runner.starts >= s
                             and runner.committed_offset > n, 60,
                             f"writer process #{start} and a publish after #{start - 1}'s")
            assert runner.error is None  # each one before exited cleanly (idle), none failed
            published.append(runner.committed_offset)

    record_through(tmp_path, writer, runner, three_children_three_publishes)
    raw = ds.dataset(tmp_path / "lake" / "raw", format="parquet", partitioning="hive").to_table()
    assert sorted(raw.column("spool_offset").to_pylist()) == list(range(raw.num_rows))


def test_stop_drains_with_no_writer_process_running(tmp_path: Path) -> None:
    """Frames spooled while no child runs (the interval is far away) are published by the
    drain on stop, by a child started for it."""
    writer, runner = lake_process(tmp_path, interval=3600.0)

    async def no_child(run: Run, runner: LakeProcess) -> None:
        await wait_until(lambda: len(run.trades) > 100, 30, "100 trades")
        assert runner.starts == 0 and not runner.alive

    record_through(tmp_path, writer, runner, no_child)
    assert runner.starts == 1


def test_stop_drains_a_running_writer_process(tmp_path: Path) -> None:
    """An interval within the linger keeps one child for the whole run; stop drains it."""
    writer, runner = lake_process(tmp_path, interval=0.5)

    async def one_child(run: Run, runner: LakeProcess) -> None:
        for _ in range(3):  # three publishes by the same process: it stays between them
            published = runner.committed_offset
            await wait_until(lambda n=published: runner.committed_offset > n, 60,
                             "a publish")
        assert runner.starts == 1 and runner.alive  # the interval is within its linger

    record_through(tmp_path, writer, runner, one_child)
    assert runner.starts == 1


def test_a_killed_writer_process_is_started_again(tmp_path: Path) -> None:
    """kill -9 of the writer process (the OOM killer, say): the supervisor starts another
    after a pause; it finishes the batch and the lake still holds every trade once."""
    writer, runner = lake_process(tmp_path, interval=0.5)

    async def kill_the_child(run: Run, runner: LakeProcess) -> None:
        await wait_until(lambda: runner.committed_offset > 0, 60, "a publish")
        child = runner._child
        assert child is not None
        os.kill(child.pid, signal.SIGKILL)
        await wait_until(lambda: runner.starts >= 2 and runner.alive, 30, "a new child")
        published = runner.committed_offset
        await wait_until(lambda: runner.committed_offset > published, 30,
                         "a publish by the new child")

    record_through(tmp_path, writer, runner, kill_the_child)
    assert runner.error is None


def spool_some_frames(tmp_path: Path) -> int:
    """A recording into the spool only (no lake writer): the backlog a stopped run leaves."""
    spool = Spool(tmp_path / "spool")
    writer = spool.writer()

    async def record() -> None:
        async with recording(tmp_path, SYMBOLS, on_frame=writer.append,
                             flush_frames=writer.flush, rate=40.0) as run:
            await run.streaming()
            await wait_until(lambda: len(run.trades) > 50, 30, "50 trades")

    asyncio.run(record())
    end = writer.end_offset
    writer.close()
    return end


def publish_at_start(tmp_path: Path, end: int, what: str, size_mib: float = 64.0) -> None:
    """Start a lake process an hour away from its interval: the child started with it must
    publish up to ``end`` by itself."""
    writer, runner = lake_process(tmp_path, interval=3600.0, size_mib=size_mib)
    runner.start()
    try:
        assert runner.starts == 1
        deadline = time.monotonic() + scaled(60)
        while runner.committed_offset < end:
            assert time.monotonic() < deadline, what
            time.sleep(0.05)
    finally:
        writer.close()
        runner.stop(drain=False)


def test_a_backlog_of_more_than_a_batch_is_published_at_start(tmp_path: Path) -> None:
    """Frames a stopped run left in the spool, more than a batch: published at once by the
    child started with the recorder, not an interval later."""
    end = spool_some_frames(tmp_path)
    # A batch per frame: every frame of the backlog makes a full batch by itself.
    publish_at_start(tmp_path, end, "the backlog's batches to be published", size_mib=1e-6)


def test_a_batch_left_half_published_is_finished_at_start(tmp_path: Path) -> None:
    """A crash between the intent and the cursor: the next start redoes that batch at once,
    not an interval later."""
    end = spool_some_frames(tmp_path)
    Spool(tmp_path / "spool").cursors.commit(  # the intent, then "kill -9"
        INTENT, end, json.dumps({"first": 0}).encode())
    publish_at_start(tmp_path, end, "the batch to be redone")
    raw = ds.dataset(tmp_path / "lake" / "raw", format="parquet", partitioning="hive").to_table()
    assert sorted(raw.column("spool_offset").to_pylist()) == list(range(end))
