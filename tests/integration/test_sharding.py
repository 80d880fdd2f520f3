"""Recorders over several connections and several processes, against the real emulator.

The emulator enforces Phemex's limits as the 2019 docs describe them: a connection that
subscribes a 21st symbol is closed (1008), a 6th connection is refused (HTTP 429). Its
``--extra-symbols`` products give it more symbols than one connection may carry.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from ticklake.catalog import Lake
from ticklake.emulator.products import synthetic_symbols
from ticklake.feed.phemex.control import CONTROL_CONN_ID
from ticklake.live_edge import query_lake
from ticklake.session.sharding import shard_of

from ..e2e.conftest import TICKLAKE
from ..reliability.common import compare_lake, lake_trades, truth_trades, wait_for
from ..reliability.stack import pipeline
from ..support import scaled, wait_until

REAL = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
SYMBOLS = (*REAL, *synthetic_symbols(40))  # 44: three connections of 15, 15 and 14


def test_44_symbols_on_3_connections_one_killed_every_trade_once(tmp_path: Path) -> None:
    asyncio.run(_record_with_one_connection_killed(tmp_path))


async def _record_with_one_connection_killed(tmp_path: Path) -> None:
    async with pipeline(tmp_path, SYMBOLS, rate=5.0, max_subscriptions=20, max_connections=5,
                        connect_budget=(10_000, 300.0)) as stack:
        sessions = stack.recording.sessions.sessions
        assert [len(s.protocol.subscriptions()) for s in sessions] == [15, 15, 14]
        emulator = stack.emulator
        clients = {frozenset(sym for _, sym in c.subscriptions): c.id
                   for c in emulator.clients.values() if not c.closing}
        assert len(clients) == 3 and set().union(*clients) == set(SYMBOLS)
        await wait_until(lambda: stack.stats.trades > 150, 30, "150 trades")
        victim = sessions[1]
        first_ids = [s.conn_id for s in sessions]
        assert len(set(first_ids)) == 3
        target = clients[frozenset(s.symbol for s in victim.protocol.subscriptions())]
        assert emulator.inject("close", str(target)) == 1
        await wait_until(lambda: victim.stats.connects == 2 and stack.stats.state == "streaming",
                         15, "the killed connection back")
        trades_then = stack.stats.trades
        market = emulator.market
        assert market is not None
        await wait_until(lambda: stack.stats.trades > trades_then + 100
                         and min(market.produced(s) for s in SYMBOLS) >= 1, 30,
                         "100 more trades, one of every symbol")
        await stack.settle()
        await stack.stop()
    # Only the killed connection reconnected, with a new id; the others never noticed.
    assert [s.stats.connects for s in sessions] == [1, 2, 1]
    assert [s.stats.reconnects for s in sessions] == [0, 1, 0]
    assert victim.conn_id not in first_ids
    assert victim.stats.duplicates_skipped > 0  # its resubscribe snapshot overlapped, deduped
    # Every trade of every symbol in the lake exactly once: none lost, none twice.
    result = compare_lake(stack.lake_root, stack.truth)
    assert result.summary() == {**result.summary(), "duplicated": 0, "invented": 0,
                                "lost_in_reported_gaps": 0, "lost_silently": 0, "gaps": 0}
    assert result.recorded == result.truth > 250
    assert {key[0] for key in lake_trades(stack.lake_root)} == set(SYMBOLS)
    # The spool kept the connections apart: 4 connection ids, each with its own symbols,
    # and the control record naming the products they were decoded with.
    rows = Lake(stack.lake_root).query("SELECT DISTINCT conn_id FROM raw").rows()
    assert {int(r[0]) for r in rows} == {*first_ids, victim.conn_id, CONTROL_CONN_ID}


# -- two recorder processes: --shard 0/2 and --shard 1/2 ------------------------------------


def _http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=scaled(5)) as response:
        return json.loads(response.read())


def _trades_recorded(workdir: Path) -> int:
    """Trades a recorder process has recorded so far: its lake and its spool's tail."""
    lake = workdir / "lake"
    if not (lake / "_ticklake").is_dir():
        return 0
    result = query_lake(str(lake), workdir / "spool", "SELECT count(*) FROM trades")
    return int(result.rows()[0][0])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_shard_processes_record_every_symbol_once(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    log = tmp_path / "emulator.log"
    env = {**os.environ, "TICKLAKE_FEED__PING_INTERVAL": "1", "TICKLAKE_LAKE__BUFFER_SECONDS": "1"}
    with log.open("w") as log_file:
        emulator = subprocess.Popen(
            [*TICKLAKE, "emulate", "--port", "0", "--symbols", ",".join(REAL),
             "--extra-symbols", "40", "--rate", "3", "--history", "0", "--max-connections", "5",
             "--truth", str(truth)], stderr=log_file)
    recorders: list[subprocess.Popen[bytes]] = []
    try:
        wait_for(lambda: re.search(r"ws://127\.0\.0\.1:\d+/", log.read_text()), 20, "the emulator")
        match = re.search(r"(ws://127\.0\.0\.1:(\d+)/)", log.read_text())
        assert match is not None
        url, control = match.group(1), f"http://127.0.0.1:{match.group(2)}/control"
        families = "all:coin-m,all:usd-m,all:spot"  # every product of the emulator
        for index in range(2):
            workdir = tmp_path / f"shard{index}"  # a lake and a spool per recorder process
            workdir.mkdir()
            with (workdir / "record.log").open("w") as record_log:
                recorders.append(subprocess.Popen(
                    [*TICKLAKE, "record", "--url", url, "--symbols", families, "--shard",
                     f"{index}/2"],
                    cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=record_log))

        def subscriptions() -> Counter[str]:
            state = _http_json(f"{control}/state")
            return Counter(sub.split(":", 1)[1] for c in state["connections"]
                           for sub in c["subscriptions"])

        # Every symbol subscribed exactly once, over both processes' connections.
        wait_for(lambda: subscriptions() == Counter(SYMBOLS), 40, "both shards subscribed")
        assert len(_http_json(f"{control}/state")["connections"]) <= 5

        def enough() -> bool:
            state = _http_json(f"{control}/state")
            return (state["trades_produced_total"] > 400
                    and min(state["trades_produced"].values()) >= 1)

        wait_for(enough, 40, "400 trades, one of every symbol")
        _http_json(f"{control}/halt")
        produced: dict[str, int] = _http_json(f"{control}/state")["trades_produced"]
        owed = [sum(n for s, n in produced.items() if shard_of(s, 2) == i) for i in range(2)]
        for index in range(2):
            wait_for(lambda i=index: _trades_recorded(tmp_path / f"shard{i}") >= owed[i], 30,
                     f"shard {index}'s {owed[index]} trades", interval=0.5)
        for recorder in recorders:
            _stop(recorder)
        assert [r.returncode for r in recorders] == [0, 0], [
            (tmp_path / f"shard{i}" / "record.log").read_text() for i in range(2)]
    finally:
        for recorder in recorders:
            _stop(recorder)
        _stop(emulator)
    lakes = [lake_trades(str(tmp_path / f"shard{i}" / "lake")) for i in range(2)]
    symbols = [{key[0] for key in lake} for lake in lakes]
    assert not symbols[0] & symbols[1]  # disjoint
    assert symbols[0] | symbols[1] == set(SYMBOLS)  # complete
    assert all(shard_of(s, 2) == i for i in range(2) for s in symbols[i])
    assert lakes[0] + lakes[1] == truth_trades(truth)  # every trade exactly once
    assert sum(Counter(produced).values()) == sum(truth_trades(truth).values())
