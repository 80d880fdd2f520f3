"""ticklake: record crypto exchange feeds into a queryable Parquet data lake, losslessly.

From Python (docs/python-api.md): ``ticklake.open_lake(root)`` reads the lake,
``ticklake.record(symbols, ...)`` records and hands over live trades and gaps,
``ticklake.follow(spool)`` hands over those of a recorder running in another process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ticklake.errors import TicklakeError
from ticklake.model import Gap, RawFrame, Side, Trade

if TYPE_CHECKING:
    from ticklake.api import LakeReader, LiveRecording, follow, open_lake, record

__all__ = ["Gap", "LakeReader", "LiveRecording", "RawFrame", "Side", "TicklakeError", "Trade",
           "__version__", "follow", "open_lake", "record"]
__version__ = "0.1.0"
_API = {"LakeReader", "LiveRecording", "follow", "open_lake", "record"}


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import ticklake`` stays light for the recorder's process.
    if name in _API:
        from ticklake import api

        return getattr(api, name)
    msg = f"module 'ticklake' has no attribute {name!r}"
    raise AttributeError(msg)
