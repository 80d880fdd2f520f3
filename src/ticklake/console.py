"""Terminal rendering: the live progress line of a recording and the trade tape."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text

from ticklake.feed.events import TradesReceived
from ticklake.model import Anomaly
from ticklake.status import RecordingStatus


class ProgressLine:
    """``state | trades N (r/s) | reconnects | gaps | rejected | rtt`` — rate over the last tick."""

    def __init__(self, status: Callable[[], RecordingStatus]) -> None:
        self._status = status
        self._symbols = _label(status())
        self._last_trades = 0
        self._last_time = time.monotonic()
        self.rate = 0.0

    def render(self) -> Text:
        stats = self._status().totals
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-9)
        self.rate = (stats.trades - self._last_trades) / elapsed
        self._last_trades, self._last_time = stats.trades, now
        age = (time.time_ns() - stats.last_frame_wall_ns) / 1e9 if stats.last_frame_wall_ns else 0
        line = Text()
        line.append(f"{self._symbols} ", style="bold")
        line.append(f"{stats.state:<12}", style="green" if stats.state == "streaming" else "yellow")
        line.append(f" trades {stats.trades:,} ({self.rate:,.0f}/s)")
        line.append(f" | snapshot-recovered {stats.snapshot_trades:,}")
        line.append(f" | reconnects {stats.reconnects}")
        line.append(f" | gaps {stats.gaps}", style="red" if stats.gaps else "")
        line.append(f" | rejected {stats.rejected}", style="red" if stats.rejected else "")
        line.append(f" | rtt {stats.last_rtt_ns / 1e6:.1f} ms | last frame {age:.1f}s ago")
        return line


def _label(status: RecordingStatus) -> str:
    """The symbols, or how many on how many connections when that would be a long line."""
    symbols, count = status.symbols, len(status.connections)
    if len(symbols) <= 4:
        return ",".join(symbols)
    return f"{len(symbols)} symbols on {count} connection{'s' if count > 1 else ''}"


def tape_lines(event: TradesReceived) -> list[Text]:
    lines = []
    for trade in event.trades:
        stamp = time.strftime("%H:%M:%S", time.gmtime(trade.ts_exchange_ns // 1_000_000_000))
        micros = trade.ts_exchange_ns // 1000 % 1_000_000
        line = Text(f"{stamp}.{micros:06d} {trade.symbol:<9} ")
        line.append(f"{trade.side:<4}", style="green" if trade.side == "buy" else "red")
        line.append(f" {trade.price_text:>12} x {trade.qty_text}")
        if trade.from_snapshot:
            line.append("  (snapshot)", style="dim")
        lines.append(line)
    return lines


def anomaly_line(anomaly: Anomaly) -> Text:
    """``ANOMALY start BTCUSD swing down -48.2 bp over 10 s (z 9.1) 96012.5 → 95549.0``."""
    stamp = time.strftime("%H:%M:%S", time.gmtime(anomaly.ts_detect_ns // 1_000_000_000))
    line = Text(f"{stamp} ")
    line.append(f"ANOMALY {anomaly.phase:<5}", style="bold magenta")
    line.append(f" {anomaly.symbol} {anomaly.kind} {anomaly.direction} "
                f"{anomaly.move_bp:+.1f} bp over {anomaly.horizon_s:g} s "
                f"(z {anomaly.score:.1f}) {anomaly.price_before:g} → {anomaly.price_after:g}")
    return line
