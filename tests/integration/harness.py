"""An in-process recording against an in-process emulator, both on a real loopback socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.feed.events import Event, FrameRejected, GapDetected, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, ProtocolConfig, Subscription, default_products
from ticklake.model import Gap, RawFrame, Trade
from ticklake.session import PhemexSession, SessionConfig

from ..support import Comparison, key_of, read_truth, wait_until

MS = 1_000_000
FAST_HEARTBEAT = ProtocolConfig(
    ping_interval_ns=300 * MS, pong_timeout_ns=900 * MS, silence_timeout_ns=1500 * MS,
    request_timeout_ns=1500 * MS, subscribe_retry_ns=100 * MS,
)


@dataclass
class Run:
    emulator: Emulator
    truth_path: Path
    session: PhemexSession = field(init=False)
    task: asyncio.Task[None] = field(init=False)
    trades: list[Trade] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    rejected: list[FrameRejected] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    first_snapshot: dict[str, list[Trade]] = field(default_factory=dict)
    listeners: list[Callable[[Event], None]] = field(default_factory=list)

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, TradesReceived):
            self.trades.extend(event.trades)
            if event.snapshot and event.symbol not in self.first_snapshot:
                self.first_snapshot[event.symbol] = event.trades
        elif isinstance(event, GapDetected):
            self.gaps.append(event.gap)
        elif isinstance(event, FrameRejected):
            self.rejected.append(event)
        for listener in self.listeners:
            listener(event)

    async def streaming(self, timeout: float = 10) -> None:
        await wait_until(lambda: self.session.stats.state == "streaming", timeout, "streaming")

    async def reconnected(self, before: int, timeout: float = 10) -> None:
        """Wait until the session has reconnected and resubscribed since ``before`` connects."""
        stats = self.session.stats
        await wait_until(lambda: stats.connects > before and stats.state == "streaming",
                         timeout, f"reconnect after connect #{before}")

    async def caught_up(self, timeout: float = 10) -> None:
        """Halt the market, then wait until every produced trade was delivered or lost."""
        self.emulator.halt()
        await self.streaming(timeout)
        produced = self.emulator.trades_produced

        def settled() -> bool:
            comparison = self.compare()
            return comparison.truth_rows >= produced and not comparison.lost_silently

        try:
            await wait_until(settled, timeout, f"all {produced} produced trades to arrive")
        except AssertionError as exc:
            msg = f"{exc}: {self.compare().summary()}"
            raise AssertionError(msg) from None

    def compare(self) -> Comparison:
        snapshot_size = self.emulator.config.snapshot_trades  # the exchange's, not the client's
        start = {  # a full first snapshot starts the recording at its oldest trade
            symbol: trades[0].ts_exchange_ns
            for symbol, trades in self.first_snapshot.items()
            if len(trades) >= snapshot_size
        }
        return Comparison(read_truth(self.truth_path), map(key_of, self.trades), self.gaps, start)


@contextlib.asynccontextmanager
async def recording(
    tmp_path: Path,
    symbols: tuple[str, ...] = ("BTCUSD",),
    protocol_config: ProtocolConfig = FAST_HEARTBEAT,
    on_frame: Callable[[RawFrame], object] | None = None,
    flush_frames: Callable[[], object] | None = None,
    books: tuple[tuple[str, int | None], ...] = (),
    **emulator_options: object,
) -> AsyncIterator[Run]:
    """``books``: (symbol, depth 30 or None = full) order books to follow beside the trades."""
    truth = tmp_path / "truth.jsonl"
    config = EmulatorConfig(symbols=symbols, truth_path=str(truth), **emulator_options)  # type: ignore[arg-type]
    async with Emulator(config) as emulator:
        products = default_products()
        protocol = PhemexProtocol(
            [Subscription.trades(products.require(s)) for s in symbols]
            + [Subscription.book(products.require(s), depth) for s, depth in books], products,
            protocol_config,
        )
        session_config = SessionConfig(url=emulator.url, backoff_initial=0.05, backoff_cap=0.5,
                                       first_connect_timeout=5,
                                       connect_budget=(10_000, 300.0))  # no per-IP limit here
        run = Run(emulator, truth)
        run.session = PhemexSession(protocol, session_config, on_frame=on_frame,
                                    on_event=run.on_event, flush_frames=flush_frames)
        run.task = asyncio.create_task(run.session.run())
        try:
            yield run
        finally:
            run.session.stop()
            if not run.task.done():
                await asyncio.wait_for(run.task, 5)
            elif not run.task.cancelled() and run.task.exception() is not None:
                raise run.task.exception()  # type: ignore[misc]
