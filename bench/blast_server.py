"""Blast mode: the emulated exchange sending a pre-generated trade stream as fast as TCP takes.

Usage: python bench/blast_server.py [--symbols BTCUSD,ETHUSD] [--trades N] [--per-message K]

Prints one JSON line (the URL and the stream's info), then serves until killed
(``bench/ingest.py`` starts one per stream configuration). The stream is a
:class:`~blast_stream.BlastStream`: the emulator's own market model and frame encoder,
pre-framed. :class:`BlastServer` is still a real WebSocket server speaking the protocol:

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
import struct
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from blast_stream import BlastConfig, BlastStream, ws_frame

from ticklake.emulator.frames import INVALID_ARGUMENT, ack, error_reply, pong, trades_message
from ticklake.emulator.products import PRODUCTS, products_payload

__all__ = ["BlastServer"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CHUNK = 256 * 1024


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
    """Print the URL (and the stream's info) on stdout, then serve."""
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
