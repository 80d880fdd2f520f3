"""Peer fidelity of the emulator's order books (issue 17): cryptofeed's Phemex L2 book and
ccxt pro's ``watch_order_book``, pointed at the emulator, rebuild the emulator's true book.

Each test runs a real emulator on 127.0.0.1 serving one symbol and the peer library, unchanged,
in a child process (``peer_client.py``; only its endpoints point at the emulator, as
bench/ingest.py does). The market runs until every peer's connection was sent its subscribe
snapshot, incrementals, a periodic snapshot (every 1 s here) and incrementals after it; then
it halts (the books stand still). Two comparisons, exact decimals, both sides, at depth 30
(both peers subscribe with ``[symbol]``, Phemex's depth-30 book; the emulator's view of each
connection is checked to be depth 30):

* while the market ran: every book state the peer handed its user against the truth log
  (``<truth>.books.jsonl``) at the peer's last applied message: ccxt exposes the message's
  ``sequence`` (``nonce``); cryptofeed exposes only its ``timestamp``, as float seconds
  (``OrderBook.timestamp``; ``sequence_number`` is None for Phemex), mapped back to the
  truth's ns instant exactly (see ``TruthClock``);
* halted: the peer's last state against the emulator's book (``fanout.books``), waited for.

Which symbols each peer supports on Phemex (evidence: the installed peers' code):

* ccxt 4.5.90 (``ccxt/pro/phemex.py``): all three. ``watch_order_book`` subscribes
  ``orderbook_p`` for swaps settled in USDT, ``orderbook`` otherwise; ``handle_order_book``
  reads ``book`` or ``orderbook_p``; ``custom_parse_bid_ask`` divides prices by the market's
  ``priceScale`` and spot sizes by the base currency's ``valueScale``.
* cryptofeed 2.4.1 (``cryptofeed/exchanges/phemex.py``): BTCUSD (COIN-M) and sBTCUSDT (spot).
  Not BTCUSDT (USDⓈ-M): ``_parse_symbol_data`` reads only ``data.products`` (USDⓈ-M rows are in
  ``data.perpProductsV2``), ``websocket_channels`` has only ``orderbook.subscribe`` and
  ``message_handler`` knows no ``orderbook_p`` key; ``test_cryptofeed_has_no_usdt_m_books``
  checks these facts, so the skip below cannot outlive them.

What the peers get wrong against the protocol reference (docs: phemex-protocol.md §6.1, §7),
pinned here so that a change on either side shows:

* cryptofeed keeps spot sizes in the wire's scaled integers (``Decimal(amount)`` in ``_book``:
  sBTCUSDT sizes in 1e-8 BTC, reference §7: qty Ev / 10**valueScale of BTC = 8); prices are
  right. The comparisons scale its sizes by :data:`CRYPTOFEED_SIZE_EXP`.
* cryptofeed never trims its book to the subscribed depth. The emulator, following Phemex's
  "How to manage local orderbook?" (keep the top N; a level that falls behind it is not
  updated until it comes back), sends no delete for a level pushed out of the top 30, so such
  a level stays in cryptofeed's book and, once the exchange removed it out of sight, comes back
  into cryptofeed's top 30 as a level that no longer exists. (cryptofeed's own ``max_depth``
  does not help: its order_book only hides the levels beyond it.) So cryptofeed as shipped is
  held to: the true top 30 is in its book, level for level (it holds no wrong size and misses
  no level); and cryptofeed with the reference's trim in the user's callback
  (``cryptofeed+trim``) to exact equality. Against Phemex itself cryptofeed as shipped is
  likely right: in cryptofeed's recorded Phemex session (sample_data/PHEMEX.ws.*, July 2021,
  ``[symbol]`` subscriptions, reference §6.1) the server kept the 30-level window itself:
  after each of its 1,324 incrementals each side held exactly 30 levels, every insert paired
  with a delete. The emulator does not (ticklake/emulator/book.py ``_diff``): a fidelity
  question for the emulator, left to its owners; if it changes, cryptofeed as shipped can be
  held to equality too.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from pathlib import Path

import pytest

from ticklake.emulator.catalog_payload import payload

from .support import DEPTH, Book, BookRun, PeerState, TruthClock, book_diff, watch_books

pytestmark = pytest.mark.peers

# cryptofeed's sizes are the wire's integers: contracts for COIN-M (exact), 1e-8 BTC for spot.
CRYPTOFEED_SIZE_EXP = {"BTCUSD": 0, "sBTCUSDT": 8}
NO_USDT_M = ("cryptofeed 2.4.1 has no USDⓈ-M books: it reads only data.products and serves "
             "no orderbook_p channel (test_cryptofeed_has_no_usdt_m_books)")
MIN_RUNNING_STATES = 10  # states compared while the market ran, per peer, at least


def installed(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: the peers extra (make test-peers)")


def contains(held: Book, truth: Book) -> bool:
    """Every true level is in the peer's book with its true size (extra levels allowed)."""
    return all(held[i].get(p) == q for i in (0, 1) for p, q in truth[i].items())


def at_seconds(truth: TruthClock, state: PeerState) -> Book:
    assert isinstance(state.ts, float), state.ts
    return truth.book(truth.ts_of_seconds(state.ts))


def at_sequence(truth: TruthClock, state: PeerState) -> Book:
    assert isinstance(state.nonce, int), state.nonce
    return truth.book(truth.ts_of_sequence(state.nonce))


def running_checked(run: BookRun, label: str) -> int:
    """States the peer handed its user while the market ran, at least MIN_RUNNING_STATES."""
    n = run.before_halt[label]
    assert n >= MIN_RUNNING_STATES, f"{label}: only {n} book states before the halt"
    return n


def report(run: BookRun, **per_peer: object) -> None:
    print(f"PEERS {run.symbol}: market ran {run.run_s:.2f}s after subscribe; "
          f"settled after halt {({k: round(v, 3) for k, v in run.settle_s.items()})}; "
          f"frames sent {sorted(run.frames.values())}; {per_peer}")


@pytest.mark.parametrize("symbol", [
    "BTCUSD",
    pytest.param("BTCUSDT", marks=pytest.mark.skip(reason=NO_USDT_M)),
    "sBTCUSDT",
])
def test_cryptofeed_rebuilds_the_true_book(tmp_path: Path, symbol: str) -> None:
    installed("cryptofeed")
    exp = CRYPTOFEED_SIZE_EXP[symbol]
    shipped, trimmed = "cryptofeed", "cryptofeed+trim"

    def agrees(label: str, state: PeerState, final: Book) -> bool:
        state = state.sizes_scaled(exp)
        if label == shipped:
            return contains((state.bids, state.asks), final)
        return state.top() == final

    run = asyncio.run(watch_books(tmp_path, symbol, [("cryptofeed", ""), ("cryptofeed", "trim")],
                                  agrees))
    stale = {}
    for label in (shipped, trimmed):
        states = [s.sizes_scaled(exp) for s in run.peers[label].states]
        running_checked(run, label)
        # One callback per message: the subscribe snapshot and the periodic one(s) are there.
        snapshots = sum(1 for s in states if s.snapshot)
        assert snapshots >= 2, f"{label}: {snapshots} snapshots applied"
        assert sum(1 for s in states if s.snapshot is False) >= MIN_RUNNING_STATES
        assert all(s.nonce is None for s in states)  # cryptofeed has no sequence for Phemex
        wrong = 0
        for i, state in enumerate(states):
            true = at_seconds(run.truth, state)
            if label == trimmed:
                assert state.top() == true, f"{label} state {i}: {book_diff(state.top(), true)}"
            else:
                held = (state.bids, state.asks)
                assert contains(held, true), f"{label} state {i}: {book_diff(state.top(), true)}"
                wrong += state.top() != true  # a level gone out of sight is back in its top 30
        stale[label] = f"{wrong}/{len(states)} states with a stale level in the top {DEPTH}"
        last = states[-1]
        if label == trimmed:
            assert last.top() == run.final, book_diff(last.top(), run.final)
        else:
            assert contains((last.bids, last.asks), run.final), book_diff(last.top(), run.final)
    # Sizes as cryptofeed states them: the wire's integers, 10**exp times the true sizes.
    raw = run.peers[trimmed].states[-1].top()
    assert raw == tuple({p: q.scaleb(exp) for p, q in side.items()} for side in run.final)
    report(run, **stale)


@pytest.mark.parametrize("symbol", ["BTCUSD", "BTCUSDT", "sBTCUSDT"])
def test_ccxt_rebuilds_the_true_book(tmp_path: Path, symbol: str) -> None:
    installed("ccxt")

    def agrees(label: str, state: PeerState, final: Book) -> bool:
        return state.top() == final

    run = asyncio.run(watch_books(tmp_path, symbol, [("ccxt", "")], agrees))
    states = run.peers["ccxt"].states
    running_checked(run, "ccxt")
    for i, state in enumerate(states):
        # ccxt trims to the message's depth (30) whenever it hands the book out.
        assert len(state.bids) <= DEPTH and len(state.asks) <= DEPTH, i
        true = at_sequence(run.truth, state)
        assert state.top() == true, f"ccxt state {i} (nonce {state.nonce}): " + book_diff(
            state.top(), true)
    assert states[-1].top() == run.final, book_diff(states[-1].top(), run.final)
    # The truth log's book at the last message is the emulator's book: the halt froze both.
    assert at_sequence(run.truth, states[-1]) == run.final
    report(run, ccxt=f"{len(states)} states compared")


def test_cryptofeed_has_no_usdt_m_books() -> None:
    """The evidence behind skipping cryptofeed's BTCUSDT (USDⓈ-M) book."""
    installed("cryptofeed")
    from cryptofeed.defines import L2_BOOK
    from cryptofeed.exchanges import Phemex

    products = payload("basic", ("BTCUSD", "BTCUSDT", "sBTCUSDT"))
    assert any(r["symbol"] == "BTCUSDT" for r in products["data"]["perpProductsV2"])
    mapping, _ = Phemex._parse_symbol_data(products)
    assert set(mapping.values()) == {"BTCUSD", "ETHUSD", "sBTCUSDT"}  # no BTCUSDT
    assert Phemex.websocket_channels[L2_BOOK] == "orderbook.subscribe"
    assert "orderbook_p" not in inspect.getsource(Phemex)
