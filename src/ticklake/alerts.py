"""Swing detection over a recording: live (feed bus → detector → anomalies bus, lake, webhook)
and offline (recorded trades → anomalies).

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ticklake.catalog import Lake
from ticklake.detect import SwingDetector, feed_table
from ticklake.errors import ConfigError
from ticklake.feed.events import Event, TradesReceived
from ticklake.lake.anomalies import AnomalyWriter, anomaly_tables
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import DETECT_LOG
from ticklake.model import Anomaly
from ticklake.pipeline import Recording
from ticklake.tables import MARKER, SCHEMAS

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
        recording: Recording,
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
                if time.monotonic() >= self._next_tick:  # busy or idle: one symbol may be silent
                    await self._tick()
                if not done:
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


_OFFLINE_COLUMNS = ("symbol", "ts_ns", "price", "qty", "side")
_OFFLINE_BATCH = 1 << 16


def detect_offline(source: str, output: Path, detector: SwingDetector) -> OfflineReport:
    """Run ``detector`` over recorded trades and write the ended episodes.

    ``source`` is a lake root (its ``trades`` table, unpublished spool tail excluded) or a
    Parquet file or directory with the lake's trade columns plus ``symbol``. ``output`` ending in
    ``.parquet`` gets one file (the anomalies columns plus exchange and symbol); anything else
    is a lake root whose ``anomalies`` table receives them.
    """
    report = OfflineReport()
    ended: list[Anomaly] = []
    for batch in _trade_batches(source):
        ended.extend(a for a in feed_table(detector, batch) if a.phase == "end")
        report.trades += batch.num_rows
    ended.extend(a for a in detector.finish() if a.phase == "end")
    report.episodes = len(ended)
    if output.suffix == ".parquet":
        output.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(anomalies_file_table(ended), output, compression="zstd")
    else:
        AnomalyWriter(LakeStorage(str(output)), log=DETECT_LOG).write(ended)
    return report


# The lake's anomalies columns plus its partition columns (the date one is derived).
ANOMALIES_FILE_SCHEMA = SCHEMAS["anomalies"].append(pa.field("exchange", pa.string())).append(
    pa.field("symbol", pa.string()))


def anomalies_file_table(anomalies: Iterable[Anomaly]) -> pa.Table:
    """The ``end`` records as the lake writes them, plus exchange and symbol: one file."""
    tables = [
        table.append_column("exchange", pa.array([exchange] * table.num_rows, pa.string()))
        .append_column("symbol", pa.array([symbol] * table.num_rows, pa.string()))
        for (exchange, symbol, _), table in anomaly_tables(anomalies).items()
    ]
    return pa.concat_tables(tables) if tables else ANOMALIES_FILE_SCHEMA.empty_table()


@dataclass
class OfflineReport:
    trades: int = 0
    episodes: int = 0


def _trade_batches(source: str) -> Iterator[pa.RecordBatch]:
    """Trades ordered by exchange time (then spool order), in bounded batches."""
    if source.startswith("s3://") or Path(source, MARKER).is_file():
        conn = Lake(source).connect()
        try:
            yield from conn.sql(
                f"SELECT {', '.join(_OFFLINE_COLUMNS)} FROM trades ORDER BY ts_ns, spool_offset"
            ).to_arrow_reader(_OFFLINE_BATCH)
        finally:
            conn.close()
        return
    table = _parquet_trades(Path(source))
    yield from table.take(pc.sort_indices(table, [("ts_ns", "ascending")])).to_batches(
        _OFFLINE_BATCH)


def _parquet_trades(path: Path) -> pa.Table:
    field = "--input"
    if not path.exists():
        raise ConfigError(field, str(path), "no such file or directory")
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
        table = dataset.to_table(columns=[c for c in _OFFLINE_COLUMNS
                                          if c in dataset.schema.names])
    except (pa.ArrowException, OSError) as exc:
        raise ConfigError(field, str(path), str(exc).splitlines()[0]) from None
    missing = [c for c in _OFFLINE_COLUMNS if c not in table.column_names]
    if missing:
        problem = f"no column {', '.join(missing)} (the lake's trades columns plus symbol)"
        raise ConfigError(field, str(path), problem)
    return table
