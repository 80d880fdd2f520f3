"""Swing detection over a running recording: feed bus → detector → anomalies bus, lake, webhook.

The detector reads the lossy live bus (it must never slow the socket reader). If it falls so far
behind that the bus drops events, the span it missed is handed to the detector as a gap, which
suspends the horizons crossing it: a missed stretch is never read as "no move". Ended episodes
are published to the lake's ``anomalies`` table off the event loop; every phase goes to the
``anomalies`` bus (dashboard, console) and, when configured, to a webhook as JSON.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable

import msgspec

from ticklake.detect.detector import SwingDetector
from ticklake.feed.events import Event, TradesReceived
from ticklake.lake.anomalies import AnomalyWriter
from ticklake.model import Anomaly
from ticklake.status import LiveRecording

logger = logging.getLogger(__name__)

_LIVE_BACKLOG = 200_000  # events; far more than a burst, bounded all the same
_WEBHOOK_TIMEOUT = 5.0
_CLOCK_TICK_S = 0.5
# A trade may reach us this long after a later one on another symbol (or after its own time
# as extrapolated): episodes are ended by the clock only that much past their deadline, so
# that a replay (no clock) gives the same records.
_CLOCK_MARGIN_NS = 2_000_000_000


class LiveDetector:
    def __init__(
        self,
        recording: LiveRecording,
        detector: SwingDetector,
        writer: AnomalyWriter | None = None,
        webhook: str | None = None,
    ) -> None:
        self.recording = recording
        self.detector = detector
        self.writer = writer
        self.webhook = webhook
        self.episodes = 0
        self.missed_events = 0
        self.webhook_failures = 0
        self._last_ts: dict[str, int] = {}
        self._latest = (0, 0)  # (latest exchange time seen, monotonic ns when seen)
        self._next_tick = 0.0
        self._encoder = msgspec.json.Encoder()

    async def run(self) -> None:
        """Consume the feed until the bus closes, then end open episodes and write them.

        Between batches a clock ticks, so that an episode on a symbol gone silent ends on
        time (``SwingDetector.on_clock``) rather than at its symbol's next trade.
        """
        feed = self.recording.bus.subscribe(maxsize=_LIVE_BACKLOG)
        next_batch: asyncio.Future[list[Event]] | None = None
        try:
            while True:
                if next_batch is None:
                    next_batch = asyncio.ensure_future(feed.get_batch())
                # Not wait_for: a timeout must not cancel (and lose) a batch being handed over.
                done, _ = await asyncio.wait({next_batch}, timeout=_CLOCK_TICK_S)
                if not done:
                    if time.monotonic() >= self._next_tick:  # idle: one symbol may be silent
                        await self._tick()
                    continue
                batch, next_batch = next_batch.result(), None
                if not batch:
                    break
                if feed.dropped != self.missed_events:
                    self.missed_events = feed.dropped
                    await self._emit(self._suspend_all())
                found: list[Anomaly] = []
                for event in batch:
                    self._note(event)
                    found.extend(self.detector.on_event(event))
                await self._emit(found)
                # The clock ticks only with nothing queued: a backlog holds trades older
                # than the time it would tell (a detector behind under load ended episodes
                # that its queued trades extend, unlike the same trades offline).
                if time.monotonic() >= self._next_tick and not len(feed):
                    await self._tick()
        finally:
            if next_batch is not None:
                next_batch.cancel()
            await self._emit(self.detector.finish())

    def _note(self, event: Event) -> None:
        if isinstance(event, TradesReceived) and event.trades:
            ts = event.trades[-1].ts_exchange_ns
            self._last_ts[event.symbol] = ts
            if ts > self._latest[0]:
                self._latest = (ts, time.monotonic_ns())

    async def _tick(self) -> None:
        """The exchange's time as far as trades tell (the latest, plus the wall time since),
        less a margin for trades still on their way."""
        self._next_tick = time.monotonic() + _CLOCK_TICK_S
        latest, seen_at = self._latest
        if latest:
            now = latest + time.monotonic_ns() - seen_at - _CLOCK_MARGIN_NS
            await self._emit(self.detector.on_clock(now))

    def _suspend_all(self) -> list[Anomaly]:
        now = time.time_ns()
        out: list[Anomaly] = []
        for symbol, last in self._last_ts.items():
            out.extend(self.detector.on_gap(symbol, last, now) or ())
        return out

    async def _emit(self, anomalies: Iterable[Anomaly]) -> None:
        batch = list(anomalies)
        if not batch:
            return
        for anomaly in batch:
            self.recording.anomalies.publish(anomaly)
            if anomaly.phase != "update":
                logger.info("anomaly %s %s %s %s %+.1f bp over %.0f s (score %.1f)",
                            anomaly.phase, anomaly.symbol, anomaly.kind, anomaly.direction,
                            anomaly.move_bp, anomaly.horizon_s, anomaly.score)
        ended = [a for a in batch if a.phase == "end"]
        self.episodes += len(ended)
        if ended and self.writer is not None:
            await asyncio.to_thread(self.writer.write, ended)
        if self.webhook is not None:
            notable = [a for a in batch if a.phase != "update"]
            if notable:
                await asyncio.to_thread(self._post, notable)

    def _post(self, anomalies: list[Anomaly]) -> None:
        assert self.webhook is not None
        request = urllib.request.Request(
            self.webhook, data=self._encoder.encode(anomalies), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "ticklake"},
        )
        try:
            with urllib.request.urlopen(request, timeout=_WEBHOOK_TIMEOUT) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            # The URL may embed a token (Slack-style hooks): name the failure, never the URL.
            self.webhook_failures += 1
            reason = getattr(exc, "reason", None) or exc.__class__.__name__
            logger.warning("anomaly webhook failed (%d so far): %s",
                           self.webhook_failures, reason)
