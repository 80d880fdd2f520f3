"""Ended episodes land in the lake's anomalies table, one row each, readable by the catalog."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from ticklake.catalog import Lake
from ticklake.lake.anomalies import AnomalyWriter
from ticklake.lake.storage import LakeStorage
from ticklake.model import Anomaly

T0 = 1_795_564_800_000_000_000  # 2026-11-25T00:00:00Z
S = 1_000_000_000


def episode(symbol: str, start: int, phase: str = "end", day: int = 0) -> Anomaly:
    base = T0 + day * 86_400 * S + start * S
    return Anomaly(
        anomaly_id=f"{symbol}-{start}-{day}", phase=phase, exchange="phemex",  # type: ignore[arg-type]
        symbol=symbol, kind="swing", ts_start_ns=base, ts_detect_ns=base + 2 * S,
        ts_end_ns=base + 30 * S if phase == "end" else None, direction="up", horizon_s=5.0,
        move_bp=55.5, move_price=550.0, price_before=100_000.0, price_after=100_550.0,
        score=11.0, trades=42, intensity_z=2.5, imbalance=0.75, largest_qty=1500.0,
        rcf_score=None, detector_version="1", params_hash="p",
    )


def test_only_ended_episodes_are_written_partitioned_and_readable(tmp_path: Path) -> None:
    writer = AnomalyWriter(LakeStorage(str(tmp_path / "lake")))
    batch = [episode("BTCUSD", 10, "start"), episode("BTCUSD", 10), episode("ETHUSD", 5),
             episode("BTCUSD", 50, day=1)]
    assert writer.write(batch) == 3
    assert writer.write([episode("BTCUSD", 100)]) == 1
    files = sorted(p.relative_to(tmp_path / "lake").as_posix()
                   for p in (tmp_path / "lake" / "anomalies").rglob("*.parquet"))
    assert [f.rsplit("/", 1)[0] for f in files] == [
        "anomalies/exchange=phemex/symbol=BTCUSD/date=2026-11-25",
        "anomalies/exchange=phemex/symbol=BTCUSD/date=2026-11-25",
        "anomalies/exchange=phemex/symbol=BTCUSD/date=2026-11-26",
        "anomalies/exchange=phemex/symbol=ETHUSD/date=2026-11-25",
    ]
    result = Lake(tmp_path / "lake").query(
        "SELECT symbol, anomaly_id, ts_start_ns, ts_end_ns, epoch_ns(ts_detect), move_bp, "
        "rcf_score, date FROM anomalies ORDER BY ts_start_ns")
    rows = [tuple(r) for r in result.rows()]
    assert [r[1] for r in rows] == ["ETHUSD-5-0", "BTCUSD-10-0", "BTCUSD-100-0", "BTCUSD-50-1"]
    eth = rows[0]
    assert eth[2] == T0 + 5 * S and eth[3] == T0 + 35 * S and eth[4] == T0 + 7 * S
    assert eth[5] == 55.5 and eth[6] is None
    table = result.table
    assert pc.all(pc.equal(table["symbol"], pc.utf8_slice_codeunits(table["anomaly_id"], 0, 6)))


def test_writing_the_same_episodes_again_replaces_the_file(tmp_path: Path) -> None:
    writer = AnomalyWriter(LakeStorage(str(tmp_path / "lake")))
    writer.write([episode("BTCUSD", 10), episode("BTCUSD", 20)])
    writer.write([episode("BTCUSD", 10), episode("BTCUSD", 20)])
    rows = Lake(tmp_path / "lake").query("SELECT count(*) FROM anomalies").rows()
    assert rows[0][0] == 2
