"""A small lake in the documented layout (two symbols over two days) and a dashboard on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ticklake.dashboard import DashboardConfig

from ...support import scaled
from ..catalog.helpers import write_lake
from .lakes import lake_tickers, lake_trades
from .stack import LakeServer

# The server's time limit per query: every query of these tests takes milliseconds, but a
# loaded machine must not turn one into a refusal (test_sql stops a slow one at it).
QUERY_TIMEOUT = scaled(1.0)


@pytest.fixture(scope="package")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("dash") / "lake", trades=lake_trades(),
                      tickers=lake_tickers())


@pytest.fixture(scope="package")
def server(lake: Path) -> Iterator[LakeServer]:
    running = LakeServer(DashboardConfig(str(lake), None, port=0, max_rows=500,
                                         query_timeout=QUERY_TIMEOUT)).start()
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
