"""A small lake in the documented layout (two symbols over two days) and a dashboard on it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ticklake.dashboard import DashboardConfig

from ..catalog.helpers import SECOND, T0, trade, write_lake
from .stack import LakeServer

TRADES_PER_SYMBOL = 2_000
SPAN_NS = 36 * 3_600 * SECOND  # crosses a date partition


def lake_trades(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    offset = 0
    for symbol, base in (("BTCUSD", 90_000), ("ETHUSD", 3_000)):
        times = sorted(rng.randrange(0, SPAN_NS) for _ in range(TRADES_PER_SYMBOL))
        price = base * 10_000
        for ts in times:
            price += rng.randint(-40, 40)
            qty = rng.randint(1, 5_000)
            rows.append(trade(T0 + ts, f"{price / 10_000:.4f}", str(qty),
                              rng.choice(("buy", "sell")), symbol=symbol, offset=offset))
            offset += 1
    return rows


@pytest.fixture(scope="package")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("dash") / "lake", trades=lake_trades())


@pytest.fixture(scope="package")
def server(lake: Path) -> Iterator[LakeServer]:
    running = LakeServer(DashboardConfig(str(lake), None, port=0, max_rows=500,
                                         query_timeout=1.0)).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def token_server(lake: Path) -> Iterator[LakeServer]:
    running = LakeServer(DashboardConfig(str(lake), None, port=0,
                                         token="s3cret-token-for-tests")).start()
    try:
        yield running
    finally:
        running.stop()
