"""``ticklake run``, ``dashboard``, ``detect`` and ``catalog --duckdb`` as real processes."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ticklake.catalog import Lake
from ticklake.detect import detect_table
from ticklake.detect.recorded import anomalies_file_table
from ticklake.spool import SpoolReader

from ..support import scaled
from ..unit.detect.streams import LARGE_SWINGS, stream
from .conftest import TICKLAKE, run_cli


def wait_for_line(log: Path, pattern: str, process: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + scaled(30)
    while not (match := re.search(pattern, log.read_text())):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return match


def spooled_trades(spool: Path) -> bool:
    """The spool holds a frame with trades (a live incremental: the emulator has no history)."""
    if not (spool / "segments").is_dir():
        return False
    reader = SpoolReader(spool)
    return any(b'"incremental"' in r.payload and b'"trades' in r.payload
               for r in reader.read(reader.first_offset(), max_records=100_000))


def test_run_records_serves_the_dashboard_and_exports_for_bi_tools(
    emulator: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = emulator
    log = tmp_path / "run.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [*TICKLAKE, "run", "--url", url, "--symbols", "BTCUSD", "--port", "0",
             "--duration", "60"], stderr=err, stdout=subprocess.DEVNULL, cwd=tmp_path)
    try:
        board = wait_for_line(log, r"dashboard on (http://127\.0\.0\.1:\d+/)", process).group(1)
        with urllib.request.urlopen(board, timeout=scaled(10)) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        deadline = time.monotonic() + scaled(30)
        while not spooled_trades(tmp_path / "spool"):  # stopped with trades to publish
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=scaled(30)) == 0, log.read_text()
    counted = run_cli("sql", "SELECT count(*) AS n FROM trades", "--format", "csv", cwd=tmp_path)
    assert counted.returncode == 0 and int(counted.stdout.split()[-1]) > 0, counted.stderr
    exported = run_cli("catalog", "--duckdb", "lake.duckdb", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    conn = duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM trades").fetchone() == (
            int(counted.stdout.split()[-1]),)
    finally:
        conn.close()


def test_dashboard_off_loopback_needs_a_token_and_never_echoes_it(tmp_path: Path) -> None:
    Lake.create(tmp_path / "lake")
    open_port = run_cli("dashboard", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert open_port.returncode == 2
    assert open_port.stderr.count("\n") == 1 and "dashboard.token" in open_port.stderr
    short = run_cli("dashboard", "--host", "0.0.0.0", cwd=tmp_path,
                    env={"TICKLAKE_DASHBOARD_TOKEN": "tiny-secret"})
    assert short.returncode == 2 and "dashboard.token" in short.stderr
    assert "tiny-secret" not in short.stderr + short.stdout
    not_a_lake = run_cli("dashboard", "--lake", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert not_a_lake.returncode == 2 and "no ticklake lake" in not_a_lake.stderr


def test_detect_offline_writes_what_the_detector_finds(tmp_path: Path) -> None:
    rows, labels = stream(5, 2100, swings=LARGE_SWINGS[:4], first_s=300, every_s=400)
    trades = pa.table({
        "symbol": [r[0] for r in rows], "ts_ns": [r[1] for r in rows],
        "price": [r[2] for r in rows], "qty": [r[3] for r in rows],
        "side": ["buy" if r[4] else "sell" for r in rows],
    })
    pq.write_table(trades, tmp_path / "trades.parquet")
    done = run_cli("detect", "--input", "trades.parquet", "--output", "found.parquet",
                   cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    found = pq.read_table(tmp_path / "found.parquet")
    assert found.to_pylist() == anomalies_file_table(detect_table(trades)).to_pylist()
    caught = {label.start_ns for label in labels
              if any(label.start_ns <= d <= label.end_ns + 10**10
                     for d in found.column("ts_detect_ns").to_pylist())}
    assert len(caught) == len(labels) == 4
    pq.write_table(trades.drop_columns(["side"]), tmp_path / "bad.parquet")
    bad = run_cli("detect", "--input", "bad.parquet", "--output", "x.parquet", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no column side" in bad.stderr
    # Bad values: counted and left out, the same anomalies; an unusable column: one line.
    first = trades.slice(0, 1)
    zero = pa.concat_tables([first.set_column(2, "price", pa.array([0.0])),
                             first.set_column(2, "price", pa.array([None], pa.float64())),
                             trades])
    pq.write_table(zero, tmp_path / "zero.parquet")
    done = run_cli("detect", "--input", "zero.parquet", "--output", "z.parquet", cwd=tmp_path,
                   timeout=120)
    assert done.returncode == 0 and "2 trades left out" in done.stderr, done.stderr
    assert pq.read_table(tmp_path / "z.parquet").to_pylist() == found.to_pylist()
    text = trades.set_column(2, "price", trades.column("price").cast(pa.string()))
    pq.write_table(text, tmp_path / "text.parquet")
    bad = run_cli("detect", "--input", "text.parquet", "--output", "x.parquet", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "column price is string, not a number" in bad.stderr
