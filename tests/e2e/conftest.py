"""Fixtures of the end-to-end tests: ``ticklake emulate`` as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support import scaled

TICKLAKE = [sys.executable, "-m", "ticklake"]


def run_cli(*args: str, timeout: float = 60, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``ticklake`` in ``cwd`` (a fresh directory by default: ./lake and ./spool go there)."""
    return subprocess.run(
        [*TICKLAKE, *args], capture_output=True, text=True, timeout=scaled(timeout),
        env={**os.environ, **(env or {})}, check=False, cwd=cwd or tempfile.mkdtemp(),
    )


@pytest.fixture
def emulator(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """``ticklake emulate`` on a free port; yields its URL and truth file; killed by PID."""
    truth = tmp_path / "truth.jsonl"
    log = tmp_path / "emulator.log"
    extra = getattr(request, "param", [])
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [*TICKLAKE, "emulate", "--port", "0", "--symbols", "BTCUSD,BTCUSDT", "--rate",
             "40",
             "--history", "0", "--truth", str(truth), *extra],
            stderr=log_file,
        )
    try:
        deadline = time.monotonic() + scaled(20)
        while not (match := re.search(r"(ws://127\.0\.0\.1:\d+/)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield match.group(1), truth
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=scaled(10))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


