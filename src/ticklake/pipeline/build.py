"""Building a recording: settings → products → protocol → sessions → spool → lake.

Every frame a session receives is appended to the spool (the durable tee, synchronously on
the read path: one ``write`` per frame, group-committed fsync); the lake writer, a child
process, turns spool records into Parquet; live views read a lossy bounded bus that never
blocks ingest. ``Recording.run`` (``pipeline.recording``) runs it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from ticklake.bus import Bus
from ticklake.config import FeedSettings, LakeSettings
from ticklake.errors import StorageError
from ticklake.feed.events import Event
from ticklake.feed.phemex import PhemexProtocol, ProductTable, ProtocolConfig, Subscription
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.feed.phemex.products import Family, Product
from ticklake.feed.phemex.protocol import TICKER_CHANNELS
from ticklake.jsonl import JsonlRecorder
from ticklake.lake.hints import BufferingHints
from ticklake.lake.marker import ensure_local_marker
from ticklake.lake.process import LakeProcess
from ticklake.model import RawFrame
from ticklake.pipeline.recording import Recording, SpoolConsumer
from ticklake.session import ConnIds, PhemexSession, SessionConfig, SessionGroup
from ticklake.session.products import load_products, products_url_for
from ticklake.session.sharding import check_families, families_requested, plan_connections
from ticklake.spool import FsyncPolicy, Spool, SpoolWriter

_S = 1_000_000_000


def _check_bucket(root: str) -> None:
    """A missing bucket fails now, in one line, not after a whole run of spooling for a lake
    that can never be written. Asked in a child process: the recorder's stays free of pyarrow
    (the object store client)."""
    done = subprocess.run([sys.executable, "-m", "ticklake.objectstore", root],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode == 2 and done.stdout.strip():
        raise StorageError(done.stdout.strip())


def open_lake(
    lake: LakeSettings, products: ProductTable, snapshot_size: int | None = None,
    book_depth: int | None = 30, ticker_symbols: frozenset[str] = frozenset(),
) -> tuple[Spool, SpoolWriter, SpoolConsumer]:
    """The spool (opened for appending, recovered, its decode parameters appended as a
    control record before any frame) and a lake writer over it, in a child process (its own
    core: Parquet encoding never competes with the socket reader); with ``lake.log``, a
    shipper thread to that topic instead (``ticklake deliver`` writes)."""
    if lake.log is None and "://" not in lake.root:
        # A wrong --lake fails now, in one line (an S3 one: in the writer's first start).
        ensure_local_marker(lake.root)
    elif lake.log is None and lake.root.startswith("s3://"):
        _check_bucket(lake.root)
    spool = Spool(
        Path(lake.spool), fsync=FsyncPolicy(lake.fsync), fsync_interval=lake.fsync_interval,
        segment_bytes=int(lake.segment_mib * 2**20),
    )
    writer = spool.writer()
    runner: SpoolConsumer
    if lake.log is not None:
        from ticklake.scaleout.log.shipper import open_shipper  # confluent-kafka only when used

        products_json = msgspec.json.encode(products.listing())
        runner = open_shipper(spool, lake.log, products_json, lake.partitions)
    else:
        # (Built before the control record below: that record is no backlog of a past run.)
        runner = LakeProcess(writer, Path(lake.spool), lake.root, products,
                             BufferingHints(lake.buffer_mib, lake.buffer_seconds,
                                            lake.compact_mib), snapshot_size)
        if FsyncPolicy(lake.fsync) is not FsyncPolicy.NEVER:  # read only what is acknowledged
            runner.set_durable(writer.durable_offset)
            writer.on_durable = runner.set_durable
    # Every reader of this spool decodes the frames that follow with these (feed.phemex.control).
    params = encode_control(DecodeParams.of(
        products, snapshot_size, book_depth, round(lake.book_snapshot_seconds * 1000),
        ticker_symbols))
    writer.append(RawFrame(CONTROL_CONN_ID, time.time_ns(), params))
    return spool, writer, runner


async def build_recording(
    feed: FeedSettings, out: Path | None = None, lake: LakeSettings | None = None,
    metrics_port: int | None = None,
) -> Recording:
    """The recording's parts, wired; ``metrics_port``: serve its ``/metrics`` there."""
    products_url = products_url_for(feed.url) if feed.products_url == "auto" else feed.products_url
    check_families(feed.symbols)
    # A family is listed from the exchange's payload; shipped defaults would silently shrink it.
    products = await load_products(products_url, required=families_requested(feed.symbols))
    # One connection per group of <= 20 symbols, at most feed.connections (session.sharding).
    per_symbol = _slots(feed)
    reserved = len(TICKER_CHANNELS) if "tickers" in feed.channels else 0
    groups = plan_connections(feed.symbols, products, feed.shard, feed.connections,
                              max(per_symbol, 1), reserved)
    tickers = (frozenset(s for group in groups for s in group) if "tickers" in feed.channels
               else frozenset[str]())
    protocol_config = ProtocolConfig(
        ping_interval_ns=int(feed.ping_interval * _S),
        pong_timeout_ns=int(feed.pong_timeout * _S),
        silence_timeout_ns=int(feed.silence_timeout * _S),
        request_timeout_ns=int(feed.request_timeout * _S),
        snapshot_size=feed.snapshot_size,
        ticker_symbols=tickers,
    )
    bus: Bus[Event] = Bus()
    jsonl = JsonlRecorder(out) if out is not None else None

    def on_event(event: Event) -> None:
        if jsonl is not None:
            jsonl.on_event(event)
        bus.publish(event)

    spool = spool_writer = runner = None
    if lake is not None:
        spool, spool_writer, runner = open_lake(
            lake, products, feed.snapshot_size, None if feed.book_depth == "full" else 30,
            tickers)
    session_config = SessionConfig(
        url=feed.url,
        backoff_initial=feed.backoff_initial,
        backoff_cap=feed.backoff_cap,
        first_connect_timeout=feed.first_connect_timeout,
    )
    conn_ids = ConnIds(feed.shard)  # unique across this recorder's connections and shards
    families = _first_of_family(groups, products) if tickers else {}
    session = SessionGroup([
        PhemexSession(
            PhemexProtocol(_subscriptions(feed, [products.require(s) for s in symbols],
                                          families.get(index, ())),
                           products, protocol_config),
            session_config,
            on_frame=spool_writer.append if spool_writer is not None else None,
            on_event=on_event,
            flush_frames=spool_writer.flush if spool_writer is not None else None,
            conn_ids=conn_ids,
        )
        for index, symbols in enumerate(groups)
    ])
    recording = Recording(session, bus, jsonl=jsonl, spool=spool, spool_writer=spool_writer,
                          lake=runner)
    if metrics_port is not None:  # one series per connection: phemex, or phemex-0..4
        from ticklake.metrics import serve_metrics  # prometheus_client: ~6 MB, when asked

        server = serve_metrics(recording.status, metrics_port)
        recording.stop_metrics = server.shutdown
    return recording


def _slots(feed: FeedSettings) -> int:
    """Subscriptions a symbol takes of a connection's 20 (ticks: a contract's index, mark,
    predicted and 8 h funding; klines: one per interval; tickers: one per family, reserved
    apart)."""
    per_channel = {"trades": 1, "book": 1, "ticks": 4, "tickers": 0,
                   "klines": len(feed.kline_intervals)}
    return sum(per_channel[channel] for channel in feed.channels)


def _subscriptions(feed: FeedSettings, products: list[Product],
                   ticker_families: Iterable[Family] = ()) -> list[Subscription]:
    """Each symbol's channels, in the order asked (``[feed] channels``), then the 24 h
    ticker channel of each family this connection carries for the recorder."""
    depth = None if feed.book_depth == "full" else feed.book_depth
    subs: list[Subscription] = []
    for product in products:
        for channel in feed.channels:
            if channel == "trades":
                subs.append(Subscription.trades(product))
            elif channel == "book":
                subs.append(Subscription.book(product, depth))
            elif channel == "klines":
                subs += [Subscription.klines(product, s) for s in feed.kline_intervals]
            elif channel == "ticks":
                subs.extend(s for s in Subscription.ticks(product) if s not in subs)
    subs += [Subscription.tickers(family) for family in ticker_families]
    return subs


def _first_of_family(groups: list[list[str]],
                     products: ProductTable) -> dict[int, tuple[Family, ...]]:
    """The connection that carries each family's 24 h tickers (an all-symbol channel,
    subscribed once per recorder): the first one with a symbol of the family."""
    first: dict[Family, int] = {}
    for index, symbols in enumerate(groups):
        for symbol in symbols:
            first.setdefault(products.require(symbol).family, index)
    out: dict[int, tuple[Family, ...]] = {}
    for family, index in first.items():
        out[index] = (*out.get(index, ()), family)
    return out
