"""Which symbols a recorder records, and on which of its connections.

Phemex allows 5 connections per client and 20 subscriptions per connection (reference §1.2),
so one recorder holds at most 100 trade subscriptions; more symbols are split across recorder
processes with ``--shard i/n``.

* **Shards** use jump consistent hashing (Lamping & Veach, 2014) of a stable 64-bit digest of
  the symbol. Every process computes the same assignment from the symbol alone — not from its
  position in a list — so adding or delisting a symbol never moves another one to a different
  process, and growing from n to n+1 shards moves only about 1/(n+1) of the symbols (all of
  them to the new shard). A sorted round-robin would balance exactly but shift every symbol
  after an insertion, i.e. during a rolling restart some symbols would be recorded twice and
  others not at all. The price is balance: shard sizes vary binomially around len/n.
* **Connections** inside a recorder: as few as the symbols need (ceil(len/20)), filled evenly
  with consecutive symbols of the sorted list. Connection membership only matters inside one
  process, and every connection resubscribes with a snapshot on restart, so stability across
  restarts is not needed there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from ticklake.errors import ConfigError
from ticklake.feed.phemex.limits import MAX_CONNECTIONS, MAX_SUBSCRIPTIONS
from ticklake.feed.phemex.products import ProductTable, parse_family

FAMILY_PREFIX = "all:"
_JUMP_MULTIPLIER = 2862933555777941757
_U64 = 2**64
_SYMBOLS = "feed.symbols"
_SHARD = "feed.shard"


def symbol_key(symbol: str) -> int:
    """A 64-bit digest of the symbol, identical in every process and Python version."""
    return int.from_bytes(hashlib.blake2b(symbol.encode(), digest_size=8).digest(), "big")


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash: the bucket in ``range(buckets)`` for a 64-bit key."""
    if buckets < 1:
        msg = f"buckets must be >= 1, got {buckets}"
        raise ValueError(msg)
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * _JUMP_MULTIPLIER + 1) % _U64
        candidate = int((bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return bucket


def shard_of(symbol: str, count: int) -> int:
    """The shard (0 ≤ shard < count) that records ``symbol``."""
    return jump_hash(symbol_key(symbol), count)


def shard_symbols(symbols: Iterable[str], shard: tuple[int, int] | None) -> list[str]:
    """The sorted part of ``symbols`` that shard ``(index, count)`` records (all if None)."""
    chosen = sorted(set(symbols))
    if shard is None:
        return chosen
    index, count = shard
    return [s for s in chosen if shard_of(s, count) == index]


def pack_connections(
    symbols: Sequence[str], max_connections: int = MAX_CONNECTIONS,
    per_connection: int = MAX_SUBSCRIPTIONS,
) -> list[list[str]]:
    """Symbols per connection: the fewest connections, evenly filled, sorted order.

    Raises ConfigError when they do not fit in ``max_connections`` × ``per_connection``.
    """
    ordered = sorted(symbols)
    capacity = max_connections * per_connection
    if len(ordered) > capacity:
        raise ConfigError(
            _SYMBOLS, f"{len(ordered)} symbols",
            f"more than {max_connections} connections × {per_connection} subscriptions "
            f"= {capacity} per recorder; split them across (more) processes with --shard i/n",
        )
    if not ordered:
        return []
    count = -(-len(ordered) // per_connection)
    size, extra = divmod(len(ordered), count)
    groups, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(ordered[start:end])
        start = end
    return groups


def families_requested(requested: Iterable[str]) -> bool:
    return any(entry.startswith(FAMILY_PREFIX) for entry in requested)


def check_families(requested: Iterable[str]) -> None:
    """Refuse an unknown ``all:<family>`` before anything is fetched."""
    for entry in requested:
        if entry.startswith(FAMILY_PREFIX):
            _family(entry)


def _family(entry: str) -> str:
    name = entry.removeprefix(FAMILY_PREFIX)
    try:
        return parse_family(name).value
    except ValueError as exc:
        raise ConfigError(_SYMBOLS, entry, str(exc)) from None


def expand_symbols(requested: Iterable[str], products: ProductTable) -> list[str]:
    """Explicit symbols plus every listed symbol of each ``all:<family>`` entry, sorted."""
    chosen: set[str] = set()
    for entry in requested:
        if entry.startswith(FAMILY_PREFIX):
            family = parse_family(_family(entry))
            members = products.family_symbols(family)
            if not members:
                raise ConfigError(_SYMBOLS, entry, "the products payload lists none")
            chosen.update(members)
        else:
            chosen.add(entry)
    return sorted(chosen)


def plan_connections(
    requested: Iterable[str], products: ProductTable, shard: tuple[int, int] | None = None,
    max_connections: int = MAX_CONNECTIONS, channels: int = 1, reserved: int = 0,
) -> list[list[str]]:
    """Symbol groups, one per connection, for this recorder (its shard of the request);
    each symbol takes ``channels`` of a connection's subscriptions (trades 1, book 1, ticks
    4), and ``reserved`` of each connection's are kept for channels of no one symbol (a
    family's 24 h tickers)."""
    mine = shard_symbols(expand_symbols(requested, products), shard)
    if not mine:
        index, count = shard or (0, 1)
        raise ConfigError(_SHARD, f"{index}/{count}",
                          "this shard gets no symbol; use fewer shards")
    groups = pack_connections(mine, max_connections,
                              max(1, (MAX_SUBSCRIPTIONS - reserved) // channels))
    for symbol in mine:
        products.require(symbol)  # an unknown symbol is named before anything connects
    return groups
