"""Fixtures of the end-to-end tests: ``ticklake emulate`` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..reliability.procs import emulator_process
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
    extra = getattr(request, "param", [])
    with emulator_process(tmp_path, "--symbols", "BTCUSD,BTCUSDT", "--rate", "40",
                          *extra) as found:
        yield found


