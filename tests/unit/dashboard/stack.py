"""A real stack for the browser tests, in a background thread's event loop: the emulator on
a loopback socket, a recording into a spool and lake, and the dashboard under uvicorn.

Playwright's sync API drives the browser from the test thread; ``call`` runs a function in
the stack's loop (where the buses and the recording live).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ticklake.config import load_settings
from ticklake.dashboard import DashboardConfig, DashboardServer
from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.pipeline import Recording, build_recording

from ...support import scaled

T = TypeVar("T")


class LiveStack:
    """Emulator → recording (spool + lake) → dashboard; ``url`` once started.

    ``feed`` adds ``[feed]`` settings (e.g. ``{"channels": ("trades", "book")}``);
    ``emulator_options`` go to ``EmulatorConfig`` (e.g. ``book_snapshot_interval``).
    """

    def __init__(self, tmp: Path, symbols: tuple[str, ...] = ("BTCUSD",), rate: float = 50.0,
                 history: int = 300, buffer_seconds: float = 1.0,
                 feed: dict[str, Any] | None = None, **emulator_options: Any) -> None:
        self.tmp = tmp
        self.feed = feed or {}
        self.emulator_options = emulator_options
        self.symbols = symbols
        self.rate = rate
        self.history = history
        self.buffer_seconds = buffer_seconds
        self.lake_root = tmp / "lake"
        self.spool_dir = tmp / "spool"
        self.url = ""
        self.emulator: Emulator | None = None
        self.recording: Recording | None = None
        self._loop = asyncio.new_event_loop()
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="live-stack", daemon=True)

    def start(self) -> LiveStack:
        self._thread.start()
        self._ready.result(timeout=scaled(30))
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=scaled(30))
        assert not self._thread.is_alive(), "the live stack did not stop"

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the stack's loop thread and return its result."""
        async def run() -> T:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=scaled(10))

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # surface start-up failures in the test thread
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        config = EmulatorConfig(symbols=self.symbols, rate=self.rate, history=self.history,
                                **self.emulator_options)
        async with Emulator(config) as emulator:
            self.emulator = emulator
            settings = load_settings(
                feed={"url": emulator.url, "symbols": list(self.symbols),
                      "silence_timeout": 3.0, "ping_interval": 1.0, "pong_timeout": 2.0,
                      **self.feed},
                lake={"root": str(self.lake_root), "spool": str(self.spool_dir),
                      "buffer_seconds": self.buffer_seconds},
            )
            recording = await build_recording(settings.feed, None, settings.lake)
            self.recording = recording
            rec_task = asyncio.create_task(recording.run())
            server = DashboardServer(
                DashboardConfig(str(self.lake_root), self.spool_dir, port=0), recording)
            web_task = asyncio.create_task(server.serve())
            try:
                await server.wait_started(web_task)
                self.url = server.url
                self._ready.set_result(None)
                await self._stop.wait()
            finally:
                web_task.cancel()
                rec_task.cancel()
                await asyncio.gather(web_task, rec_task, return_exceptions=True)


class LakeServer:
    """The dashboard alone (no recording) over ``lake_root``, in a background loop."""

    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.url = ""
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="dashboard", daemon=True)

    def start(self) -> LakeServer:
        self._thread.start()
        self._ready.result(timeout=scaled(30))
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=scaled(30))
        assert not self._thread.is_alive(), "the dashboard did not stop"

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = DashboardServer(self.config)
        task = asyncio.create_task(server.serve())
        try:
            await server.wait_started(task)
            self.url, self.port = server.url.rstrip("/"), server.port or 0
            self._ready.set_result(None)
            await self._stop.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
