"""Shipper: the recorder's spool → a Kafka-protocol topic, nothing lost, order kept per symbol.

Runs as a thread in ``ticklake record --log`` instead of the lake writer. The spool stays
the recorder's durable tee, exactly as without a broker; the shipper is one more consumer of
it with its own cursor (``kafka``):

- it reads acknowledged (durable) spool records from its cursor and produces each one
  (``frames``: key = symbol, headers = recorder id, spool offset, receive time, 64-bit conn
  id) through an idempotent producer that retries forever;
- the cursor advances only over *contiguously* acknowledged offsets (acks of different
  partitions come back out of order), so after a crash it resumes at the first frame that
  might not be on the broker: re-sent frames are dropped by the readers (``dedup``);
- at most ``max_in_flight`` frames are unacknowledged: while the broker is down the shipper
  stops reading and the spool absorbs the backlog (retention keeps every segment past the
  lowest cursor, this one included);
- before its first frame, and again after every producer reset, it sends the product table
  to every partition, so a reader never needs the exchange.

A fatal producer error (e.g. the broker forgot the idempotent producer after a restart) or a
failed delivery resets the producer and re-sends from the cursor.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from ticklake.errors import BrokerError
from ticklake.feed.phemex.control import CONTROL_CONN_ID
from ticklake.scaleout.log.client import ensure_topic, producer_config
from ticklake.scaleout.log.frames import (
    CONN,
    GEN,
    KIND,
    NO_SYMBOL_KEY,
    OFF,
    PRODUCTS_KIND,
    REC,
    RECV,
    fold_conn_id,
    next_generation,
    recorder_id,
    recorder_number,
    symbol_key,
    u64,
)
from ticklake.scaleout.log.uri import LogUri, parse_log_uri
from ticklake.spool import Spool

logger = logging.getLogger(__name__)

CURSOR = "kafka"


@dataclass
class ShipperStats:
    produced: int = 0
    acked: int = 0
    resets: int = 0
    shipped_offset: int = 0  # every spool offset below this is on the broker
    in_flight: int = 0
    broker_up: bool = False
    last_error: str = ""


class Shipper:
    """Spool → topic in a thread; a ``SpoolConsumer`` (``start``, ``stop(drain)``,
    ``committed_offset``: everything below it is shipped)."""

    def __init__(self, spool: Spool, uri: LogUri, rec_id: str, products_json: bytes,
                 partitions: int = 6, max_in_flight: int = 100_000,
                 poll_interval: float = 0.05) -> None:
        self.spool = spool
        self.uri = uri
        self.rec_id = rec_id
        self._rec = rec_id.encode()
        self._number = recorder_number(rec_id)
        self.products_json = products_json
        self.partitions = partitions
        self.max_in_flight = max_in_flight
        self.poll_interval = poll_interval
        self.stats = ShipperStats()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._drain = False
        self._give_up_at = 0.0
        self._thread = threading.Thread(target=self._run, name="kafka-shipper", daemon=True)
        self._producer: Any = None
        self._generation = 0
        self._gen = u64(0)
        self._acked: set[int] = set()
        self._failed = False
        self._fatal = False
        self._down = False

    @property
    def committed_offset(self) -> int:
        return self.stats.shipped_offset

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, drain: bool = True, timeout: float = 60.0) -> None:
        """Stop; with ``drain`` first ship every acknowledged spool record, waiting for the
        broker up to ``timeout`` (what is left stays in the spool: the next run ships it)."""
        self._drain = drain
        self._give_up_at = time.monotonic() + timeout
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout + 30)
        if self._thread.is_alive():
            self.error = BrokerError(f"the shipper to {self.uri} did not stop")
        if self.error is not None:
            raise self.error

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._ship()
        except BaseException as exc:  # surfaced by stop(); the recording must not go on blind
            self.error = exc
            logger.exception("= shipper stopped")
        finally:
            if self._producer is not None:
                self._producer.flush(1)

    def _ship(self) -> None:
        self.stats.shipped_offset = self.spool.committed(CURSOR)[0]
        self.spool.commit(CURSOR, self.stats.shipped_offset)  # joins retention from now on
        while not self._connect():
            if self._stop.wait(1.0):
                return  # never reached the broker: everything is still in the spool
        next_read = self.stats.shipped_offset
        last_commit = time.monotonic()
        probe_at = 0.0
        while True:
            # Seen before this round's read: stop() comes after the spool's last append (its
            # writer is closed first), so a read that starts after it sees every frame.
            stopping = self._stop.is_set()
            if self._down:  # wait for the broker, reading nothing new meanwhile
                if time.monotonic() >= probe_at:
                    probe_at = time.monotonic() + 1.0
                    if self._reachable():
                        next_read = self._reset()
            elif self._fatal or self._failed:
                if self._stop.wait(0.5) and not self._drain:  # a failing broker: not too fast
                    break
                next_read = self._reset()
            room = self.max_in_flight - (next_read - self.stats.shipped_offset)
            read = 0
            if room > 0 and not self._down:
                records = self.spool.read(next_read, max_records=min(room, 5000))
                for record in records:
                    self._produce(record.offset, record.conn_id, record.recv_ns,
                                  record.payload)
                read = len(records)
                if records:
                    next_read = records[-1].offset + 1
            self._producer.poll(0 if read else self.poll_interval)
            self._advance()
            now = time.monotonic()
            if now - last_commit >= 0.2:
                self._commit()
                last_commit = now
            if stopping:
                done = read == 0 and self.stats.shipped_offset >= next_read
                if done or not self._drain or now > self._give_up_at:
                    if not done and self._drain:
                        logger.warning("= broker unreachable: spool offsets from %d stay in "
                                       "the spool for the next run", self.stats.shipped_offset)
                    break
        self._commit()

    def _connect(self) -> bool:
        try:
            self.partitions = ensure_topic(self.uri, self.partitions, timeout=5.0)
        except BrokerError as exc:
            self.stats.last_error = str(exc)
            logger.warning("= %s; the spool keeps everything meanwhile", exc)
            return False
        self._new_producer()
        return True

    def _new_producer(self) -> None:
        self._generation = next_generation(self.spool.directory)
        self._gen = u64(self._generation)
        self._producer = Producer({
            **producer_config(self.uri, f"ticklake-recorder-{self.rec_id}"),
            "error_cb": self._on_error,
        })
        self._failed = self._fatal = self._down = False
        self.stats.broker_up = True
        for partition in range(self.partitions):  # before any frame of ours, in every one
            self._producer.produce(self.uri.topic, self.products_json, b"_products",
                                   partition=partition,
                                   headers=[(KIND, PRODUCTS_KIND), (REC, self._rec)])

    def _reachable(self) -> bool:
        try:
            self._producer.list_topics(timeout=1.0)
        except KafkaException:
            return False
        return True

    def _reset(self) -> int:
        """A new producer; re-send everything past the contiguous cursor."""
        self.stats.resets += 1
        logger.warning("= producer reset (%s); re-sending from spool offset %d",
                       self.stats.last_error, self.stats.shipped_offset)
        old = self._producer
        old.purge()
        old.flush(0)
        self._acked.clear()
        self._new_producer()
        return self.stats.shipped_offset

    def _produce(self, offset: int, conn_id: int, recv_ns: int, payload: bytes) -> None:
        headers = [(REC, self._rec), (GEN, self._gen), (OFF, u64(offset)),
                   (RECV, u64(recv_ns)), (CONN, u64(fold_conn_id(self._number, conn_id)))]
        callback = functools.partial(self._delivered, self._generation, offset)
        # A control record names products, not one symbol (every partition gets the products
        # in-band anyway: _new_producer).
        key = NO_SYMBOL_KEY if conn_id == CONTROL_CONN_ID else symbol_key(payload)
        while True:
            try:
                self._producer.produce(self.uri.topic, payload, key,
                                       headers=headers, on_delivery=callback)
                break
            except BufferError:  # librdkafka's queue is full: serve callbacks, then retry
                self._producer.poll(0.1)
        self.stats.produced += 1

    def _delivered(self, generation: int, offset: int, err: Any, _msg: Any) -> None:
        if generation != self._generation:
            return  # a purged message of a reset producer
        if err is not None:
            self.stats.last_error = err.str()
            self._failed = True
            return
        self.stats.acked += 1
        self._acked.add(offset)

    def _on_error(self, err: KafkaError) -> None:
        self.stats.last_error = err.str()
        if err.fatal():
            self._fatal = True
        elif err.code() == KafkaError._ALL_BROKERS_DOWN and not self._down:
            # The broker may come back without the idempotent producer's state (Tansu acked
            # a restarted sequence as a duplicate and dropped it): from now on this
            # producer's acks do not count; once the broker answers again a new producer
            # re-sends from the cursor, and the readers drop what was stored twice.
            self.stats.broker_up = False
            self._down = True
            self._generation = -self._generation  # its callbacks no longer match

    def _advance(self) -> None:
        shipped = self.stats.shipped_offset
        acked = self._acked
        while shipped in acked:
            acked.discard(shipped)
            shipped += 1
        if shipped != self.stats.shipped_offset:
            self.stats.broker_up = True
        self.stats.shipped_offset = shipped
        self.stats.in_flight = len(self._producer) if self._producer is not None else 0

    def _commit(self) -> None:
        offset = self.stats.shipped_offset
        if self.spool.committed(CURSOR)[0] != offset:
            self.spool.commit(CURSOR, offset)
            self.spool.retain()


def open_shipper(spool: Spool, log: str, products_json: bytes, partitions: int) -> Shipper:
    """A shipper of ``spool`` to the log URI ``log`` (BrokerError if the URI is wrong)."""
    return Shipper(spool, parse_log_uri(log), recorder_id(spool.directory), products_json,
                   partitions)
