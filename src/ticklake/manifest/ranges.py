"""The time ranges each file entry keeps, which let a reader prune by time without a footer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# The int64 nanosecond columns whose min/max each file entry keeps, and their timestamp twin
# (the same instant in microseconds, what SQL users filter on).
RANGE_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "trades": ("ts_ns",),
    "raw": ("recv_ns",),
    "gaps": ("from_ns", "to_ns", "detected_ns"),
    "rejected": ("recv_ns",),
    "anomalies": ("ts_start_ns", "ts_detect_ns", "ts_end_ns"),
    "book_updates": ("ts_ns",),
    "book_snapshots": ("ts_ns",),
    "tickers": ("ts_ns",),
    "ticks": ("ts_ns",),
    "klines": ("ts_ns",),
}
TIMESTAMP_TWINS: Final[Mapping[str, str]] = {
    "ts_ns": "ts", "recv_ns": "recv_ts", "from_ns": "from_ts", "to_ns": "to_ts",
    "ts_start_ns": "ts_start", "ts_detect_ns": "ts_detect", "ts_end_ns": "ts_end",
}


def footer_range(meta: object, column: str) -> tuple[int, int] | None:
    """(min, max) of an int64 column over a Parquet footer's row groups (statistics)."""
    names = meta.schema.names  # type: ignore[attr-defined]
    if column not in names:
        return None
    index = names.index(column)
    low: int | None = None
    high: int | None = None
    for group in range(meta.num_row_groups):  # type: ignore[attr-defined]
        stats = meta.row_group(group).column(index).statistics  # type: ignore[attr-defined]
        if stats is None or not stats.has_min_max:
            return None  # a row group without statistics: no safe range
        lo, hi = int(stats.min), int(stats.max)
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    return None if low is None or high is None else (low, high)


def table_ranges(table: str, data: object) -> dict[str, tuple[int, int]]:
    """(min, max) of the ns columns of an Arrow table about to be published."""
    import pyarrow.compute as pc

    out: dict[str, tuple[int, int]] = {}
    if data.num_rows == 0:  # type: ignore[attr-defined]
        return out
    for column in RANGE_COLUMNS[table]:
        if column in data.schema.names:  # type: ignore[attr-defined]
            found = pc.min_max(data[column])  # type: ignore[index]
            low, high = found["min"].as_py(), found["max"].as_py()
            if low is not None and high is not None:
                out[column] = (int(low), int(high))
    return out
