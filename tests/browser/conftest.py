"""Playwright driving Debian's Chromium (/usr/bin/chromium, installed by `make system-deps`;
never `playwright install`), launched once for the browser suite.

Every page fails its test on a JavaScript error or a console error: what the user would see
as a broken page must not pass because the asserted element happened to render.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticklake.dashboard import DashboardConfig
from ticklake.lake.anomalies import AnomalyWriter
from ticklake.lake.storage import LakeStorage
from ticklake.model import Anomaly

from ..unit.catalog.helpers import write_lake
from ..unit.dashboard.lakes import lake_anomaly, lake_tickers, lake_trades
from ..unit.dashboard.stack import LakeServer, LiveStack

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is absent: run `make system-deps` (Debian's chromium package)",
                allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 820})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_console(message: ConsoleMessage) -> None:
        # A 400 is the API refusing a bad query: the page shows its message (asserted).
        if message.type == "error" and "status of 400" not in message.text:
            problems.append(f"console error: {message.text}")

    opened.on("console", on_console)
    try:
        yield opened
    finally:
        context.close()
    assert not problems, problems


@pytest.fixture(scope="package")
def lake_anomalies() -> list[Anomaly]:
    """Ended episodes on the lake's BTCUSD trades (the detector's row, written as it writes)."""
    return [lake_anomaly(lake_trades())]


@pytest.fixture(scope="package")
def lake_dir(tmp_path_factory: pytest.TempPathFactory, lake_anomalies: list[Anomaly]) -> Path:
    root = write_lake(tmp_path_factory.mktemp("browser") / "lake", trades=lake_trades(),
                      tickers=lake_tickers())
    AnomalyWriter(LakeStorage(str(root))).write(lake_anomalies)
    return root


@pytest.fixture(scope="package")
def lake_server(lake_dir: Path) -> Iterator[LakeServer]:
    server = LakeServer(DashboardConfig(str(lake_dir), None, port=0)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveStack]:
    """Request it before ``page`` so that the page closes first (teardown runs in reverse):
    a page outliving its server logs failed reconnects, which ``page`` treats as errors."""
    stack = LiveStack(tmp_path, rate=50.0, buffer_seconds=0.5).start()
    try:
        yield stack
    finally:
        stack.stop()
