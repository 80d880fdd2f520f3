"""Composition root: settings → products → protocol → session → sinks.

Until the spool and lake land, a recording goes to an optional JSONL file of normalized
trades and gaps, written synchronously on the read path the way the spool will be (buffered
appends, flushed on a timer), while live views read a lossy bus that never blocks ingest.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ticklake.bus import Bus
from ticklake.config import FeedSettings
from ticklake.feed.events import Event, GapDetected, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, ProtocolConfig, Subscription
from ticklake.session import PhemexSession, SessionConfig
from ticklake.session.products import load_products, products_url_for

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
    """A running recording: its session, live bus and optional file output."""

    session: PhemexSession
    bus: Bus[Event]
    recorder: JsonlRecorder | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def build_recording(feed: FeedSettings, out: Path | None = None) -> Recording:
    products_url = products_url_for(feed.url) if feed.products_url == "auto" else feed.products_url
    products = await load_products(products_url)
    subscriptions = [Subscription.trades(products.require(s)) for s in feed.symbols]
    protocol = PhemexProtocol(
        subscriptions,
        products,
        ProtocolConfig(
            ping_interval_ns=int(feed.ping_interval * _S),
            pong_timeout_ns=int(feed.pong_timeout * _S),
            silence_timeout_ns=int(feed.silence_timeout * _S),
            request_timeout_ns=int(feed.request_timeout * _S),
            snapshot_size=feed.snapshot_size,
        ),
    )
    bus: Bus[Event] = Bus()
    recorder = JsonlRecorder(out) if out is not None else None

    def on_event(event: Event) -> None:
        if recorder is not None:
            recorder.on_event(event)
        bus.publish(event)

    session = PhemexSession(
        protocol,
        SessionConfig(
            url=feed.url,
            backoff_initial=feed.backoff_initial,
            backoff_cap=feed.backoff_cap,
            first_connect_timeout=feed.first_connect_timeout,
        ),
        on_event=on_event,
    )
    return Recording(session, bus, recorder)


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

    session_task = asyncio.create_task(recording.session.run(), name="phemex-session")
    tick_task = asyncio.create_task(ticker(), name="recording-ticker")
    try:
        done, _ = await asyncio.wait([session_task], timeout=duration)
        if done:
            session_task.result()
    finally:
        recording.session.stop()
        tick_task.cancel()
        try:
            await asyncio.gather(session_task, tick_task, return_exceptions=True)
        finally:
            recording.bus.close()
            if recording.recorder is not None:
                recording.recorder.close()
