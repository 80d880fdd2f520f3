"""The real client against the emulator over loopback: recorded trades equal the ground truth."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.errors import SubscriptionRejected
from ticklake.feed.events import Pong, SubscribeFailed
from ticklake.feed.phemex import (
    Family,
    PhemexProtocol,
    Product,
    ProductTable,
    Subscription,
    default_products,
)
from ticklake.session import PhemexSession, SessionConfig

from ..support import scaled, wait_until
from .harness import FAST_HEARTBEAT, recording


def test_records_every_trade_of_three_product_families_exactly(tmp_path: Path) -> None:
    async def scenario() -> dict[str, int]:
        symbols = ("BTCUSD", "BTCUSDT", "sBTCUSDT")
        async with recording(tmp_path, symbols, rate=200.0) as run:
            await run.streaming()
            await wait_until(lambda: len(run.trades) > 600, 10, "600 trades")
            await run.caught_up()
            result = run.compare()
            assert {t.symbol for t in run.trades} == set(symbols)
            assert not run.rejected and not run.gaps
            return result.summary()

    summary = asyncio.run(scenario())
    assert summary["duplicated"] == 0
    assert summary["lost_silently"] == 0 and summary["lost_in_reported_gaps"] == 0
    assert summary["recorded"] == summary["truth"] > 600


def test_heartbeat_keeps_the_connection_open_past_the_server_timeout(tmp_path: Path) -> None:
    timeout = scaled(1.0)  # the server's heartbeat timeout: a slow machine must not trip it
    pongs = math.ceil(3 * timeout / 0.3)  # pings every 0.3 s for three of its timeouts

    async def scenario() -> None:
        async with recording(tmp_path, heartbeat_timeout=timeout) as run:
            await run.streaming()
            await wait_until(lambda: sum(isinstance(e, Pong) for e in run.events) >= pongs,
                             10 + 3 * timeout, f"{pongs} pongs")
            assert run.session.stats.connects == 1 and run.session.stats.reconnects == 0
            assert run.emulator.heartbeat_drops == 0

    asyncio.run(scenario())


def test_silent_stall_is_detected_by_the_heartbeat_watchdog(tmp_path: Path) -> None:
    """The server keeps TCP open and sends nothing: the pong watchdog (a ping every 0.3 s,
    0.9 s to answer) or the 1.5 s silence timer abandons the connection, nothing else (how
    soon: the silent-stall figure of tests/reliability, bench/reliability_figures.py)."""
    async def scenario() -> dict[str, int]:
        async with recording(tmp_path, rate=100.0) as run:
            await run.streaming()
            assert run.emulator.inject("stall", "all") == 1
            await run.reconnected(1)
            await run.caught_up()
            summary = run.compare().summary()
            assert summary["duplicated"] == summary["lost_silently"] == 0, summary
            return dict(run.session.stats.stale_reasons)

    reasons = asyncio.run(scenario())
    assert sum(reasons.values()) == 1 and set(reasons) <= {"no pong", "no frame"}, reasons


def test_refused_subscribe_is_retried_and_then_streams(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with recording(tmp_path, rate=100.0) as run:
            await run.streaming()
            run.emulator.inject("error_reply", "next", count=1)
            before = run.session.stats.connects
            run.emulator.inject("close", "all")
            await run.reconnected(before)
            failures = [e for e in run.events if isinstance(e, SubscribeFailed)]
            assert [(f.symbol, f.code) for f in failures] == [("BTCUSD", 6001)]
            await run.caught_up()
            summary = run.compare().summary()
            assert summary["duplicated"] == 0 and summary["lost_silently"] == 0

    asyncio.run(scenario())



def test_symbol_the_exchange_refuses_ends_the_session_with_a_named_error() -> None:
    async def scenario() -> None:
        async with Emulator(EmulatorConfig(symbols=("BTCUSD",))) as emulator:
            # A product the client believes in but the exchange does not list: 6001 each time.
            products = default_products().merged(
                ProductTable([Product("XRPUSD", Family.COIN_M, 4, 0)])
            )
            subs = [Subscription("trade", "BTCUSD"), Subscription("trade", "XRPUSD")]
            protocol = PhemexProtocol(subs, products, FAST_HEARTBEAT)
            session = PhemexSession(protocol, SessionConfig(url=emulator.url))
            with pytest.raises(SubscriptionRejected, match=r"trade\.subscribe XRPUSD rejected"):
                await asyncio.wait_for(session.run(), scaled(20))
            assert session.stats.state == "failed"
            assert session.stats.subscribe_errors == FAST_HEARTBEAT.max_subscribe_attempts

    asyncio.run(scenario())
