"""The swing detector on labelled emulator streams: catches, no false alarm, determinism."""

from __future__ import annotations

import math
from decimal import Decimal

import pyarrow as pa
import pytest

from ticklake.detect import (
    DETECTOR_VERSION,
    DetectorParams,
    SwingDetector,
    detect_table,
    parse_params,
)
from ticklake.detect.recorded import anomalies_file_table
from ticklake.errors import ConfigError
from ticklake.lake.anomalies import anomaly_tables
from ticklake.model import Anomaly
from ticklake.schemas import SCHEMAS

from .streams import LARGE_SWINGS, SEC, T0, Row, stream, window_end


def run(rows: list[Row], params: DetectorParams | None = None) -> list[Anomaly]:
    detector = SwingDetector(params)
    out: list[Anomaly] = []
    for row in rows:
        found = detector.on_trade(*row)
        if found:
            out.extend(found)
    out.extend(detector.finish())
    return out


@pytest.fixture(scope="module")
def swings() -> tuple[list[Row], list[Anomaly], tuple]:  # type: ignore[type-arg]
    rows, labels = stream(11, 300 + 12 * 150 + 60, rate=5.0, swings=LARGE_SWINGS)
    return rows, run(rows), labels


def test_regression_dozen_large_swings_caught_no_false_alarm(swings) -> None:  # type: ignore[no-untyped-def]
    rows, anomalies, labels = swings
    assert 15_000 < len(rows) < 30_000 and len(labels) == 12
    starts = [a for a in anomalies if a.phase == "start"]
    matched: set[str] = set()
    missed = []
    for label in labels:
        hits = [a for a in starts if label.start_ns <= a.ts_detect_ns <= window_end(label)]
        if not hits:
            missed.append((label.shape, label.size_sigma, label.direction))
            continue
        first = hits[0]
        sign = 1 if label.direction == "up" else -1
        assert first.direction == label.direction
        assert sign * first.move_bp > 0
        matched.update(a.anomaly_id for a in hits)
    # The one swing swing-1.3 lets go: an 8-sigma step down at 5 trades/s that the trades
    # show as 4.2 estimated sigmas on the best horizon (the buy side's print stays a second
    # behind, and the estimate is 1.5x the local volatility just after it fell). The tilt
    # moved a little budget from the short horizons to the long ones; bench/detect_eval2.py
    # measures the trade over hundreds of steps (recall of steps unchanged).
    assert missed in ([], [("step", 8.0, "down")])
    false_alarms = [a for a in starts if a.anomaly_id not in matched]
    assert false_alarms == []


def test_episode_lifecycle_and_ids(swings) -> None:  # type: ignore[no-untyped-def]
    _, anomalies, _ = swings
    by_id: dict[str, list[Anomaly]] = {}
    for a in anomalies:
        by_id.setdefault(a.anomaly_id, []).append(a)
    assert by_id
    for records in by_id.values():
        phases = [r.phase for r in records]
        assert phases[0] == "start" and phases[-1] == "end"
        assert phases.count("start") == 1 and phases.count("end") == 1
        assert set(phases[1:-1]) <= {"update"}
        start, end = records[0], records[-1]
        assert start.ts_end_ns is None and end.ts_end_ns is not None
        assert start.ts_start_ns <= start.ts_detect_ns <= end.ts_end_ns
        assert all(r.ts_detect_ns == start.ts_detect_ns for r in records)
        scores = [r.score for r in records]
        assert scores == sorted(scores)
        assert end.trades >= start.trades > 0
        assert -1.0 <= end.imbalance <= 1.0 and end.largest_qty > 0
        assert end.kind in {"swing", "flash", "grind"}
        assert end.detector_version == DETECTOR_VERSION
        assert end.params_hash == DetectorParams().hash()
        assert end.rcf_score is None
        assert end.move_price == pytest.approx(end.price_after - end.price_before)
        assert end.move_bp == pytest.approx(1e4 * math.log(end.price_after / end.price_before))
    # ids are a function of (symbol, start, params): stable across runs and params.
    ids = [a.anomaly_id for a in anomalies if a.phase == "end"]
    assert len(set(ids)) == len(ids)


def trades_table(rows: list[Row]) -> pa.Table:
    return pa.table({
        "symbol": pa.array([r[0] for r in rows]).dictionary_encode(),
        "ts_ns": [r[1] for r in rows],
        # Exact decimals as the lake stores them (prices are multiples of 1e-4 here).
        "price": pa.array([Decimal(round(r[2] * 1e4)).scaleb(-4) for r in rows],
                          pa.decimal128(18, 8)),
        "qty": [r[3] for r in rows],
        "side": pa.array(["buy" if r[4] else "sell" for r in rows]).dictionary_encode(),
    })


def test_deterministic_and_offline_equals_streaming(swings) -> None:  # type: ignore[no-untyped-def]
    rows, anomalies, _ = swings
    assert run(rows) == anomalies
    assert detect_table(trades_table(rows)) == anomalies
    # Two symbols interleaved in time: each one's records are its own stream's.
    eth, _ = stream(12, 900, symbol="ETHUSD", rate=5.0, swings=LARGE_SWINGS[:3])
    mixed = sorted(rows + eth, key=lambda r: r[1])
    both = detect_table(trades_table(mixed))
    assert [a for a in both if a.symbol == "BTCUSD"] == anomalies
    eth_alone = run(eth)
    assert len(eth_alone) >= 6
    assert [a for a in both if a.symbol == "ETHUSD"] == eth_alone


def test_anomalies_file_table_is_the_lake_rows_plus_partitions(swings) -> None:  # type: ignore[no-untyped-def]
    _, anomalies, _ = swings
    table = anomalies_file_table(anomalies)
    expected = SCHEMAS["anomalies"]
    assert table.schema.names == [*expected.names, "exchange", "symbol"]
    assert table.schema.remove(table.schema.get_field_index("symbol")).remove(
        table.schema.get_field_index("exchange")) == expected
    ends = [a for a in anomalies if a.phase == "end"]
    assert table.num_rows == len(ends)
    first = table.slice(0, 1).to_pylist()[0]
    assert first["anomaly_id"] == ends[0].anomaly_id
    assert first["ts_detect"].timestamp() == pytest.approx(ends[0].ts_detect_ns / 1e9, abs=1e-6)
    assert first["exchange"] == "phemex" and first["symbol"] == "BTCUSD"
    # One conversion of records to rows: the lake writer's, partition by partition.
    lake = anomaly_tables(anomalies)
    assert [key[:2] for key in lake] == [("phemex", "BTCUSD")]
    assert table.drop_columns(["exchange", "symbol"]).equals(next(iter(lake.values())))
    assert anomalies_file_table([]).schema == table.schema


def test_gap_suspends_horizons() -> None:
    rows, _ = stream(5, 900, vol_of_vol=0.0)
    cut = T0 + 600 * SEC
    before = [r for r in rows if r[1] < cut]
    # 30 s missing, then the whole rest of the stream 3% higher: a jump across the gap.
    after = [(s, ts, p * 1.03, q, b) for s, ts, p, q, b in rows if ts > cut + 30 * SEC]
    jumped = run(before + after)
    assert [a for a in jumped if a.phase == "start"], "without the gap it is a swing"
    detector = SwingDetector()
    out: list[Anomaly] = []
    for row in before:
        out.extend(detector.on_trade(*row) or [])
    out.extend(detector.on_gap("BTCUSD", before[-1][1], cut + 30 * SEC) or [])
    for row in after:
        out.extend(detector.on_trade(*row) or [])
    out.extend(detector.finish())
    assert [a for a in out if a.ts_detect_ns > cut] == []


def test_long_silence_is_a_gap() -> None:
    rows, _ = stream(5, 900, vol_of_vol=0.0)
    cut = T0 + 600 * SEC
    silent = [r for r in rows if r[1] < cut] + [
        (s, ts, p * 1.03, q, b) for s, ts, p, q, b in rows if ts > cut + 90 * SEC]
    assert [a for a in run(silent) if a.ts_detect_ns > cut] == []


def test_older_trades_are_ignored() -> None:
    rows, _ = stream(5, 400, vol_of_vol=0.0)
    noisy = list(rows)
    for i in range(1000, len(rows), 500):  # replayed old trades at absurd prices
        s, ts, p, q, b = rows[i - 200]
        noisy.insert(i, (s, ts - 1, p * 0.9, q, b))
    assert run(noisy) == run(rows)


def test_quiet_sv_streams_stay_near_the_calibrated_false_alarm_rate() -> None:
    # Eight quiet hours of stochastic volatility (0.5), held out from the calibration: the
    # threshold is set for 0.5 false alarms an hour on calibration streams (one stream's
    # zero or one is luck). swing-1.1 gave 7 here, swing-1.2 and swing-1.3 give 4.
    starts = sum(a.phase == "start" for seed in range(21, 29)
                 for a in run(stream(seed, 3600, vol_of_vol=0.5)[0]))
    assert starts <= 5


def test_params_validation_and_hash() -> None:
    assert DetectorParams().hash() == DetectorParams().hash()
    assert DetectorParams(threshold=6.0).hash() != DetectorParams().hash()
    with pytest.raises(ConfigError, match="threshold"):
        DetectorParams(threshold=0.0)
    with pytest.raises(ConfigError, match="horizons_s"):
        DetectorParams(horizons_s=(5.0, 1.0))
    with pytest.raises(ConfigError, match="horizon_scale"):
        DetectorParams(horizon_scale=(1.0,))


def test_parse_params_overrides_and_refuses_bad_input() -> None:
    params = parse_params(["warmup_s=30", "horizons_s=[1, 10]", "vol_demean=false"])
    assert (params.warmup_s, params.horizons_s, params.vol_demean) == (30.0, (1.0, 10.0), False)
    assert parse_params([]) == DetectorParams()
    for bad, problem in ((["x=1"], "unknown field `x`"), (["warmup_s=soon"], "Expected `float`"),
                         (["threshold=0"], "threshold"), (["nope"], "NAME=VALUE")):
        with pytest.raises(ConfigError, match=problem):
            parse_params(bad)
