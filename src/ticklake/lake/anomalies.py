"""Ended anomaly episodes → the lake's ``anomalies`` table (docs/lake-layout.md).

Anomalies do not come from the spool, so their files are named by the episodes they hold:
``part-<first start ns>-<last end ns + 1>``. Episodes end in time order per symbol, so two
writes never produce the same name and a re-run over the same input (``ticklake detect``)
produces the same names, replacing rather than duplicating.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from ticklake.errors import ManifestError, StorageError
from ticklake.lake.arrays import utc_date
from ticklake.lake.layout import Partition, file_path
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import ANOMALIES_LOG, entry_for, table_ranges
from ticklake.model import Anomaly
from ticklake.schemas import SCHEMAS

_SCHEMA = SCHEMAS["anomalies"]
_NS_COLUMNS = {"ts_start": "ts_start_ns", "ts_detect": "ts_detect_ns", "ts_end": "ts_end_ns"}


def anomaly_tables(anomalies: Iterable[Anomaly]) -> dict[Partition, pa.Table]:
    """Rows of the ended episodes (other phases are skipped), per (exchange, symbol, date)."""
    groups: dict[Partition, list[Anomaly]] = defaultdict(list)
    for anomaly in anomalies:
        if anomaly.phase == "end":
            groups[(anomaly.exchange, anomaly.symbol, utc_date(anomaly.ts_detect_ns))].append(
                anomaly)
    return {key: _table(rows) for key, rows in sorted(groups.items())}


def _table(rows: list[Anomaly]) -> pa.Table:
    arrays: list[pa.Array] = []
    for field in _SCHEMA:
        source = _NS_COLUMNS.get(field.name)
        if source is not None:
            ns = np.asarray([getattr(r, source) or 0 for r in rows], dtype=np.int64)
            arrays.append(pa.array(ns // 1000, pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array([getattr(r, field.name) for r in rows], field.type))
    return pa.Table.from_arrays(arrays, schema=_SCHEMA)


class AnomalyWriter:
    """Publishes ended episodes, one file per call and partition (episodes are rare)."""

    def __init__(self, storage: LakeStorage, log: str = ANOMALIES_LOG) -> None:
        """``log``: the manifest log these files are committed to (``detect`` offline, so a
        re-run beside a recorder on S3 never shares a log with it)."""
        self.storage = storage
        storage.ensure_marker()
        self.manifest = storage.open_manifest_log(log)
        self.written = 0

    def write(self, anomalies: Iterable[Anomaly]) -> int:
        """Publish the ``end`` records among ``anomalies``; returns how many rows."""
        rows = 0
        entries = []
        for partition, table in anomaly_tables(anomalies).items():
            first = int(pa.compute.min(table["ts_start_ns"]).as_py())
            end = int(pa.compute.max(table["ts_end_ns"]).as_py()) + 1
            path = file_path("anomalies", partition, first, end)
            size = self.storage.publish(path, table)
            entries.append(entry_for(path, "anomalies", partition, table.num_rows, size,
                                     table_ranges("anomalies", table)))
            rows += table.num_rows
        if entries:
            try:
                self.manifest.commit(entries)
            except ManifestError as exc:
                raise StorageError(str(exc)) from None
        self.written += rows
        return rows
