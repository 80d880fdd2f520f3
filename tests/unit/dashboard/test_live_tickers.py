"""The Live page's ticker strip data: each message carries the newest 24 h ticker of every
symbol that had one, values as exact decimal text (sans-I/O: the message builder alone)."""

from __future__ import annotations

from ticklake.dashboard.live import tick_message
from ticklake.feed.events import TickerRow, TickersReceived
from ticklake.feed.phemex.tickers import TICKER_COLUMNS

E8 = 10**8


def row(symbol: str, ts_ns: int, **values: int) -> TickerRow:
    return TickerRow(symbol, ts_ns, "market24h", {**dict.fromkeys(TICKER_COLUMNS), **values}, {})


def test_the_newest_ticker_of_each_symbol_goes_out_exactly() -> None:
    events = [
        TickersReceived([row("BTCUSD", 1_000_000, last=90000 * E8, mark_price=1)], 5),
        TickersReceived([row("BTCUSD", 2_000_000, last=9000050000000, mark_price=9000100000000,
                             index_price=9000000000000, funding_rate=-12500,
                             pred_funding_rate=10000),
                         row("sBTCUSDT", 2_000_000, last=9000000000000)], 6),
    ]
    message = tick_message(events, [], [])
    assert message["tickers"] == [
        ["BTCUSD", 2.0, "90000.5", "90001", "90000", "-0.000125", "0.0001"],
        ["sBTCUSDT", 2.0, "90000", None, None, None, None],
    ]
    assert tick_message([], [], [])["tickers"] == []
