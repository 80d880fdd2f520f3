"""Swing detection over recorded trades (a lake, or Parquet files): the same records as the
live detector (``detect.live``) would have written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ticklake.catalog import Lake
from ticklake.detect.detector import SwingDetector
from ticklake.detect.offline import feed_table
from ticklake.errors import ConfigError
from ticklake.lake.anomalies import AnomalyWriter, anomaly_tables
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import DETECT_LOG
from ticklake.model import Anomaly
from ticklake.schemas import SCHEMAS
from ticklake.tables import MARKER

_OFFLINE_COLUMNS = ("symbol", "ts_ns", "price", "qty", "side")
_OFFLINE_BATCH = 1 << 16


def detect_offline(source: str, output: Path, detector: SwingDetector) -> OfflineReport:
    """Run ``detector`` over recorded trades and write the ended episodes.

    ``source`` is a lake root (its ``trades`` table, unpublished spool tail excluded) or a
    Parquet file or directory with the lake's trade columns plus ``symbol``. ``output`` ending in
    ``.parquet`` gets one file (the anomalies columns plus exchange and symbol); anything else
    is a lake root whose ``anomalies`` table receives them.
    """
    report = OfflineReport()
    ended: list[Anomaly] = []
    for batch in _trade_batches(source):
        ended.extend(a for a in feed_table(detector, batch) if a.phase == "end")
        report.trades += batch.num_rows
    ended.extend(a for a in detector.finish() if a.phase == "end")
    report.episodes = len(ended)
    if output.suffix == ".parquet":
        output.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(anomalies_file_table(ended), output, compression="zstd")
    else:
        AnomalyWriter(LakeStorage(str(output)), log=DETECT_LOG).write(ended)
    return report


# The lake's anomalies columns plus its partition columns (the date one is derived).
ANOMALIES_FILE_SCHEMA = SCHEMAS["anomalies"].append(pa.field("exchange", pa.string())).append(
    pa.field("symbol", pa.string()))


def anomalies_file_table(anomalies: Iterable[Anomaly]) -> pa.Table:
    """The ``end`` records as the lake writes them, plus exchange and symbol: one file."""
    tables = [
        table.append_column("exchange", pa.array([exchange] * table.num_rows, pa.string()))
        .append_column("symbol", pa.array([symbol] * table.num_rows, pa.string()))
        for (exchange, symbol, _), table in anomaly_tables(anomalies).items()
    ]
    return pa.concat_tables(tables) if tables else ANOMALIES_FILE_SCHEMA.empty_table()


@dataclass
class OfflineReport:
    trades: int = 0
    episodes: int = 0


def _trade_batches(source: str) -> Iterator[pa.RecordBatch]:
    """Trades in the exchange's order (time, spool offset, place in the message), in bounded
    batches."""
    if source.startswith("s3://") or Path(source, MARKER).is_file():
        conn = Lake(source).connect()
        try:
            yield from conn.sql(
                f"SELECT {', '.join(_OFFLINE_COLUMNS)} FROM trades"
                " ORDER BY ts_ns, spool_offset, msg_index"
            ).to_arrow_reader(_OFFLINE_BATCH)
        finally:
            conn.close()
        return
    table = _parquet_trades(Path(source))
    yield from table.take(pc.sort_indices(table, [("ts_ns", "ascending")])).to_batches(
        _OFFLINE_BATCH)


def _parquet_trades(path: Path) -> pa.Table:
    field = "--input"
    if not path.exists():
        raise ConfigError(field, str(path), "no such file or directory")
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
        table = dataset.to_table(columns=[c for c in _OFFLINE_COLUMNS
                                          if c in dataset.schema.names])
    except (pa.ArrowException, OSError) as exc:
        raise ConfigError(field, str(path), str(exc).splitlines()[0]) from None
    missing = [c for c in _OFFLINE_COLUMNS if c not in table.column_names]
    if missing:
        problem = f"no column {', '.join(missing)} (the lake's trades columns plus symbol)"
        raise ConfigError(field, str(path), problem)
    return table
