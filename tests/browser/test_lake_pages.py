"""History, SQL and Lake pages over a fixed lake (no recording), in Chromium.

One page serves the whole module (tabs are hash changes), so plotly.js is parsed once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from ticklake.catalog import Lake, format_result
from ticklake.live_edge import query_lake
from ticklake.model import Anomaly

from ..unit.dashboard.client import request
from ..unit.dashboard.stack import LakeServer
from .pages import chart, table_rows, wait_js

MS = 1_000_000


@pytest.fixture(scope="module")
def board(browser: Browser, lake_server: LakeServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 820}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(lake_server.url + "/#lake")
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def tab(page: Page, name: str) -> None:
    page.evaluate(f"location.hash = '#{name}'")
    page.wait_for_selector(f"#tab-{name}:not([hidden])")


def run_sql(page: Page, statement: str) -> None:
    tab(page, "sql")
    page.wait_for_function("() => document.getElementById('sql-examples').options.length > 1")
    page.fill("#sql-editor", statement)
    page.evaluate("window.__ticklake.sql.result = 'pending'")
    page.focus("#sql-editor")
    page.keyboard.press("Control+Enter")
    wait_js(page, """() => window.__ticklake.sql.result !== 'pending'
                           && !window.__ticklake.sql.running""")


def test_the_lake_page_lists_the_tables(board: Page, lake_dir: Path) -> None:
    tab(board, "lake")
    board.wait_for_selector("#lake-tables tbody tr[data-table='trades']")
    rows = {r[0]: r for r in table_rows(board, "#lake-tables")}
    for info in Lake(str(lake_dir)).tables():
        assert rows[info.name][1] == f"{info.rows:,}"
        assert rows[info.name][2] == str(info.files)
    assert rows["trades"][1] == "4,000"
    board.click("#lake-tables tr[data-table='trades']")
    board.wait_for_selector("#lake-detail table.partitions tbody tr")
    partitions = table_rows(board, "#lake-detail table.partitions")
    assert len(partitions) == 4
    assert partitions[0][:3] == ["phemex", "ETHUSD", "2026-11-26"]
    schema = table_rows(board, "#lake-detail table.schema")
    assert ["price", "DECIMAL(18,8)"] in schema


def test_a_query_renders_a_table_and_a_chart(board: Page, lake_dir: Path) -> None:
    statement = ("SELECT bucket, open, high, low, close, volume, trades "
                 "FROM candles('BTCUSD', INTERVAL 1 HOUR)")
    run_sql(board, statement)
    expected = query_lake(str(lake_dir), None, statement)
    assert board.text_content("#sql-meta").startswith(f"{expected.num_rows} rows")  # type: ignore[union-attr]
    cells = table_rows(board, "#sql-table")
    assert len(cells) == min(100, expected.num_rows)
    for shown, row in zip(cells, expected.rows(), strict=False):
        assert shown[0] == row[0].isoformat()
        assert shown[1:6] == [format(v, "f") for v in row[1:6]]
        assert shown[6] == str(row[6])
    candles = chart(board, "sql-chart")[0]
    assert candles["type"] == "candlestick"  # open/high/low/close columns: candles by default
    assert candles["close"] == [float(r[4]) for r in expected.rows()]
    board.select_option("#sql-kind", "bar")
    board.select_option("#sql-y", "trades")
    wait_js(board, "() => document.getElementById('sql-chart').data[0].type === 'bar'")
    bars = chart(board, "sql-chart")[0]
    assert bars["y"] == [r[6] for r in expected.rows()]
    assert bars["x"] == [r[0].timestamp() * 1000 for r in expected.rows()]


def test_paging_and_csv_export(board: Page, lake_dir: Path) -> None:
    statement = "SELECT ts_ns, price FROM trades WHERE symbol = 'ETHUSD' ORDER BY ts_ns LIMIT 250"
    run_sql(board, statement)
    assert board.text_content("#sql-page") == "page 1 of 3"
    expected = query_lake(str(lake_dir), None, statement).rows()
    board.click("#sql-next")
    assert board.text_content("#sql-page") == "page 2 of 3"
    first = expected[100]
    assert table_rows(board, "#sql-table")[0] == [str(first[0]), format(first[1], "f")]
    with board.expect_download() as download:
        board.click("#sql-csv button")
    text = Path(download.value.path()).read_text()
    assert text == format_result(query_lake(str(lake_dir), None, statement), "csv")


@pytest.mark.parametrize("statement", ["SELECT * FROM read_text('/etc/passwd')",
                                       "DROP VIEW trades", "SELECT FROM WHERE"])
def test_a_bad_query_shows_its_one_line_error(board: Page, lake_server: LakeServer,
                                              statement: str) -> None:
    run_sql(board, statement)
    message = request(f"{lake_server.url}/api/sql", method="POST",
                      body={"sql": statement}).json()["error"]
    assert board.is_visible("#sql-error")
    assert board.text_content("#sql-error") == message
    assert board.is_hidden("#sql-result")


def test_history_renders_any_range_within_the_bucket_limit(board: Page, lake_dir: Path) -> None:
    tab(board, "history")
    loads = wait_js(board, "() => window.__ticklake.history && window.__ticklake.history.loads")
    board.click("#hist-presets button[data-span='all']")
    full = wait_js(board, f"() => window.__ticklake.history.loads > {loads} "
                   "&& window.__ticklake.history.loads")
    candles = chart(board, "hist-chart")[0]
    assert 0 < len(candles["x"]) <= 1200  # 36 hours of trades in 2-minute buckets
    step = board.get_attribute("#hist-chart", "data-step")
    # zoom into ten minutes: the page refetches them at a finer bucket
    start = candles["x"][100]
    window = [start, start + 600_000]
    board.evaluate(f"Plotly.relayout('hist-chart', {{'xaxis.range': {window}}})")
    wait_js(board, f"() => window.__ticklake.history.loads > {full}")
    finer = board.get_attribute("#hist-chart", "data-step")
    assert (step, finer) == ("2m", "500ms")
    zoomed = chart(board, "hist-chart")[0]
    reply = request(f"{board.url.split('/#')[0]}/api/candles?symbol=BTCUSD&since={start}"
                    f"&until={start + 600_000}&buckets=1200").json()
    assert zoomed["x"] == reply["t"] and zoomed["close"] == reply["c"]
    assert sum(zoomed["customdata"]) == sum(reply["n"]) > 0
    assert Decimal(str(zoomed["high"][0])) >= Decimal(str(zoomed["low"][0]))


def test_history_draws_the_lakes_anomalies_with_details(
        board: Page, lake_anomalies: list[Anomaly]) -> None:
    episode = lake_anomalies[0]
    tab(board, "history")
    wait_js(board, "() => window.__ticklake.history && window.__ticklake.history.loads")
    board.click("#hist-presets button[data-span='86400000']")  # the last day holds the episode
    marker = wait_js(board, """() => {
        const t = (document.getElementById('hist-chart').data || [])
          .find(d => d.name === 'anomalies');
        return t && {x: Array.from(t.x), y: Array.from(t.y), ids: t.ids}; }""")
    # at the detection time and the price detected, on the drawn candles' time axis
    assert marker == {"x": [episode.ts_detect_ns / MS], "y": [episode.price_after],
                      "ids": [episode.anomaly_id]}
    candles = chart(board, "hist-chart")[0]
    assert candles["x"][0] <= marker["x"][0] <= candles["x"][-1]
    assert "1 anomalies" in (board.text_content("#hist-info") or "")
    index = board.evaluate("""() => document.getElementById('hist-chart').data
                               .findIndex(d => d.name === 'anomalies')""")
    board.evaluate(f"() => Plotly.Fx.hover('hist-chart', [{{curveNumber: {index}, "
                   "pointNumber: 0}])")
    hover = wait_js(board, """() => { const h = document.querySelector('#hist-chart .hoverlayer');
                               return h && h.textContent.includes('swing') && h.textContent; }""")
    for text in (f"swing {episode.direction}", f"{episode.move_bp:.1f} bp",
                 f"over {episode.horizon_s:g} s", f"|z| {episode.score:.2f}",
                 f"start {_stamp(episode.ts_start_ns)}", f"detected {_stamp(episode.ts_detect_ns)}",
                 f"end {_stamp(episode.ts_end_ns)}", episode.anomaly_id):
        assert text in hover, (text, hover)
    # another symbol's range has none
    board.select_option("#hist-symbol", "ETHUSD")
    wait_js(board, """() => document.getElementById('hist-chart').data.length === 3
                            && window.__ticklake.history.symbol === 'ETHUSD'""")


def test_history_draws_the_funding_rate_in_its_own_pane(board: Page) -> None:
    tab(board, "history")
    wait_js(board, "() => window.__ticklake.history && window.__ticklake.history.loads")
    before = board.evaluate("window.__ticklake.history.fundingLoads")
    if board.evaluate("window.__ticklake.history.symbol") == "BTCUSD":
        board.click("#hist-presets button[data-span='all']")
    else:
        board.select_option("#hist-symbol", "BTCUSD")
    shown = wait_js(board, f"""() => {{ const h = window.__ticklake.history;
        return h.symbol === 'BTCUSD' && h.fundingLoads > {before}
               && {{since: h.since, until: h.until, loads: h.fundingLoads}}; }}""")
    reply = request(f"{board.url.split('/#')[0]}/api/funding?symbol=BTCUSD"
                    f"&since={math.floor(shown['since'])}&until={math.ceil(shown['until'])}"
                    "&buckets=1200").json()
    assert len(reply["t"]) > 10
    traces = {t["name"]: t for t in chart(board, "hist-chart")}
    rate, predicted = traces["funding"], traces["predicted funding"]
    assert rate["yaxis"] == predicted["yaxis"] == "y4"
    drawn = [(x, y) for x, y in zip(rate["x"], rate["y"], strict=True) if y is not None]
    # in percent, exactly the rates' decimals (a rate has 8 digits: a percent has 6)
    assert drawn == [(t, round(r * 100, 6)) for t, r in zip(reply["t"], reply["funding_rate"],
                                                           strict=True)]
    assert "funding at" in (board.text_content("#hist-info") or "")
    assert board.evaluate("document.getElementById('hist-chart').layout.yaxis4.ticksuffix") == "%"
    # a symbol without tickers: no funding pane, no error
    board.select_option("#hist-symbol", "ETHUSD")
    wait_js(board, f"""() => window.__ticklake.history.symbol === 'ETHUSD'
                            && window.__ticklake.history.fundingLoads > {shown['loads']}""")
    names = {t["name"] for t in chart(board, "hist-chart")}
    assert "funding" not in names and "price" in names
    assert board.is_hidden("#hist-error")


def _stamp(ns: int | None) -> str:
    assert ns is not None
    ms = ns // MS
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{when:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d} UTC"


def test_live_says_not_recording(board: Page) -> None:
    tab(board, "live")
    board.wait_for_selector("#live-off:not([hidden])")
    assert "Not recording" in (board.text_content("#live-off") or "")
    assert board.text_content("#st-state") == "not recording"
