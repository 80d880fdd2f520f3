"""SQL sees a trade as soon as it is spooled (published files + the spool's tail), and sees
every trade exactly once while the lake writer publishes underneath the queries.

The test drives the publishes itself: the writer's clock only moves when the test says a
batch is due, so the scenario is the same on a fast or a loaded machine (how fast a frame
reaches SQL is measured by ``bench/latency.py``, not here).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from ticklake.feed.events import Event, TradesReceived
from ticklake.feed.phemex import default_products
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.live_edge import query_lake
from ticklake.spool import Spool

from ..support import scaled, wait_until
from .harness import recording

KEY_SQL = "SELECT symbol, ts_ns, side, price, qty FROM trades"
INTERVAL = 60.0  # never reached by itself: the test moves the writer's clock
ROUNDS = 8
PUBLISH_AT = (2, 5)  # rounds whose queries run while a batch is being published


class TestClock:
    """The writer's clock: still, until the test makes the pending batch due."""

    __test__ = False

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def keys_in_sql(lake_root: Path, spool_dir: Path) -> Counter[tuple[object, ...]]:
    result = query_lake(str(lake_root), spool_dir, KEY_SQL)
    return Counter(tuple(row.values()) for row in result.table.to_pylist())


def test_queries_see_fresh_trades_once_across_the_publish_seam(tmp_path: Path) -> None:
    lake_root, spool_dir = tmp_path / "lake", tmp_path / "spool"
    spool = Spool(spool_dir)
    writer = spool.writer()
    clock = TestClock()
    lake = LakeWriter(spool, spool.cursors, LakeStorage(str(lake_root)), default_products(),
                      BufferingHints(size_mib=64, interval=INTERVAL), clock=clock)

    def publish_once() -> None:
        """Read the spool, make the batch due and publish it; then spool retention, as the
        writer's runner does (only this thread touches the writer)."""
        deadline = time.monotonic() + scaled(30)
        batches = lake.stats.batches
        while lake.stats.batches == batches:
            assert time.monotonic() < deadline, "no batch to publish"
            lake.poll()  # reads what the spool holds
            if lake.pending_since is not None:
                clock.now = lake.pending_since + INTERVAL
                lake.poll()  # due: publishes
            else:
                time.sleep(0.01)  # nothing read yet: the next frame is on its way
        assert lake.stats.failures == 0, lake.stats.last_error
        spool.retain()

    async def scenario() -> Counter[tuple[object, ...]]:
        async with recording(tmp_path, ("BTCUSD",), on_frame=writer.append,
                             flush_frames=writer.flush, rate=50.0) as run:
            await run.streaming()
            arrivals: list[int] = []

            def on_event(event: Event) -> None:
                if isinstance(event, TradesReceived) and event.trades:
                    arrivals.append(event.trades[-1].ts_exchange_ns)

            run.listeners.append(on_event)
            for round_ in range(ROUNDS):
                arrivals.clear()
                await wait_until(lambda: bool(arrivals), 10, "a new trade")
                ts_ns = arrivals[-1]
                # Its frame is in the spool (appended before the event): it shows in SQL,
                # a publish in progress or not, and no trade is there twice.
                publishing = (asyncio.create_task(asyncio.to_thread(publish_once))
                              if round_ in PUBLISH_AT else None)
                sql = f"SELECT count(*) FROM trades WHERE ts_ns = {ts_ns}"
                deadline = time.monotonic() + scaled(10)
                while not await asyncio.to_thread(
                        lambda q=sql: query_lake(str(lake_root), spool_dir, q).table[0][0].as_py()):
                    assert time.monotonic() < deadline, f"round {round_}: the trade never in SQL"
                seen = await asyncio.to_thread(keys_in_sql, lake_root, spool_dir)
                assert not seen - run.compare().truth, f"round {round_}: a duplicate at the seam"
                if publishing is not None:
                    await publishing
            await run.caught_up()
            # Both sides of the seam hold trades: two published batches, and frames after them.
            assert lake.stats.batches == len(PUBLISH_AT)
            assert writer.end_offset > lake.committed_offset > 0
            final = await asyncio.to_thread(keys_in_sql, lake_root, spool_dir)
            truth = run.compare().truth
            return (final - truth) + (truth - final)

    try:
        difference = asyncio.run(scenario())
    finally:
        writer.close()
    assert not difference
