"""Prometheus exposition of each connection's counters, read from the recording's status
(``ticklake.status``) at scrape time.

The hot path bumps plain integers; nothing here runs per frame.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from ticklake.session.stats import SessionState
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
    """Start the /metrics HTTP endpoint (and ``/healthz``, for an orchestrator's health
    check) in a daemon thread; ``shutdown()`` stops it."""
    registry = CollectorRegistry()
    registry.register(SessionCollector(status))
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            healthy, body = health(status())
            start_response("200 OK" if healthy else "503 Service Unavailable",
                           [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        result: list[bytes] = metrics(environ, start_response)
        return result

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    return server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """A health check every few seconds must not fill the log."""


def health(status: RecordingStatus) -> tuple[bool, dict[str, Any]]:
    """Whether the recorder should be left running: every connection alive (streaming or
    on its way back: an exchange outage is no reason to restart a recorder whose spool and
    reconnects handle it), none failed. The body says where it stands."""
    states = [conn.stats.state for conn in status.connections]
    last = max((conn.stats.last_frame_wall_ns for conn in status.connections), default=0)
    body = {
        "state": status.totals.state,
        "connections": {conn.name: conn.stats.state for conn in status.connections},
        "last_frame_age_s": round((time.time_ns() - last) / 1e9, 3) if last else None,
        "lake_backlog_frames": status.backlog,
    }
    healthy = bool(states) and not any(s in _DEAD for s in states)
    return healthy, body


_DEAD = (SessionState.FAILED, SessionState.STOPPED)
