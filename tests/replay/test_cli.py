"""``ticklake replay``: a user's mistake is one line and exit code 2; ``--port 0`` prints the
URL it serves."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ..support import scaled
from .helpers import Archived, lake_of, trades

TICKLAKE = [sys.executable, "-m", "ticklake", "replay"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    archived = Archived()
    archived.control()
    archived.add(trades("BTCUSD", 1, [], "snapshot"))
    return lake_of(tmp_path_factory.mktemp("replay-cli"), archived)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with a raw file that is no Parquet (a disk error, a copy cut short)."""
    archived = Archived()
    archived.control()
    root = lake_of(tmp_path_factory.mktemp("replay-cli-broken"), archived)
    next((root / "raw").rglob("part-*.parquet")).write_bytes(b"not parquet")
    return root


@pytest.mark.parametrize(("args", "named"), [
    (["--lake", "{missing}"], "no lake at"),
    (["--lake", "{broken}"], "cannot read"),
    (["--lake", "{lake}", "--speed", "fast"], "--speed"),
    (["--lake", "{lake}", "--speed", "0"], "--speed"),
    (["--lake", "{lake}", "--from", "yesterday"], "--from"),
    (["--lake", "{lake}", "--to", "2026-13-01"], "--to"),
    (["--lake", "{lake}", "--from", "2026-11-26", "--to", "2026-11-25"], "--from"),
    (["--lake", "{lake}", "--symbols", "ETHUSD"], "ETHUSD"),
], ids=["missing-lake", "broken-file", "speed-word", "speed-zero", "bad-from", "bad-to",
        "from-after-to", "unknown-symbol"])
def test_a_mistake_is_one_line_and_exit_code_2(lake: Path, broken: Path, tmp_path: Path,
                                                args: list[str], named: str) -> None:
    args = [a.format(lake=lake, broken=broken, missing=tmp_path / "nothing") for a in args]
    done = subprocess.run([*TICKLAKE, *args, "--port", "0"], capture_output=True, text=True,
                          timeout=scaled(60), check=False)
    assert done.returncode == 2, (done.returncode, done.stderr)
    stderr = done.stderr.strip()
    assert "\n" not in stderr and "Traceback" not in stderr, stderr
    assert stderr.startswith("error: ") and named in stderr, stderr


def test_port_0_picks_a_free_port_and_prints_the_url(lake: Path) -> None:
    proc = subprocess.Popen([*TICKLAKE, "--lake", str(lake), "--port", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # blocks until the server is up (or the process ended)
        assert line.startswith(f"replaying {lake} on ws://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        http = url.replace("ws://", "http://").rstrip("/") + "/public/products"
        with urllib.request.urlopen(http, timeout=scaled(10)) as response:
            assert json.load(response)["data"]["products"][0]["symbol"] == "BTCUSD"
    finally:
        proc.kill()  # by its own PID
        proc.communicate(timeout=30)  # (and closes its pipe)
