"""Real processes for the reliability tests: ``ticklake emulate`` and ``ticklake record``,
each in its own session (process group) so that kill -9 takes the whole tree at once."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..support import scaled

TICKLAKE = [sys.executable, "-m", "ticklake"]


def kill_group(process: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    if sig == signal.SIGKILL:  # reaped, so no zombie outlives the test that started it
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


@contextlib.contextmanager
def emulator_process(tmp_path: Path, *args: str) -> Iterator[tuple[str, Path]]:
    """``ticklake emulate`` on a free port; yields its URL and truth file; killed by PID."""
    truth = tmp_path / "truth.jsonl"
    log = tmp_path / "emulator.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [*TICKLAKE, "emulate", "--port", "0", "--history", "0", "--truth", str(truth),
             *args],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + scaled(30)
        while not (match := re.search(r"(ws://127\.0\.0\.1:\d+/)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield match.group(1), truth
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=scaled(10))
        except subprocess.TimeoutExpired:
            kill_group(process)
            process.wait()


def control(url: str, action: str, **params: object) -> dict[str, Any]:
    """The emulator's HTTP control endpoint (``/control/<action>?...``)."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    http = url.replace("ws://", "http://").rstrip("/")
    with urllib.request.urlopen(f"{http}/control/{action}?{query}", timeout=10) as reply:
        body: dict[str, Any] = json.loads(reply.read())
    return body


def recorder(url: str, lake: str, spool: Path, *extra: str, symbols: str = "BTCUSD,BTCUSDT",
             env: dict[str, str] | None = None, log: Path | None = None,
             ) -> subprocess.Popen[bytes]:
    """``ticklake record`` into ``lake`` through ``spool``, in a new process group."""
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [*TICKLAKE, "record", "--url", url, "--symbols", symbols, "--products-url", "none",
             "--lake", lake, "--spool", str(spool), *extra],
            env={**os.environ, "TICKLAKE_LAKE__BUFFER_SECONDS": "0.3",
                 "TICKLAKE_FEED__FIRST_CONNECT_TIMEOUT": "30", **(env or {})},
            stdout=out, stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def stop_recorder(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM (the recorder drains the lake), then wait; returns the exit code."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        kill_group(process)
        process.wait()
        raise
