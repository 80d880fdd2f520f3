"""The blast stream: the emulator's trades, pre-encoded and pre-framed once, cached on disk.

The regular :class:`~ticklake.emulator.server.Emulator` simulates the market live and tops
out around 25-30k trades/s, far below what a client can read; benchmarks need a sender that
is never the bottleneck (``blast_server.py``). A :class:`BlastStream` is generated once from
the emulator's own :class:`~ticklake.emulator.market.Market` (a base stretch, tiled forward in
time and sequence so that timestamps and sequences keep increasing), encoded with the
emulator's own frame encoder and pre-framed as unmasked WebSocket text frames in one buffer
(cached on disk, keyed by the :class:`BlastConfig`).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ticklake.emulator import Market, Trade
from ticklake.emulator.frames import trades_message
from ticklake.emulator.products import PRODUCTS

__all__ = ["BlastConfig", "BlastStream", "ws_frame"]

_STEP_NS = 100_000_000
_FORMAT = 2  # bump when the cached stream's layout changes


@dataclass(frozen=True)
class BlastConfig:
    symbols: tuple[str, ...] = ("BTCUSD",)
    trades: int = 1_000_000  # incremental trades in the stream (all symbols)
    per_message: int = 1  # trades per incremental message
    seed: int = 7
    rate: float = 2000.0  # market model's trades/s per symbol (timestamp density only)
    base_trades: int = 200_000  # trades generated per symbol before tiling
    snapshot_size: int = 200
    start_ns: int = 1_790_000_000_000_000_000  # 2026-09-21T14:13:20Z: fixed, so cacheable

    def key(self) -> str:
        text = json.dumps({**asdict(self), "format": _FORMAT}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """One unmasked, final server frame."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size))
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


class BlastStream:
    """The pre-framed incremental stream, its frame boundaries and the snapshot history."""

    def __init__(self, data: bytes, ends: list[int], info: dict[str, object],
                 snapshots: dict[str, str]) -> None:
        self.data = data
        self.ends = ends  # byte offset after each frame
        self.info = info
        self.snapshots = snapshots

    @classmethod
    def load(cls, config: BlastConfig, cache_dir: Path | None = None) -> BlastStream:
        """The stream for ``config``, from the cache when it was generated before."""
        root = cache_dir or Path(tempfile.gettempdir()) / "ticklake-blast"
        base = root / config.key()
        meta_path = base.with_suffix(".json")
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            data = base.with_suffix(".bin").read_bytes()
            ends_raw = base.with_suffix(".idx").read_bytes()
            ends = list(struct.unpack(f"<{len(ends_raw) // 8}q", ends_raw))
            return cls(data, ends, meta["info"], meta["snapshots"])
        stream = cls.generate(config)
        root.mkdir(parents=True, exist_ok=True)
        tmp = base.with_suffix(".tmp")
        tmp.write_bytes(stream.data)
        os.replace(tmp, base.with_suffix(".bin"))
        tmp.write_bytes(struct.pack(f"<{len(stream.ends)}q", *stream.ends))
        os.replace(tmp, base.with_suffix(".idx"))
        tmp.write_text(json.dumps({"info": stream.info, "snapshots": stream.snapshots}))
        os.replace(tmp, meta_path)
        return stream

    @classmethod
    def generate(cls, config: BlastConfig) -> BlastStream:
        symbols = config.symbols
        market = Market(symbols, seed=config.seed, rate=config.rate, start_ns=config.start_ns)
        history = market.prefill(config.snapshot_size)
        base: list[Trade] = []
        now = config.start_ns
        want = min(config.base_trades * len(symbols), config.trades)
        while len(base) < want:
            now += _STEP_NS
            base.extend(market.advance(now))
        snapshots = {}
        for symbol in symbols:
            product = PRODUCTS[symbol]
            history_rows = [_row(t, product.channel, product.price_exp, product.qty_exp)
                            for t in history if t.symbol == symbol][::-1]
            sequence = min(t.seq for t in base if t.symbol == symbol) - 1
            snapshots[symbol] = trades_message(product, "snapshot", sequence, history_rows)
        span_ns = now - config.start_ns + 1_000_000
        seq_span = {s: max((t.seq for t in base if t.symbol == s), default=0)
                    - min((t.seq for t in base if t.symbol == s), default=0) + 1
                    for s in symbols}
        out = bytearray()
        ends: list[int] = []
        pending: dict[str, list[tuple[int, str]]] = {s: [] for s in symbols}
        last_ts: dict[str, int] = dict.fromkeys(symbols, 0)
        made = frames = tile = 0
        per = config.per_message
        while made < config.trades:
            for t in base:
                if made >= config.trades:
                    break
                ts = t.ts_ns + tile * span_ns
                seq = t.seq + tile * seq_span[t.symbol]
                product = PRODUCTS[t.symbol]
                rows = pending[t.symbol]
                rows.append((seq, _row(t, product.channel, product.price_exp, product.qty_exp,
                                       ts)))
                last_ts[t.symbol] = ts
                made += 1
                if len(rows) >= per:
                    frames += 1
                    _emit(out, ends, product.symbol, rows)
            tile += 1
        for symbol, rows in pending.items():
            if rows:
                frames += 1
                _emit(out, ends, symbol, rows)
        info: dict[str, object] = {
            "trades": made, "frames": frames, "per_message": per, "symbols": list(symbols),
            "snapshot_trades": {s: config.snapshot_size for s in symbols},
            "last_ts_ns": last_ts, "bytes": len(out),
            "payload_bytes": len(out) - sum(_head_size(ends, i) for i in range(len(ends))),
        }
        return cls(bytes(out), ends, info, snapshots)


def _row(t: Trade, channel: str, price_exp: int, qty_exp: int, ts: int | None = None) -> str:
    ts = t.ts_ns if ts is None else ts
    if channel == "trade_p":
        return (f'[{ts},"{t.side}","{_units(t.price, price_exp)}",'
                f'"{_units(t.qty, qty_exp)}"]')
    return f'[{ts},"{t.side}",{t.price},{t.qty}]'


def _units(units: int, exp: int) -> str:
    whole, frac = divmod(units, 10**exp)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(exp, '0').rstrip('0')}"


def _emit(out: bytearray, ends: list[int], symbol: str, rows: list[tuple[int, str]]) -> None:
    product = PRODUCTS[symbol]
    text = trades_message(product, "incremental", rows[-1][0], [r for _, r in rows])
    out += ws_frame(text.encode())
    ends.append(len(out))
    rows.clear()


def _head_size(ends: list[int], i: int) -> int:
    size = ends[i] - (ends[i - 1] if i else 0)
    return 2 if size < 128 else 4 if size < 65540 else 10
