"""Metrics scraped over HTTP, and a consumer that never reads does not stall the reader."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ticklake.bus import Bus
from ticklake.feed.events import Event, TradesReceived
from ticklake.metrics import serve_metrics
from ticklake.session.stats import SessionState
from ticklake.status import ConnectionStatus, RecordingStatus

from ..support import scaled, wait_until
from .harness import recording


def test_metrics_endpoint_reports_the_session_counters(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with recording(tmp_path, rate=100.0) as run:
            await run.streaming()
            await wait_until(lambda: run.session.stats.trades > 50, 10, "50 trades")
            run.emulator.inject("garbage", "all", count=2)
            await wait_until(lambda: run.session.stats.rejected == 2, 10, "2 rejections")
            run.emulator.halt()
            await run.caught_up()
            status = RecordingStatus(
                (ConnectionStatus("phemex", ("BTCUSD",), run.session.stats),), None, None)
            server = serve_metrics(lambda: status, 0)  # a free port
            try:
                url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
                body = await asyncio.to_thread(
                    lambda: urllib.request.urlopen(url, timeout=10).read().decode()
                )
                health = await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(
                    url.replace("/metrics", "/healthz"), timeout=10).read()))
                assert health["state"] == "streaming"
                assert health["connections"] == {"phemex": "streaming"}
                assert 0 <= health["last_frame_age_s"] < 60
                # A failed connection: the orchestrator is told to restart the task.
                status = RecordingStatus((ConnectionStatus(
                    "phemex", ("BTCUSD",), dataclasses.replace(
                        run.session.stats, state=SessionState.FAILED)),), None, None)
                with pytest.raises(urllib.error.HTTPError) as refused:
                    await asyncio.to_thread(lambda: urllib.request.urlopen(
                        url.replace("/metrics", "/healthz"), timeout=10))
                assert refused.value.code == 503
                assert json.loads(refused.value.read())["state"] == "failed"
            finally:
                server.shutdown()
                server.server_close()
            values = {
                sample.name: sample.value
                for family in text_string_to_metric_families(body)
                for sample in family.samples
                if sample.labels.get("session") == "phemex"
            }
            stats = run.session.stats
            assert values["ticklake_session_trades_total"] == stats.trades == len(run.trades)
            assert values["ticklake_session_rejected_total"] == 2
            assert 0 < values["ticklake_session_frames_total"] <= stats.frames  # pongs go on
            assert values["ticklake_session_gaps_total"] == 0

    asyncio.run(scenario())


def test_a_consumer_that_never_reads_does_not_stall_the_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        bus: Bus[Event] = Bus()
        stuck = bus.subscribe(maxsize=5)  # nobody ever reads it
        # The server drops a client silent for its heartbeat timeout (scaled: a loaded machine
        # must not trip it; a reader stalled behind the stuck consumer would, for good).
        async with recording(tmp_path, rate=400.0, heartbeat_timeout=scaled(1.0)) as run:
            run.listeners.append(bus.publish)
            await run.streaming()
            await wait_until(lambda: stuck.dropped > 200, 20, "the stuck consumer to overflow")
            await run.caught_up()
            assert len(stuck) == 5
            assert run.session.stats.reconnects == 0  # the server never had to drop us
            assert run.compare().summary()["lost_silently"] == 0
            assert stuck.dropped + len(stuck) == len(run.events)  # dropped, counted, never blocked
            assert sum(isinstance(e, TradesReceived) for e in run.events) > 100

    asyncio.run(scenario())
