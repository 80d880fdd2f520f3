"""Build small lakes in the exact layout and column types of docs/lake-layout.md."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ticklake.schemas import SCHEMAS
from ticklake.tables import PARTITIONS

# The time that decides a row's `date` partition.
DATE_OF = {"trades": "ts_ns", "raw": "recv_ns", "gaps": "detected_ns", "rejected": "recv_ns",
           "anomalies": "ts_detect_ns", "book_updates": "ts_ns", "book_snapshots": "ts_ns",
           "tickers": "ts_ns", "ticks": "ts_ns", "klines": "ts_ns"}
# Derived microsecond timestamp columns: column -> the ns column it comes from.
DERIVED_TS = {"ts": "ts_ns", "recv_ts": "recv_ns", "from_ts": "from_ns", "to_ts": "to_ns",
              "ts_start": "ts_start_ns", "ts_detect": "ts_detect_ns", "ts_end": "ts_end_ns"}

T0 = 1_795_564_800_000_000_000  # 2026-11-25T00:00:00Z in ns (> 2**53)
SECOND = 1_000_000_000


def utc_date(ns: int) -> str:
    return datetime.fromtimestamp(ns // SECOND, tz=UTC).date().isoformat()


def trade(
    ts_ns: int,
    price: str,
    qty: str,
    side: str = "buy",
    *,
    symbol: str = "BTCUSD",
    exchange: str = "phemex",
    offset: int = 0,
    sequence: int = 1,
    index: int | None = None,
) -> dict[str, Any]:
    """One `trades` row plus its partition values (exchange, symbol); ``index``: its place in
    its message (``msg_index``), null as in files written before the column."""
    return {
        "ts_ns": ts_ns,
        "recv_ns": ts_ns + 1_000_000,
        "side": side,
        "price": Decimal(price),
        "qty": Decimal(qty),
        "sequence": sequence,
        "from_snapshot": False,
        "spool_offset": offset,
        "msg_index": index,
        "exchange": exchange,
        "symbol": symbol,
    }


def raw(recv_ns: int, payload: str, *, offset: int = 0, conn_id: int = 1) -> dict[str, Any]:
    return {
        "recv_ns": recv_ns,
        "conn_id": conn_id,
        "spool_offset": offset,
        "payload": payload,
        "exchange": "phemex",
    }


def gap(symbol: str, from_ns: int, to_ns: int, *, offset: int = 0) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "from_ns": from_ns,
        "to_ns": to_ns,
        "reason": "sequence",
        "detected_ns": to_ns + SECOND,
        "spool_offset": offset,
        "channel": "trades",
        "exchange": "phemex",
    }


def rejected(recv_ns: int, payload: str, *, offset: int = 0) -> dict[str, Any]:
    return {
        "recv_ns": recv_ns,
        "conn_id": 1,
        "spool_offset": offset,
        "reason": "not json",
        "payload": payload,
        "exchange": "phemex",
    }


def anomaly(symbol: str, start_ns: int, detect_ns: int, end_ns: int) -> dict[str, Any]:
    return {
        "anomaly_id": f"{symbol}-{start_ns}", "kind": "swing", "ts_start_ns": start_ns,
        "ts_detect_ns": detect_ns, "ts_end_ns": end_ns, "direction": "down", "horizon_s": 5.0,
        "move_bp": -42.0, "move_price": -420.0, "price_before": 100_000.0,
        "price_after": 99_580.0, "score": 9.5, "trades": 17, "intensity_z": 3.0,
        "imbalance": -0.8, "largest_qty": 1200.0, "rcf_score": None, "detector_version": "1",
        "params_hash": "abc", "symbol": symbol, "exchange": "phemex",
    }


def book_update(symbol: str, ts_ns: int, side: str, price: str, qty: str, *, offset: int = 0,
                action: str = "update") -> dict[str, Any]:
    return {
        "ts_ns": ts_ns, "recv_ns": ts_ns + 1_000, "sequence": 7 + offset, "side": side,
        "price": Decimal(price), "qty": Decimal(qty), "action": action,
        "spool_offset": offset, "symbol": symbol, "exchange": "phemex",
    }


def book_snapshot(symbol: str, ts_ns: int, side: str, level: int, price: str, qty: str, *,
                  offset: int = 0, reason: str = "cadence") -> dict[str, Any]:
    return {
        "ts_ns": ts_ns, "sequence": 7 + offset, "reason": reason, "side": side, "level": level,
        "price": Decimal(price), "qty": Decimal(qty), "through_offset": offset - 1,
        "spool_offset": offset, "symbol": symbol, "exchange": "phemex",
    }


def ticker(symbol: str, ts_ns: int, channel: str, *, offset: int = 0,
           **values: str) -> dict[str, Any]:
    """A ``tickers`` row; ``values`` by column name as decimal strings (others null)."""
    return {
        "ts_ns": ts_ns, "recv_ns": ts_ns + 1_000, "channel": channel,
        **{column: Decimal(text) for column, text in values.items()},
        "spool_offset": offset, "symbol": symbol, "exchange": "phemex",
    }


def tick(symbol: str, ts_ns: int, channel: str, value: str, *, offset: int = 0) -> dict[str, Any]:
    return {"ts_ns": ts_ns, "recv_ns": ts_ns + 1_000, "channel": channel, "value": Decimal(value),
            "spool_offset": offset, "symbol": symbol, "exchange": "phemex"}


def kline(symbol: str, ts_ns: int, ohlc: tuple[str, str, str, str], volume: str, *,
          interval_s: int = 60, offset: int = 0, snapshot: bool = False) -> dict[str, Any]:
    """A ``klines`` row: one version of a bar."""
    o, h, low, c = map(Decimal, ohlc)
    return {"ts_ns": ts_ns, "interval_s": interval_s, "last_close": o, "open": o, "high": h,
            "low": low, "close": c, "volume": Decimal(volume), "turnover": Decimal(0),
            "sequence": 100 + offset, "from_snapshot": snapshot, "recv_ns": ts_ns + 1_000,
            "spool_offset": offset, "symbol": symbol, "exchange": "phemex"}


def file_rows(table: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows (with partition values) -> the Arrow table a lake file holds (no partition columns)."""
    schema = SCHEMAS[table]
    records = []
    for row in rows:
        record = {name: row.get(name) for name in schema.names}
        for column, source in DERIVED_TS.items():
            if column in schema.names:
                record[column] = row[source] // 1_000
        records.append(record)
    return pa.Table.from_pylist(records, schema=schema)


def partition_of(table: str, row: Mapping[str, Any]) -> tuple[str, ...]:
    values = {**row, "date": utc_date(row[DATE_OF[table]])}
    return tuple(str(values[key]) for key in PARTITIONS[table])


def _file_key(row: Mapping[str, Any]) -> int:
    """What a file name's range counts: spool offsets, or start times for ``anomalies``."""
    return int(row["spool_offset"] if "spool_offset" in row else row["ts_start_ns"])


def write_table(
    root: Path, table: str, rows: Iterable[Mapping[str, Any]], *, files: int = 1
) -> list[Path]:
    """Write rows into their Hive partitions as ``part-<first>-<end>.parquet`` (zstd).

    ``files`` splits each partition's rows over that many files (in the given row order).
    """
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(partition_of(table, row), []).append(row)
    written = []
    for partition, members in groups.items():
        directory = root / table
        for key, value in zip(PARTITIONS[table], partition, strict=True):
            directory /= f"{key}={value}"
        directory.mkdir(parents=True, exist_ok=True)
        size = -(-len(members) // files)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            first = min(map(_file_key, chunk))
            end = max(map(_file_key, chunk)) + 1
            path = directory / f"part-{first:020d}-{end:020d}.parquet"
            assert not path.exists(), f"give rows distinct offsets: {path} exists"
            pq.write_table(file_rows(table, chunk), path, compression="zstd")
            written.append(path)
    return written


def write_lake(root: Path, **tables: Iterable[Mapping[str, Any]]) -> Path:
    """A marked lake at ``root`` holding the given rows per table (``trades=[...]``, ...)."""
    (root / "_ticklake").mkdir(parents=True, exist_ok=True)
    (root / "_ticklake" / "lake.json").write_text(json.dumps({"format": 1}))
    for table, rows in tables.items():
        write_table(root, table, rows)
    return root


def tail_table(table: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """A not-yet-published tail: the file columns plus string partition columns."""
    rows = list(rows)
    out = file_rows(table, rows)
    for key in PARTITIONS[table]:
        values = [partition_of(table, row)[PARTITIONS[table].index(key)] for row in rows]
        out = out.append_column(key, pa.array(values, pa.string()))
    return out


class CountingHandler(pafs.FileSystemHandler):  # type: ignore[misc]
    """A pyarrow filesystem that delegates to another and counts the files opened for reading."""

    def __init__(self, inner: pafs.FileSystem) -> None:
        self.inner = inner
        self.opened: list[str] = []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountingHandler) and other.inner == self.inner

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path: str) -> str:
        return str(self.inner.normalize_path(path))

    def get_file_info(self, paths: list[str]) -> Any:
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> Any:
        return self.inner.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.inner.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.inner.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.inner.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.inner.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self.inner.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.inner.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.inner.copy_file(src, dest)

    def open_input_stream(self, path: str) -> Any:
        self.opened.append(path)
        return self.inner.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        self.opened.append(path)
        return self.inner.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        return self.inner.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self.inner.open_append_stream(path, metadata=metadata)
