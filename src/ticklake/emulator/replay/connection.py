"""One client of the replay: its subscriptions, its heartbeat, and the queue its frames wait
in until its socket takes them.

Every frame to a client (replies, snapshots, archived frames) goes through its queue, in
order, so a reply precedes the data of its request (§9.2). One sender task per client
writes the queue, then waits while the socket's write buffer is full (as ``send`` does): a
client that reads slowly fills its queue, and the replay then waits for it (``--speed
max``) or drops it (a paced replay cannot wait for one client without delaying everyone's
clock) — it never buffers without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidState
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

__all__ = ["Client", "ReplayConnection", "Slot"]

Slot = tuple[str, str]  # (channel, symbol); klines "SYMBOL@interval", all symbols "*"
_BURST = 512  # frames written at once, at most


@dataclass(eq=False)
class Client:
    id: int
    ws: ReplayConnection
    limit: int  # frames queued before the client counts as full
    on_room: Callable[[Client], None]  # called when a full queue has room again
    subscriptions: dict[Slot, int] = field(default_factory=dict)  # slot -> book depth (or 0)
    last_heartbeat: float = field(default_factory=time.monotonic)
    queue: deque[str] = field(default_factory=deque)
    frames_sent: int = 0
    closing: bool = False
    full: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, text: str) -> None:
        if self.closing:
            return
        self.queue.append(text)
        if len(self.queue) >= self.limit:
            self.full = True
        self._wake.set()

    async def send_forever(self) -> None:
        """Write the queue to the socket until the connection ends: what is queued goes out
        in one write (a syscall a frame would cost more than everything else the replay
        does), then the socket's flow control is awaited, as ``send`` would."""
        ws, queue = self.ws, self.queue
        protocol = ws.protocol
        low = self.limit // 2
        try:
            while not self.closing:
                if not queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if protocol.state is not State.OPEN:
                    break
                burst = min(len(queue), _BURST)
                for _ in range(burst):
                    protocol.send_text(queue.popleft().encode())
                ws.send_data()
                self.frames_sent += burst
                if self.full and len(queue) <= low:
                    self.full = False
                    self.on_room(self)
                await ws.drain()  # (waits only while the transport is above its high mark)
        except (ConnectionClosed, InvalidState, OSError):
            pass
        finally:
            self.closed()

    def closed(self) -> None:
        self.closing = True
        self.queue.clear()
        self._wake.set()
        if self.full:
            self.full = False
            self.on_room(self)  # a waiting replay must not wait for a gone client

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the peer sees 1006)."""
        self.closed()
        transport = getattr(self.ws, "transport", None)
        if transport is not None:
            transport.abort()

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "subscriptions": [f"{c}:{s}" for c, s in self.subscriptions],
                "frames_sent": self.frames_sent, "queued": len(self.queue)}


class ReplayConnection(ServerConnection):
    """websockets answers protocol pings itself, with no callback: note them as heartbeats
    (§3: a protocol ping counts as one)."""

    client: Client | None = None

    def process_event(self, event: Event) -> None:
        if self.client is not None and isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.client.last_heartbeat = time.monotonic()
        super().process_event(event)

    def send_data(self) -> None:
        """Everything the protocol has to send in one write (websockets writes frame by
        frame); an empty chunk means "half-close", as in websockets' own."""
        chunks = self.protocol.data_to_send()
        data = [c for c in chunks if c]
        if data:
            self.transport.write(data[0] if len(data) == 1 else b"".join(data))
        if len(data) < len(chunks):
            if self.transport.can_write_eof():
                with contextlib.suppress(Exception):
                    self.transport.write_eof()
            else:
                self.transport.close()
