"""A recording's status: the typed, read-only view the dashboard, console and /metrics read."""

from __future__ import annotations

from pathlib import Path

from ticklake.bus import Bus
from ticklake.feed.phemex import PhemexProtocol, Subscription, default_products
from ticklake.pipeline import Recording
from ticklake.session import PhemexSession, SessionGroup


def _recording(*symbol_sets: tuple[str, ...], books: tuple[str, ...] = ()) -> Recording:
    products = default_products()
    return Recording(SessionGroup([
        PhemexSession(PhemexProtocol(
            [Subscription.trades(products.require(s)) for s in syms]
            + [Subscription.book(products.require(s)) for s in syms if s in books], products))
        for syms in symbol_sets
    ]), Bus())


def test_a_symbol_with_trades_and_book_is_one_symbol_and_a_book_symbol() -> None:
    status = _recording(("BTCUSD", "ETHUSD"), ("BTCUSDT",), books=("BTCUSD", "BTCUSDT")).status()
    assert status.symbols == ["BTCUSD", "ETHUSD", "BTCUSDT"]
    assert status.book_symbols == ["BTCUSD", "BTCUSDT"]
    assert [c.symbols for c in status.connections] == [("BTCUSD", "ETHUSD"), ("BTCUSDT",)]
    assert _recording(("BTCUSD",)).status().book_symbols == []


def test_totals_sum_the_connections_with_the_worst_state() -> None:
    recording = _recording(("BTCUSD",), ("BTCUSDT", "sBTCUSDT"))
    first, second = (s.stats for s in recording.sessions.sessions)
    first.state, second.state = "streaming", "streaming"
    first.trades, second.trades = 5, 7
    first.last_frame_wall_ns, second.last_frame_wall_ns = 10, 30
    first.stale_reasons["silence"] = 1
    second.stale_reasons["silence"] = 2
    first.reconnect_ns.append(4)
    status = recording.status()
    totals = status.totals
    assert (totals.trades, totals.last_frame_wall_ns, totals.state) == (12, 30, "streaming")
    assert (totals.stale_reasons, totals.reconnect_ns) == ({"silence": 3}, [4])
    second.state = "reconnecting"
    second.trades += 1
    second.stale_reasons["silence"] += 1
    # A status is a snapshot: what happens later shows in the next one, never in this one.
    assert (status.totals.state, status.totals.trades) == ("streaming", 12)
    assert status.totals.stale_reasons == {"silence": 3}
    assert (recording.status().totals.state, recording.status().totals.trades) == (
        "reconnecting", 13)
    assert status.symbols == ["BTCUSD", "BTCUSDT", "sBTCUSDT"]
    assert [c.name for c in status.connections] == ["phemex-0", "phemex-1"]
    assert [c.name for c in _recording(("BTCUSD",)).status().connections] == ["phemex"]


def test_seams_and_backlog_come_from_the_spool_and_its_consumer(tmp_path: Path) -> None:
    recording = _recording(("BTCUSD",))
    status = recording.status()
    assert (status.spool_end, status.lake_committed, status.backlog) == (None, None, None)

    class Delivered:  # a SpoolConsumer that has delivered everything below offset 3
        committed_offset = 3

        def start(self) -> None: ...

        def stop(self, drain: bool = True) -> None: ...

    from ticklake.model import RawFrame
    from ticklake.spool import Spool

    spool = Spool(tmp_path / "spool")
    writer = spool.writer()
    for i in range(5):
        writer.append(RawFrame(1, i, b"{}"))
    recording.spool_writer, recording.lake = writer, Delivered()
    status = recording.status()
    assert (status.spool_end, status.lake_committed, status.backlog) == (5, 3, 2)
    writer.close()
