"""Prometheus exposition of each connection's counters, read from the recording's status
(``ticklake.status``) at scrape time.

The hot path bumps plain integers; nothing here runs per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ticklake.status import RecordingStatus

_COUNTERS = {
    "frames": "WebSocket frames received",
    "bytes": "Bytes of frame text received",
    "trades": "Trades emitted (new, never seen before)",
    "snapshot_trades": "Trades recovered from resubscribe snapshots",
    "duplicates_skipped": "Snapshot rows skipped as already recorded",
    "duplicate_messages": "Incremental messages replayed by the server and dropped",
    "gaps": "Gaps recorded (snapshot did not reach back)",
    "rejected": "Frames that could not be parsed (quarantined with a reason)",
    "reconnects": "Reconnect attempts",
    "connects": "Connections established",
    "subscribe_errors": "Subscribe requests answered with an error",
    "pongs": "server.ping replies received",
}


class SessionCollector(Collector):
    """Collects every connection of the recording's status at scrape time."""

    def __init__(self, status: Callable[[], RecordingStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        sessions = {conn.name: conn.stats for conn in self._status().connections}
        for field, help_text in _COUNTERS.items():
            family = CounterMetricFamily(f"ticklake_session_{field}", help_text,
                                         labels=["session"])
            for name, stats in sessions.items():
                family.add_metric([name], getattr(stats, field))
            yield family
        rtt = GaugeMetricFamily("ticklake_session_ping_rtt_seconds",
                                "Last server.ping round trip", labels=["session"])
        age = GaugeMetricFamily("ticklake_session_last_frame_unixtime",
                                "Wall-clock time of the last frame", labels=["session"])
        for name, stats in sessions.items():
            rtt.add_metric([name], stats.last_rtt_ns / 1e9)
            age.add_metric([name], stats.last_frame_wall_ns / 1e9)
        yield rtt
        yield age


def serve_metrics(
    status: Callable[[], RecordingStatus], port: int, host: str = "127.0.0.1"
) -> WSGIServer:
    """Start the /metrics HTTP endpoint in a daemon thread; ``shutdown()`` stops it."""
    registry = CollectorRegistry()
    registry.register(SessionCollector(status))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
