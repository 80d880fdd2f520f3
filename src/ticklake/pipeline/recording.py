"""A running recording: every task it needs, in one TaskGroup, and one shutdown order.

Tasks: the sessions (one per connection), a ticker (progress line, ``--out`` flushes), the
consumers of the live buses (the swing detector, the tape and alert printers: each ends by
itself once its bus is closed) and the services (the dashboard: ready before the first
frame, stopped last). The lake writer (or the log shipper) runs beside them in its own
process or thread.

Shutdown, whatever ends the run (``duration``, a signal's cancel, a fatal session error, a
failed consumer):

1. stop ingest: every session closes its socket;
2. close the spool: the final fsync, so every frame received is durable;
3. drain the lake writer (or shipper): everything spooled is published;
4. close the feed bus: consumers finish (the detector ends open episodes and writes them),
   then the anomalies bus, and the ``--out`` file;
5. stop the services and the metrics endpoint.

A session's error is the one reported; a storage failure after it is logged, not raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ticklake.bus import Bus
from ticklake.errors import SessionError
from ticklake.feed.events import Event, TradesReceived
from ticklake.jsonl import JsonlRecorder
from ticklake.model import Anomaly
from ticklake.session import SessionGroup
from ticklake.spool import Spool, SpoolWriter
from ticklake.status import ConnectionStatus, LiveRecording, RecordingStatus, copy_stats

logger = logging.getLogger(__name__)


class SpoolConsumer(Protocol):
    """Delivers the spool somewhere (``LakeProcess``: the lake; ``Shipper``: a log topic)."""

    @property
    def committed_offset(self) -> int:
        """Every spool offset below it is delivered."""
        ...

    def start(self) -> None: ...

    def stop(self, drain: bool = True) -> None:
        """Stop; with ``drain``, deliver everything the spool holds first (raises if not)."""
        ...


class Service(Protocol):
    """Serves beside the recording until cancelled (the dashboard)."""

    started: asyncio.Event

    async def serve(self) -> None: ...


Consumer = Callable[[LiveRecording], Coroutine[Any, Any, None]]
"""Reads the recording's buses until they close (the detector, the tape printer)."""


@dataclass(frozen=True)
class Observers:
    """What the command line shows while recording (all optional)."""

    on_started: Callable[[], None] | None = None  # the services are ready, ingest starts
    on_tick: Callable[[], None] | None = None
    tick_seconds: float = 0.5
    on_trades: Callable[[TradesReceived], None] | None = None  # subscribes only when given
    on_anomaly: Callable[[Anomaly], None] | None = None


@dataclass
class Recording:
    """Built by ``pipeline.build_recording``; satisfies ``status.LiveRecording``."""

    sessions: SessionGroup
    bus: Bus[Event]
    anomalies: Bus[Anomaly] = field(default_factory=Bus)
    jsonl: JsonlRecorder | None = None
    spool: Spool | None = None
    spool_writer: SpoolWriter | None = None
    lake: SpoolConsumer | None = None  # the Shipper with --log (``ticklake deliver`` writes)
    stop_metrics: Callable[[], None] | None = None

    def status(self) -> RecordingStatus:
        return RecordingStatus(
            connections=tuple(
                ConnectionStatus(name, tuple(dict.fromkeys(s.symbol for s in subs
                                                           if s.of_symbol)),
                                 copy_stats(stats),
                                 tuple(s.symbol for s in subs if s.is_book))
                for name, subs, stats in self.sessions.connections()),
            spool_end=self.spool_writer.end_offset if self.spool_writer is not None else None,
            lake_committed=self.lake.committed_offset if self.lake is not None else None,
        )

    async def run(
        self,
        duration: float | None = None,
        observers: Observers = Observers(),
        consumers: Sequence[Consumer] = (),
        services: Sequence[Service] = (),
    ) -> None:
        """Run until cancelled, ``duration`` elapses, or a session fails (re-raised)."""
        failure: Exception | None = None
        try:
            async with asyncio.TaskGroup() as group:
                served: list[asyncio.Task[None]] = []
                for service in services:  # first: a port in use stops us before any frame
                    served.append(group.create_task(service.serve()))
                    await _started(service, served[-1])
                if observers.on_started is not None:
                    observers.on_started()
                feed_readers: list[asyncio.Task[None]] = [
                    group.create_task(consumer(self)) for consumer in consumers]
                if observers.on_trades is not None:
                    feed_readers.append(group.create_task(self._tape(observers.on_trades)))
                alert_readers = ([group.create_task(self._alerts(observers.on_anomaly))]
                                 if observers.on_anomaly is not None else [])
                ticker = group.create_task(self._tick(observers))
                try:
                    await self._ingest(duration)
                except Exception as exc:  # reported after the ordered shutdown below
                    failure = exc
                finally:
                    ticker.cancel()
                    await self._close_storage(reraise=failure is None)
                    self.bus.close()  # the detector ends open episodes, then returns
                    await asyncio.gather(*feed_readers, return_exceptions=True)
                    self.anomalies.close()
                    await asyncio.gather(*alert_readers, return_exceptions=True)
                    if self.jsonl is not None:
                        self.jsonl.close()
                    for task in served:
                        task.cancel()
                    if self.stop_metrics is not None:
                        self.stop_metrics()
        except BaseExceptionGroup as errors:  # a consumer or a service failed
            raise errors.exceptions[0] from None
        if failure is not None:
            raise failure

    async def _ingest(self, duration: float | None) -> None:
        if self.lake is not None:
            self.lake.start()
        sessions = asyncio.ensure_future(self.sessions.run())
        try:
            done, _ = await asyncio.wait([sessions], timeout=duration)
            if done:
                sessions.result()
            elif self.status().totals.connects == 0:
                # A run that ended before it ever connected recorded nothing: say so.
                msg = (f"never connected to {self.sessions.config.url} within "
                       f"{duration:g} s (the --duration)")
                raise SessionError(msg)
        finally:
            self.sessions.stop()
            await asyncio.gather(sessions, return_exceptions=True)

    async def _close_storage(self, reraise: bool) -> None:
        """The final fsync of the spool, then deliver what it holds (in this order)."""

        def close() -> None:
            try:
                if self.spool_writer is not None:
                    self.spool_writer.close()
            finally:
                if self.lake is not None:
                    self.lake.stop(drain=True)

        try:
            await asyncio.to_thread(close)
        except Exception as exc:
            if reraise:
                raise
            # The session's error is the one to report; the storage's follows from it.
            logger.error("= closing storage failed too: %s", exc)

    async def _tick(self, observers: Observers) -> None:
        while True:
            await asyncio.sleep(observers.tick_seconds)
            if self.jsonl is not None:
                self.jsonl.flush()
            if observers.on_tick is not None:
                observers.on_tick()

    async def _tape(self, show: Callable[[TradesReceived], None]) -> None:
        # Subscribed only when shown: an unread view would hold 10,000 events (~8 MB).
        view = self.bus.subscribe(maxsize=10_000)
        while batch := await view.get_batch():
            for event in batch:
                if isinstance(event, TradesReceived):
                    show(event)

    async def _alerts(self, show: Callable[[Anomaly], None]) -> None:
        view = self.anomalies.subscribe(maxsize=1_000)
        while batch := await view.get_batch():
            for anomaly in batch:
                show(anomaly)


async def _started(service: Service, task: asyncio.Task[None]) -> None:
    """Wait until ``service`` is ready; if its task ends first (a port taken), raise why."""
    ready = asyncio.ensure_future(service.started.wait())
    try:
        await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        ready.cancel()
    if not service.started.is_set():
        task.result()
        msg = "a service stopped before it was ready"
        raise RuntimeError(msg)
