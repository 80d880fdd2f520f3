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
from ticklake.detect.offline import GapFeed, feed_table
from ticklake.errors import ConfigError
from ticklake.lake.anomalies import AnomalyWriter, anomaly_tables
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import DETECT_LOG
from ticklake.model import Anomaly
from ticklake.schemas import SCHEMAS
from ticklake.tables import MARKER

_OFFLINE_COLUMNS = ("symbol", "ts_ns", "price", "qty", "side")
_OFFLINE_BATCH = 1 << 16
_NEVER = 2**63


def detect_offline(source: str, output: Path, detector: SwingDetector) -> OfflineReport:
    """Run ``detector`` over recorded trades and write the ended episodes.

    ``source`` is a lake root (its ``trades`` table, unpublished spool tail excluded, and its
    trade ``gaps``, fed where the live detector met them: the same episodes as live) or a
    Parquet file or directory with the lake's trade columns plus ``symbol``. ``output`` ending
    in ``.parquet`` gets one file (the anomalies columns plus exchange and symbol); anything
    else is a lake root whose ``anomalies`` table receives them.
    """
    report = OfflineReport()
    ended: list[Anomaly] = []
    lake = Lake(source) if source.startswith("s3://") or Path(source, MARKER).is_file() else None
    feed = _lake_gaps(lake) if lake is not None else None
    for batch in _lake_trades(lake) if lake is not None else _file_trades(source):
        ended.extend(a for a in feed_table(detector, batch, feed) if a.phase == "end")
        report.trades += batch.num_rows
    if feed is not None:  # (gaps after the last trade: an episode open at the end ends there)
        ended.extend(a for a in feed.due(detector, _NEVER, 0) if a.phase == "end")
        report.gaps = len(feed.gaps)
    ended.extend(a for a in detector.finish() if a.phase == "end")
    report.episodes = len(ended)
    report.quarantined = detector.quarantined
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
    gaps: int = 0  # trade gaps of the lake, fed to the detector
    quarantined: int = 0  # trades with a null, or a price or quantity not finite and > 0


def _lake_trades(lake: Lake) -> Iterator[pa.RecordBatch]:
    """A lake's trades in the exchange's order (time, spool offset, place in the message),
    in bounded batches."""
    conn = lake.connect()
    try:
        yield from conn.sql(
            f"SELECT {', '.join(_OFFLINE_COLUMNS)}, spool_offset FROM trades"
            " ORDER BY ts_ns, spool_offset, msg_index"
        ).to_arrow_reader(_OFFLINE_BATCH)
    finally:
        conn.close()


def _lake_gaps(lake: Lake) -> GapFeed:
    rows = lake.query(
        "SELECT to_ns, spool_offset, symbol, from_ns FROM gaps"
        " WHERE coalesce(channel, 'trades') = 'trades' ORDER BY to_ns, spool_offset, symbol",
        max_rows=None, timeout=None).rows()
    return GapFeed([(int(a), int(b), str(c), int(d)) for a, b, c, d in rows])


def _file_trades(source: str) -> Iterator[pa.RecordBatch]:
    """Trades of Parquet files, by time (stably: equal times keep the files' order)."""
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
    for name, wanted, accepts in _COLUMN_KINDS:
        kind = table.schema.field(name).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        if not accepts(kind):
            problem = f"column {name} is {kind}, not {wanted}"
            raise ConfigError(field, str(path), problem)
    return table


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_decimal(kind))


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


_COLUMN_KINDS = (("symbol", "text", _is_text), ("ts_ns", "an integer", pa.types.is_integer),
                 ("price", "a number", _is_number), ("qty", "a number", _is_number),
                 ("side", "text", _is_text))
