"""Helpers for emulator tests: a *raw* websockets client speaking hand-written JSON.

Nothing from the ticklake client is used: the emulator is checked against the protocol
reference directly. Waits are conditions with deadlines scaled by
TICKLAKE_TEST_TIMEOUT_FACTOR, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ticklake.emulator import Emulator, EmulatorConfig

FACTOR = float(os.environ.get("TICKLAKE_TEST_TIMEOUT_FACTOR", "1"))


async def eventually(
    predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until true or the (scaled) deadline passes."""
    deadline = time.monotonic() + timeout * FACTOR
    while not predicate():
        if time.monotonic() > deadline:
            msg = f"timed out waiting for {what}"
            raise AssertionError(msg)
        await asyncio.sleep(0.005)


@dataclass
class Raw:
    """A raw client: every received text frame is kept, parsed when it is JSON."""

    ws: ClientConnection
    frames: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # monotonic arrival time per frame
    closed: bool = False
    close_code: int | None = None
    _reader: asyncio.Task[None] | None = None
    _next_id: int = 1000

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> Raw:
        kwargs.setdefault("ping_interval", None)
        ws = await connect(url, open_timeout=5 * FACTOR, close_timeout=1, **kwargs)
        raw = cls(ws)
        raw._reader = asyncio.get_running_loop().create_task(raw._read())
        return raw

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                assert isinstance(message, str), "server must send text frames only"
                self.frames.append(message)
                self.times.append(time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.close_code = self.ws.close_code

    async def send(self, obj: object) -> None:
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def request(self, method: str, params: object = (), rid: int | None = None) -> int:
        if rid is None:
            self._next_id += 1
            rid = self._next_id
        await self.send({"id": rid, "method": method, "params": list(params)
                         if isinstance(params, tuple) else params})
        return rid

    def messages(self) -> list[Any]:
        out = []
        for frame in self.frames:
            try:
                out.append(json.loads(frame))
            except ValueError:
                out.append(None)
        return out

    def replies(self, rid: int | None) -> list[dict[str, Any]]:
        return [m for m in self.messages() if isinstance(m, dict) and "id" in m
                and m["id"] == rid and ("result" in m or "error" in m)]

    def data(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages() if isinstance(m, dict) and "type" in m
                and (symbol is None or m.get("symbol") == symbol)]

    def index_of_reply(self, rid: int) -> int:
        for i, m in enumerate(self.messages()):
            if isinstance(m, dict) and m.get("id") == rid and "result" in m:
                return i
        msg = f"no reply for id {rid}"
        raise AssertionError(msg)

    async def reply(self, rid: int | None, timeout: float = 5.0) -> dict[str, Any]:
        await eventually(lambda: bool(self.replies(rid)), timeout, f"reply to id {rid}")
        return self.replies(rid)[0]

    async def wait_data(self, symbol: str, n: int, kind: str | None = None,
                        timeout: float = 5.0) -> list[dict[str, Any]]:
        def got() -> list[dict[str, Any]]:
            return [m for m in self.data(symbol) if kind is None or m["type"] == kind]
        await eventually(lambda: len(got()) >= n, timeout, f"{n} {kind or ''} {symbol}")
        return got()

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        await eventually(lambda: self.closed, timeout, "connection closed")
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader


Side = dict[Decimal, Decimal]  # price -> qty, exact


@dataclass(frozen=True)
class BookMsg:
    """One order-book message as exact decimals (decoded here, not by the emulator)."""

    symbol: str
    snapshot: bool
    sequence: int
    ts_ns: int
    bids: Side  # qty 0 = delete, in incrementals
    asks: Side


def book_messages(raw: Raw, symbol: str, price_exp: int, qty_exp: int) -> list[BookMsg]:
    """The book messages of ``symbol`` a raw client received, in arrival order. Integer rows
    (COIN-M, spot) are units of 10**-exp; ``orderbook_p`` rows are decimal strings."""
    def side(rows: list[list[Any]]) -> Side:
        return {_exact(p, price_exp): _exact(q, qty_exp) for p, q in rows}

    out = []
    for m in raw.data(symbol):
        body = m.get("book", m.get("orderbook_p"))
        if body is not None:
            out.append(BookMsg(symbol, m["type"] == "snapshot", m["sequence"], m["timestamp"],
                               side(body["bids"]), side(body["asks"])))
    return out


def _exact(value: int | str, exp: int) -> Decimal:
    return Decimal(value) if isinstance(value, str) else Decimal(value).scaleb(-exp)


@dataclass
class CarefulBook:
    """A client's book of one symbol, built from the wire as a careful client would: a snapshot
    replaces, qty 0 deletes, each side trimmed to the depth. What it finds odd goes to ``odd``
    as (what, message, detail): ``stale`` (a snapshot older than what it applied: ignored),
    ``backwards`` (an incremental older than what it applied: its levels that no later message
    set are applied, so the book stays right), ``unknown_delete`` (detail (side, price)),
    ``diverged`` (a snapshot that differs from the book built so far: replaced)."""

    depth: int = 0
    bids: Side = field(default_factory=dict)
    asks: Side = field(default_factory=dict)
    sequence: int = -1
    odd: list[tuple[str, BookMsg, object]] = field(default_factory=list)
    _touched: dict[int, set[tuple[str, Decimal]]] = field(default_factory=dict)

    def apply(self, m: BookMsg) -> None:
        if m.sequence < self.sequence:
            if m.snapshot:
                self.odd.append(("stale", m, None))
                return
            self.odd.append(("backwards", m, None))
            later = set().union(*(t for s, t in self._touched.items() if s > m.sequence))
            self._update(m, later)
            return
        if m.snapshot:
            if self.sequence >= 0 and (self.bids, self.asks) != (m.bids, m.asks):
                self.odd.append(("diverged", m, None))
            self.bids, self.asks = dict(m.bids), dict(m.asks)
        else:
            self._update(m, set())
        self._trim()
        self.sequence = m.sequence
        self._touched[m.sequence] = {("bid", p) for p in m.bids} | {("ask", p) for p in m.asks}

    def _update(self, m: BookMsg, skip: set[tuple[str, Decimal]]) -> None:
        for name, levels, given in (("bid", self.bids, m.bids), ("ask", self.asks, m.asks)):
            for price, qty in given.items():
                if (name, price) in skip:
                    continue
                if qty:
                    levels[price] = qty
                elif levels.pop(price, None) is None:
                    self.odd.append(("unknown_delete", m, (name, price)))
        self._trim()

    def _trim(self) -> None:
        if self.depth:
            self.bids = dict(sorted(self.bids.items(), reverse=True)[: self.depth])
            self.asks = dict(sorted(self.asks.items())[: self.depth])

    def book(self) -> tuple[Side, Side]:
        return dict(self.bids), dict(self.asks)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5 * FACTOR) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())


async def aget(url: str) -> tuple[int, bytes]:
    """``http_get`` off the event loop (the emulator runs on it)."""
    return await asyncio.to_thread(http_get, url)


Scenario = Callable[[Emulator], Awaitable[None]]


def run_emulator_scenario(config: EmulatorConfig, scenario: Scenario) -> None:
    async def main() -> None:
        async with Emulator(config) as emu:
            await asyncio.wait_for(scenario(emu), 30 * FACTOR)

    asyncio.run(main())


class Kit:
    """Everything a test needs, handed out by the ``kit`` fixture (no helper imports)."""

    Raw = Raw
    BookMsg = BookMsg
    CarefulBook = CarefulBook
    book_messages = staticmethod(book_messages)
    FACTOR = FACTOR
    eventually = staticmethod(eventually)
    http_get = staticmethod(http_get)
    aget = staticmethod(aget)
    run = staticmethod(run_emulator_scenario)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
