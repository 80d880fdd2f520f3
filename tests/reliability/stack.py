"""The real pipeline (``build_recording``/``Recording.run``: session → spool → lake writer
process) against an in-process emulator on a loopback socket, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ticklake.config import load_settings
from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.pipeline import Recording, build_recording

from ..support import wait_until

FAST_FEED = {"ping_interval": 0.3, "pong_timeout": 0.9, "silence_timeout": 1.5,
             "request_timeout": 1.5, "backoff_initial": 0.05, "backoff_cap": 0.5,
             "first_connect_timeout": 10.0}


@dataclass
class Stack:
    emulator: Emulator
    recording: Recording
    task: asyncio.Task[None]
    lake_root: str
    spool: Path
    truth: Path
    symbols: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stats(self) -> Any:
        """The recording's totals now (a snapshot: read it again to see later counts)."""
        return self.recording.status().totals

    async def streaming(self, timeout: float = 15) -> None:
        await wait_until(lambda: self.stats.state == "streaming", timeout, "streaming")

    async def reconnected(self, before: int, timeout: float = 15) -> None:
        await wait_until(lambda: self.stats.connects > before and self.stats.state == "streaming",
                         timeout, f"a reconnect after connect #{before}")

    async def settle(self, timeout: float = 20) -> None:
        """Halt the market; wait until every produced trade was delivered (or a gap said so)."""
        self.emulator.halt()
        await self.streaming(timeout)
        produced = self.emulator.trades_produced
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: self.stats.trades >= produced, timeout,
                             f"all {produced} trades delivered")
        stats = self.stats
        if stats.gaps == 0:
            assert stats.trades >= produced, f"{stats.trades} of {produced} trades delivered"

    async def stop(self) -> None:
        """Stop recording the way SIGTERM does: spool fsynced, the lake drained."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def pipeline(
    tmp_path: Path,
    symbols: tuple[str, ...] = ("BTCUSD", "BTCUSDT", "sBTCUSDT"),
    *,
    lake_root: str | None = None,
    feed: dict[str, Any] | None = None,
    lake: dict[str, Any] | None = None,
    connect_budget: tuple[int, float] | None = None,
    **emulator_options: Any,
) -> AsyncIterator[Stack]:
    """Emulator (halted until the recorder streams: the truth starts with the recording).

    ``connect_budget`` replaces the session's per-IP connect budget (Phemex: 200 per 5 min,
    20 at once, then one every 1.67 s), which would otherwise pace a dense storm.
    """
    truth = tmp_path / "truth.jsonl"
    config = EmulatorConfig(symbols=symbols, truth_path=str(truth), **emulator_options)
    root = lake_root or str(tmp_path / "lake")
    spool = tmp_path / "spool"
    async with Emulator(config) as emulator:
        emulator.halt()
        settings = load_settings(
            feed={"url": emulator.url, "symbols": list(symbols), **FAST_FEED, **(feed or {})},
            lake={"root": root, "spool": str(spool), "buffer_seconds": 0.5, "buffer_mib": 4.0,
                  **(lake or {})},
        )
        recording = await build_recording(settings.feed, None, settings.lake)
        if connect_budget is not None:
            for session in recording.sessions.sessions:
                session.config = dataclasses.replace(session.config, connect_budget=connect_budget)
        task = asyncio.create_task(recording.run())
        stack = Stack(emulator, recording, task, root, spool, truth, symbols)
        try:
            await stack.streaming()
            emulator.resume()
            yield stack
        finally:
            if not task.done():
                await stack.stop()
            elif not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
