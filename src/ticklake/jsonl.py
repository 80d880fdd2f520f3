"""``--out FILE``: trades and gaps appended as JSON lines (exact decimal strings, integer ns),
for a quick look or a pipe into other tools; the lake is the record."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec

from ticklake.feed.events import Event, GapDetected, TradesReceived


class _TradeLine(msgspec.Struct, tag="trade", tag_field="type"):
    symbol: str
    ts_ns: int
    recv_ns: int
    side: str
    price: str
    qty: str
    sequence: int
    snapshot: bool


class _GapLine(msgspec.Struct, tag="gap", tag_field="type"):
    symbol: str
    from_ns: int
    to_ns: int
    reason: str


class JsonlRecorder:
    """Appends trades and gaps as JSON lines; flushed on the recording's tick."""

    def __init__(self, path: Path) -> None:
        self._file: io.BufferedWriter = path.open("ab")
        self._encoder = msgspec.json.Encoder()

    def on_event(self, event: Event) -> None:
        if isinstance(event, TradesReceived):
            for t in event.trades:
                line = _TradeLine(t.symbol, t.ts_exchange_ns, t.ts_recv_ns, t.side, t.price_text,
                                  t.qty_text, t.sequence, t.from_snapshot)
                self._file.write(self._encoder.encode(line) + b"\n")
        elif isinstance(event, GapDetected):
            gap = event.gap
            gap_line = _GapLine(gap.symbol, gap.from_ns, gap.to_ns, gap.reason)
            self._file.write(self._encoder.encode(gap_line) + b"\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
