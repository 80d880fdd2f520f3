"""Round trip: the emulator recorded by the real pipeline (a forced reconnect and a real gap
in it), that lake replayed at ``--speed max`` and recorded again by the real pipeline. The
second lake's trades equal the first's trade for trade, its books rebuild to the same
states, and the gap stays a gap."""

from __future__ import annotations

from pathlib import Path

from ticklake.emulator.replay import MAX_SPEED, Replay, ReplayConfig

from ..reliability.common import figure, lake_trades
from ..support import wait_until
from .helpers import run
from .stack import SYMBOLS, book_snapshots, count, gaps, played, record_archive, recording_of


def _inside(spans: list[tuple[str, int, int]], symbol: str, ts: int) -> bool:
    return any(s == symbol and lo <= ts <= hi for s, lo, hi in spans)


@run
async def test_a_replayed_lake_records_into_the_same_lake(tmp_path: Path) -> None:
    first = await record_archive(tmp_path / "first")
    trades = lake_trades(first.root)
    trade_gaps = gaps(first.root, "trades")
    # What the scenario was for: trades only a resubscribe snapshot held, and real gaps.
    assert count(first.root, "SELECT count(*) FROM trades WHERE from_snapshot") > 0
    assert {s for s, _, _ in trade_gaps} == set(SYMBOLS), trade_gaps

    second = tmp_path / "second"
    config = ReplayConfig(lake=first.root, speed=MAX_SPEED, start_delay=0.3)
    async with Replay(config) as replay, recording_of(replay.url, second) as recording:
        await played(replay)
        sent = sum(c.frames_sent for c in replay.clients.values())
        await wait_until(lambda: recording.status().totals.frames >= sent, 20,
                         "the recorder to take every frame")
        state = replay.state()
    replayed = lake_trades(str(second))
    figure("replay_round_trip", trades=sum(trades.values()), replayed=sum(replayed.values()),
           recovered=state["trades_recovered"], served=state["served"])

    # Trade for trade (symbol, ts_ns, side, price, qty), duplicates included.
    assert replayed == trades, (trades - replayed, replayed - trades)
    # The gap stays a gap: nothing inside the first lake's gaps that it does not have.
    assert not [k for k in replayed - trades if _inside(trade_gaps, k[0], k[1])]

    # The books: every state both lakes know (outside either's book gaps) is the same.
    a, b = book_snapshots(first.root), book_snapshots(str(second))
    unknown = gaps(first.root, "book") + gaps(str(second), "book")
    known_a = {k for k in a if not _inside(unknown, *k)}
    known_b = {k for k in b if not _inside(unknown, *k)}
    assert known_a == known_b
    assert len(known_a) >= 3 * len(SYMBOLS)
    assert all(a[k] == b[k] for k in known_a)
