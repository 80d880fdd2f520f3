"""Detector episodes for the charts: ``/api/anomalies`` over a real lake written by the lake's
own AnomalyWriter, and the dashboard's recent-episodes snapshot (phases only move forward)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from ticklake.bus import Bus
from ticklake.dashboard import DashboardConfig
from ticklake.dashboard.recent import RecentAnomalies
from ticklake.lake.anomalies import AnomalyWriter
from ticklake.lake.storage import LakeStorage
from ticklake.model import Anomaly

from ..catalog.helpers import SECOND, write_lake
from .client import request
from .lakes import lake_anomaly, lake_trades
from .stack import LakeServer

MS = 1_000_000


@pytest.fixture(scope="module")
def episodes(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LakeServer, list[Anomaly]]]:
    trades = lake_trades()
    root = write_lake(tmp_path_factory.mktemp("anomalies") / "lake", trades=trades)
    written = [lake_anomaly(trades, at_ns=trades[0]["ts_ns"] + h * 3_600 * SECOND)
               for h in (3, 20, 30)]
    written.append(lake_anomaly(trades, symbol="ETHUSD"))
    assert AnomalyWriter(LakeStorage(str(root))).write(written) == 4
    server = LakeServer(DashboardConfig(str(root), None, port=0)).start()
    try:
        yield server, written
    finally:
        server.stop()


def get(server: LakeServer, query: str) -> dict[str, object]:
    reply = request(f"{server.url}/api/anomalies?{query}")
    assert reply.status == 200, reply.body
    body = reply.json()
    assert isinstance(body, dict)
    return body


def test_the_lake_rows_in_range_latest_first_as_the_socket_sends_them(
        episodes: tuple[LakeServer, list[Anomaly]]) -> None:
    server, written = episodes
    btc = [a for a in written if a.symbol == "BTCUSD"]
    since = btc[0].ts_start_ns // MS
    until = btc[-1].ts_start_ns // MS + 1
    body = get(server, f"symbol=BTCUSD&since={since}&until={until}")
    expected = [{**msgspec.to_builtins(a), "phase": "end"} for a in reversed(btc)]
    assert body["anomalies"] == expected  # every field exact, ns times included
    assert body["truncated"] is False
    # an episode overlapping the range's start counts; one starting at its end does not
    body = get(server, f"symbol=BTCUSD&since={btc[1].ts_end_ns // MS}&until={until - 1}")
    assert [a["anomaly_id"] for a in body["anomalies"]] == [btc[1].anomaly_id]  # type: ignore[union-attr]
    eth = written[-1]
    body = get(server, f"symbol=ETHUSD&since=0&until={eth.ts_end_ns // MS}&limit=1")
    assert [a["anomaly_id"] for a in body["anomalies"]] == [eth.anomaly_id]  # type: ignore[union-attr]
    assert body["truncated"] is True  # the limit was reached
    assert get(server, "symbol=SOLUSD")["anomalies"] == []


@pytest.mark.parametrize(("query", "message"), [
    ("symbol=BTC'USD", "symbol must be letters"),
    ("symbol=BTCUSD&since=2&until=1", "since must be before until"),
    ("symbol=BTCUSD&limit=0", "limit must be 1..10000"),
    ("symbol=BTCUSD&until=soon", "until must be epoch milliseconds"),
])
def test_bad_parameters_get_one_line(episodes: tuple[LakeServer, list[Anomaly]], query: str,
                                     message: str) -> None:
    reply = request(f"{episodes[0].url}/api/anomalies?{query}")
    assert reply.status == 400 and message in reply.json()["error"]


def test_a_lake_without_anomalies_answers_none(tmp_path: Path) -> None:
    root = write_lake(tmp_path / "lake", trades=lake_trades()[:10])
    server = LakeServer(DashboardConfig(str(root), None, port=0)).start()
    try:
        assert get(server, "symbol=BTCUSD&since=0")["anomalies"] == []
    finally:
        server.stop()


def _phase(a: Anomaly, phase: str, **changes: object) -> Anomaly:
    return msgspec.structs.replace(a, phase=phase, **changes)  # type: ignore[arg-type]


def test_recent_keeps_the_latest_phase_of_each_episode_and_is_bounded() -> None:
    async def scenario() -> None:
        bus: Bus[Anomaly] = Bus()
        recent = RecentAnomalies(_Recording(bus), keep=3)  # type: ignore[arg-type]
        a = _phase(lake_anomaly(lake_trades()), "start", ts_end_ns=None)
        bus.publish(a)
        bus.publish(_phase(a, "update", score=7.5))
        await recent.drain()
        assert [(x["phase"], x["score"]) for x in recent.snapshot()] == [("update", 7.5)]
        bus.publish(_phase(a, "end", score=8.0))
        recent.absorb([_phase(a, "update", score=1.0)])  # a stale copy never wins
        await recent.drain()
        assert [(x["phase"], x["score"]) for x in recent.snapshot()] == [("end", 8.0)]
        for i in range(5):
            bus.publish(_phase(a, "start", anomaly_id=f"other-{i}"))
        await recent.drain()
        assert [x["anomaly_id"] for x in recent.snapshot()] == ["other-2", "other-3", "other-4"]

    asyncio.run(scenario())


class _Recording:
    def __init__(self, bus: Bus[Anomaly]) -> None:
        self.anomalies = bus
