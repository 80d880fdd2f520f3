"""Support for the peer tests: peer libraries in child processes, the emulator's true books.

:func:`watch_books` starts an emulator on 127.0.0.1 (a free port) serving one symbol, one
child process per peer (``peer_client.py``: each writes every book state its library hands
its user), lets the market run until every peer's connection was sent a periodic snapshot and
incrementals after it, halts the market (the books stand still) and waits until every peer
agrees with the emulator's book. The children are killed by their own PIDs, always.

Waits are conditions with deadlines scaled by TICKLAKE_TEST_TIMEOUT_FACTOR, never sleeps.
"""

from __future__ import annotations

import bisect
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ticklake.emulator import Emulator, EmulatorConfig

from ..reliability.common import TruthBooks, truth_books
from ..support import wait_until

PEER_CLIENT = Path(__file__).with_name("peer_client.py")
DEPTH = 30  # cryptofeed and ccxt both subscribe with [symbol]: Phemex's depth-30 book
SNAPSHOT_EVERY = 1.0  # the emulator's periodic book snapshot (Phemex: ~60 s), seconds
MORE_FRAMES = 100  # book messages to each peer after its periodic snapshot (~2 s of 20 ms batches)

Side = dict[Decimal, Decimal]  # price -> size, exact
Book = tuple[Side, Side]  # (bids, asks)


def best(side: Side, depth: int, descending: bool) -> Side:
    return dict(sorted(side.items(), reverse=descending)[:depth])


@dataclass(frozen=True)
class PeerState:
    """One book state a peer handed its user: every level it holds, and when it stands."""

    ts: float | int | None  # the peer's time of its last applied message (see peer_client)
    nonce: int | None  # that message's sequence, if the peer exposes it
    snapshot: bool | None  # the state came from a snapshot message (None: not exposed)
    bids: Side
    asks: Side

    def top(self, depth: int = DEPTH) -> Book:
        return best(self.bids, depth, True), best(self.asks, depth, False)

    def sizes_scaled(self, exp: int) -> PeerState:
        """The same state with every size divided by 10**exp (exact)."""
        return PeerState(self.ts, self.nonce, self.snapshot,
                         {p: q.scaleb(-exp) for p, q in self.bids.items()},
                         {p: q.scaleb(-exp) for p, q in self.asks.items()})


def _side(rows: list[list[str]]) -> Side:
    return {Decimal(price): Decimal(size) for price, size in rows}


class Peer:
    """A peer library in a child process; its book states are read from the file it writes."""

    def __init__(self, name: str, mode: str, url: str, symbol: str, directory: Path) -> None:
        self.label = f"{name}+{mode}" if mode else name
        self.out = directory / f"{name}{'-' + mode if mode else ''}-{symbol}.jsonl"
        self.log = self.out.with_suffix(".log")
        self.states: list[PeerState] = []
        self._offset = 0
        self._partial = b""
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(PEER_CLIENT), name, url, symbol, str(self.out), mode],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

    def poll(self) -> list[PeerState]:
        """Every state written so far; AssertionError if the child died."""
        self.read()
        code = self.proc.poll()
        if code is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            msg = f"{self.label} exited with {code}:\n{tail}"
            raise AssertionError(msg)
        return self.states

    def read(self) -> list[PeerState]:
        """Every state written so far (complete lines)."""
        if self.out.exists():
            with self.out.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            self._offset += len(chunk)
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            for line in lines:
                r = json.loads(line)
                self.states.append(PeerState(r["ts"], r["nonce"], r["snapshot"],
                                             _side(r["bids"]), _side(r["asks"])))
        return self.states

    @property
    def latest(self) -> PeerState | None:
        return self.states[-1] if self.states else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # by its own PID
        self.proc.wait(timeout=30)


class TruthClock:
    """The emulator's book truth of one symbol (``<truth>.books.jsonl``), at a peer's instant.

    A peer's state stands at its last applied message; the true book then is every truth
    record up to that message: by sequence (records carry their step's sequence; a message's
    is the step's or, for a snapshot of a step that changed nothing, a later trade's) or by
    time (records carry their step's ``ts_ns``, which every message of the step carries too).
    """

    def __init__(self, truth_path: Path, symbol: str) -> None:
        books = truth_path.with_name(f"{truth_path.stem}.books.jsonl")
        self.symbol = symbol
        self.books: TruthBooks = truth_books(books)
        records = [json.loads(line) for line in books.read_text().splitlines() if line]
        steps = [(r["sequence"], r["ts_ns"]) for r in records if r.get("book") == symbol]
        assert steps, f"no book truth for {symbol}"
        self._sequences = [s for s, _ in steps]
        self._ts = [t for _, t in steps]
        for column in (self._sequences, self._ts):  # bisect needs both in order
            assert all(a <= b for a, b in itertools.pairwise(column)), "truth out of order"
        # cryptofeed's OrderBook.timestamp is ``msg['timestamp'] / 1_000_000_000.0``.
        self._by_float = {t / 1_000_000_000.0: t for t in self._ts}

    def ts_of_sequence(self, sequence: int) -> int:
        """The instant of the last truth record with a sequence <= ``sequence``."""
        i = bisect.bisect_right(self._sequences, sequence)
        assert i > 0, f"sequence {sequence} is before the truth of {self.symbol}"
        return self._ts[i - 1]

    def ts_of_seconds(self, seconds: float) -> int:
        """The ns instant behind a float of seconds: a truth record's if one rounds to it
        exactly, else the float's own value (no record lies within a microsecond of it:
        records are a batch period, 20 ms, apart)."""
        exact = self._by_float.get(seconds)
        return exact if exact is not None else int(Decimal(seconds).scaleb(9))

    def book(self, ts_ns: int, depth: int = DEPTH) -> Book:
        return self.books.book_at(self.symbol, ts_ns, depth)


def exact_book(emulator: Emulator, symbol: str, depth: int = DEPTH) -> Book:
    """The emulator's book now, best ``depth`` levels, in exact decimals."""
    product = emulator.products[symbol]
    bids, asks = emulator.fanout.books[symbol].top(depth)

    def exact(levels: dict[int, int]) -> Side:
        return {Decimal(product.price_str(px * product.tick_units)):
                Decimal(product.qty_str(qty)) for px, qty in levels.items()}

    return exact(bids), exact(asks)


def book_diff(peer: Book, truth: Book) -> str:
    """What differs, side by side (for assertion messages)."""
    out = []
    for name, mine, true in (("bids", peer[0], truth[0]), ("asks", peer[1], truth[1])):
        extra = {p: q for p, q in mine.items() if true.get(p) != q}
        missing = {p: q for p, q in true.items() if mine.get(p) != q}
        if extra or missing:
            out.append(f"{name}: peer has {_fmt(extra)}; truth has {_fmt(missing)}")
    return "; ".join(out) or "equal"


def _fmt(side: Side) -> str:
    return "{" + ", ".join(f"{p}: {q}" for p, q in sorted(side.items())) + "}"


@dataclass
class BookRun:
    """What :func:`watch_books` saw: each peer's states, the truth, the halted book."""

    symbol: str
    peers: dict[str, Peer]
    truth: TruthClock
    final: Book  # the emulator's book (best DEPTH) after the halt
    before_halt: dict[str, int]  # states each peer had handed its user when the market halted
    settle_s: dict[str, float]  # halt → the peer agreed with the halted book
    run_s: float  # subscribe → halt
    frames: dict[int, int] = field(default_factory=dict)  # frames sent, by connection id


Agrees = Callable[[str, PeerState, Book], bool]  # (peer label, its latest state, true book)


async def watch_books(directory: Path, symbol: str, specs: Sequence[tuple[str, str]],
                      agrees: Agrees) -> BookRun:
    """Run ``specs`` ((peer, mode) pairs) against one emulator serving ``symbol``."""
    truth_path = directory / "truth.jsonl"
    config = EmulatorConfig(symbols=(symbol,), truth_path=str(truth_path),
                            book_snapshot_interval=SNAPSHOT_EVERY)
    peers: dict[str, Peer] = {}
    try:
        async with Emulator(config) as emu:
            for name, mode in specs:
                peer = Peer(name, mode, emu.url, symbol, directory)
                peers[peer.label] = peer
            slot = (emu.products[symbol].book_channel, symbol)

            def watching() -> dict[int, Any]:
                return {c.id: c for c in emu.clients.values() if slot in c.books}

            # Imports, the products call, connect, subscribe, the snapshot applied.
            await wait_until(lambda: all(p.poll() for p in peers.values()), 60,
                             f"every peer's first {symbol} book")
            t_subscribed = time.monotonic()
            clients = watching()
            assert len(clients) == len(peers), "one book connection per peer"
            assert {c.books[slot].depth for c in clients.values()} == {DEPTH}
            # The market runs: each connection is sent a periodic snapshot, then incrementals.
            first = {cid: c.books[slot].last_snapshot for cid, c in clients.items()}

            def poll_all() -> None:  # a child that died fails the wait at once
                for p in peers.values():
                    p.poll()

            def snapshot_sent() -> bool:
                poll_all()
                return all(slot in c.books and c.books[slot].last_snapshot > first[cid]
                           for cid, c in clients.items())

            await wait_until(snapshot_sent, 10 + 4 * SNAPSHOT_EVERY,
                             "a periodic snapshot to every peer")
            sent = {cid: c.frames_sent for cid, c in clients.items()}

            def more_sent() -> bool:
                poll_all()
                return all(c.frames_sent >= sent[cid] + MORE_FRAMES for cid, c in clients.items())

            await wait_until(more_sent, 20, "book messages after the periodic snapshot")
            before_halt = {label: len(p.poll()) for label, p in peers.items()}
            emu.halt()  # the books stand still from here
            t_halt = time.monotonic()
            frames = {cid: c.frames_sent for cid, c in clients.items()}
            final = exact_book(emu, symbol)
            settle: dict[str, float] = {}

            def all_agree() -> bool:
                for label, p in peers.items():
                    state = p.poll()[-1]
                    if label not in settle and agrees(label, state, final):
                        settle[label] = time.monotonic() - t_halt
                return len(settle) == len(peers)

            try:
                await wait_until(all_agree, 20, f"every peer's {symbol} book to settle")
            except AssertionError as exc:
                latest = {label: p.latest for label, p in peers.items() if label not in settle}
                detail = "\n".join(f"{label}: {book_diff(s.top(), final) if s else 'no book'}"
                                   for label, s in latest.items())
                msg = f"{exc}\n{detail}"
                raise AssertionError(msg) from None
            run_s = t_halt - t_subscribed
    finally:
        for peer in peers.values():
            peer.stop()
    for peer in peers.values():
        peer.read()  # the lines written before the kill, too
    return BookRun(symbol, peers, TruthClock(truth_path, symbol), final, before_halt, settle,
                   run_s, frames)
