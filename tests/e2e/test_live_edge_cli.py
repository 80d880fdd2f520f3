"""``ticklake sql`` while ``ticklake record`` runs, as a user would: 7 symbols in 3 families
from the exchange's products payload, every one visible at the live edge with nothing
rejected; the same after kill -9 (the tail read by no recorder) and after a restart."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

from ..reliability.common import compare_lake, lake_trades, truth_trades, wait_for
from ..reliability.procs import control, emulator_process, kill_group
from ..support import scaled
from .conftest import TICKLAKE, run_cli

SYMBOLS = ("BTCUSD", "Z001USD", "Z002USDT", "sZ003USDT", "Z004USD", "Z005USDT", "sZ006USDT")
COUNTS = "SELECT symbol, count(*) FROM trades GROUP BY symbol ORDER BY symbol"


def sql(lake: Path, spool: Path, statement: str) -> list[list[str]]:
    result = run_cli("sql", "--lake", str(lake), "--spool", str(spool), "--format", "csv",
                     statement)
    assert result.returncode == 0, result.stderr
    return list(csv.reader(result.stdout.strip().splitlines()[1:]))


def test_every_symbol_at_the_live_edge_with_nothing_rejected_across_kill_9(
        tmp_path: Path) -> None:
    lake, spool = tmp_path / "lake", tmp_path / "spool"
    with emulator_process(tmp_path, "--symbols", "BTCUSD", "--extra-symbols", "6",
                          "--rate", "10") as (url, truth):
        command = [*TICKLAKE, "--log-level", "info", "record", "--url", url,
                   "--symbols", ",".join(SYMBOLS), "--products-url", "auto",
                   "--lake", str(lake), "--spool", str(spool)]
        env = {**os.environ, "TICKLAKE_FEED__FIRST_CONNECT_TIMEOUT": "20"}
        log = tmp_path / "record.log"
        with log.open("w") as stderr:
            recorder = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                        stderr=stderr, start_new_session=True)
        try:
            # The default 300 s publish interval: everything here is the spool's tail. A
            # recorder still starting has no lake yet, which `sql` rightly refuses.
            wait_for(lambda: (lake / "_ticklake" / "lake.json").exists()
                     and len(sql(lake, spool, COUNTS)) == len(SYMBOLS), 30,
                       "every symbol in SQL while recording")
            assert sql(lake, spool, "SELECT count(*) FROM rejected") == [["0"]]
            seen = lake_trades(str(lake), spool)
            assert not seen - truth_trades(truth), "a trade SQL shows twice or made up"
            kill_group(recorder)
            recorder.wait()
        finally:
            kill_group(recorder)
        # INFO lifecycle lines with --log-level info (one per subscription).
        subscribed = [line for line in log.read_text().splitlines() if "subscribed" in line]
        assert len(subscribed) == len(SYMBOLS)

        # Killed: no recorder reads the spool, and SQL still decodes every symbol of it.
        after_kill = sql(lake, spool, COUNTS)
        assert [row[0] for row in after_kill] == sorted(SYMBOLS)
        assert sql(lake, spool, "SELECT count(*) FROM rejected") == [["0"]]

        restarted = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_for(lambda: sum(int(n) for _, n in sql(lake, spool, COUNTS))
                       > sum(int(n) for _, n in after_kill) + 20, 30, "more trades after restart")
            control(url, "halt")
            wait_for(lambda: compare_lake(str(lake), truth, spool=spool).lost_silently == 0,
                       30, "every trade made before the halt")
            restarted.send_signal(signal.SIGTERM)
            _, errors = restarted.communicate(timeout=scaled(60))
            assert restarted.returncode == 0, errors
        finally:
            kill_group(restarted)
    result = compare_lake(str(lake), truth)
    assert result.duplicated == result.invented == result.lost_silently == 0
    assert Counter(k[0] for k in lake_trades(str(lake))).keys() == set(SYMBOLS)
    assert sql(lake, spool, "SELECT count(*) FROM rejected") == [["0"]]
