"""ccxt pro and cryptofeed pointed at a replay receive exactly the archived trades (``make
test-peers``).

The archive is the round trip's (tests/replay/stack.py: a forced reconnect, a real gap). A
replay starts at the archive's beginning, so the snapshot each subscription starts with is
empty: neither peer's known snapshot behaviour (both hand every snapshot row to their user,
reference §8) adds anything, and the trades each hands its user must be the lake's, each
once: the trades only a resubscribe snapshot held included, the gap's missing ones not.

Each peer runs in a child process (``peer_trades.py``), killed by its own PID.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ticklake.emulator.replay import MAX_SPEED, Replay, ReplayConfig

from ..reliability.common import lake_trades
from ..support import Key, wait_until
from .helpers import run
from .stack import played, record_archive

pytestmark = pytest.mark.peers
PEER = Path(__file__).with_name("peer_trades.py")
PEERS = {"ccxt": ("BTCUSD", "BTCUSDT", "sBTCUSDT"),
         "cryptofeed": ("BTCUSD", "sBTCUSDT")}  # cryptofeed has no _p channels (§8.2)


@pytest.fixture(autouse=True)
def _selected_with_m_peers(request: pytest.FixtureRequest) -> None:
    """As tests/peers: only with ``-m peers`` (a plain run does not start peer libraries)."""
    if "peers" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("peer tests run with -m peers (make test-peers)")


def _as_peer(peer: str, key: Key) -> tuple[Any, ...]:
    """A lake trade as ``peer`` states it (peer_trades.py): cryptofeed's float seconds and
    unscaled wire quantity, ccxt's milliseconds, floats and quantity ÷ 10^valueScale (a
    COIN-M contract count too: reference §8.1)."""
    symbol, ts_ns, side, price, qty = key
    wire_qty = qty.scaleb(8) if symbol == "sBTCUSDT" else qty
    if peer == "cryptofeed":
        return symbol, ts_ns / 1e9, side, price.normalize(), wire_qty.normalize()
    amount = qty.scaleb(-8) if symbol == "BTCUSD" else qty
    return symbol, ts_ns // 1_000_000, side, float(price), float(amount)


def _stated(peer: str, line: dict[str, Any]) -> tuple[Any, ...]:
    if peer == "cryptofeed":
        return (line["symbol"], line["ts"], line["side"], Decimal(line["price"]).normalize(),
                Decimal(line["amount"]).normalize())
    return line["symbol"], line["ts"], line["side"], float(line["price"]), float(line["amount"])


async def _peer_trades(peer: str, lake: str, directory: Path, expected: int) -> list[Any]:
    out = directory / f"{peer}.jsonl"
    out.touch()
    config = ReplayConfig(lake=lake, speed=MAX_SPEED, start_delay=1.0)
    async with Replay(config) as replay:
        with (directory / f"{peer}.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, str(PEER), peer, replay.url, str(out),
                                     *PEERS[peer]], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            def lines() -> int:
                assert proc.poll() is None, (directory / f"{peer}.log").read_text()[-3000:]
                return out.read_bytes().count(b"\n")

            await wait_until(lambda: lines() >= expected, 60, f"{peer}'s {expected} trades")
            await played(replay)
        finally:
            proc.kill()  # by its own PID
            proc.wait(timeout=30)
    return [json.loads(line) for line in out.read_text().splitlines()]


@run
async def test_ccxt_and_cryptofeed_receive_exactly_the_archived_trades(tmp_path: Path) -> None:
    archive = await record_archive(tmp_path / "archive")
    trades = lake_trades(archive.root)
    results = await asyncio.gather(*(
        _peer_trades(peer, archive.root, tmp_path,
                     sum(n for k, n in trades.items() if k[0] in symbols))
        for peer, symbols in PEERS.items()))
    for peer, got in zip(PEERS, results, strict=True):
        want = Counter(_as_peer(peer, k) for k in trades.elements() if k[0] in PEERS[peer])
        stated = Counter(_stated(peer, line) for line in got)
        assert stated == want, (peer, stated - want, want - stated)
