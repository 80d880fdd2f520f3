"""The Live page against a real recording of the emulator, in Chromium."""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import Page

from ticklake.model import Anomaly
from ticklake.pipeline import query_lake

from ..unit.dashboard.stack import LiveStack
from .pages import chart, wait_js

ROOT = Path(__file__).resolve().parents[2]
MS = 1_000_000
CANDLES = "(document.getElementById('live-chart').data || [])[0]"


def open_live(page: Page, live: LiveStack) -> None:
    page.goto(live.url)
    wait_js(page, f"() => {CANDLES} && {CANDLES}.x.length > 0")


def shown(page: Page) -> dict[str, object]:
    return dict(page.evaluate(f"""() => ({{
        candles: {CANDLES}.x.length,
        last: document.getElementById('live-last').textContent,
        trades: {CANDLES}.customdata.reduce((a, b) => a + b, 0),
    }})"""))


def test_the_chart_follows_the_stream_and_matches_what_was_recorded(
        live: LiveStack, page: Page, tmp_path: Path) -> None:
    open_live(page, live)
    before = shown(page)
    wait_js(page, f"""b => {CANDLES}.customdata.reduce((a, c) => a + c, 0) > b.trades + 20
                         && {CANDLES}.x.length > b.candles
                         && document.getElementById('live-last').textContent !== ''""", before)
    wait_js(page, "() => document.getElementById('st-state').textContent === 'streaming'")
    assert page.text_content("#st-rate") not in ("", "–")
    screenshot(page, tmp_path)

    assert live.emulator is not None
    live.call(live.emulator.halt)
    first_ms = chart(page, "live-chart")[0]["x"][0]
    sql = (f"SELECT count(*), sum(qty) FROM trades WHERE symbol = 'BTCUSD' "
           f"AND ts_ns >= {int(first_ms) * MS}")

    def recorded() -> int:
        return int(query_lake(str(live.lake_root), live.spool_dir, sql).rows()[0][0])

    # Halted: once the page has every recorded trade, its candles hold each exactly once.
    deadline_count = wait_js(page, f"n => {CANDLES}.customdata.reduce((a, b) => a + b, 0) >= n "
                             f"&& {CANDLES}.customdata.reduce((a, b) => a + b, 0)", recorded())
    count, volume = query_lake(str(live.lake_root), live.spool_dir, sql).rows()[0]
    assert deadline_count == count
    traces = {t["name"]: t for t in chart(page, "live-chart")}
    drawn_volume = sum(traces["buy volume"]["y"]) + sum(traces["sell volume"]["y"])
    assert abs(Decimal(repr(drawn_volume)) - volume) < Decimal("1e-6") * max(volume, 1)
    last = query_lake(str(live.lake_root), live.spool_dir, (
        "SELECT price FROM trades WHERE symbol = 'BTCUSD' AND spool_offset = "
        "(SELECT max(spool_offset) FROM trades WHERE symbol = 'BTCUSD')")).rows()
    assert Decimal(page.text_content("#live-last") or "") in {row[0] for row in last}
    assert traces["price"]["close"][-1] == float(Decimal(page.text_content("#live-last") or ""))


def test_switching_the_interval_redraws_the_candles(live: LiveStack, page: Page) -> None:
    open_live(page, live)
    for step, ms in (("1m", 60_000), ("5m", 300_000), ("1h", 3_600_000), ("1s", 1_000)):
        page.click(f"#live-interval button[data-step='{step}']")
        xs = wait_js(page, f"""() => {{
            const x = ({CANDLES} || {{x: []}}).x;
            return x.length && x.every(t => t % {ms} === 0) && Array.from(x); }}""")
        assert all((b - a) % ms == 0 and b > a for a, b in itertools.pairwise(xs))
        assert page.get_attribute("#live-interval .active", "data-step") == step
    # back at 1s, while streaming, there are candles one second apart
    xs = wait_js(page, f"() => {CANDLES}.x.length > 3 && Array.from({CANDLES}.x)")
    assert min(b - a for a, b in itertools.pairwise(xs)) == 1_000


def test_an_anomaly_becomes_a_marker_with_details(live: LiveStack, page: Page) -> None:
    open_live(page, live)
    last_ms = wait_js(page, f"() => {CANDLES}.x.slice(-1)[0]")
    detect_ns = int(last_ms) * MS + 500 * MS
    episode = Anomaly(
        anomaly_id="BTCUSD-flash-1", phase="start", exchange="phemex", symbol="BTCUSD",
        kind="flash", ts_start_ns=detect_ns - 3_000 * MS, ts_detect_ns=detect_ns,
        ts_end_ns=None, direction="down", horizon_s=3.0, move_bp=-55.5, move_price=-500.0,
        price_before=90_500.0, price_after=90_000.0, score=8.25, trades=42, intensity_z=3.5,
        imbalance=-0.9, largest_qty=1_000.0, rcf_score=None, detector_version="test",
        params_hash="p",
    )
    assert live.recording is not None
    live.call(live.recording.anomalies.publish, episode)
    marker = wait_js(page, """() => {
        const t = document.getElementById('live-chart').data.find(d => d.name === 'anomalies');
        return t && {x: Array.from(t.x), y: Array.from(t.y), ids: t.ids}; }""")
    assert marker == {"x": [detect_ns / MS], "y": [90_000.0], "ids": ["BTCUSD-flash-1"]}
    # hovering shows the details
    index = page.evaluate("""() => document.getElementById('live-chart').data
                               .findIndex(d => d.name === 'anomalies')""")
    page.evaluate(f"""() => Plotly.Fx.hover('live-chart',
                       [{{curveNumber: {index}, pointNumber: 0}}])""")
    hover = wait_js(page, """() => { const h = document.querySelector('#live-chart .hoverlayer');
                              return h && h.textContent.includes('flash') && h.textContent; }""")
    assert "flash down" in hover and "-55.5 bp" in hover and "BTCUSD-flash-1" in hover
    # an update of the same episode moves the marker instead of adding one
    live.call(live.recording.anomalies.publish, Anomaly(**{
        **{f: getattr(episode, f) for f in episode.__struct_fields__},
        "phase": "end", "ts_end_ns": detect_ns + 1_000 * MS, "price_after": 89_900.0}))
    wait_js(page, """() => { const t = document.getElementById('live-chart').data
                               .find(d => d.name === 'anomalies');
                             return t.x.length === 1 && t.y[0] === 89900; }""")


def screenshot(page: Page, tmp_path: Path) -> None:
    """The README's picture of the live view, from this real run: written to
    docs/img/dashboard-live.png when TICKLAKE_UPDATE_SCREENSHOTS=1, else to tmp."""
    wait_js(page, f"() => {CANDLES}.x.length >= 8", timeout=30)
    wait_js(page, "() => document.querySelectorAll('#live-tape tbody tr').length >= 20")
    update = os.environ.get("TICKLAKE_UPDATE_SCREENSHOTS") == "1"
    target = ROOT / "docs" / "img" / "dashboard-live.png" if update else tmp_path / "live.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 20_000
