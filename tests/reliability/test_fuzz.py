"""7. Fuzzing: mutated and generated frames through the live decoder (``PhemexProtocol``) and
the lake writer's replay (``Batch`` over ``ReplayDecoder``); random damage to spool segment
files through ``SpoolReader`` and ``SpoolWriter`` recovery. Nothing raises, every bad frame
becomes a ``FrameRejected`` and a row of the lake's ``rejected`` table, and the live path and
the lake agree trade for trade. Deterministic (seeded); 50k inputs here, 1M in the long run.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from ticklake.feed.events import (
    DuplicateMessage,
    FrameRejected,
    GapDetected,
    TradesReceived,
)
from ticklake.feed.phemex import default_products
from ticklake.feed.phemex.trades import MAX_FUTURE_NS, ReplayDecoder, TradeDecoder
from ticklake.lake.batch import Batch

from ..unit.feed.phemex.helpers import connect_and_ack, make_protocol
from .common import figure
from .fuzzing import RECV_NS, SYMBOLS, corpus, expected, mutate

TRADE_EVENTS = (TradesReceived, GapDetected, DuplicateMessage)
BATCH = 20_000
REPLY = "reply to unknown request id"
LIMIT = 10**18  # decimal(18, 8) unscaled: the lake quarantines a trade beyond it


def representable(symbol: str, price_e: int, qty_e: int) -> bool:
    product = default_products().require(symbol)
    return (price_e * 10 ** (8 - product.price_scale) < LIMIT
            and qty_e * 10 ** (8 - product.qty_scale) < LIMIT)


def fuzz_decoder(inputs: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    frames = corpus()
    protocol = make_protocol(*SYMBOLS)
    connect_and_ack(protocol)
    replay = ReplayDecoder(TradeDecoder(default_products(), 200, MAX_FUTURE_NS))
    verdicts: Counter[str] = Counter()
    live_rows: Counter[tuple[str, int, str, int, int]] = Counter()
    lake_rows: Counter[tuple[str, int, str, int, int]] = Counter()
    live_rejected = lake_rejected = replies = 0
    batch = Batch(0, 0)
    mismatches: list[tuple[str, bytes, list[object]]] = []
    crashes: list[str] = []
    replay_state = replay.trades.state()
    for offset in range(inputs):
        data = mutate(rng, frames) if rng.random() < 0.9 else rng.choice(frames)
        verdict = expected(data)
        verdicts[verdict] += 1
        protocol.receive_frame(data, 1, RECV_NS)  # must not raise
        events = protocol.events_received()
        rejected = [e for e in events if isinstance(e, FrameRejected)]
        live_rejected += len(rejected)
        replies += sum(e.reason.startswith(REPLY) for e in rejected)
        for event in events:
            if isinstance(event, TradesReceived):
                live_rows.update((event.symbol, *row) for row in event.rows)
        ok = {
            "reject": len(events) == 1 and len(rejected) == 1,
            "reply": len(events) == 1 and len(rejected) == 1,
            "trades": bool(events) and all(isinstance(e, TRADE_EVENTS) for e in events),
            "other": not events,
            "ambiguous": len(rejected) == len(events) == 1 or not rejected,
        }[verdict]
        if not ok and len(mismatches) < 5:
            mismatches.append((verdict, data, events))
        batch.add_record(replay, batch.end, 1, RECV_NS, data)  # must not raise
        if batch.records >= BATCH or offset == inputs - 1:
            try:
                tables = batch.tables()
            except Exception as exc:  # the lake writer would die on this batch, every retry
                crashes.append(f"{type(exc).__name__}: {exc}: {_culprit(batch, replay_state)}")
                tables = {}
            replay_state = replay.trades.state()
            lake_rejected += sum(t.num_rows for t in tables.get("rejected", {}).values())
            for (_, symbol, _), table in tables.get("trades", {}).items():
                for row in table.select(["ts_ns", "side", "price", "qty"]).to_pylist():
                    product = default_products().require(symbol)
                    lake_rows[(symbol, row["ts_ns"], row["side"],
                               int(row["price"].scaleb(product.price_scale)),
                               int(row["qty"].scaleb(product.qty_scale)))] += 1
            batch = Batch(batch.end, batch.end)
    assert not crashes, crashes
    assert not mismatches, mismatches
    # The lake has every live trade the decimal(18, 8) columns can hold; it rejects what
    # the live path rejects, except replies (replayed as they were), plus those trades.
    beyond = Counter({k: n for k, n in live_rows.items() if not representable(*k[:1], *k[3:])})
    assert lake_rows == live_rows - beyond
    assert replies >= verdicts["reply"]
    assert lake_rejected == live_rejected - replies + beyond.total(), (
        lake_rejected, live_rejected, replies, verdicts, beyond.total())
    assert verdicts["reject"] > inputs // 4 and verdicts["trades"] > inputs // 20, verdicts
    return {"inputs": inputs, "verdicts": dict(verdicts), "live_rejected": live_rejected,
            "lake_rejected": lake_rejected, "trades_live_equal_lake": sum(live_rows.values()),
            "live_trades_beyond_decimal_18_8": beyond.total(), "crashes": 0}


def _culprit(batch: Batch, state: bytes) -> str:
    """The first frame of a batch that alone makes ``tables()`` raise (for the report)."""
    for payload in batch._payloads:
        one = Batch(0, 0)
        decoder = ReplayDecoder(TradeDecoder.from_state(state, default_products(), 200,
                                                        MAX_FUTURE_NS))
        one.add_record(decoder, 0, 1, RECV_NS, payload)
        try:
            one.tables()
        except Exception:
            return repr(payload[:300])
    return "(a combination of frames)"


def test_fuzz_the_frame_decoder_live_and_in_the_lake() -> None:
    started = time.monotonic()
    figures = fuzz_decoder(40_000, seed=71)
    figure("fuzz_decoder", **figures, seconds=round(time.monotonic() - started, 1))


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_long_fuzz_the_frame_decoder() -> None:
    started = time.monotonic()
    figures = fuzz_decoder(800_000, seed=72)
    figure("fuzz_decoder_long", **figures, seconds=round(time.monotonic() - started, 1))
