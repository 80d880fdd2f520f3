"""ticklake from Python (docs/python-api.md): read the lake, and consume a live recording.

    import ticklake
    lake = ticklake.open_lake("lake")
    day = lake.read("trades", symbols=["BTCUSD"], since="2026-11-25", until="2026-11-26")

    async with ticklake.record(["BTCUSD"], lake="lake") as live:
        async for item in live:  # ticklake.Trade or ticklake.Gap
            ...

    async for item in ticklake.follow("spool"):  # a recorder running in another process
        ...

The lake half (``api.lake``) loads pyarrow and DuckDB; the live half (``api.live``,
``api.attach``) does not: each is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ticklake.api.attach import follow
    from ticklake.api.lake import MACRO_NAMES, LakeReader, Time, as_floats, open_lake, to_ns
    from ticklake.api.live import LiveRecording, record

__all__ = ["MACRO_NAMES", "LakeReader", "LiveRecording", "Time", "as_floats", "follow",
           "open_lake", "record", "to_ns"]
_MODULES = {"LiveRecording": "live", "record": "live", "follow": "attach"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        msg = f"module 'ticklake.api' has no attribute {name!r}"
        raise AttributeError(msg)
    from importlib import import_module

    return getattr(import_module(f"ticklake.api.{_MODULES.get(name, 'lake')}"), name)
