"""The Live page against a real recording of the emulator, in Chromium."""

from __future__ import annotations

import itertools
import os
import re
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from playwright.sync_api import Page

from ticklake.lake.anomalies import AnomalyWriter
from ticklake.lake.storage import LakeStorage
from ticklake.live_edge import query_lake
from ticklake.model import Anomaly

from ..support import scaled
from ..unit.dashboard.stack import LiveStack
from .pages import chart, table_rows, wait_js

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
    # Prices at the instrument's precision (BTCUSD's tick: 0.1), never an SI suffix ("90k").
    prices = query_lake(str(live.lake_root), live.spool_dir,
                        "SELECT DISTINCT price FROM trades WHERE symbol = 'BTCUSD'").rows()
    digits = max(max(0, -int(p.normalize().as_tuple().exponent)) for (p,) in prices)
    assert digits == 1
    layout = page.evaluate("""() => { const l = document.getElementById('live-chart').layout;
        return [l.yaxis.tickformat, l.yaxis.hoverformat]; }""")
    assert layout == [".1f", ".1f"]
    labels = page.evaluate("""() => [...document.querySelectorAll('#live-chart .ytick text')]
        .map(t => t.textContent)""")
    assert labels and all(re.fullmatch(r"\d+\.\d", label) for label in labels if
                          Decimal(label.replace(",", "")) > 1_000), labels


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


MARKERS = """() => {
    const t = (document.getElementById('live-chart').data || []).find(d => d.name === 'anomalies');
    return t && {x: Array.from(t.x), y: Array.from(t.y), ids: Array.from(t.ids)}; }"""
LIST = "#live-anomalies"


def episode(anomaly_id: str, detect_ns: int, price: float, phase: str = "start") -> Anomaly:
    return Anomaly(
        anomaly_id=anomaly_id, phase=phase, exchange="phemex", symbol="BTCUSD",  # type: ignore[arg-type]
        kind="flash", ts_start_ns=detect_ns - 3_000 * MS, ts_detect_ns=detect_ns,
        ts_end_ns=None if phase != "end" else detect_ns + 1_000 * MS, direction="down",
        horizon_s=3.0, move_bp=-55.5, move_price=-500.0, price_before=price + 500,
        price_after=price, score=8.25, trades=42, intensity_z=3.5, imbalance=-0.9,
        largest_qty=1_000.0, rcf_score=None, detector_version="test", params_hash="p",
    )


def test_anomalies_from_the_lake_and_the_detector_are_one_marker_each(
        live: LiveStack, page: Page) -> None:
    assert live.recording is not None
    sql = "SELECT max(ts_ns), arg_max(price, ts_ns) FROM trades WHERE symbol = 'BTCUSD'"
    deadline = time.monotonic() + scaled(20)
    while True:  # a lake with some trades (the writer process creates it)
        if (live.lake_root / "_ticklake" / "lake.json").exists():
            last_ns, price = query_lake(str(live.lake_root), live.spool_dir, sql).rows()[0]
            if last_ns is not None:
                break
        assert time.monotonic() < deadline, "no trades recorded"
        time.sleep(0.05)
    price = float(price)
    # Before the page opens: an episode that ended (in the lake, as the detector writes it)
    # and one that started (published live; the dashboard remembers it for new pages).
    ended = episode("BTCUSD-flash-lake", last_ns - 2_000 * MS, price - 100, phase="end")
    AnomalyWriter(LakeStorage(str(live.lake_root))).write([ended])
    opened = episode("BTCUSD-flash-live", last_ns, price + 100)
    live.call(live.recording.anomalies.publish, opened)

    open_live(page, live)
    marker = wait_js(page, f"() => {{ const m = ({MARKERS})(); return m?.x.length === 2 && m; }}")
    # x is milliseconds as a JavaScript double: ns beyond 2**53 lose their last digits there.
    placed = dict(zip(marker["ids"], zip(marker["x"], marker["y"], strict=True), strict=True))
    assert placed == {
        ended.anomaly_id: (pytest.approx(ended.ts_detect_ns / MS, abs=1e-3), ended.price_after),
        opened.anomaly_id: (pytest.approx(opened.ts_detect_ns / MS, abs=1e-3),
                            opened.price_after),
    }
    rows = table_rows(page, LIST)  # latest first
    assert [(r[2], r[4]) for r in rows] == [("flash ▼", "start"), ("flash ▼", "end")]
    assert page.get_attribute(f"{LIST} tbody tr:first-child", "data-id") == opened.anomaly_id

    # hovering shows the details
    index = page.evaluate("""() => document.getElementById('live-chart').data
                               .findIndex(d => d.name === 'anomalies')""")
    point = marker["ids"].index(opened.anomaly_id)
    page.evaluate(f"""() => Plotly.Fx.hover('live-chart',
                       [{{curveNumber: {index}, pointNumber: {point}}}])""")
    hover = wait_js(page, """() => { const h = document.querySelector('#live-chart .hoverlayer');
                              return h && h.textContent.includes('flash') && h.textContent; }""")
    assert "flash down" in hover and "-55.5 bp" in hover and opened.anomaly_id in hover
    assert "end (open)" in hover

    # The live episode ends (moving its marker), and the detector's copy of the lake's episode
    # arrives too: still two markers, one per episode.
    closed = msgspec.structs.replace(opened, phase="end", ts_end_ns=last_ns + 1_000 * MS,
                                     price_after=price + 50)
    live.call(live.recording.anomalies.publish, closed)
    live.call(live.recording.anomalies.publish, ended)
    marker = wait_js(page, f"""() => {{ const m = ({MARKERS})();
        const i = m.ids.indexOf({opened.anomaly_id!r});
        return m.y[i] === {price + 50} && m; }}""")
    assert sorted(marker["ids"]) == sorted([ended.anomaly_id, opened.anomaly_id])
    wait_js(page, f"""() => [...document.querySelectorAll('{LIST} tbody tr')]
                              .map(r => r.dataset.phase).join() === 'end,end'""")
    assert page.text_content("#live-anomaly-count") == "2"


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
