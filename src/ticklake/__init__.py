"""ticklake: record crypto exchange feeds into a queryable Parquet data lake, losslessly."""

from ticklake.errors import TicklakeError
from ticklake.model import Gap, RawFrame, Side, Trade

__all__ = ["Gap", "RawFrame", "Side", "TicklakeError", "Trade", "__version__"]
__version__ = "0.1.0"
