"""docs/python-api.md's examples, run as written: each ``python`` block in a fresh
interpreter, in a directory holding a ``lake`` the real pipeline recorded from the emulator
(its exchange clock set to 2026-12-06, the day the examples read). The live examples connect
to that emulator: its URL replaces Phemex's, the only change made to the text."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ticklake.catalog import Lake

from ..reliability.stack import pipeline
from ..support import wait_until

DOC = Path(__file__).parents[2] / "docs" / "python-api.md"
DAY_NS = int(datetime(2026, 12, 6, tzinfo=UTC).timestamp()) * 10**9
PHEMEX = "wss://ws.phemex.com"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_every_example_of_the_python_api_page_runs(tmp_path: Path) -> None:
    blocks = examples()
    assert len(blocks) >= 5
    assert all(PHEMEX in b for b in blocks if "ticklake.record(" in b)

    stopped_ns = 0

    async def scenario() -> list[tuple[int, str, str]]:
        nonlocal stopped_ns
        async with pipeline(tmp_path, ("BTCUSD", "BTCUSDT"),
                            feed={"channels": ("trades", "klines")}, rate=20.0,
                            clock_start_ns=DAY_NS + 3_600 * 10**9) as stack:
            await wait_until(lambda: stack.stats.trades >= 300, 30, "300 trades recorded")
            await stack.stop()
            stopped_ns = time.time_ns()
            results = []
            for block in blocks:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", block.replace(PHEMEX, stack.emulator.url),
                    cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(process.communicate(), 120)
                results.append((process.returncode or 0, out.decode(), err.decode()))
            return results

    results = asyncio.run(scenario())
    for block, (code, out, err) in zip(blocks, results, strict=True):
        assert code == 0, (block, out, err)
    read, scanned, macros, live, callbacks = (out for _, out, _ in results[:5])
    assert read.startswith("['trades', 'raw', 'gaps'")
    rows, columns = read.splitlines()[1].split(" ", 1)
    assert int(rows) > 0 and "'msg_index'" in columns
    assert float(scanned.split(":")[1]) > 0
    assert "[{'symbol': 'BTCUSD', 'trades': " in macros
    assert live == "dropped: 0\n"
    assert int(callbacks.split()[0]) > 0
    assert results[5][1].endswith("items in 3 s\n")  # (nothing records while it follows)
    # The first live example recorded into the same lake, after the pipeline's run. (Not all
    # of its 100 trades: its first snapshot overlaps what the lake holds, and the lake's
    # writer, resuming, knows them; how many depends on timing.)
    assert Lake(str(tmp_path / "lake")).query(
        f"SELECT count(*) FROM trades WHERE recv_ns > {stopped_ns}").rows()[0][0] > 0
