"""Applies faults (kinds and plans from :mod:`faults`) to an emulator's connections."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import TYPE_CHECKING

from ticklake.emulator.faults import (
    BOOK_KINDS,
    DEFAULT_SECONDS,
    GLOBAL_KINDS,
    ON_FIRST_DATA,
    BookArm,
    FaultKind,
    NextArm,
    check_numbers,
    garbage_frames,
    parse_kind,
    parse_target,
)

if TYPE_CHECKING:
    from ticklake.emulator.connection import Client
    from ticklake.emulator.server import Emulator

__all__ = ["SEQUENCE_JUMP", "Injector"]

SEQUENCE_JUMP = 1_000_000  # sequence_jump adds count * this (+ a little noise)


class Injector:
    """Fault bookkeeping of one emulator: counters, ``next`` arms, refusal window."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.injected: Counter[FaultKind] = Counter()
        self.refuse_until = 0.0
        self._next_arms: list[NextArm] = []
        self._rng = random.Random(f"ticklake-emulator-faults:{emu.config.seed}")

    def refusing(self) -> bool:
        return time.monotonic() < self.refuse_until

    def inject(
        self, kind: FaultKind | str, target: str, seconds: float | None, count: int
    ) -> int:
        fault = parse_kind(kind)
        check_numbers(seconds, count)
        aim = parse_target(str(target))
        traded = self.emu.config.symbols
        named_symbol = isinstance(aim, str) and aim not in ("all", "next", "random")
        if named_symbol and not (
            (fault is FaultKind.SEQUENCE_JUMP and aim in traded)
            or (fault in BOOK_KINDS and aim in self.emu.products)
        ):
            msg = f"invalid fault target {target!r}"
            raise ValueError(msg)
        self.injected[fault] += 1
        if seconds is None:
            seconds = DEFAULT_SECONDS.get(fault)
        if fault is FaultKind.REFUSE:
            self.refuse_until = max(self.refuse_until, time.monotonic() + (seconds or 0.0))
            live = self._live()
            for client in live:
                client.abort()
            return len(live)
        if fault is FaultKind.SEQUENCE_JUMP:
            symbols = [aim] if isinstance(aim, str) and aim in traded else list(traded)
            market = self.emu.market
            if market is not None:
                for symbol in symbols:
                    market.jump_sequence(symbol, count * SEQUENCE_JUMP + self._rng.randrange(1000))
            return len(symbols)
        assert fault not in GLOBAL_KINDS
        if aim == "next":
            self._next_arms.append(NextArm(fault, seconds, count))
            return count
        live = self._live()
        if named_symbol:  # a book fault on every connection watching that symbol's book
            watching = [c for c in live if any(s == aim for _, s in c.books)]
            for client in watching:
                client.plan.book.append(BookArm(fault, str(aim), count))
            return len(watching)
        if aim == "random":
            targets = [self._rng.choice(live)] if live else []
        elif isinstance(aim, int):
            targets = [c for c in live if c.id == aim]
        else:
            targets = live
        for client in targets:
            self.apply(client, fault, seconds, count)
        return len(targets)

    def _live(self) -> list[Client]:
        return [c for c in self.emu.clients.values() if not c.closing]

    def arm_new_connection(self, client: Client) -> None:
        """Hand faults armed with target "next" to a new connection."""
        for arm in self._next_arms:
            arm.remaining -= 1
            if arm.kind is FaultKind.ERROR_REPLY:
                client.plan.error_replies += 1
            elif arm.kind in BOOK_KINDS:
                client.plan.book.append(BookArm(arm.kind, None, 1))
            elif arm.kind in ON_FIRST_DATA:
                client.plan.on_first_data.append((arm.kind, arm.seconds))
            else:
                client.plan.on_first_ack.append((arm.kind, arm.seconds))
        self._next_arms = [a for a in self._next_arms if a.remaining > 0]

    def apply(self, client: Client, fault: FaultKind, seconds: float | None, count: int) -> None:
        plan = client.plan
        if fault in (FaultKind.CLOSE, FaultKind.SERVER_DROP):
            client.abort()
        elif fault is FaultKind.STALL:
            plan.stall(time.monotonic(), seconds)
        elif fault is FaultKind.PONG_DELAY:
            plan.pong_delay_s = seconds if seconds is not None else 0.0
            plan.pong_delay_count += count
        elif fault is FaultKind.PONG_DROP:
            plan.pong_drop_count += count
        elif fault is FaultKind.ERROR_REPLY:
            plan.error_replies += count
        elif fault is FaultKind.GARBAGE:
            symbol = next(iter(client.subscriptions), ("", self.emu.config.symbols[0]))[1]
            for frame in garbage_frames(self._rng, count, symbol):
                self.emu.send(client, frame)
        elif fault in BOOK_KINDS:
            plan.book.append(BookArm(fault, None, count))
        elif fault is FaultKind.TICKER_MALFORMED:
            plan.ticker_malformed += count
        elif fault is FaultKind.KLINE_MALFORMED:
            plan.kline_malformed += count
        elif fault is FaultKind.DUPLICATE:
            if client.last_data is None:
                plan.pending_duplicates += count
            else:
                for _ in range(count):
                    self.emu.send(client, client.last_data)

    async def run_schedule(self, started_at: float) -> None:
        """Scheduled faults (config.fault_schedule, fault_every/fault_kinds) on "all"."""
        cfg = self.emu.config
        events = sorted(cfg.fault_schedule)
        kinds = cfg.scheduled_kinds()
        next_every = cfg.fault_every if cfg.fault_every > 0 else None
        while events or next_every is not None:
            elapsed = time.monotonic() - started_at
            due = [t for t in (events[0][0] if events else None, next_every) if t is not None]
            await asyncio.sleep(max(0.0, min(due) - elapsed))
            elapsed = time.monotonic() - started_at
            while events and events[0][0] <= elapsed:
                _, kind = events.pop(0)
                self.inject(kind, "all", cfg.fault_seconds, 1)
            if next_every is not None and next_every <= elapsed:
                self.inject(self._rng.choice(kinds), "all", cfg.fault_seconds, 1)
                next_every += cfg.fault_every
