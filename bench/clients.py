"""What the benches that race clients share (bench/ingest.py, bench/books.py): each client runs
in a subprocess of the bench script (``--client NAME --url URL``) and prints one JSON line;
its CPU and peak RSS count its children; the median run of several rounds is reported; and
cryptofeed is pointed at the local server instead of Phemex."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cpu_now() -> float:
    """CPU seconds (user + system) of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + kids) / 1024, 1)


def run_client(script: str, name: str, url: str, timeout: float) -> dict[str, Any]:
    """``python SCRIPT --client NAME --url URL``: its last JSON line, or the error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    try:
        done = subprocess.run([sys.executable, script, "--client", name, "--url", url],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"client": name, "error": f"timed out after {timeout:.0f}s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"client": name, "error": (done.stderr or done.stdout)[-2000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def median_run(runs: list[dict[str, Any]], count: str, rate: str) -> dict[str, Any]:
    """The median of the runs that counted something (by ``rate``), with every run's rate."""
    ok = [r for r in runs if "error" not in r and r.get(count)]
    if not ok:
        return runs[-1]
    ok.sort(key=lambda r: r[rate])
    best = dict(ok[len(ok) // 2])
    best[f"runs_{rate}"] = [r[rate] for r in runs if rate in r]
    return best


def point_cryptofeed_at(url: str) -> None:
    """Point cryptofeed's Phemex feed (websocket and products REST) at ``url`` (``ws://``)."""
    import cryptofeed.connection as cf_connection
    import websockets
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.exchanges import Phemex

    def plain_connect(address: str, **kwargs: Any) -> Any:  # it insists on wss://; no TLS here
        return websockets.connect(address.replace("wss://", "ws://", 1), **kwargs)

    cf_connection.connect = plain_connect
    http = url.replace("ws://", "http://").rstrip("/")
    Phemex.websocket_endpoints = [WebsocketEndpoint(http.replace("http://", "wss://") + "/ws",
                                                    limit=20)]
    Phemex.rest_endpoints = [RestEndpoint(http, routes=Routes(
        "/exchange/public/cfg/v2/products"))]
