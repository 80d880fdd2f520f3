"""Blast mode: the emulated exchange sending a pre-generated trade stream as fast as TCP takes.

The regular :class:`~ticklake.emulator.server.Emulator` simulates the market live and tops
out around 25-30k trades/s, far below what a client can read; benchmarks need a sender that
is never the bottleneck. A :class:`BlastStream` is generated once from the emulator's own
:class:`~ticklake.emulator.market.Market` (a base stretch, tiled forward in time and sequence
so that timestamps and sequences keep increasing), encoded with the emulator's own frame
encoder and pre-framed as unmasked WebSocket text frames in one buffer (cached on disk).
:class:`BlastServer` is still a real WebSocket server speaking the protocol:

* HTTP upgrade on ``/`` and ``/ws``; ``GET .../products`` answers the products payload;
  ``GET /blast/info`` describes the stream (trades, frames, last timestamp per symbol);
* ``trade(_p).subscribe [sym]`` → ack, then a snapshot (newest first) of the history; once
  every symbol of the stream is subscribed the incrementals go out back to back, in chunks
  cut at frame boundaries, pausing only while the socket's buffer is full;
* ``server.ping`` → pong, protocol ping → pong frame, close → close; anything else → 6001.

Replies are written between chunks, so every frame on the wire is whole. The stream is the
same for every connection; one stream per server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import struct
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ticklake.emulator.frames import INVALID_ARGUMENT, ack, error_reply, pong, trades_message
from ticklake.emulator.market import Market, Trade
from ticklake.emulator.products import PRODUCTS, products_payload

__all__ = ["BlastConfig", "BlastServer", "BlastStream", "ws_frame"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CHUNK = 256 * 1024
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


class _Conn(asyncio.Protocol):
    def __init__(self, server: BlastServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.subscribed: set[str] = set()
        self.blasting = False
        self.closed = False
        self._resume = asyncio.Event()
        self._resume.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=4 * 2**20, low=1 * 2**20)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._resume.set()

    def pause_writing(self) -> None:
        self._resume.clear()

    def resume_writing(self) -> None:
        self._resume.set()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            self._http()
        if self.upgraded:
            self._frames()

    def _write(self, data: bytes | memoryview) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def _http(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        parts = head[0].split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in head[1:])}
        key = headers.get("sec-websocket-key")
        if key is None:
            if path.split("?")[0].endswith("products"):
                self._respond(200, json.dumps(products_payload()).encode())
            elif path == "/blast/info":
                self._respond(200, json.dumps(self.server.stream.info).encode())
            else:
                self._respond(404, b'{"error":"not found"}')
            return
        if path.split("?")[0] not in ("/", "/ws"):
            self._respond(404, b'{"error":"not found"}')
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        self._write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.upgraded = True

    def _respond(self, status: int, body: bytes) -> None:
        reason = {200: "OK", 404: "Not Found"}[status]
        self._write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        assert self.transport is not None
        self.transport.close()

    def _frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            opcode, size = buf[0] & 0x0F, buf[1] & 0x7F
            masked = buf[1] & 0x80
            pos = 2
            if size == 126:
                if len(buf) < 4:
                    return
                size, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif size == 127:
                if len(buf) < 10:
                    return
                size, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            mask = b""
            if masked:
                mask, pos = bytes(buf[pos : pos + 4]), pos + 4
            if len(buf) < pos + size:
                return
            payload = bytes(buf[pos : pos + size])
            del buf[: pos + size]
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 1:
                self._request(payload)
            elif opcode == 8:
                self._write(ws_frame(payload[:2], 8))
                self.closed = True
                if self.transport is not None:
                    self.transport.close()
                return
            elif opcode == 9:
                self._write(ws_frame(payload, 10))

    def _request(self, payload: bytes) -> None:
        try:
            request = json.loads(payload)
            rid, method, params = request["id"], request["method"], request.get("params", [])
        except (ValueError, KeyError, TypeError):
            self._write(ws_frame(error_reply(None, INVALID_ARGUMENT, "invalid argument").encode()))
            return
        stream = self.server.stream
        if method == "server.ping":
            self._write(ws_frame(pong(rid).encode()))
            return
        channel, _, verb = str(method).partition(".")
        symbol = params[0] if isinstance(params, list) and params else None
        product = PRODUCTS.get(symbol) if isinstance(symbol, str) else None
        if product is None or product.channel != channel or verb not in ("subscribe",
                                                                        "unsubscribe"):
            self._write(ws_frame(error_reply(rid, INVALID_ARGUMENT, "invalid argument").encode()))
            return
        self._write(ws_frame(ack(rid).encode()))
        if verb == "unsubscribe":
            self.subscribed.discard(product.symbol)
            return
        snapshot = stream.snapshots.get(product.symbol)
        if snapshot is None:  # listed but not in the stream: empty snapshot, then nothing
            snapshot = trades_message(product, "snapshot", product.sequence_base, [])
        self._write(ws_frame(snapshot.encode()))
        self.subscribed.add(product.symbol)
        symbols = set(stream.snapshots)
        if not self.blasting and symbols <= self.subscribed:
            self.blasting = True
            self.server.spawn(self._blast())

    async def _blast(self) -> None:
        stream = self.server.stream
        data = memoryview(stream.data)
        ends = stream.ends
        pos, i, n = 0, 0, len(ends)
        while i < n and not self.closed:
            await self._resume.wait()
            if self.closed:
                break
            target = pos + _CHUNK
            j = i
            while j < n and ends[j] <= target:
                j += 1
            j = max(j, i + 1)
            self._write(data[pos : ends[j - 1]])
            pos, i = ends[j - 1], j
            await asyncio.sleep(0)


class BlastServer:
    """Serves one :class:`BlastStream` on a TCP port (see the module docstring)."""

    def __init__(self, stream: BlastStream, host: str = "127.0.0.1", port: int = 0) -> None:
        self.stream = stream
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    """``python -m ticklake.emulator.blast``: print the URL (and info) on stdout, serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", default="BTCUSD")
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    config = BlastConfig(symbols=tuple(args.symbols.split(",")), trades=args.trades,
                         per_message=args.per_message, seed=args.seed)
    started = time.monotonic()
    stream = BlastStream.load(config, args.cache_dir)

    async def serve() -> None:
        server = BlastServer(stream, port=args.port)
        await server.start()
        print(json.dumps({"url": server.url, "load_s": round(time.monotonic() - started, 2),
                          **stream.info}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
