"""A recording in this process, its trades and gaps handed to the program as they arrive.

    async with ticklake.api.record(["BTCUSD"], lake="lake") as live:
        async for item in live:          # ticklake.Trade or ticklake.Gap, in arrival order
            ...

Backpressure: the recording never waits for the program. Items wait in a bounded queue
(``maxsize`` messages); when the program falls that far behind, the oldest message is dropped
and its trades are counted in ``dropped_trades`` (gaps in ``dropped_gaps``). With a lake the
spool and the lake still hold every trade: a program that must not lose one reads them there.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ticklake.api.attach import items
from ticklake.bus import Subscriber
from ticklake.config import load_settings
from ticklake.feed.events import Event, GapDetected, TradesReceived
from ticklake.model import Gap, Trade
from ticklake.pipeline import build_recording
from ticklake.pipeline.recording import Recording
from ticklake.status import RecordingStatus

Item = Trade | Gap
Callback = Callable[[Any], Awaitable[None] | None]


class LiveRecording:
    """The running recording: iterate it for its items; ``status()`` for its connections."""

    def __init__(self, recording: Recording, maxsize: int) -> None:
        self.recording = recording
        self.dropped_trades = 0
        self.dropped_gaps = 0
        self._feed: Subscriber[Event] = recording.bus.subscribe(maxsize, self._dropped)
        self._task: asyncio.Task[None] | None = None

    def status(self) -> RecordingStatus:
        return self.recording.status()

    async def __aiter__(self) -> AsyncIterator[Item]:
        """Trades and gaps in arrival order, until the recording stops."""
        while batch := await self._feed.get_batch():
            for item in items(batch):
                yield item

    async def wait(self) -> None:
        """Until the recording ends (its ``duration``, or :meth:`stop`); re-raises its error."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def stop(self) -> None:
        """End the recording: the spool is flushed and the lake delivered, then iteration
        ends once the queued items are read."""
        self.recording.sessions.stop()

    def _dropped(self, event: Event) -> None:
        if type(event) is TradesReceived:
            self.dropped_trades += len(event.rows)
        elif isinstance(event, GapDetected):
            self.dropped_gaps += 1


@asynccontextmanager
async def record(
    symbols: Sequence[str],
    *,
    url: str | None = None,
    lake: str | Path | None = None,
    spool: str | Path | None = None,
    duration: float | None = None,
    maxsize: int = 10_000,
    on_trade: Callback | None = None,
    on_gap: Callback | None = None,
    config: Path | None = None,
    **feed: Any,
) -> AsyncIterator[LiveRecording]:
    """Record ``symbols`` (as ``ticklake record``) while the block runs; leaving it stops.

    ``url``: the exchange (default Phemex's, or the ``--config`` file / ``TICKLAKE_*``
    environment); ``lake`` and ``spool``: record into them too (default: nothing is kept);
    ``feed``: other ``[feed]`` settings (``channels``, ``kline_intervals``...). A bad value
    raises ``ConfigError`` naming it. ``on_trade`` / ``on_gap`` (plain or async functions)
    are called for every item, the cryptofeed way; an error in one ends the recording and
    is raised here. Iterating the recording as well gets the same items.
    """
    overrides: dict[str, Any] = {"feed": {"symbols": tuple(symbols), **feed}}
    if url is not None:
        overrides["feed"]["url"] = url
    if lake is not None:
        overrides["lake"] = {"root": str(lake)}
        if spool is not None:
            overrides["lake"]["spool"] = str(spool)
    settings = load_settings(config, **overrides)
    recording = await build_recording(settings.feed, lake=settings.lake if lake else None)
    live = LiveRecording(recording, maxsize)
    callbacks = (LiveRecording(recording, maxsize)
                 if on_trade is not None or on_gap is not None else None)
    live._task = asyncio.ensure_future(recording.run(duration))
    calling = (asyncio.ensure_future(_call(callbacks, on_trade, on_gap))
               if callbacks is not None else None)
    if calling is not None:
        calling.add_done_callback(lambda done: _stop_on_error(done, live))
    try:
        yield live
    finally:
        live.stop()
        try:
            await live._task
        finally:
            if calling is not None:
                await calling  # (ends with the bus; raises what a callback raised)


async def _call(live: LiveRecording, on_trade: Callback | None, on_gap: Callback | None) -> None:
    async for item in live:
        callback = on_trade if isinstance(item, Trade) else on_gap
        if callback is not None:
            result = callback(item)
            if inspect.isawaitable(result):
                await result


def _stop_on_error(done: asyncio.Future[None], live: LiveRecording) -> None:
    if not done.cancelled() and done.exception() is not None:
        live.stop()
