"""Composition root: settings → products → protocol → session → spool → lake.

Data flow of a recording: every frame the session receives is appended to the spool (the
durable tee, synchronously on the read path: one ``write`` per frame, group-committed fsync);
the lake writer thread turns spool records into Parquet; live views (progress line, tape,
dashboard) read a lossy bounded bus that never blocks ingest. Shutdown order: stop ingest →
close the spool (final fsync) → drain the lake writer → close consumers.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ticklake.bus import Bus
from ticklake.config import FeedSettings, LakeSettings
from ticklake.errors import SessionError
from ticklake.feed.events import Event, GapDetected, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, ProductTable, ProtocolConfig, Subscription
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.lake.hints import BufferingHints
from ticklake.lake.process import LakeProcess
from ticklake.model import Anomaly, RawFrame
from ticklake.session import ConnIds, PhemexSession, SessionConfig, SessionGroup
from ticklake.session.products import load_products, products_url_for
from ticklake.session.sharding import check_families, families_requested, plan_connections
from ticklake.spool import FsyncPolicy, Spool, SpoolWriter

if TYPE_CHECKING:
    from ticklake.broker.shipper import Shipper

_S = 1_000_000_000


class _TradeLine(msgspec.Struct, tag="trade", tag_field="type"):
    symbol: str
    ts_ns: int
    recv_ns: int
    side: str
    price: str
    qty: str
    sequence: int
    snapshot: bool


class _GapLine(msgspec.Struct, tag="gap", tag_field="type"):
    symbol: str
    from_ns: int
    to_ns: int
    reason: str


class JsonlRecorder:
    """Appends trades and gaps as JSON lines (exact decimal strings, integer ns)."""

    def __init__(self, path: Path) -> None:
        self._file: io.BufferedWriter = path.open("ab")
        self._encoder = msgspec.json.Encoder()

    def on_event(self, event: Event) -> None:
        if isinstance(event, TradesReceived):
            lines = [
                _TradeLine(t.symbol, t.ts_exchange_ns, t.ts_recv_ns, t.side, t.price_text,
                           t.qty_text, t.sequence, t.from_snapshot)
                for t in event.trades
            ]
            for line in lines:
                self._file.write(self._encoder.encode(line) + b"\n")
        elif isinstance(event, GapDetected):
            gap = event.gap
            gap_line = _GapLine(gap.symbol, gap.from_ns, gap.to_ns, gap.reason)
            self._file.write(self._encoder.encode(gap_line) + b"\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class Recording:
    """A running recording: its sessions (one per connection, as a group), live buses (feed
    events; detector anomalies, every phase), spool, lake writer and optional JSONL."""

    session: SessionGroup
    bus: Bus[Event]
    anomalies: Bus[Anomaly] = field(default_factory=Bus)
    recorder: JsonlRecorder | None = None
    spool: Spool | None = None
    spool_writer: SpoolWriter | None = None
    lake: LakeProcess | Shipper | None = None  # the Shipper with --log (no lake written here)


def open_lake(
    lake: LakeSettings, products: ProductTable, snapshot_size: int | None = None
) -> tuple[Spool, SpoolWriter, LakeProcess | Shipper]:
    """The spool (opened for appending, recovered, its decode parameters appended as a
    control record before any frame) and a lake writer over it, in a child process (its own
    core: Parquet encoding never competes with the socket reader); with ``lake.log``, a
    shipper thread to that topic instead (``ticklake deliver`` writes)."""
    if lake.log is None and "://" not in lake.root:
        from ticklake.lake.storage import LakeStorage

        # A wrong --lake fails now, in one line (an S3 one: in the writer's first start).
        LakeStorage(lake.root).ensure_marker()
    spool = Spool(
        Path(lake.spool), fsync=FsyncPolicy(lake.fsync), fsync_interval=lake.fsync_interval,
        segment_bytes=int(lake.segment_mib * 2**20),
    )
    writer = spool.writer()
    runner: LakeProcess | Shipper
    if lake.log is not None:
        from ticklake.broker.shipper import open_shipper  # confluent-kafka only when used

        products_json = msgspec.json.encode(products.listing())
        runner = open_shipper(spool, lake.log, products_json, lake.partitions)
    else:
        # (Built before the control record below: that record is no backlog of a past run.)
        runner = LakeProcess(writer, Path(lake.spool), lake.root, products,
                             BufferingHints(lake.buffer_mib, lake.buffer_seconds,
                                            lake.compact_mib), snapshot_size)
        if FsyncPolicy(lake.fsync) is not FsyncPolicy.NEVER:  # read only what is acknowledged
            runner.set_durable(writer.durable_offset)
            writer.on_durable = runner.set_durable
    # Every reader of this spool decodes the frames that follow with these (feed.phemex.control).
    params = encode_control(DecodeParams.of(products, snapshot_size))
    writer.append_buffered(RawFrame(CONTROL_CONN_ID, time.time_ns(), params))
    return spool, writer, runner


async def build_recording(
    feed: FeedSettings, out: Path | None = None, lake: LakeSettings | None = None
) -> Recording:
    products_url = products_url_for(feed.url) if feed.products_url == "auto" else feed.products_url
    check_families(feed.symbols)
    # A family is listed from the exchange's payload; shipped defaults would silently shrink it.
    products = await load_products(products_url, required=families_requested(feed.symbols))
    # One connection per group of <= 20 symbols, at most feed.connections (session.sharding).
    groups = plan_connections(feed.symbols, products, feed.shard, feed.connections)
    protocol_config = ProtocolConfig(
        ping_interval_ns=int(feed.ping_interval * _S),
        pong_timeout_ns=int(feed.pong_timeout * _S),
        silence_timeout_ns=int(feed.silence_timeout * _S),
        request_timeout_ns=int(feed.request_timeout * _S),
        snapshot_size=feed.snapshot_size,
    )
    bus: Bus[Event] = Bus()
    recorder = JsonlRecorder(out) if out is not None else None

    def on_event(event: Event) -> None:
        if recorder is not None:
            recorder.on_event(event)
        bus.publish(event)

    spool = spool_writer = runner = None
    if lake is not None:
        spool, spool_writer, runner = open_lake(lake, products, feed.snapshot_size)
    session_config = SessionConfig(
        url=feed.url,
        backoff_initial=feed.backoff_initial,
        backoff_cap=feed.backoff_cap,
        first_connect_timeout=feed.first_connect_timeout,
    )
    conn_ids = ConnIds(feed.shard)  # unique across this recorder's connections and shards
    session = SessionGroup([
        PhemexSession(
            PhemexProtocol([Subscription.trades(products.require(s)) for s in symbols],
                           products, protocol_config),
            session_config,
            on_frame=spool_writer.append_buffered if spool_writer is not None else None,
            on_event=on_event,
            flush_frames=spool_writer.flush if spool_writer is not None else None,
            conn_ids=conn_ids,
        )
        for symbols in groups
    ])
    return Recording(session, bus, recorder=recorder, spool=spool, spool_writer=spool_writer,
                     lake=runner)


async def run_recording(
    recording: Recording,
    duration: float | None = None,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.5,
) -> None:
    """Run until cancelled, ``duration`` elapses, or the session fails (re-raised)."""

    async def ticker() -> None:
        while True:
            await asyncio.sleep(tick_seconds)
            if recording.recorder is not None:
                recording.recorder.flush()
            if on_tick is not None:
                on_tick()

    if recording.lake is not None:
        recording.lake.start()
    session_task = asyncio.create_task(recording.session.run(), name="phemex-session")
    tick_task = asyncio.create_task(ticker(), name="recording-ticker")
    try:
        done, _ = await asyncio.wait([session_task], timeout=duration)
        if done:
            session_task.result()
        elif recording.session.stats.connects == 0:
            # A run that ended before it ever connected recorded nothing: say so.
            msg = (f"never connected to {recording.session.config.url} within "
                   f"{duration:g} s (the --duration)")
            raise SessionError(msg)
    finally:
        recording.session.stop()
        tick_task.cancel()
        try:
            await asyncio.gather(session_task, tick_task, return_exceptions=True)
        finally:
            try:
                await asyncio.to_thread(_close_storage, recording)
            except Exception as exc:
                failed = session_task.done() and not session_task.cancelled() and (
                    session_task.exception() is not None)
                if not failed:
                    raise
                # The session's error is the one to report; the storage's follows from it.
                logging.getLogger(__name__).error("= closing storage failed too: %s", exc)
            finally:
                recording.bus.close()
                if recording.recorder is not None:
                    recording.recorder.close()


def _close_storage(recording: Recording) -> None:
    """Final fsync of the spool, then publish what it holds (shutdown order matters)."""
    try:
        if recording.spool_writer is not None:
            recording.spool_writer.close()
    finally:
        if recording.lake is not None:
            recording.lake.stop(drain=True)
