"""``ticklake rebuild`` on lakes the real pipeline recorded from the emulator (every channel,
a reconnect and a gap inside), locally and on a real S3 server, and the command's own
one-line errors.

The emulator's exchange clock is set two days back and runs 20 times faster, so the recording
crosses a midnight and both of its days are closed (rebuild touches closed days only).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from ticklake.catalog import Lake
from ticklake.lake.rebuild import rebuild
from ticklake.lake.storage import LakeStorage

from ..e2e.conftest import run_cli
from ..reliability.stack import pipeline
from ..seaweed import SeaweedFS
from ..support import wait_until
from ..unit.lake.test_rebuild import drop_column

SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")
S = 10**9
MIDNIGHT = int(dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1),
                                   dt.time(), dt.UTC).timestamp()) * S
TABLES = ("trades", "book_updates", "book_snapshots", "tickers", "ticks", "klines", "gaps")


def everything(root: Path | str, table: str) -> Counter[tuple[Any, ...]]:
    return Counter(Lake(str(root)).query(f"SELECT * FROM {table}", max_rows=None).rows())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("rebuild")

    async def scenario() -> str:
        async with pipeline(tmp_path, SYMBOLS, rate=10.0, clock_speed=20.0,
                            clock_start_ns=MIDNIGHT - 60 * S,
                            feed={"channels": ("trades", "book", "tickers", "ticks", "klines")},
                            ) as stack:
            market = stack.emulator.market
            assert market is not None
            await wait_until(lambda: market.clock_ns > MIDNIGHT + 20 * S, 60, "midnight")
            stack.emulator.inject("close", "all", None, 1)  # a reconnect: snapshots again
            await wait_until(lambda: stack.recording.status().totals.connects >= 2, 30,
                             "the reconnect")
            stack.emulator.inject("refuse", "all", 2.0, 1)  # 40 s of trades: a real gap
            await wait_until(lambda: stack.recording.status().totals.connects >= 3, 30,
                             "the second reconnect")
            await wait_until(lambda: market.clock_ns > MIDNIGHT + 150 * S, 60, "more trades")
            await stack.stop()
            return stack.lake_root

    return Path(asyncio.run(scenario()))


def test_a_recording_rebuilt_unchanged_is_left_as_it_was_then_files_from_before_msg_index_gain_it(
        recorded: Path, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    pafs.copy_files(str(recorded), str(root))
    before = {table: everything(root, table) for table in TABLES}
    assert all(before[t] for t in TABLES), {t: len(before[t]) for t in TABLES}
    days = {str(d) for (d,) in Lake(str(root)).query(
        "SELECT DISTINCT date FROM trades").rows()}
    assert len(days) == 2  # the recording crossed a midnight: two closed days
    report = rebuild(LakeStorage(str(root)))
    assert report.changed == [] and report.skipped == []
    assert {t: s.unchanged for t, s in report.tables.items() if s.partitions} == {
        t: s.partitions for t, s in report.tables.items() if s.partitions}
    assert report.tables["trades"].partitions == 2 * len(SYMBOLS)
    assert Lake(str(root)).query("SELECT count(*) FROM gaps WHERE channel = 'trades'"
                                 ).rows()[0][0] >= 1  # (the gap is in, and stays)
    assert {t: everything(root, t) for t in TABLES} == before

    day = min(days)
    drop_column(root, "trades", day, "msg_index")
    report = rebuild(LakeStorage(str(root)), tables=("trades",))
    stats = report.tables["trades"]
    assert stats.rebuilt == len(SYMBOLS) and stats.columns_changed == {"msg_index"}
    assert everything(root, "trades") == before["trades"]


def test_a_lake_on_a_real_s3_server_is_rebuilt_in_place(
        recorded: Path, tmp_path: Path, seaweed: SeaweedFS) -> None:
    local = tmp_path / "lake"
    pafs.copy_files(str(recorded), str(local))
    pristine = everything(local, "trades")
    day = min(str(d) for (d,) in Lake(str(local)).query(
        "SELECT DISTINCT date FROM trades").rows())
    drop_column(local, "trades", day, "msg_index")
    fs = seaweed.filesystem()
    prefix = f"{seaweed.bucket}/{tmp_path.name}"
    pafs.copy_files(str(local), prefix, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=fs)
    storage = LakeStorage(f"s3://{prefix}", fs)
    report = rebuild(storage, tables=("trades",))
    assert report.tables["trades"].rebuilt == len(SYMBOLS)
    assert Counter(Lake(f"s3://{prefix}", filesystem=fs).query(
        "SELECT * FROM trades", max_rows=None).rows()) == pristine
    assert rebuild(storage, tables=("trades",)).changed == []


def test_the_command_reports_and_refuses_bad_arguments_in_one_line(
        recorded: Path, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    pafs.copy_files(str(recorded), str(root))
    done = run_cli("rebuild", "--lake", str(root), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would rewrite 0 partitions" in done.stdout
    assert "trades: 6 partitions (0 changed, 6 equal)" in done.stdout
    for args, message in [
        (["--tables", "raw"], "invalid --tables 'raw': 'raw' is not derived from raw"),
        (["--from", "2026-13-01"], "invalid --from '2026-13-01': not a day (YYYY-MM-DD)"),
    ]:
        bad = run_cli("rebuild", "--lake", str(root), *args)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        assert bad.stderr.startswith(f"error: {message}"), bad.stderr
    missing = run_cli("rebuild", "--lake", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no ticklake lake at" in missing.stderr
    assert missing.stderr.count("\n") == 1
