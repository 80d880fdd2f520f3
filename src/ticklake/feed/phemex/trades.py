"""Trade messages → new trades, gaps and rejections; shared by the live protocol and replays.

``TradeDecoder`` holds the per-symbol de-duplication state (``dedup.SymbolTrades``) and the
per-connection message sequences. The live ``PhemexProtocol`` and every reader of the spool
drive the same code, so all produce identical rows from the same frames. Readers of the spool
build their decoder with :func:`replay_decoder` (one way, for all of them): it follows the
spool's control records (``control``), so frames decode with the products the live path had.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from ticklake.feed.events import (
    DuplicateMessage,
    Event,
    FrameRejected,
    GapDetected,
    TradesReceived,
)
from ticklake.feed.phemex.book import levels_of
from ticklake.feed.phemex.book_replay import ReplayBooks, ReplayBookState
from ticklake.feed.phemex.control import (
    CONTROL_CONN_ID,
    DEFAULT_BOOK_DEPTH,
    DEFAULT_BOOK_SNAPSHOT_MS,
    ControlError,
    DecodeParams,
    decode_control,
)
from ticklake.feed.phemex.dedup import SymbolTrades, TradeCursor
from ticklake.feed.phemex.normalize import BadNumber, normalize_rows, normalize_rows_p
from ticklake.feed.phemex.products import Product, ProductTable
from ticklake.feed.phemex.tickers import other_push
from ticklake.feed.phemex.wire import Message, message_decoder
from ticklake.model import Gap

EXCHANGE = "phemex"
# A trade stamped further than this past its receive time is quarantined (see on_trades).
MAX_FUTURE_NS = 3600 * 1_000_000_000
_KINDS = frozenset(("snapshot", "incremental"))
# Books before any control record stated how they were recorded: the recorder's defaults.
DEFAULT_DEPTH = DEFAULT_BOOK_DEPTH
DEFAULT_SNAPSHOT_NS = DEFAULT_BOOK_SNAPSHOT_MS * 1_000_000
# Connections a replay keeps sequences for: a recorder has at most 5 open at once (§1.2).
_REMEMBERED_CONNECTIONS = 32


class _DecoderState(msgspec.Struct):
    """What a reader persists beside its offset (version 4; version 3 had no ``books``,
    version 2 no ``connections``, version 1 was the cursors alone)."""

    version: int
    cursors: dict[str, TradeCursor]
    params: DecodeParams | None = None  # the spool's last control record, merged
    # Each connection's last message sequence per symbol (a replay's ``use_connection``): a
    # message the exchange sends again after a restart of the reader is still a duplicate.
    connections: dict[int, dict[str, int]] = msgspec.field(default_factory=dict)
    books: list[ReplayBookState] = msgspec.field(default_factory=list)  # (replays only)


_STATE_VERSION = 4
_state_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(_DecoderState)
_cursor_decoder = msgspec.json.Decoder(dict[str, TradeCursor])  # version 1


def rejection(reason: str, data: str | bytes) -> FrameRejected:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return FrameRejected(reason, data.encode("utf-8", "replace").decode())


class TradeDecoder:
    """De-duplicating trade decoder for one exchange session, carried over connections."""

    def __init__(
        self,
        products: ProductTable,
        snapshot_size: int | None,
        max_future_ns: int,
        cursors: Mapping[str, TradeCursor] | None = None,
        params: DecodeParams | None = None,
    ) -> None:
        self.products = products  # the caller's; a control record's products come first
        self.snapshot_size = snapshot_size  # the exchange's capacity if pinned; None: learned
        self.max_future_ns = max_future_ns
        self._symbols: dict[str, SymbolTrades] = {
            symbol: SymbolTrades(cursor) for symbol, cursor in (cursors or {}).items()
        }
        self._conn_seq: dict[str, int] = {}
        self._conn_seqs: dict[int, dict[str, int]] = {}  # replays only: see use_connection
        self._products: dict[str, Product] = {}
        self.params: DecodeParams | None = None
        self._controlled: dict[str, Product] = {}
        if params is not None:
            self.apply(params)

    def apply(self, params: DecodeParams) -> None:
        """Decode with a control record's parameters from now on. Its products take
        precedence over the caller's table; products of earlier records stay known (a
        delisted symbol's old frames still decode)."""
        self._controlled.update((p.symbol, p) for p in params.products)
        self.params = msgspec.structs.replace(
            params, products=sorted(self._controlled.values(), key=lambda p: p.symbol))
        self.snapshot_size = params.snapshot_size
        self._products.clear()

    def new_connection(self) -> None:
        self._conn_seq.clear()

    def use_connection(self, conn_id: int) -> None:
        """Switch to ``conn_id``'s message sequences (a replay of several connections at once:
        their frames interleave in one spool, and each connection's state must survive the
        others' frames); an id not seen before starts empty, like ``new_connection``."""
        seqs = self._conn_seqs.pop(conn_id, None)
        if seqs is None:
            seqs = {}
            if len(self._conn_seqs) >= _REMEMBERED_CONNECTIONS:  # the oldest is long gone
                del self._conn_seqs[next(iter(self._conn_seqs))]
        self._conn_seqs[conn_id] = seqs  # most recently used last
        self._conn_seq = seqs

    def cursors(self) -> dict[str, TradeCursor]:
        return {sym: st.cursor() for sym, st in self._symbols.items() if st.started}

    def saved(self) -> _DecoderState:
        """The de-duplication state and decode parameters (see :meth:`ReplayDecoder.state`)."""
        return _DecoderState(_STATE_VERSION, self.cursors(), self.params, self._conn_seqs)

    @classmethod
    def from_saved(cls, saved: _DecoderState, products: ProductTable,
                   snapshot_size: int | None, max_future_ns: int) -> TradeDecoder:
        decoder = cls(products, snapshot_size, max_future_ns, saved.cursors, saved.params)
        decoder._conn_seqs = saved.connections  # in order: most recently used last
        return decoder

    def product(self, symbol: str) -> Product | None:
        product = self._products.get(symbol)
        if product is None:
            product = self._controlled.get(symbol) or self.products.get(symbol)
            if product is not None:
                self._products[symbol] = product
        return product

    def on_trades(self, frame: Message, data: str | bytes, recv_ns: int) -> list[Event]:
        """Events for one decoded trade message (``frame.trades`` or ``frame.trades_p``)."""
        symbol, kind, sequence = frame.symbol, frame.type, frame.sequence
        if symbol is None or sequence is None or kind not in _KINDS:
            return [rejection("trade message without symbol, sequence or type", data)]
        product = self._products.get(symbol) or self.product(symbol)
        if product is None:
            return [rejection(f"trades for unknown symbol {symbol!r}", data)]
        try:
            if frame.trades is not None:
                rows = normalize_rows(frame.trades)
            else:
                assert frame.trades_p is not None
                rows = normalize_rows_p(frame.trades_p, product.price_scale, product.qty_scale)
        except BadNumber as exc:
            return [rejection(str(exc), data)]
        # (tuples compare by their first item first: max() finds the newest in C)
        newest = rows[0][0] if len(rows) == 1 else max(rows)[0] if rows else -1
        if newest > recv_ns + self.max_future_ns:
            # One absurd timestamp would move the de-duplication boundary past every real
            # trade to come and silently swallow later snapshots: quarantine the frame.
            return [rejection("trade timestamp too far in the future", data)]
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = SymbolTrades()
        events: list[Event] = []
        snapshot = kind == "snapshot"
        duplicates = 0
        if snapshot:
            merge = state.merge_snapshot(rows, self.snapshot_size)
            rows, duplicates = merge.new_rows, merge.duplicates
            if merge.gap is not None:
                gap = Gap(EXCHANGE, symbol, merge.gap[0], merge.gap[1], "snapshot", recv_ns)
                events.append(GapDetected(gap))
        previous = self._conn_seq.get(symbol, -1)
        if not snapshot and sequence <= previous:
            # Not newer than what this connection already delivered: a replayed message, or
            # one the snapshot covered (§9.10 allows snapshot seq == next incremental seq).
            rows, duplicates = state.unseen(rows)
            if not rows:
                return [DuplicateMessage(symbol, sequence, duplicates)]
        if sequence > previous:
            self._conn_seq[symbol] = sequence
        state.advance(rows, newest)  # (duplicates dropped above are never newer than it)
        events.append(TradesReceived(symbol, sequence, snapshot, rows, duplicates, recv_ns,
                                     product.price_scale, product.qty_scale, EXCHANGE))
        return events


class ReplayDecoder:
    """Classify recorded frames the way the live protocol did, without its request state.

    Replies (acks, pongs) are accepted as they are: the request ids were the live session's.
    """

    def __init__(self, trades: TradeDecoder, books: ReplayBooks | None) -> None:
        self.trades = trades
        self.books = books  # None: book frames are checked, not followed (a trade-only reader)
        self._conn_id: int | None = None
        self._ticker_symbols: frozenset[str] = frozenset()
        if trades.params is not None:
            self._follow(trades.params)

    def _follow(self, params: DecodeParams) -> None:
        self._ticker_symbols = frozenset(params.ticker_symbols)
        if self.books is not None:
            _configure(self.books, params)

    def state(self) -> bytes:
        """Everything the decoder knows, as bytes to persist beside a reader's offset (a
        restart then needs no control record or frame from before it)."""
        saved = self.trades.saved()
        if self.books is not None:
            saved.books = self.books.export()
        return _state_encoder.encode(saved)

    def decode(self, payload: bytes, conn_id: int, recv_ns: int) -> list[Event]:
        if conn_id & 0xFFFF_FFFF == CONTROL_CONN_ID:  # (the low half of a topic's folded id)
            try:
                params = decode_control(payload)
            except ControlError as exc:
                return [rejection(str(exc), payload)]
            self.trades.apply(params)
            self._follow(params)
            return []
        if conn_id != self._conn_id:  # a reconnect, or another connection of a sharded recorder
            self._conn_id = conn_id
            self.trades.use_connection(conn_id)
        try:
            frame = message_decoder.decode(payload)
        except (msgspec.DecodeError, UnicodeError) as exc:
            return [rejection(str(exc), payload)]
        if frame.trades is not None or frame.trades_p is not None:
            return self.trades.on_trades(frame, payload, recv_ns)
        if frame.id is not None or frame.error is not None:
            return []
        if frame.book is not None or frame.orderbook_p is not None:
            return self._book(frame, payload, conn_id, recv_ns)
        return other_push(payload, self.trades.product, self._ticker_symbols, recv_ns)

    def _book(self, message: Message, payload: bytes, conn_id: int,
              recv_ns: int) -> list[Event]:
        """A book message through the symbol's book, as live (``book_replay``)."""
        symbol = message.symbol
        product = self.trades.product(symbol) if symbol is not None else None
        if product is None:
            return [rejection(f"order book for unknown symbol {symbol!r}", payload)]  # as live
        if self.books is None:
            levels = levels_of(message, payload, product, recv_ns)
            return [levels] if isinstance(levels, FrameRejected) else []
        return self.books.on_message(message, payload, product, conn_id, recv_ns)


def _configure(books: ReplayBooks, params: DecodeParams) -> None:
    books.configure(params.book_depth or None, params.book_snapshot_ms * 1_000_000 or None)


def replay_decoder(state: bytes, products: ProductTable, snapshot_size: int | None = None,
                   books: bool = True) -> ReplayDecoder:
    """The decoder every reader of a spool (or of a topic fed from one) uses: resumed from a
    saved ``state``, following the control records it meets; ``products`` and
    ``snapshot_size`` serve only frames recorded before control records existed. ``books``:
    rebuild the order books (a reader that only wants trades skips the work)."""
    saved = _load_state(state)
    trades = TradeDecoder.from_saved(saved, products, snapshot_size, MAX_FUTURE_NS)
    replay_books = ReplayBooks(DEFAULT_DEPTH, DEFAULT_SNAPSHOT_NS) if books else None
    if replay_books is not None:
        replay_books.restore(saved.books, trades.product)
    return ReplayDecoder(trades, replay_books)


def _load_state(state: bytes) -> _DecoderState:
    if not state:
        return _DecoderState(_STATE_VERSION, {})
    try:
        return _state_decoder.decode(state)
    except msgspec.DecodeError:  # version 1: the cursors alone
        return _DecoderState(1, _cursor_decoder.decode(state))
