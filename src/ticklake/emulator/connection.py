"""One client connection: websockets connection subclass plus the emulator's per-client state.

websockets answers protocol ping frames itself and offers no callback for them, so
:class:`EmuConnection` overrides ``process_event`` to note every incoming PING as a heartbeat,
and ``send_data`` so that a *stalled* connection writes nothing at all, not even the
automatic pong frames.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

from ticklake.emulator.book import BookView
from ticklake.emulator.faults import FaultPlan

__all__ = ["Client", "EmuConnection"]


@dataclass(eq=False)
class Client:
    """Per-connection state kept by the emulator."""

    id: int
    path: str
    ws: EmuConnection
    last_heartbeat: float = field(default_factory=time.monotonic)
    subscriptions: dict[tuple[str, str], None] = field(default_factory=dict)  # ordered set
    books: dict[tuple[str, str], BookView] = field(default_factory=dict)  # book slots' views
    frames_sent: int = 0
    plan: FaultPlan = field(default_factory=FaultPlan)
    last_data: str | None = None
    acked_once: bool = False
    data_sent_once: bool = False
    closing: bool = False
    request_times: deque[float] = field(default_factory=deque)

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "subscriptions": [f"{ch}:{sym}" for ch, sym in self.subscriptions],
            "frames_sent": self.frames_sent,
            "stalled": self.plan.stalled(time.monotonic()),
        }

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the peer sees 1006)."""
        self.closing = True
        self.subscriptions.clear()
        self.books.clear()
        transport = getattr(self.ws, "transport", None)
        if transport is not None:
            transport.abort()


class EmuConnection(ServerConnection):
    """ServerConnection that reports protocol pings and can go silent (stall)."""

    client: Client | None = None

    def process_event(self, event: Event) -> None:
        if (
            self.client is not None
            and isinstance(event, Frame)
            and event.opcode is Opcode.PING
        ):
            self.client.last_heartbeat = time.monotonic()
        super().process_event(event)

    def send_data(self) -> None:
        client = self.client
        if client is not None and client.plan.stalled(time.monotonic()):
            if self.protocol.state is not State.OPEN:
                # The peer is closing: a stall lasts "until the client goes away".
                self.transport.abort()
            # Discard whole frames (automatic pongs, close replies) so the stream stays valid.
            self.protocol.data_to_send()
            return
        super().send_data()
