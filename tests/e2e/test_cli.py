"""The ``ticklake`` command as a user runs it: real processes, real sockets."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from ..support import read_truth
from .conftest import run_cli


# History: the first snapshot alone brings 200 trades of each symbol, however few the
# recording gets in its 4 seconds on a loaded machine.
@pytest.mark.parametrize("emulator", [["--history", "300"]], indirect=True)
def test_record_prints_progress_and_records_the_truth(
    emulator: tuple[str, Path], tmp_path: Path
) -> None:
    url, truth_path = emulator
    out = tmp_path / "trades.jsonl"
    result = run_cli("record", "--url", url, "--symbols", "BTCUSD,BTCUSDT", "--duration", "4",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stdout.splitlines() if "trades" in line]
    assert progress and "streaming" in result.stdout
    final = re.search(r"trades ([\d,]+)", progress[-1])
    assert final is not None
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    trades = [row for row in lines if row["type"] == "trade"]
    assert int(final.group(1).replace(",", "")) == len(trades) > 100
    assert not [row for row in lines if row["type"] == "gap"]
    recorded = Counter(
        (t["symbol"], t["ts_ns"], t["side"], Decimal(t["price"]), Decimal(t["qty"]))
        for t in trades
    )
    # Owed: from the first trade the snapshot reached back to until the last one recorded.
    first = {s: min(k[1] for k in recorded if k[0] == s) for s in ("BTCUSD", "BTCUSDT")}
    last = {s: max(k[1] for k in recorded if k[0] == s) for s in ("BTCUSD", "BTCUSDT")}
    truth = Counter(k for k in read_truth(truth_path) if first[k[0]] < k[1] < last[k[0]])
    assert not recorded - Counter(read_truth(truth_path)), "duplicated or invented trades"
    assert not truth - recorded, "lost trades"


@pytest.mark.parametrize("emulator", [["--legacy-410"]], indirect=True)
def test_legacy_url_answering_410_is_a_one_line_error(emulator: tuple[str, Path]) -> None:
    url, _ = emulator
    result = run_cli("record", "--url", url + "ws", "--duration", "10")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "HTTP 410" in result.stderr and "wss://ws.phemex.com" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "NOPE"], "unknown symbol 'NOPE'"),
        (["--ping-interval", "45"], "invalid feed.ping_interval 45.0"),
        (["--url", "http://example.invalid/"], "invalid feed.url"),
        (["--symbols", ","], "invalid feed.symbols"),
        (["--symbols", ",".join(f"S{i}" for i in range(101))], "with --shard i/n"),
        (["--shard", "2/2"], "invalid feed.shard '2/2'"),
        (["--family", "futures"], "unknown product family 'futures'"),
        (["--family", "spot", "--symbols", "BTCUSD"], "not both"),
        (["--symbols", "BTCUSD,BTCUSD"], "listed twice"),
        (["--channels", "trades,quotes"], "invalid feed.channels"),
        (["--book-depth", "5"], "invalid feed.book_depth"),
        (["--channels", "trades,book", "--symbols", ",".join(f"S{i}" for i in range(51))],
         "5 connections × 10 subscriptions"),
    ],
)
def test_bad_input_is_a_one_line_error_with_exit_code_2(args: list[str], message: str) -> None:
    result = run_cli("record", "--products-url", "none", *args, "--duration", "5")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_unreachable_url_is_reported_after_the_first_connect_timeout() -> None:
    result = run_cli("record", "--url", "ws://127.0.0.1:9/", "--products-url", "none",
                     env={"TICKLAKE_FEED__FIRST_CONNECT_TIMEOUT": "1"})
    assert result.returncode == 2
    assert "cannot connect to ws://127.0.0.1:9/" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_file_unknown_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "ticklake.toml"
    config.write_text('[lake]\nroot = "x"\nbuffer_secs = 5\n')
    result = run_cli("record", "--config", str(config), "--products-url", "none")
    assert result.returncode == 2
    assert "invalid lake.buffer_secs 5: unknown setting" in result.stderr


def test_sql_errors_are_one_line(tmp_path: Path) -> None:
    missing = run_cli("sql", "SELECT 1", "--lake", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no ticklake lake at" in missing.stderr
    (tmp_path / "lake" / "_ticklake").mkdir(parents=True)
    (tmp_path / "lake" / "_ticklake" / "lake.json").write_text('{"format": 1}')
    lake = str(tmp_path / "lake")
    bad = run_cli("sql", "SELECT nope FROM trades", "--lake", lake, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nope" in bad.stderr
    outside = run_cli("sql", "SELECT * FROM read_text('/etc/passwd')", "--lake", lake,
                      cwd=tmp_path)
    assert outside.returncode == 2 and "root:" not in outside.stdout
    empty = run_cli("sql", "SELECT count(*) AS n FROM trades", "--lake", lake,
                    "--format", "json", cwd=tmp_path)
    assert empty.returncode == 0 and json.loads(empty.stdout) == [{"n": 0}]


def test_a_run_that_never_connected_is_an_error_not_a_silent_success() -> None:
    result = run_cli("record", "--url", "ws://127.0.0.1:1/", "--products-url", "none",
                     "--duration", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: never connected to ws://127.0.0.1:1/ within 1 s (the --duration)"]


def test_record_with_books_keeps_every_book_frame_beside_the_trades(
        emulator: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = emulator
    lake, spool = tmp_path / "lake", tmp_path / "spool"
    result = run_cli("record", "--url", url, "--symbols", "BTCUSD,BTCUSDT",
                     "--channels", "trades,book", "--book-depth", "full", "--duration", "4",
                     "--lake", str(lake), "--spool", str(spool))
    assert result.returncode == 0, result.stderr
    query = ("SELECT json_extract_string(payload, '$.symbol') AS symbol, "
             "json_extract_string(payload, '$.type') AS kind, count(*) AS n FROM raw "
             "WHERE json_exists(payload, '$.book') OR json_exists(payload, '$.orderbook_p') "
             "GROUP BY ALL ORDER BY ALL")
    rows = run_cli("sql", query, "--lake", str(lake), "--spool", str(spool), "--format", "json")
    assert rows.returncode == 0, rows.stderr
    counts = {(r["symbol"], r["kind"]): r["n"] for r in json.loads(rows.stdout)}
    for symbol in ("BTCUSD", "BTCUSDT"):
        assert counts[(symbol, "snapshot")] >= 1 and counts[(symbol, "incremental")] > 10
    trades = run_cli("sql", "SELECT count(*) AS n FROM trades", "--lake", str(lake),
                     "--spool", str(spool), "--format", "json")
    assert json.loads(trades.stdout)[0]["n"] > 100
    # Every book frame is one message of book_updates (no fault: none is a resend).
    messages = run_cli("sql", "SELECT symbol, action, count(DISTINCT spool_offset) AS n "
                       "FROM book_updates GROUP BY ALL", "--lake", str(lake), "--spool",
                       str(spool), "--format", "json")
    assert messages.returncode == 0, messages.stderr
    got = {(r["symbol"], "snapshot" if r["action"] == "snapshot" else "incremental"): r["n"]
           for r in json.loads(messages.stdout)}
    assert got == counts
