"""EmulatorConfig: every knob of the emulated exchange, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ticklake.emulator.catalog import CATALOGS, resolve_symbols
from ticklake.emulator.faults import FaultKind, parse_kind

__all__ = ["PACK_VARIANTS", "SNAPSHOT_TRADES", "UNKNOWN_METHOD_CODE", "EmulatorConfig"]

# The real code for an unknown method is not public (reference §2, §10); 6001 is the only
# code seen live. We use a distinct value so clients must branch on ``error != null``.
UNKNOWN_METHOD_CODE = 6002
# Trades in the snapshot sent on every (re)subscribe, per catalog: 200 today, 1000 before
# May 2022 (reference §4; phemex-api-docs d58c1eb), so the 2021-shaped exchange sends 1000.
SNAPSHOT_TRADES = {"basic": 200, "exchange": 200, "exchange-2021": 1000}
PACK_VARIANTS = ("legacy", "2024", "appended")  # ticker_pack_fields (ticker_frames.py)
# clock_start_ns bound: timestamps stay int64 (the truth's Parquet, clients) for a long fast run.
_MAX_NS = 2**62


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    # "basic": the 4 real products (+ synthetic Z… symbols); "exchange": hundreds of rows
    # shaped like today's Phemex; "exchange-2021": the same in the 2021 payload shape
    # (see catalog.py, catalog_payload.py).
    catalog: str = "basic"
    # Served (traded) symbols; "all" / "all:coin-m" / "all:usdt-m" / "all:spot" expand to the
    # listed symbols of the catalog (of one family), in payload order.
    symbols: tuple[str, ...] = ("BTCUSD",)
    seed: int = 7
    # Mean trades per *exchange* second per symbol (Hawkes bursts around it): at clock_speed k
    # the wire carries k times as many per real second.
    rate: float = 50.0
    batch_ms: float = 20.0  # incremental batching period, real ms
    snapshot_size: int | None = None  # None: the catalog's (SNAPSHOT_TRADES); else this
    history: int = 0  # trades per symbol pre-generated before start (first snapshot)
    # The exchange clock (clock.py): exchange seconds per real second, and the exchange time
    # at start (epoch ns; None = now). Trade, book, ticker and kline times, 24 h windows, bars
    # and funding follow it; the periods below (batch_ms, book_snapshot_interval,
    # ticker_interval, kline_push_interval, fault and swing schedules) and heartbeat_timeout
    # stay real seconds.
    clock_speed: float = 1.0
    clock_start_ns: int | None = None
    truth_path: str | None = None  # every produced trade appended here (JSONL or .parquet)
    heartbeat_timeout: float = 30.0  # drop a connection without server.ping/protocol ping
    any_message_keeps_alive: bool = False  # §9.4: also count other client messages
    max_subscriptions: int = 20  # per connection; exceeding closes it with 1008
    legacy_410: bool = False  # upgrade on /ws answers HTTP 410; "/" still works
    extra_keys: bool = True  # dts/mts on trades_p messages (§9.9)
    max_trades_per_message: int = 0  # 0 = no cap; else split big batches
    book_snapshot_interval: float = 60.0  # periodic full order-book snapshot (§6.1), real s
    # 24 h tickers and ticks (§6.3, §6.4; tickers.py): every channel pushed every this many
    # real s (at clock_speed k each push steps index/mark/funding k times as far).
    ticker_interval: float = 1.0
    ticker_inner_timestamp: bool = False  # market24h: "timestamp" inside the object too (C)
    # perp_market24h_pack_p columns: "legacy" (12), "2024" (+ bidRp, askRp), "appended" (2024
    # plus a column no client knows, at the end: clients must read by ``fields`` name)
    ticker_pack_fields: str = "2024"
    # Klines (§6.2; klines.py, kline_fanout.py): the changed bars are pushed every this many
    # real seconds; 0 = every batch period (H: "published with 20ms interval").
    kline_push_interval: float = 0.0
    kline_scales: bool = True  # priceScale/valueScale(/qtyScale) on kline messages (ROQ 2025)
    # Switchable limits (§9.6), off by default.
    max_requests_per_second: float = 0.0  # 0 = off; exceeding closes the connection (1008)
    max_connections: int = 0  # 0 = off; further upgrades get HTTP 429
    unknown_method_code: int = UNKNOWN_METHOD_CODE
    # Scheduled faults (CLI --fault-every/--faults), always applied to target "all".
    fault_schedule: tuple[tuple[float, str], ...] = ()  # (seconds after start, kind)
    fault_every: float = 0.0  # 0 = off; else a random kind of fault_kinds every N s (seeded)
    fault_kinds: tuple[str, ...] = ()
    fault_seconds: float = 3.0  # duration for scheduled stall/refuse/pong_delay
    # Market realism and labelled price swings (ground truth for the detector).
    vol_of_vol: float = 0.0  # stationary sd of the OU log-volatility (0 = constant volatility)
    swing_every: float = 0.0  # 0 = off; else a random labelled swing every N s (seeded)
    labels_path: str | None = None  # every injected swing's label appended here (JSONL)

    def __post_init__(self) -> None:
        _require(self.catalog in CATALOGS, f"catalog must be one of {CATALOGS}", self.catalog)
        _require(bool(self.symbols), "symbols must not be empty", self.symbols)
        try:
            symbols = resolve_symbols(self.catalog, self.symbols)
        except ValueError as exc:
            msg = f"emulator config: {exc}"
            raise ValueError(msg) from None
        object.__setattr__(self, "symbols", symbols)  # frozen: expanded once, here
        _require(bool(self.symbols), "symbols must not be empty", self.symbols)
        _require(len(set(self.symbols)) == len(self.symbols), "duplicate symbols", self.symbols)
        _require(0 <= self.port <= 65535, "port out of range", self.port)
        _require(_finite(self.rate) and self.rate >= 0, "rate must be >= 0", self.rate)
        _require(_finite(self.batch_ms) and self.batch_ms > 0, "batch_ms must be > 0",
                 self.batch_ms)
        _require(self.snapshot_size is None or self.snapshot_size >= 0,
                 "snapshot_size must be >= 0", self.snapshot_size)
        _require(self.history >= 0, "history must be >= 0", self.history)
        _require(_finite(self.clock_speed) and self.clock_speed > 0,
                 "clock_speed must be > 0", self.clock_speed)
        _require(self.clock_start_ns is None or (type(self.clock_start_ns) is int
                                                 and 0 <= self.clock_start_ns < _MAX_NS),
                 "clock_start_ns must be epoch ns in [0, 2**62)", self.clock_start_ns)
        _require(self.heartbeat_timeout > 0, "heartbeat_timeout must be > 0",
                 self.heartbeat_timeout)
        _require(self.max_subscriptions >= 1, "max_subscriptions must be >= 1",
                 self.max_subscriptions)
        _require(self.max_trades_per_message >= 0, "max_trades_per_message must be >= 0",
                 self.max_trades_per_message)
        _require(_finite(self.book_snapshot_interval) and self.book_snapshot_interval > 0,
                 "book_snapshot_interval must be > 0", self.book_snapshot_interval)
        _require(_finite(self.ticker_interval) and self.ticker_interval > 0,
                 "ticker_interval must be > 0", self.ticker_interval)
        _require(_finite(self.kline_push_interval) and self.kline_push_interval >= 0,
                 "kline_push_interval must be >= 0", self.kline_push_interval)
        _require(self.ticker_pack_fields in PACK_VARIANTS,
                 f"ticker_pack_fields must be one of {PACK_VARIANTS}", self.ticker_pack_fields)
        _require(self.max_requests_per_second >= 0, "max_requests_per_second must be >= 0",
                 self.max_requests_per_second)
        _require(self.max_connections >= 0, "max_connections must be >= 0",
                 self.max_connections)
        _require(_finite(self.fault_every) and self.fault_every >= 0,
                 "fault_every must be >= 0", self.fault_every)
        _require(_finite(self.fault_seconds) and self.fault_seconds >= 0,
                 "fault_seconds must be >= 0", self.fault_seconds)
        _require(_finite(self.vol_of_vol) and 0 <= self.vol_of_vol <= 3,
                 "vol_of_vol must be in [0, 3]", self.vol_of_vol)
        _require(_finite(self.swing_every) and self.swing_every >= 0,
                 "swing_every must be >= 0", self.swing_every)
        _require(not (self.fault_every > 0 and not self.fault_kinds),
                 "fault_every needs fault_kinds", self.fault_kinds)
        for at, kind in self.fault_schedule:
            _require(_finite(at) and at >= 0, "fault_schedule time must be >= 0", at)
            parse_kind(kind)
        for kind in self.fault_kinds:
            parse_kind(kind)

    @property
    def snapshot_trades(self) -> int:
        """Trades per snapshot: ``snapshot_size`` if given, else the catalog's default."""
        if self.snapshot_size is not None:
            return self.snapshot_size
        return SNAPSHOT_TRADES[self.catalog]

    def scheduled_kinds(self) -> tuple[FaultKind, ...]:
        return tuple(parse_kind(k) for k in self.fault_kinds)


def _finite(value: float) -> bool:
    return math.isfinite(value)


def _require(ok: bool, what: str, value: object) -> None:
    if not ok:
        msg = f"emulator config: {what}: {value!r}"
        raise ValueError(msg)
