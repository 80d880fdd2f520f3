"""One client of the replay: its subscriptions, its heartbeat, and the queue its frames wait
in until its socket takes them.

Every frame to a client (replies, snapshots, archived frames) goes through its queue, in
order, so a reply precedes the data of its request (§9.2). One sender task per client
writes the queue with ``send``, which waits while the socket's write buffer is full: a
client that reads slowly fills its queue, and the replay then waits for it (``--speed
max``) or drops it (a paced replay cannot wait for one client without delaying everyone's
clock) — it never buffers without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

__all__ = ["Client", "ReplayConnection", "Slot"]

Slot = tuple[str, str]  # (channel, symbol); klines "SYMBOL@interval", all symbols "*"


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
        """Write the queue to the socket until the connection ends."""
        ws, queue = self.ws, self.queue
        low = self.limit // 2
        try:
            while not self.closing:
                if not queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await ws.send(queue.popleft())
                self.frames_sent += 1
                if self.full and len(queue) <= low:
                    self.full = False
                    self.on_room(self)
        except ConnectionClosed:
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
