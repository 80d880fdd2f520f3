"""Attach to a recorder running in another process: its trades and gaps read from its spool.

    async for item in ticklake.follow("spool"):   # ticklake.Trade or ticklake.Gap
        ...

The spool is the recorder's durable tee (every frame, appended before anything else uses
it), so following it is lossless and costs the recorder nothing: it is never waited for and
nothing is dropped. A follower that falls behind reads older records; only if the spool's
retention deletes records it has not read yet does it stop, with a one-line
``ticklake.errors.SpoolError`` naming the offsets. The frames are decoded by the lake writer's
own decoder, started from the state the lake writer committed (its cursor), so the trades
and gaps are the ones the lake gets, de-duplicated across reconnects the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Literal

from ticklake.errors import SpoolError
from ticklake.feed.events import Event, GapDetected, TradesReceived
from ticklake.feed.phemex import default_products
from ticklake.feed.phemex.trades import replay_decoder
from ticklake.lake.hints import CURSOR
from ticklake.model import Gap, Trade
from ticklake.spool import CursorStore, SpoolReader

_READ_RECORDS = 10_000


def items(events: Iterable[Event]) -> Iterator[Trade | Gap]:
    """The trades and gaps among ``events``, in order (the API hands out nothing else)."""
    for event in events:
        if type(event) is TradesReceived:
            yield from event.trades
        elif isinstance(event, GapDetected):
            yield event.gap


async def follow(spool: str | Path, *, start: Literal["now", "lake"] = "now",
                 poll_seconds: float = 0.05) -> AsyncIterator[Trade | Gap]:
    """Trades and gaps of the recorder writing ``spool``, in spool order, until the caller
    stops iterating. ``start``: ``"now"`` (what arrives from now on) or ``"lake"`` (also
    what the recorder received but has not yet published to the lake)."""
    directory = Path(spool)
    if not (directory / "segments").is_dir():
        msg = f"no spool at {directory} (a recorder's --spool directory)"
        raise SpoolError(msg)
    reader = SpoolReader(directory)
    offset, state = CursorStore(directory / "cursors").load(CURSOR)
    if offset < reader.first_offset():  # (no lake writer ran here: decode from the start)
        offset, state = reader.first_offset(), b""
    decoder = replay_decoder(state, default_products(), None, books=False)
    begin = await asyncio.to_thread(reader.end_offset) if start == "now" else offset
    while True:
        records = await asyncio.to_thread(reader.read, offset, _READ_RECORDS)
        if not records:
            await asyncio.sleep(poll_seconds)
            continue
        for record in records:
            events = decoder.decode(record.payload, record.conn_id, record.recv_ns)
            if record.offset < begin:
                continue  # (read only to bring the decoder to where the caller starts)
            for item in items(events):
                yield item
        offset = records[-1].offset + 1
