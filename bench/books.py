"""Order books (issue 17): throughput beside cryptofeed, CPU at Phemex's real rates over every
listed symbol, bytes per book update, and ``book_at`` / ``book_top`` over a day-sized lake.

Usage: python bench/books.py [--quick] [--parts throughput,realrate,storage,query]
                             [--repeat 3] [--out bench/results/books.json]

Every speed is a ratio against a baseline run in the same run (cryptofeed on the same stream;
a plain scan of ``book_updates`` for the same instant), never an absolute threshold.

The book stream. Neither ``bench/blast_server.py`` (trades only) nor the live emulator (~51 µs
of Python per book message: 364 symbols at 50 msgs/s would take a whole core, more than the
recorder it feeds) can send books at these rates, so this script makes its own: the emulator's
own :class:`~ticklake.emulator.book.BookSim` (moved by its :class:`~ticklake.emulator.Market`'s
touch every 20 ms) seen through a depth-30 :class:`~ticklake.emulator.book.BookView` (levels
pushed out of the top 30 are not deleted on the wire: the client trims, §6.1), encoded by the
emulator's own encoder (``book`` integer levels for COIN-M and spot, ``orderbook_p`` decimal
strings for USDⓈ-M). A *tile* of K steps is generated once per symbol and repeated forward in
time and sequence: its last message is an incremental taking the book back to the tile's first
state (so every repetition is a consistent book), and every so often that state is also sent as
a ``snapshot`` with the sequence and timestamp of the incremental before it, as Phemex's ~60 s
"self-verification" snapshots are. The server (``--serve``) speaks the protocol: products REST
(the emulator's ``basic`` payload, or its ``exchange`` catalog: 364 listed symbols), HTTP
upgrade on ``/`` and ``/ws``, ``orderbook(_p).subscribe`` → ack + snapshot, ``server.ping``,
protocol pings, close (``blast_server._Conn`` does the framing). Two modes:

* ``blast``: N pre-framed messages, written as fast as the socket takes once every symbol of
  the stream is subscribed (throughput);
* ``paced``: every subscribed symbol's next message every 20 ms, the real rate (~50
  msgs/s/symbol; a step that changes nothing in the top 30 sends nothing, as on Phemex).

Parts:

* ``throughput``: a blast stream (BTCUSD, COIN-M: cryptofeed reads no ``orderbook_p``), clients
  in subprocesses pinned to one core (the server on the other), ``--repeat`` rounds of every
  client in turn, the median run per client, ticklake's ratio to cryptofeed per round too.
  ``bare_picows`` counts frames (the floor); ``cryptofeed`` is its Phemex feed with L2_BOOK and
  a no-op callback (its book: Decimal levels in an ``order_book`` C SortedDict, no trimming);
  ``ticklake`` is ``build_recording`` + ``Recording.run`` with ``channels=("book",)``, depth 30,
  into a spool and a lake, as ``ticklake record --channels book`` does: its spool clock stops
  when every frame is in the spool, its lake clock after the drain on stop (the lake writer
  process, on the same core), and the lake is checked (one ``book_updates`` message per frame,
  no gap, no rejection). Book updates = book messages; level rows = levels on the wire.
* ``realrate``: ``ticklake record --symbols all:coin-m,all:usd-m,all:spot --channels book
  --book-depth 30 --shard i/4`` x 4 processes (364 symbols do not fit one recorder's 5 x 20
  subscriptions; 4 shards of 82-99 symbols do) against a paced server of the exchange catalog;
  CPU (user+sys) of the recorders and their children, sampled with psutil: the steady window
  (socket processes, the lake writers idle between publishes) and all-in (everything each
  process used from start to exit, the drain of the lake included, over the recording time).
* ``storage``: bytes per book update (per level row and per message) in ``book_updates`` and
  ``book_snapshots`` (Parquet, zstd): the recorder's own files from the throughput run, and
  5-minute publish files of the day lake below.
* ``query``: a lake of one day of one symbol's depth-30 book at ~50 msgs/s, 4.3M messages:
  tables made by the lake writer's own ``Batch`` (replay decoder, book rebuild, trims,
  ``book_snapshots`` every 1 s) over two generated 5-minute tiles, repeated for the day (one
  ``book_updates`` and one ``book_snapshots`` file per 5-minute publish, ``parquet_options``:
  the writer's bytes), manifest built. ``book_at`` at random instants, in fresh processes
  (cold) and in one process (warm), median and p95, against the same question answered from
  ``book_updates`` alone (from the start of the day to the instant: what a lake without
  ``book_snapshots`` must read); the answers are compared. ``book_top`` for 1 hour at 1 s.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from clients import cpu_now, median_run, peak_rss_mb, run_client  # noqa: E402

STEP_NS = 20_000_000  # Phemex's depth-30 incrementals: ~20 ms
DEPTH = 30
STD = {"BTCUSD": "BTC-USD-PERP", "ETHUSD": "ETH-USD-PERP"}
CLIENTS = ("bare_picows", "cryptofeed", "ticklake")
SEQ_MARK, TS_MARK = 777777777777777771, 888888888888888881  # placeholders in templates
# Message times are t0 + PHASE_NS + j * 20 ms: Phemex's ns timestamps never fall on a whole
# second. (One on a whole second makes the lake writer skip that second's book_snapshots row:
# book_replay sets the next cut to last_ts // every + 1 multiples, past a message exactly on
# a multiple; with t0 on a second, 49 of 50 cadence snapshots went missing.)
PHASE_NS = 1_234_567






def pin(cpu: int) -> None:
    """Run this process (and the children it starts) on one CPU, if there are two."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ------------------------------------------------------------------------------- the stream


def template(text: str) -> str:
    """A message with its sequence and timestamp as %d (no other % in these messages)."""
    assert "%" not in text
    return text.replace(str(SEQ_MARK), "%d").replace(str(TS_MARK), "%d")


@dataclass
class Tile:
    """One symbol's K steps: ``steps[j]`` (1..K) is the template of the message of step j
    (None: nothing changed in the top 30) and its sequence relative to the tile's start; step
    K takes the book back to the first state, which ``snapshot`` is (a template)."""

    symbol: str
    k: int
    snapshot: str
    seq0: int  # absolute sequence of the first state (the subscribe snapshot's)
    span: int  # sequence advance per tile
    steps: list[tuple[str, int, int] | None]  # index j: (template, rel seq, levels)
    snapshot_levels: int
    mid_snapshots: dict[int, tuple[str, int]] = field(default_factory=dict)  # j -> (tpl, lv)

    @property
    def messages(self) -> int:
        return sum(1 for s in self.steps if s is not None) + len(self.mid_snapshots)


def _levels(bids: dict[int, int], asks: dict[int, int]) -> int:
    return len(bids) + len(asks)


def make_tiles(symbols: list[str], products: dict[str, Any], k: int, seed: int = 7,
               start_ns: int = 1_790_000_000_000_000_000, snap_every: int = 0,
               rate: float = 2.0) -> dict[str, Tile]:
    """Generate each symbol's tile with the emulator's market, book and depth-30 view."""
    from ticklake.emulator import Market
    from ticklake.emulator.book import BookSim, BookView

    market = Market(symbols, seed=seed, rate=rate, start_ns=start_ns, products=products)
    market.prefill(10)
    books = {s: BookSim(products[s], seed, market.touch(s)) for s in symbols}
    views = {s: BookView(products[s], DEPTH) for s in symbols}
    tiles: dict[str, Tile] = {}
    init: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
    for s in symbols:
        seq0 = market.sequence(s)
        views[s].snapshot(books[s], seq0, start_ns, 0.0, None)
        bids, asks = dict(views[s].bids), dict(views[s].asks)
        init[s] = (bids, asks)
        text = views[s].encode("snapshot", bids, asks, SEQ_MARK, TS_MARK, None)
        tiles[s] = Tile(s, k, template(text), seq0, 0, [None] * (k + 1), _levels(bids, asks))
    now = start_ns
    for j in range(1, k):
        now += STEP_NS
        market.advance(now)
        for s in symbols:
            book, view, tile = books[s], views[s], tiles[s]
            if book.step(market.touch(s)):
                market.jump_sequence(s, 1)  # a book update consumes a sequence number
            seq = market.sequence(s)
            bids, asks = view.advance(book, seq, now)
            if bids or asks:
                text = view.encode("incremental", bids, asks, SEQ_MARK, TS_MARK, None)
                tile.steps[j] = (template(text), seq - tile.seq0, _levels(bids, asks))
            if snap_every and j % snap_every == 0:
                text = view.encode("snapshot", view.bids, view.asks, SEQ_MARK, TS_MARK, None)
                tile.mid_snapshots[j] = (template(text), _levels(view.bids, view.asks))
    for s in symbols:  # step K: back to the first state, in one incremental
        view, tile = views[s], tiles[s]
        want_bids, want_asks = init[s]
        bids = _back(view.bids, want_bids)
        asks = _back(view.asks, want_asks)
        market.jump_sequence(s, 1)
        seq = market.sequence(s)
        text = view.encode("incremental", bids, asks, SEQ_MARK, TS_MARK, None)
        tile.steps[k] = (template(text), seq - tile.seq0, _levels(bids, asks))
        tile.span = seq - tile.seq0 + 1
    return tiles


def _back(held: dict[int, int], want: dict[int, int]) -> dict[int, int]:
    out = {px: 0 for px in held if px not in want}
    out.update({px: q for px, q in want.items() if held.get(px) != q})
    return out


def tile_messages(tile: Tile, index: int, t0_ns: int, closing_snapshot: bool):  # type: ignore[no-untyped-def]
    """(j, text, levels, snapshot?) of repetition ``index``; step j at t0 + j * 20 ms."""
    base_seq = tile.seq0 + index * tile.span
    last_seq = base_seq
    for j in range(1, tile.k + 1):
        step = tile.steps[j]
        ts = t0_ns + j * STEP_NS
        if step is not None:
            tpl, rel, levels = step
            yield j, tpl % (base_seq + rel, ts), levels, False
            last_seq = base_seq + rel
        mid = tile.mid_snapshots.get(j)
        if mid is not None and step is not None:
            yield j, mid[0] % (last_seq, ts), mid[1], True
    if closing_snapshot:
        yield tile.k, tile.snapshot % (last_seq, t0_ns + tile.k * STEP_NS), \
            tile.snapshot_levels, True


# ------------------------------------------------------------------------------- the server


class BlastBooks:
    """A pre-framed blast stream of book messages (``BlastServer``'s stream interface)."""

    def __init__(self, symbols: list[str], messages: int, k: int = 3000,
                 snapshot_tiles: int = 1) -> None:
        from blast_stream import ws_frame

        from ticklake.emulator.products import PRODUCTS

        tiles = make_tiles(symbols, dict(PRODUCTS), k)
        start = 1_790_000_000_000_000_000 + PHASE_NS
        out = bytearray()
        self.ends: list[int] = []
        made = levels = snaps = 0
        index = 0
        gens = {}
        while made < messages:
            t0 = start + index * k * STEP_NS
            gens = {s: tile_messages(tiles[s], index, t0, (index + 1) % snapshot_tiles == 0)
                    for s in symbols}
            # interleave the symbols step by step (timestamps rise across the stream)
            pending = {s: next(g, None) for s, g in gens.items()}
            while made < messages and any(v is not None for v in pending.values()):
                s = min((s for s in pending if pending[s] is not None),
                        key=lambda s: pending[s][0])  # type: ignore[index]
                _, text, lv, snap = pending[s]  # type: ignore[misc]
                out += ws_frame(text.encode())
                self.ends.append(len(out))
                made += 1
                levels += lv
                snaps += snap
                pending[s] = next(gens[s], None)
            index += 1
        self.data = bytes(out)
        self.snapshots = {s: tiles[s].snapshot % (tiles[s].seq0, start) for s in symbols}
        self.info: dict[str, Any] = {
            "mode": "blast", "symbols": symbols, "messages": made, "frames": made,
            "levels": levels, "periodic_snapshots": snaps, "bytes": len(out),
            "tile_steps": k, "subscribe_snapshot_levels": {
                s: tiles[s].snapshot_levels for s in symbols},
        }


class PacedBooks:
    """Every subscribed symbol's next message every 20 ms, each symbol at its own phase in
    the 20 ms and each message its own write (as an exchange's books, which do not tick
    together, arrive: mostly one message per read). ``batched``: instead, every symbol of a
    connection in one write per 20 ms (fewer reads: cheaper for the reader, not realistic)."""

    def __init__(self, symbols: list[str], products: dict[str, Any], k: int,
                 snapshot_tiles: int, batched: bool = False) -> None:
        self.tiles = make_tiles(symbols, products, k)
        self.k = k
        self.snapshot_tiles = snapshot_tiles
        self.batched = batched
        self.snapshots: dict[str, str] = {}
        self.info: dict[str, Any] = {"mode": "paced", "batched": batched,
                                     "symbols": len(symbols), "tile_steps": k,
                                     "sent_messages": 0, "sent_levels": 0, "writes": 0,
                                     "late_messages": 0, "subscriptions": 0}
        self.due: list[tuple[float, int, list[Any]]] = []  # (due, n, [conn, symbol, cursor])
        self._n = 0

    def subscribe_text(self, symbol: str) -> str:
        tile = self.tiles[symbol]
        return tile.snapshot % (tile.seq0, time.time_ns())

    def add(self, conn: Any, symbol: str) -> None:
        import heapq

        loop = asyncio.get_running_loop()
        period = STEP_NS / 1e9
        if self.batched:  # on the 20 ms grid
            first = (int(loop.time() / period) + 1) * period
        else:  # its own phase
            first = loop.time() + period * random.Random(symbol).random()
        self._n += 1
        heapq.heappush(self.due, (first, self._n, [conn, symbol, 0]))
        self.info["subscriptions"] += 1

    def _message(self, sub: list[Any], now_ns: int) -> list[bytes]:
        from blast_stream import ws_frame

        _, symbol, cursor = sub
        cursor += 1
        sub[2] = cursor
        tile = self.tiles[symbol]
        index, j = divmod(cursor - 1, self.k)
        j += 1
        step = tile.steps[j]
        if step is None:
            return []
        tpl, rel, levels = step
        seq = tile.seq0 + index * tile.span + rel
        info = self.info
        frames = [ws_frame((tpl % (seq, now_ns)).encode())]
        info["sent_messages"] += 1
        info["sent_levels"] += levels
        if j == self.k and (index + 1) % self.snapshot_tiles == 0:
            frames.append(ws_frame((tile.snapshot % (seq, now_ns)).encode()))
            info["sent_messages"] += 1
            info["sent_levels"] += tile.snapshot_levels
        return frames

    async def run(self) -> None:
        import heapq

        loop = asyncio.get_running_loop()
        period = STEP_NS / 1e9
        info = self.info
        due = self.due
        while True:
            if not due:
                await asyncio.sleep(period)
                continue
            delay = due[0][0] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            now_ns = time.time_ns()
            out: dict[Any, list[bytes]] = {}
            while due and due[0][0] <= now:
                when, n, sub = heapq.heappop(due)
                if sub[0].closed:
                    continue
                if when < now - period:
                    info["late_messages"] += 1
                frames = self._message(sub, now_ns)
                if self.batched:
                    out.setdefault(sub[0], []).extend(frames)
                elif frames:
                    sub[0]._write(b"".join(frames))
                    info["writes"] += 1
                nxt = when + period
                heapq.heappush(due, (max(nxt, now - 5 * period), n, sub))
            for conn, frames in out.items():
                if frames:
                    conn._write(b"".join(frames))
                    info["writes"] += 1


def make_conn_class():  # type: ignore[no-untyped-def]
    import blast_server

    from ticklake.emulator.book import parse_book_params
    from ticklake.emulator.frames import INVALID_ARGUMENT, ack, error_reply, pong

    class BookConn(blast_server._Conn):  # type: ignore[misc,name-defined]
        def _request(self, payload: bytes) -> None:
            from blast_stream import ws_frame

            try:
                request = json.loads(payload)
                rid, method, params = request["id"], request["method"], request.get("params", [])
            except (ValueError, KeyError, TypeError):
                self._write(ws_frame(error_reply(None, INVALID_ARGUMENT, "invalid").encode()))
                return
            stream = self.server.stream
            if method == "server.ping":
                self._write(ws_frame(pong(rid).encode()))
                return
            if method in ("orderbook.unsubscribe", "orderbook_p.unsubscribe"):
                self._write(ws_frame(ack(rid).encode()))
                return
            parsed = parse_book_params(params)
            products = self.server.products
            if (method not in ("orderbook.subscribe", "orderbook_p.subscribe") or parsed is None
                    or parsed[0] not in products or parsed[1] != DEPTH
                    or products[parsed[0]].book_channel != method.split(".")[0]):
                self._write(ws_frame(error_reply(rid, INVALID_ARGUMENT, "invalid").encode()))
                return
            symbol = parsed[0]
            self._write(ws_frame(ack(rid).encode()))
            if isinstance(stream, PacedBooks):
                if symbol not in stream.tiles:
                    return
                self._write(ws_frame(stream.subscribe_text(symbol).encode()))
                stream.add(self, symbol)
                return
            self._write(ws_frame(stream.snapshots[symbol].encode()))
            self.subscribed.add(symbol)
            if not self.blasting and set(stream.snapshots) <= self.subscribed:
                self.blasting = True
                self.server.spawn(self._blast())

    return BookConn


def serve(args: argparse.Namespace) -> None:
    import blast_server

    from ticklake.emulator.catalog import listed_symbols, subscribable_products
    from ticklake.emulator.catalog_payload import payload
    from ticklake.emulator.products import PRODUCTS

    pin(0)
    started = time.monotonic()
    stream: Any
    if args.serve == "blast":
        products = dict(PRODUCTS)
        stream = BlastBooks(args.symbols.split(","), args.messages)
    else:
        products = subscribable_products("exchange")
        symbols = list(listed_symbols("exchange")) if args.symbols == "all" \
            else args.symbols.split(",")
        stream = PacedBooks(symbols, products, args.tile_steps, args.snapshot_tiles,
                            args.batched)
        body = payload("exchange")
        blast_server.products_payload = lambda: body  # the catalog's products REST
    conn_class = make_conn_class()

    class Server(blast_server.BlastServer):  # type: ignore[misc]
        async def start(self) -> None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(lambda: conn_class(self), self.host,
                                                    self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def main() -> None:
        server = Server(stream)
        server.products = products
        await server.start()
        if isinstance(stream, PacedBooks):
            server.spawn(stream.run())
        info = {k: v for k, v in stream.info.items()}
        print(json.dumps({"url": server.url, "load_s": round(time.monotonic() - started, 2),
                          **info}), flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def start_server(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        msg = "book server did not start"
        raise RuntimeError(msg)
    return proc, json.loads(line)


def server_info(url: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(urllib.request.urlopen(
        url.replace("ws://", "http://") + "blast/info", timeout=10).read())
    return info


# ------------------------------------------------------------------------------- clients


class Clock:
    def __init__(self) -> None:
        self.t0 = self.t1 = self.cpu0 = 0.0

    def tick(self) -> None:
        if not self.t0:
            self.t0, self.cpu0 = time.perf_counter(), cpu_now()
        self.t1 = time.perf_counter()


def subscribe_msgs(symbols: list[str]) -> list[str]:
    return [json.dumps({"id": i + 1, "method": "orderbook.subscribe", "params": [s]})
            for i, s in enumerate(symbols)]


async def run_bare_picows(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    done = asyncio.get_running_loop().create_future()
    nsym = len(info["symbols"])
    want = info["messages"] + nsym
    count = [0]

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            for text in subscribe_msgs(info["symbols"]):
                transport.send(WSMsgType.TEXT, text.encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if b'"depth"' in frame.get_payload_as_bytes():
                count[0] += 1
                if count[0] > nsym:
                    clock.tick()
                if count[0] >= want and not done.done():
                    done.set_result(None)

    transport, _ = await ws_connect(Listener, url, websocket_handshake_timeout=30,
                                    max_frame_size=2**24)
    await done
    transport.disconnect()
    return {"messages": count[0] - nsym}


def run_cryptofeed(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from clients import point_cryptofeed_at
    from cryptofeed import FeedHandler
    from cryptofeed.defines import L2_BOOK
    from cryptofeed.exchanges import Phemex

    point_cryptofeed_at(url)
    nsym = len(info["symbols"])
    want = info["messages"] + nsym
    count = [0]
    stop: dict[str, Any] = {}
    depth_seen = [0]

    async def on_book(book: Any, receipt_timestamp: float) -> None:
        count[0] += 1
        if count[0] > nsym:
            clock.tick()
        if count[0] >= want and "done" not in stop:
            stop["done"] = True
            depth_seen[0] = len(book.book.bids) + len(book.book.asks)
            stop["fut"].set_result(None)

    fh = FeedHandler(config={"log": {"disabled": True}, "uvloop": True})
    fh.add_feed(Phemex(symbols=[STD[s] for s in info["symbols"]], channels=[L2_BOOK],
                       callbacks={L2_BOOK: on_book}))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stop["fut"] = loop.create_future()
    fh.run(start_loop=False, install_signal_handlers=False)
    loop.run_until_complete(asyncio.wait_for(stop["fut"], 900))
    return {"messages": count[0] - nsym, "levels_held_at_end": depth_seen[0],
            "note": "no-op async callback; cryptofeed keeps every level (no depth-30 trim)"}


async def run_ticklake(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from ticklake.config import FeedSettings, LakeSettings
    from ticklake.pipeline import build_recording

    tmp = Path(tempfile.mkdtemp(prefix="tl-books-"))
    feed = FeedSettings(url=url, symbols=tuple(info["symbols"]), products_url="auto",
                        channels=("book",), book_depth=DEPTH)
    lake = LakeSettings(root=str(tmp / "lake"), spool=str(tmp / "spool"))
    recording = await build_recording(feed, None, lake)
    status = recording.status
    nsym = len(info["symbols"])
    head = 2 * nsym  # an ack and the subscribe snapshot per symbol
    want = info["messages"] + head
    task = asyncio.create_task(recording.run())
    while (frames := status().totals.frames) < want:
        if frames > head:
            clock.tick()
        if task.done():
            task.result()
            break
        await asyncio.sleep(0.002)
    clock.tick()
    frames = status().totals.frames
    spool_cpu = cpu_now() - clock.cpu0
    stop_at = time.perf_counter()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    lake_done = time.perf_counter()
    return {"messages": frames - head, "spool_cpu_s": spool_cpu,
            "lake_done_s": lake_done - clock.t0, "drain_after_ingest_s": lake_done - stop_at,
            "tmp": str(tmp)}


def lake_check(root: Path) -> dict[str, Any]:
    """Rows, messages and bytes of the book tables a recorder left."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    out: dict[str, Any] = {}
    for table in ("book_updates", "book_snapshots", "raw", "gaps", "rejected"):
        path = root / table
        files = sorted(path.rglob("*.parquet")) if path.exists() else []
        out[f"{table}_files"] = len(files)
        out[f"{table}_bytes"] = sum(f.stat().st_size for f in files)
        if not files:
            out[f"{table}_rows"] = 0
            continue
        data = ds.dataset([str(f) for f in files], format="parquet")
        if table == "book_updates":
            t = data.to_table(columns=["spool_offset", "action"])
            out["book_updates_rows"] = t.num_rows
            out["book_updates_messages"] = len(pc.unique(t["spool_offset"]))
            actions = pc.value_counts(t["action"].combine_chunks().dictionary_decode())
            out["book_updates_by_action"] = {a["values"]: a["counts"]
                                             for a in actions.to_pylist()}
        elif table == "book_snapshots":
            t = data.to_table(columns=["ts_ns", "through_offset"])
            out["book_snapshots_rows"] = t.num_rows
            out["book_snapshots_books"] = len(pc.unique(t["through_offset"]))
        else:
            out[f"{table}_rows"] = data.count_rows()
    return out


def storage_figures(check: dict[str, Any]) -> dict[str, Any]:
    msgs = max(check.get("book_updates_messages", 0), 1)
    rows = max(check.get("book_updates_rows", 0), 1)
    books = max(check.get("book_snapshots_books", 0), 1)
    raw_rows = max(check.get("raw_rows", 0), 1)
    return {
        "book_updates_bytes_per_row": round(check["book_updates_bytes"] / rows, 2),
        "book_updates_bytes_per_message": round(check["book_updates_bytes"] / msgs, 2),
        "book_snapshots_bytes_per_row": round(
            check["book_snapshots_bytes"] / max(check.get("book_snapshots_rows", 0), 1), 2),
        "book_snapshots_bytes_per_book": round(check["book_snapshots_bytes"] / books, 1),
        "raw_bytes_per_message": round(check["raw_bytes"] / raw_rows, 2),
        "rows_per_message": round(rows / msgs, 2),
    }


def client_main(name: str, url: str) -> None:
    pin(1)
    info = server_info(url)
    clock = Clock()
    if name == "cryptofeed":
        extra = run_cryptofeed(url, info, clock)
    elif name == "bare_picows":
        extra = asyncio.run(run_bare_picows(url, info, clock))
    else:
        extra = asyncio.run(run_ticklake(url, info, clock))
    cpu_used = cpu_now() - clock.cpu0
    elapsed = max(clock.t1 - clock.t0, 1e-9)
    msgs = extra.pop("messages")
    levels = info["levels"] * msgs / max(info["messages"], 1)
    result: dict[str, Any] = {
        "client": name, "messages": msgs, "seconds": round(elapsed, 3),
        "msgs_per_s": round(msgs / elapsed), "levels_per_s": round(levels / elapsed),
        "msgs_per_cpu_s": round(msgs / max(cpu_used, 1e-9)),
        "cpu_us_per_msg": round(cpu_used / max(msgs, 1) * 1e6, 2),
        "peak_rss_mb": peak_rss_mb(),
    }
    if "lake_done_s" in extra:
        spool_cpu = extra.pop("spool_cpu_s")
        lake_s = extra.pop("lake_done_s")
        result["msgs_per_s"] = round(msgs / elapsed)  # to the spool
        result["msgs_per_s_to_lake"] = round(msgs / lake_s)
        result["levels_per_s_to_lake"] = round(levels / lake_s)
        result["spool_cpu_us_per_msg"] = round(spool_cpu / max(msgs, 1) * 1e6, 2)
        result["msgs_per_cpu_s_to_spool"] = round(msgs / max(spool_cpu, 1e-9))
        result["drain_after_ingest_s"] = round(extra.pop("drain_after_ingest_s"), 3)
        tmp = Path(extra.pop("tmp"))
        check = lake_check(tmp / "lake")
        head = len(info["symbols"])  # the subscribe snapshots are messages of the lake too
        check["exact"] = (check.get("book_updates_messages") == msgs + head
                          and check.get("gaps_rows") == 0 and check.get("rejected_rows") == 0)
        result["lake"] = check
        result["storage"] = storage_figures(check)
        shutil.rmtree(tmp, ignore_errors=True)
    result.update(extra)
    print(json.dumps(result))






def part_throughput(symbols: list[str], messages: int, repeat: int,
                    clients: list[str]) -> dict[str, Any]:
    proc, info = start_server("--serve", "blast", "--symbols", ",".join(symbols),
                              "--messages", str(messages))
    try:
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
        for _ in range(repeat):
            for name in clients:
                r = run_client(__file__, name, info["url"], 900)
                runs[name].append(r)
                print(json.dumps({k: v for k, v in r.items() if k not in ("lake", "storage")}),
                      file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()
    results = {c: median_run(runs[c], "messages", "msgs_per_s") for c in clients}
    entry: dict[str, Any] = {
        "symbols": symbols, "stream": {k: info[k] for k in (
            "messages", "levels", "periodic_snapshots", "bytes", "tile_steps")},
        "levels_per_message": round(info["levels"] / info["messages"], 2),
        "bytes_per_message": round(info["bytes"] / info["messages"], 1),
        "results": results,
    }
    ours = results.get("ticklake", {})
    for peer in ("cryptofeed", "bare_picows"):
        peer_r = results.get(peer, {})
        if "msgs_per_s" not in ours or "msgs_per_s" not in peer_r:
            continue
        entry[f"ticklake_vs_{peer}_msgs_per_s"] = round(ours["msgs_per_s"]
                                                        / peer_r["msgs_per_s"], 2)
        entry[f"ticklake_vs_{peer}_msgs_per_s_to_lake"] = round(
            ours["msgs_per_s_to_lake"] / peer_r["msgs_per_s"], 2)
        entry[f"ticklake_vs_{peer}_cpu_per_msg"] = round(
            ours["cpu_us_per_msg"] / peer_r["cpu_us_per_msg"], 2)
        paired = [round(a["msgs_per_s"] / b["msgs_per_s"], 2)
                  for a, b in zip(runs["ticklake"], runs[peer], strict=False)
                  if a.get("msgs_per_s") and b.get("msgs_per_s")]
        paired_lake = [round(a["msgs_per_s_to_lake"] / b["msgs_per_s"], 2)
                       for a, b in zip(runs["ticklake"], runs[peer], strict=False)
                       if a.get("msgs_per_s_to_lake") and b.get("msgs_per_s")]
        if paired:
            entry[f"ticklake_vs_{peer}_by_round"] = paired
            entry[f"ticklake_vs_{peer}_paired_median"] = statistics.median(paired)
            entry[f"ticklake_vs_{peer}_to_lake_by_round"] = paired_lake
            entry[f"ticklake_vs_{peer}_to_lake_paired_median"] = statistics.median(paired_lake)
    return entry


# ------------------------------------------------------------------------------- real rates


def _tree_cpu(proc: Any) -> tuple[float, float]:
    """(CPU s of the recorder process itself, of it + its children living or reaped)."""
    import psutil

    try:
        t = proc.cpu_times()
        own = t.user + t.system
        total = own + t.children_user + t.children_system
        for child in proc.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return own, total
    except psutil.Error:
        return 0.0, 0.0


def run_recorders(url: str, seconds: float, shards: int, tmp: Path,
                  live: Any) -> dict[str, Any]:
    """``ticklake record`` x ``shards`` for ``seconds``; CPU sampled every second (``live()``:
    the sender's counters then), all-in CPU from this process's reaped-children usage."""
    import psutil

    ticklake = str(Path(sys.executable).parent / "ticklake")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    kids_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    recorders = []
    started = time.monotonic()
    for i in range(shards):
        cmd = [ticklake, "record", "--url", url, "--symbols", "all:coin-m,all:usd-m,all:spot",
               "--shard", f"{i}/{shards}", "--channels", "book", "--book-depth", str(DEPTH),
               "--lake", str(tmp / f"lake-{i}"), "--spool", str(tmp / f"spool-{i}"),
               "--duration", str(seconds)]
        recorders.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True, env=env))
    ps = [psutil.Process(p.pid) for p in recorders]
    samples: list[dict[str, Any]] = []
    while time.monotonic() - started < seconds + 0.5:
        cpus = [_tree_cpu(p) for p in ps]
        samples.append({"t": time.monotonic() - started, "own": sum(c[0] for c in cpus),
                        "tree": sum(c[1] for c in cpus), **live()})
        time.sleep(1.0)
    errors = []
    for p in recorders:
        try:
            _, err = p.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        if p.returncode != 0:
            errors.append(err[-1500:])
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    all_in = (kids_after.ru_utime + kids_after.ru_stime
              - kids_before.ru_utime - kids_before.ru_stime)
    checks = [lake_check(tmp / f"lake-{i}") for i in range(shards)]
    return {"samples": samples, "all_in_cpu_s": all_in, "errors": errors, "checks": checks,
            "wall_incl_drain_s": time.monotonic() - started}


def _window(samples: list[dict[str, Any]], seconds: float, subs: int) -> tuple[Any, Any]:
    """The steady window: every symbol subscribed 3 s ago, until 1 s before the end."""
    full = [s for s in samples if s.get("subs", subs) >= subs]
    t_from = (full[0]["t"] + 3.0) if full else seconds / 3
    window = [s for s in samples if t_from <= s["t"] <= seconds - 1.0]
    return window[0], window[-1]


def _recorded(checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "recorded_messages": sum(c.get("book_updates_messages", 0) for c in checks),
        "recorded_level_rows": sum(c.get("book_updates_rows", 0) for c in checks),
        "gaps_rows": sum(c.get("gaps_rows", 0) for c in checks),
        "rejected_rows": sum(c.get("rejected_rows", 0) for c in checks),
        "storage": storage_figures({
            k: sum(c.get(k, 0) for c in checks)
            for k in ("book_updates_messages", "book_updates_rows", "book_updates_bytes",
                      "book_snapshots_rows", "book_snapshots_books", "book_snapshots_bytes",
                      "raw_rows", "raw_bytes")}),
    }


def part_realrate(seconds: float, shards: int, tile_steps: int,
                  batched: bool = False) -> dict[str, Any]:
    import psutil

    proc, info = start_server("--serve", "paced", "--symbols", "all", "--tile-steps",
                              str(tile_steps), "--snapshot-tiles", str(max(1, 3000 // tile_steps)),
                              *(["--batched"] if batched else []))
    url = info["url"]
    server_ps = psutil.Process(proc.pid)
    tmp = Path(tempfile.mkdtemp(prefix="tl-books-rate-"))
    load_before = os.getloadavg()

    def live() -> dict[str, Any]:
        st = server_ps.cpu_times()
        now = server_info(url)
        return {"server": st.user + st.system, "sent": now["sent_messages"],
                "levels": now["sent_levels"], "subs": now["subscriptions"],
                "writes": now["writes"]}

    try:
        run = run_recorders(url, seconds, shards, tmp, live)
        final = server_info(url)
    finally:
        proc.terminate()
        proc.wait()
        load_after = os.getloadavg()
    shutil.rmtree(tmp, ignore_errors=True)
    samples = run["samples"]
    a, b = _window(samples, seconds, final["subscriptions"])
    dt = b["t"] - a["t"]
    msgs = b["sent"] - a["sent"]
    msgs_per_s = msgs / dt
    last = [s for s in samples if s["t"] <= seconds][-1]
    all_in = run["all_in_cpu_s"]
    all_in_us = all_in / max(final["sent_messages"], 1) * 1e6
    out = {
        "symbols": final["symbols"], "subscriptions": final["subscriptions"],
        "shards": shards, "seconds": seconds, "tile_steps": tile_steps, "batched": batched,
        "steady_window_s": round(dt, 1),
        "msgs_per_s_sent": round(msgs_per_s),
        "msgs_per_s_per_symbol": round(msgs_per_s / max(final["subscriptions"], 1), 1),
        "levels_per_s_sent": round((b["levels"] - a["levels"]) / dt),
        "steady_cpu_pct_recorders": round((b["own"] - a["own"]) / dt * 100, 1),
        "steady_cpu_pct_with_children": round((b["tree"] - a["tree"]) / dt * 100, 1),
        "steady_cpu_us_per_msg": round((b["tree"] - a["tree"]) / max(msgs, 1) * 1e6, 2),
        "all_in_cpu_s": round(all_in, 2),
        "cpu_s_until_stop": round(last["tree"], 2),
        "cpu_s_after_stop_drain": round(all_in - last["tree"], 2),
        "all_in_cpu_us_per_msg": round(all_in_us, 2),
        "all_in_cpu_pct_at_this_rate": round(all_in_us * msgs_per_s / 1e4, 1),
        "wall_incl_drain_s": round(run["wall_incl_drain_s"], 1),
        "server_cpu_pct": round((b["server"] - a["server"]) / dt * 100, 1),
        "server_late_messages": final["late_messages"],
        "server_writes_per_s": round((b["writes"] - a["writes"]) / dt),
        "sent_messages": final["sent_messages"], **_recorded(run["checks"]),
        # sent (+ a subscribe snapshot per symbol) and not in a lake: only messages in flight
        # when the recorders closed their connections (the sender sends until it sees that)
        "sent_not_recorded": final["sent_messages"] + final["subscriptions"]
        - sum(c.get("book_updates_messages", 0) for c in run["checks"]),
        "loadavg_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpu_timeline": [{"t": round(s["t"], 1), "tree_cpu_s": round(s["tree"], 2),
                          "sent": s["sent"], "subs": s["subs"]} for s in samples[::5]],
    }
    if run["errors"]:
        out["errors"] = run["errors"]
    return out


def part_emulator(seconds: float, shards: int) -> dict[str, Any]:
    """The same recorders against the live emulator (``ticklake emulate --catalog exchange
    --symbols all``): how many book messages it manages to send, and its CPU."""
    import psutil

    port = 18_000 + os.getpid() % 1000
    emulate = [str(Path(sys.executable).parent / "ticklake"), "emulate", "--catalog",
               "exchange", "--symbols", "all", "--rate", "2", "--port", str(port)]
    emu = subprocess.Popen(emulate, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    emu_ps = psutil.Process(emu.pid)
    tmp = Path(tempfile.mkdtemp(prefix="tl-books-emu-"))
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/public/products", timeout=2)
                break
            except OSError:
                time.sleep(0.2)

        def live() -> dict[str, Any]:
            st = emu_ps.cpu_times()
            return {"server": st.user + st.system}

        run = run_recorders(f"ws://127.0.0.1:{port}/", seconds, shards, tmp, live)
    finally:
        emu.terminate()
        emu.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    samples = run["samples"]
    a, b = _window(samples, seconds, 0)
    dt = b["t"] - a["t"]
    rec = _recorded(run["checks"])
    return {
        "seconds": seconds, "emulator_cpu_pct": round((b["server"] - a["server"]) / dt * 100),
        "recorded_msgs_per_s_per_symbol_whole_run": round(
            rec["recorded_messages"] / seconds / 364, 1),
        "steady_cpu_pct_with_children": round((b["tree"] - a["tree"]) / dt * 100, 1),
        **rec,
    }


# ------------------------------------------------------------------------------- the day lake

DAY = "2026-09-21"
SYMBOL = "BTCUSD"
TILE_STEPS = 15_000  # 5 minutes at 20 ms: one publish per tile
PUBLISH_NS = TILE_STEPS * STEP_NS


def _day_start_ns() -> int:
    import datetime as dt

    day = dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.UTC)
    return int(day.timestamp()) * 1_000_000_000


def _writer_tables(frames: list[tuple[int, int, bytes]]) -> dict[str, Any]:
    """The lake writer's own tables for these spool records ((conn_id, recv_ns, payload),
    offsets from 0): its replay decoder (book rebuild, trims, cadence snapshots) and Batch."""
    from ticklake.feed.phemex.products import default_products
    from ticklake.feed.phemex.trades import replay_decoder
    from ticklake.lake.batch import Batch

    decoder = replay_decoder(b"", default_products())
    batch = Batch(0, 0)
    for offset, (conn_id, recv_ns, payload) in enumerate(frames):
        batch.add_record(decoder, offset, conn_id, recv_ns, payload)
    return batch.tables()


def build_day_lake(root: Path, tiles_in_day: int = 288) -> dict[str, Any]:  # noqa: PLR0915
    """One day of one symbol's depth-30 book (see the module docstring)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from ticklake.emulator.products import PRODUCTS
    from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
    from ticklake.feed.phemex.products import default_products
    from ticklake.lake.arrays import int64, timestamps
    from ticklake.lake.layout import file_path
    from ticklake.lake.storage import LakeStorage, parquet_options
    from ticklake.manifest import build
    from ticklake.schemas import SCHEMAS

    started = time.perf_counter()
    t0 = _day_start_ns()
    tile = make_tiles([SYMBOL], dict(PRODUCTS), TILE_STEPS, start_ns=t0,
                      snap_every=3000)[SYMBOL]
    rng = random.Random(1)
    control = encode_control(DecodeParams.of(default_products(), None, DEPTH, 1000))
    frames: list[tuple[int, int, bytes]] = [
        (CONTROL_CONN_ID, t0 - 10**9, control),
        (1, t0 - 5_000_000, b'{"error":null,"id":1,"result":{"status":"success"}}'),
        (1, t0 + PHASE_NS + 1_500_000, (tile.snapshot % (tile.seq0, t0 + PHASE_NS)).encode()),
    ]
    firsts = []
    for index in range(2):
        firsts.append(len(frames))
        for _, text, _, _ in tile_messages(tile, index, t0 + PHASE_NS + index * PUBLISH_NS,
                                               True):
            ts = int(text.rsplit('"timestamp":', 1)[1].split(",", 1)[0])
            frames.append((1, ts + 1_000_000 + rng.randrange(1_000_000), text.encode()))
    per_tile = len(frames) - firsts[1]
    assert firsts[1] - firsts[0] == per_tile
    tables = _writer_tables(frames)
    assert set(tables) <= {"raw", "book_updates", "book_snapshots"}, set(tables)
    part = ("phemex", SYMBOL, DAY)
    made = {name: tables[name][part] for name in ("book_updates", "book_snapshots")}

    def cut(t: pa.Table, lo: int, hi: int) -> pa.Table:
        off = t["spool_offset"]
        return t.filter(pc.and_(pc.greater_equal(off, lo), pc.less(off, hi)))

    first_tile = {n: cut(t, 0, firsts[1]) for n, t in made.items()}
    second = {n: cut(t, firsts[1], len(frames)) for n, t in made.items()}
    # the second tile is the first one shifted (the book restarts from the same state)
    for name, table in made.items():
        a = cut(table, firsts[0], firsts[1])
        if name == "book_snapshots":
            a = a.filter(pc.equal(a["reason"].combine_chunks().dictionary_decode(), "cadence"))
        b = second[name]
        assert a.num_rows == b.num_rows, (name, a.num_rows, b.num_rows)
        assert a["price"].equals(b["price"]) and a["qty"].equals(b["qty"]), name
    shifts = {"ts_ns": PUBLISH_NS, "recv_ns": PUBLISH_NS, "sequence": tile.span,
              "spool_offset": per_tile, "through_offset": per_tile}
    base = {n: {c: t[c].to_numpy() for c in shifts if c in t.column_names}
            for n, t in second.items()}
    day_end = t0 + 86_400 * 10**9
    root.mkdir(parents=True, exist_ok=True)
    LakeStorage(str(root)).ensure_marker()
    totals = {n: {"rows": 0, "bytes": 0, "files": 0} for n in made}

    def publish(k: int) -> None:
        first, end = (0, firsts[1]) if k == 0 else (
            firsts[1] + (k - 1) * per_tile, firsts[1] + k * per_tile)
        for name in made:
            if k == 0:
                out = first_tile[name]
            else:
                cols = {c: v + (k - 1) * shifts[c] for c, v in base[name].items()}
                arrays = []
                for f in SCHEMAS[name]:
                    if f.name == "ts":
                        arrays.append(timestamps(cols["ts_ns"]))
                    elif f.name in cols:
                        arrays.append(int64(cols[f.name]))
                    else:
                        arrays.append(second[name][f.name])
                out = pa.Table.from_arrays(arrays, schema=SCHEMAS[name])
                if cols["ts_ns"][-1] >= day_end:
                    out = out.filter(pc.less(out["ts_ns"], day_end))
            rel = file_path(name, part, first, end)
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(out, str(path), **parquet_options(out.schema))
            totals[name]["rows"] += out.num_rows
            totals[name]["bytes"] += path.stat().st_size
            totals[name]["files"] += 1

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(publish, range(tiles_in_day)))
    built = time.perf_counter()
    stats = build(LakeStorage(str(root)).manifest_store())
    messages_per_tile = len(np.unique(base["book_updates"]["spool_offset"]))
    meta = {
        "day": DAY, "symbol": SYMBOL, "publishes": tiles_in_day,
        "messages": messages_per_tile * tiles_in_day,
        "msgs_per_s": round(messages_per_tile / (PUBLISH_NS / 1e9), 1),
        "tables": totals, "generate_and_write_s": round(built - started, 1),
        "manifest_s": round(time.perf_counter() - built, 1), "manifest_files": stats.files,
    }
    (root / "_bench_meta.json").write_text(json.dumps(meta))
    return meta


def compact_day_lake(src: Path, dst: Path) -> dict[str, Any]:
    """The day as the recorder's compaction leaves a closed day (one file per table here:
    the day is under ``compact_mib``), through ``merge_files`` as compaction does."""
    from ticklake.lake.layout import file_path
    from ticklake.lake.merge import merge_files
    from ticklake.lake.storage import LakeStorage
    from ticklake.manifest import build

    dst.mkdir(parents=True, exist_ok=True)
    source, target = LakeStorage(str(src)), LakeStorage(str(dst))
    target.ensure_marker()
    out = {}
    for table in ("book_updates", "book_snapshots"):
        files = [f.path for f in source.list_files(table)]
        names = [p.rsplit("/", 1)[1] for p in files]
        first = min(int(n.split("-")[1]) for n in names)
        end = max(int(n.split("-")[2].split(".")[0]) for n in names)
        merged = merge_files(source, table, files)
        size = target.publish(file_path(table, ("phemex", SYMBOL, DAY), first, end,
                                        kind="compact"), merged)
        out[table] = {"rows": merged.num_rows, "bytes": size, "files": 1}
    build(target.manifest_store())
    return out


def day_lake(quick: bool) -> tuple[Path, dict[str, Any]]:
    """The day lake, cached in the temp directory under a key of the code that makes it."""
    import hashlib

    sources = [Path(__file__), *(ROOT / "src" / "ticklake" / rel for rel in (
        "lake/batch.py", "lake/storage.py", "lake/arrays.py", "schemas.py",
        "feed/phemex/book.py", "feed/phemex/book_replay.py", "feed/phemex/trades.py",
        "emulator/book.py"))]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"ticklake-books-day-{key}"
    for old in Path(tempfile.gettempdir()).glob("ticklake-books-day-*"):
        if old != root and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    meta_path = root / "_bench_meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        return root, meta
    if root.exists():
        shutil.rmtree(root)
    return root, build_day_lake(root)


def at_sql(ts: str, lookback: str | None = None) -> str:
    extra = f", lookback := INTERVAL {lookback}" if lookback else ""
    return f"SELECT * FROM book_at('{SYMBOL}', TIMESTAMPTZ '{ts}', {DEPTH}{extra})"


def baseline_sql(ts: str) -> str:
    """The same book from ``book_updates`` alone: every row of the day up to the instant,
    from the latest ``snapshot`` message (the exchange's own) on, last row per level."""
    return f"""
WITH u AS (
    SELECT side, price, qty, action, spool_offset FROM book_updates
    WHERE symbol = '{SYMBOL}' AND date = DATE '{DAY}'
      AND ts_ns <= epoch_ns(TIMESTAMPTZ '{ts}')
),
r AS (SELECT max(spool_offset) AS restart FROM u WHERE action = 'snapshot'),
lv AS (
    SELECT CAST(side AS VARCHAR) AS side, price,
           arg_max(qty, 2 * spool_offset + CAST(action = 'trim' AS BIGINT)) AS qty
    FROM u, r WHERE u.spool_offset >= r.restart
    GROUP BY ALL
)
SELECT side, level, price, qty FROM (
    SELECT side, price, qty,
           row_number() OVER (PARTITION BY side
                              ORDER BY CASE WHEN side = 'bid' THEN -price ELSE price END)
               AS level
    FROM lv WHERE qty > 0
)
WHERE level <= {DEPTH}
ORDER BY side DESC, level
"""


def top_sql(since: str, until: str) -> str:
    return (f"SELECT * FROM book_top('{SYMBOL}', INTERVAL 1 SECOND, TIMESTAMPTZ '{since}', "
            f"TIMESTAMPTZ '{until}')")


def instants(n: int, seed: int) -> list[str]:
    import datetime as dt

    rng = random.Random(seed)
    t0 = dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.UTC)
    out = []
    for _ in range(n):
        us = rng.randrange(60 * 10**6, (86_400 - 60) * 10**6)
        out.append((t0 + dt.timedelta(microseconds=us)).isoformat(sep=" "))
    return out


def query_cold(root: str, sql: str) -> None:
    """In a fresh process: imports, the lake opened, one query."""
    t = time.perf_counter()
    from ticklake.catalog import Lake

    imported = time.perf_counter()
    result = Lake(root).query(sql)
    done = time.perf_counter()
    print(json.dumps({"import_s": imported - t, "query_s": done - imported,
                      "duckdb_s": result.elapsed, "rows": [list(map(str, r))
                                                           for r in result.rows()]}))


def query_warm(root: str, sqls: list[str], warmup: str) -> None:
    """In one process: one Lake, a warm-up query, then each statement timed."""
    from ticklake.catalog import Lake

    lake = Lake(root)
    lake.query(warmup)
    out = []
    for sql in sqls:
        t = time.perf_counter()
        result = lake.query(sql)
        out.append({"s": time.perf_counter() - t, "duckdb_s": result.elapsed,
                    "rows": [list(map(str, r)) for r in result.rows()]})
    print(json.dumps(out))


def probe_book_top(root: str) -> None:
    """Where ``book_top`` spends its time (not ticklake's code: a proposal for it). Plain
    DuckDB over the same hour of files, ticklake's book macros as they are, and the same
    macros with ``book_levels``'s range join (instants x updates on ts_ns >= s_ns AND ts_ns
    <= t_ns AND spool_offset > through: DuckDB runs it as a piecewise merge join) replaced
    by an ASOF join placing each update after its snapshot and an equality join on it."""
    import glob

    import duckdb

    from ticklake.catalog.macros import BOOK_MACROS

    old = BOOK_MACROS[0]
    new = old.replace("""updates AS (
    SELECT p.instant, u.side, u.price, u.qty, u.action, u.spool_offset
    FROM picked p JOIN symbol_updates u
      ON u.ts_ns >= p.s_ns AND u.ts_ns <= p.t_ns AND u.spool_offset > p.through
),""", """placed AS (
    SELECT u.*, s.s_ns
    FROM symbol_updates u ASOF JOIN snapshots s ON u.ts_ns >= s.s_ns
),
updates AS (
    SELECT p.instant, u.side, u.price, u.qty, u.action, u.spool_offset
    FROM picked p JOIN placed u
      ON u.s_ns = p.s_ns AND u.ts_ns <= p.t_ns AND u.spool_offset > p.through
),""")
    out: dict[str, Any] = {"rewrite_applies": new != old}
    sql = top_sql(f"{DAY} 12:00:00+00", f"{DAY} 13:00:00+00")
    answers = {}
    for name, first in (("macros_as_they_are", old), ("asof_rewrite", new)):
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table in ("book_updates", "book_snapshots"):
            files = sorted(glob.glob(f"{root}/{table}/**/*.parquet", recursive=True))
            hour = files[130:157]  # 10:50 to 13:05: the hour and its lookback
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({hour!r}, "
                        "hive_partitioning = true)")
        con.execute("CREATE TABLE gaps (symbol VARCHAR, from_ns BIGINT, to_ns BIGINT, "
                    "channel VARCHAR)")
        for macro in (first, *BOOK_MACROS[1:]):
            con.execute(macro)
        times = []
        for _ in range(2):
            t = time.perf_counter()
            answers[name] = con.sql(sql).fetchall()
            times.append(time.perf_counter() - t)
        out[f"{name}_s"] = round(min(times), 3)
        con.close()
    out["same_answer"] = answers["macros_as_they_are"] == answers["asof_rewrite"]
    out["rows"] = len(answers["asof_rewrite"])
    out["speedup"] = round(out["macros_as_they_are_s"] / out["asof_rewrite_s"], 1)
    print(json.dumps(out))


def _sub(*args: str) -> tuple[float, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=env, check=False, timeout=1800)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def _stats(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "median_s": round(statistics.median(values), 4),
            "p95_s": round(pct(values, 0.95), 4), "max_s": round(max(values), 4)}


def query_layout(root: Path, at: list[str], base_at: list[str], cold_n: int,
                 cold_base_n: int, top_runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    warm_sqls = ([at_sql(t) for t in at] + [at_sql(t, "5 SECOND") for t in at]
                 + [baseline_sql(t) for t in base_at])
    top = top_sql(f"{DAY} 12:00:00+00", f"{DAY} 13:00:00+00")
    warm_sqls += [top] * top_runs
    _, warm = _sub("--query-warm", str(root), "--warmup", at_sql(f"{DAY} 00:30:00+00"),
                   *warm_sqls)
    n = len(at)
    book_at, short, base = warm[:n], warm[n:2 * n], warm[2 * n:2 * n + len(base_at)]
    tops = warm[2 * n + len(base_at):]
    agree = all(book_at[i]["rows"] == base[i]["rows"] for i in range(len(base_at)))
    agree_short = all(book_at[i]["rows"] == short[i]["rows"] for i in range(n))
    levels = [len(r["rows"]) for r in book_at]
    out["warm"] = {
        "book_at": {**_stats([r["s"] for r in book_at]),
                    "duckdb_median_s": round(statistics.median(r["duckdb_s"] for r in book_at),
                                             4)},
        "book_at_lookback_5s": _stats([r["s"] for r in short]),
        "baseline_updates_from_day_start": _stats([r["s"] for r in base]),
        "book_top_1h_1s": {**_stats([r["s"] for r in tops]), "rows": len(tops[0]["rows"])},
        "answers_equal_baseline": agree, "answers_equal_lookback_5s": agree_short,
        "levels_returned_min_max": [min(levels), max(levels)],
    }
    out["warm"]["speedup_vs_baseline_median"] = round(
        out["warm"]["baseline_updates_from_day_start"]["median_s"]
        / out["warm"]["book_at"]["median_s"], 1)
    cold: dict[str, list[float]] = {"wall": [], "query": [], "import": []}
    for t in at[:cold_n]:
        wall, r = _sub("--query-cold", str(root), "--sql", at_sql(t))
        cold["wall"].append(wall)
        cold["query"].append(r["query_s"])
        cold["import"].append(r["import_s"])
    cold_base: dict[str, list[float]] = {"wall": [], "query": []}
    for t in base_at[:cold_base_n]:
        wall, r = _sub("--query-cold", str(root), "--sql", baseline_sql(t))
        cold_base["wall"].append(wall)
        cold_base["query"].append(r["query_s"])
    top_wall, top_r = _sub("--query-cold", str(root), "--sql", top)
    out["cold"] = {
        "book_at_process_wall": _stats(cold["wall"]),
        "book_at_first_query": _stats(cold["query"]),
        "imports_median_s": round(statistics.median(cold["import"]), 3),
        "baseline_process_wall": _stats(cold_base["wall"]),
        "baseline_first_query": _stats(cold_base["query"]),
        "book_top_1h_1s_first_query_s": round(top_r["query_s"], 3),
        "book_top_1h_1s_process_wall_s": round(top_wall, 3),
    }
    out["cold"]["speedup_vs_baseline_median"] = round(
        out["cold"]["baseline_first_query"]["median_s"]
        / out["cold"]["book_at_first_query"]["median_s"], 1)
    return out


def part_query(quick: bool) -> dict[str, Any]:
    root, meta = day_lake(quick)
    n_at = 12 if quick else 40
    at = instants(n_at, 17)
    base_at = at[: (4 if quick else 12)]
    out: dict[str, Any] = {"lake": meta, "instants": at}
    out["published"] = query_layout(root, at, base_at, 4 if quick else 12, 2 if quick else 5,
                                    1 if quick else 3)
    if not quick:
        _, out["book_top_probe"] = _sub("--probe", str(root))
        compacted = root.parent / (root.name + "-compacted")
        if compacted.exists():
            shutil.rmtree(compacted)
        out["compacted_lake"] = compact_day_lake(root, compacted)
        out["compacted"] = query_layout(compacted, at, base_at, 12, 5, 3)
        shutil.rmtree(compacted, ignore_errors=True)
    t = meta["tables"]
    out["storage_5min_publish_files"] = {
        "book_updates_bytes_per_row": round(t["book_updates"]["bytes"]
                                            / t["book_updates"]["rows"], 2),
        "book_updates_bytes_per_message": round(t["book_updates"]["bytes"] / meta["messages"],
                                                2),
        "book_snapshots_bytes_per_row": round(t["book_snapshots"]["bytes"]
                                              / t["book_snapshots"]["rows"], 2),
        "book_snapshots_bytes_per_book": round(t["book_snapshots"]["bytes"]
                                               / (t["book_snapshots"]["rows"] / (2 * DEPTH)),
                                               1),
        "day_mb": {n: round(v["bytes"] / 2**20, 1) for n, v in t.items()},
    }
    return out


# ------------------------------------------------------------------------------- main


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default="throughput,realrate,query")
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--symbols", default="")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    # internal: the server, a client, a query process
    parser.add_argument("--serve", choices=("blast", "paced"))
    parser.add_argument("--tile-steps", type=int, default=250)
    parser.add_argument("--snapshot-tiles", type=int, default=12)
    parser.add_argument("--batched", action="store_true")
    parser.add_argument("--client")
    parser.add_argument("--url")
    parser.add_argument("--query-cold")
    parser.add_argument("--query-warm")
    parser.add_argument("--sql")
    parser.add_argument("--probe")
    parser.add_argument("--warmup")
    parser.add_argument("statements", nargs="*")
    args = parser.parse_args()
    if args.serve:
        args.symbols = args.symbols or "BTCUSD"
        serve(args)
        return
    if args.client:
        client_main(args.client, args.url)
        return
    if args.query_cold:
        query_cold(args.query_cold, args.sql)
        return
    if args.probe:
        probe_book_top(args.probe)
        return
    if args.query_warm:
        query_warm(args.query_warm, args.statements, args.warmup)
        return
    parts = args.parts.split(",")
    started = time.monotonic()
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                           capture_output=True, text=True, check=False).stdout.splitlines()
    out: dict[str, Any] = {"bench": "books", "quick": args.quick, "commit": git,
                           "src_files_changed_since_commit": len(dirty),
                           "loadavg_start": round(os.getloadavg()[0], 2)}
    if "throughput" in parts:
        repeat = args.repeat or (3 if args.quick else 5)
        configs = [args.symbols] if args.symbols else (
            ["BTCUSD"] if args.quick else ["BTCUSD", "BTCUSD,ETHUSD"])
        messages = args.messages or (60_000 if args.quick else 300_000)
        out["throughput"] = [part_throughput(c.split(","), messages, repeat,
                                             args.clients.split(",")) for c in configs]
    if "realrate" in parts:
        out["realrate"] = part_realrate(args.seconds or (20 if args.quick else 360),
                                        args.shards, 250)
        if not args.quick:  # the same, every symbol of a connection in one write per 20 ms
            out["realrate_batched_writes"] = part_realrate(60, args.shards, 250, batched=True)
    if "emulator" in parts:  # not in the defaults: the live emulator as the sender
        out["emulator"] = part_emulator(args.seconds or 30, args.shards)
    if "query" in parts:
        out["query"] = part_query(args.quick)
    out["loadavg_end"] = round(os.getloadavg()[0], 2)
    out["wall_s"] = round(time.monotonic() - started, 1)
    text = json.dumps(out, indent=1)
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
