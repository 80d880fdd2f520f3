"""SQL sees a trade within a second of its arrival: published files + the spool's tail."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from pathlib import Path

from ticklake.feed.events import Event, TradesReceived
from ticklake.feed.phemex import default_products
from ticklake.lake.runner import LakeRunner
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.pipeline import query_lake
from ticklake.spool import Spool

from ..support import wait_until
from .harness import recording

KEY_SQL = "SELECT symbol, ts_ns, side, price, qty FROM trades"


def keys_in_sql(lake_root: Path, spool_dir: Path) -> Counter[tuple[object, ...]]:
    result = query_lake(str(lake_root), spool_dir, KEY_SQL)
    return Counter(tuple(row.values()) for row in result.table.to_pylist())


def test_queries_see_fresh_trades_once_across_the_publish_seam(tmp_path: Path) -> None:
    lake_root, spool_dir = tmp_path / "lake", tmp_path / "spool"
    spool = Spool(spool_dir)
    writer = spool.writer()
    lake = LakeWriter(spool, spool.cursors, LakeStorage(str(lake_root)), default_products(),
                      BufferingHints(size_mib=64, interval=0.7))  # publishes mid-test
    runner = LakeRunner(lake, retain=spool.retain, poll_interval=0.02)
    delays: list[float] = []

    async def scenario() -> Counter[tuple[object, ...]]:
        runner.start()
        try:
            async with recording(tmp_path, ("BTCUSD",), on_frame=writer.append,
                                 rate=50.0) as run:
                await run.streaming()
                arrivals: list[tuple[int, float]] = []

                def on_event(event: Event) -> None:
                    if isinstance(event, TradesReceived) and event.trades:
                        arrivals.append((event.trades[-1].ts_exchange_ns, time.monotonic()))

                run.listeners.append(on_event)
                while len(delays) < 8:
                    await wait_until(lambda: bool(arrivals), 10, "a trade")
                    ts_ns, arrived = arrivals[-1]
                    sql = f"SELECT count(*) FROM trades WHERE ts_ns = {ts_ns}"

                    def visible(ts: int = ts_ns, q: str = sql) -> bool:
                        return query_lake(str(lake_root), spool_dir, q).table[0][0].as_py() > 0

                    while not await asyncio.to_thread(visible):
                        pass
                    delays.append(time.monotonic() - arrived)
                    seen = await asyncio.to_thread(keys_in_sql, lake_root, spool_dir)
                    assert not seen - run.compare().truth, "a duplicate at the seam"
                await run.caught_up()
                assert lake.stats.batches > 0  # some rows came from files, some from the tail
                final = await asyncio.to_thread(keys_in_sql, lake_root, spool_dir)
                truth = run.compare().truth
                return (final - truth) + (truth - final)
        finally:
            writer.close()
            await asyncio.to_thread(runner.stop, True)

    difference = asyncio.run(scenario())
    assert not difference
    print(f"frame to SQL: median {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms")
    assert statistics.median(delays) < 1.0
