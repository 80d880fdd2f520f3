"""Buffering hints and cursor names of the lake writer, kept apart from it so that the
recorder's process can name them without importing the writer's Parquet side (pyarrow, numpy:
~50 MB of RSS)."""

from __future__ import annotations

from dataclasses import dataclass

CURSOR = "lake"  # the spool cursor of what the lake holds
INTENT = "lake.intent"  # the batch being published (see ``LakeWriter``)


@dataclass(frozen=True)
class BufferingHints:
    """A batch is published when its raw bytes reach ``size_mib`` or its age ``interval`` s.
    After a publish the writer merges its closed hours and days into files of about
    ``compact_mib`` (0: never; ``lake/autocompact.py``)."""

    size_mib: float = 64.0
    interval: float = 300.0
    compact_mib: float = 128.0
