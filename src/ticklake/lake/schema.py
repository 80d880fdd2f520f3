"""Arrow schemas of the lake's tables: re-exported from the shared contract ``ticklake.tables``."""

from ticklake.tables import (
    DECIMAL,
    DECIMAL_SCALE,
    FORMAT_VERSION,
    GAPS,
    PARTITIONS,
    RAW,
    REJECTED,
    SCHEMAS,
    TRADES,
    UTC_US,
)

__all__ = [
    "DECIMAL",
    "DECIMAL_SCALE",
    "FORMAT_VERSION",
    "GAPS",
    "PARTITIONS",
    "RAW",
    "REJECTED",
    "SCHEMAS",
    "TRADES",
    "UTC_US",
]
