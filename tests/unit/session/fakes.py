"""A stand-in for picows' transport and ``ws_connect``: the session's I/O without a socket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from picows import WSListener, WSMsgType
from picows.picows import _make_test_ws_frame

from ticklake.feed.phemex import PhemexProtocol, ProtocolConfig, Subscription, default_products

Outcome = Exception | None  # what one ``ws_connect`` call does: raise this, or open a FakeSocket


class FakeSocket:
    """Records what is sent; ``receive`` hands a frame to the connection's listener;
    ``wait_disconnected`` returns once aborted or disconnected."""

    def __init__(self, listener: WSListener) -> None:
        self.listener = listener
        self.sent: list[dict[str, Any]] = []
        self.aborted = False
        self.underlying_transport = self
        self._gone = asyncio.Event()

    def receive(self, frame: dict[str, Any] | Any) -> None:
        """A message (a dict, sent as one text frame) or a frame from ``_make_test_ws_frame``."""
        self.listener.on_ws_frame(self, text(frame) if isinstance(frame, dict) else frame)  # type: ignore[arg-type]

    def send(self, msg_type: WSMsgType, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def abort(self) -> None:
        self.aborted = True
        self._gone.set()

    def send_close(self, code: object) -> None:
        pass

    def disconnect(self) -> None:
        self._gone.set()

    async def wait_disconnected(self) -> None:
        await self._gone.wait()


class FakeConnect:
    """Replaces ``ws_connect`` in ``session.connection``: each call takes the next outcome."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, outcomes: Iterable[Outcome]) -> None:
        self.outcomes = list(outcomes)
        self.sockets: list[FakeSocket] = []
        monkeypatch.setattr("ticklake.session.connection.ws_connect", self)

    async def __call__(self, factory: Callable[[], WSListener], url: str,
                       **options: object) -> tuple[FakeSocket, WSListener]:
        await asyncio.sleep(0)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        socket = FakeSocket(factory())
        self.sockets.append(socket)
        return socket, socket.listener


def make_protocol(config: ProtocolConfig | None = None) -> PhemexProtocol:
    return PhemexProtocol([Subscription("trade", "BTCUSD")], default_products(), config)


def text(message: dict[str, Any], fin: bool = True) -> Any:
    return _make_test_ws_frame(WSMsgType.TEXT, json.dumps(message).encode(), fin, False)


def ack(request: dict[str, Any]) -> dict[str, Any]:
    return {"error": None, "id": request["id"], "result": {"status": "success"}}


def refusal(request: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": 6001, "message": "invalid argument"}, "id": request["id"],
            "result": None}


def trades(sequence: int) -> dict[str, Any]:
    ts_ns = time.time_ns() - 1_000_000_000  # a trade from the future would be rejected
    return {"sequence": sequence, "symbol": "BTCUSD", "type": "incremental",
            "trades": [[ts_ns, "Buy", 86730000, 21]]}
