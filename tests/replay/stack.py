"""Real components end to end: an archive recorded from the emulator by the real pipeline (a
forced reconnect and a real gap in it), a replay of it, the real pipeline recording the
replay, and what the two lakes hold."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ticklake.catalog import Lake
from ticklake.config import load_settings
from ticklake.emulator.replay import Replay
from ticklake.pipeline import Recording, build_recording

from ..reliability.stack import FAST_FEED, Stack, pipeline
from ..support import wait_until

SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")
CHANNELS = ["trades", "book"]
Snapshots = dict[tuple[str, int], frozenset[tuple[str, int, Decimal, Decimal]]]


@dataclass(frozen=True)
class Archive:
    root: str
    stats: Any  # the recording's SessionStats at its end


async def quiet(recording: Recording, timeout: float = 10) -> None:
    """Wait until the recording has everything sent before now: two more pongs (a pong
    answers a ping sent later, on the same ordered stream)."""
    pongs = recording.status().totals.pongs
    await wait_until(lambda: recording.status().totals.pongs >= pongs + 2, timeout,
                     "two pongs after the last data")


async def record_archive(tmp_path: Path, *, rate: float = 400.0) -> Archive:
    """The emulator's BTCUSD, BTCUSDT, sBTCUSDT trades and books, recorded by the pipeline:
    a forced reconnect (its resubscribe snapshots hold trades no incremental carried), then
    2 s of refused connections at ``rate`` trades/s a symbol (the snapshot after them cannot
    reach back: a real gap)."""
    stack: Stack
    second = int(rate * len(SYMBOLS))  # trades in about a second

    async def more(seconds: float, what: str) -> None:
        trades = stack.stats.trades
        await wait_until(lambda: stack.stats.trades >= trades + seconds * second, 10, what)

    async with pipeline(tmp_path, SYMBOLS, feed={"channels": CHANNELS}, rate=rate,
                        book_snapshot_interval=1.0) as stack:
        await more(1.5, "trades")
        stack.emulator.inject("close", "all", None, 1)
        await stack.reconnected(1)
        await more(1.5, "trades after the reconnect")
        stack.emulator.inject("refuse", "all", 2.0, 1)
        connects = stack.stats.connects
        await wait_until(lambda: stack.stats.connects > connects, 20, "the refusal's end")
        await stack.streaming()
        await more(2.5, "trades after the refusal")
        stack.emulator.halt()
        await quiet(stack.recording)
        await stack.stop()
    return Archive(stack.lake_root, stack.stats)


@contextlib.asynccontextmanager
async def recording_of(url: str, root: Path, symbols: tuple[str, ...] = SYMBOLS,
                       ) -> AsyncIterator[Recording]:
    """The real pipeline recording ``url`` into the lake ``root``; stopped (the lake drained,
    as SIGTERM does) on exit."""
    settings = load_settings(
        feed={"url": url, "symbols": list(symbols), "channels": CHANNELS, **FAST_FEED},
        lake={"root": str(root), "spool": str(root.with_name(root.name + "-spool")),
              "buffer_seconds": 0.5, "buffer_mib": 4.0})
    recording = await build_recording(settings.feed, None, settings.lake)
    task = asyncio.create_task(recording.run())
    try:
        yield recording
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def played(replay: Replay, timeout: float = 30) -> None:
    """Every archived frame served and taken by the connections' sockets."""
    await wait_until(lambda: replay.finished.is_set() and all(
        not c.queue for c in replay.clients.values()), timeout, "the replay to end")


def book_snapshots(root: str) -> Snapshots:
    """The lake's cadence book snapshots: (symbol, instant) → its levels."""
    rows = Lake(root).query(
        "SELECT symbol, ts_ns, side, level, price, qty FROM book_snapshots "
        "WHERE reason = 'cadence'", max_rows=10_000_000).rows()
    out: dict[tuple[str, int], set[tuple[str, int, Decimal, Decimal]]] = {}
    for symbol, ts, side, level, price, qty in rows:
        out.setdefault((str(symbol), int(ts)), set()).add(
            (str(side), int(level), Decimal(price).normalize(), Decimal(qty).normalize()))
    return {k: frozenset(v) for k, v in out.items()}


def gaps(root: str, channel: str) -> list[tuple[str, int, int]]:
    rows = Lake(root).query(f"SELECT symbol, from_ns, to_ns FROM gaps WHERE channel = "
                            f"'{channel}'").rows()
    return [(str(s), int(f), int(t)) for s, f, t in rows]


def count(root: str, sql: str) -> int:
    return int(Lake(root).query(sql).rows()[0][0])
