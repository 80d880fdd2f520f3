"""Input generation and an independent oracle for the frame-decoder fuzz test.

The oracle reads a frame with the standard library's JSON parser and the wire format of the
Phemex reference (not with ticklake's code) and says what must happen to it: ``reject`` (a
``FrameRejected`` event, so the frame lands in the ``rejected`` table), ``reply`` (rejected
live as a reply to no request; passed over by the lake writer, which replays replies as
they were), ``trades`` (a trade message: trades, a gap or a duplicate notice, never a
rejection), ``tickers`` (a 24 h ticker or tick push: its followed symbols' rows, never a
rejection) or ``other`` (a push of another channel, kept raw).
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Any

from ticklake.feed.phemex import default_products

FIXTURES = Path(__file__).parent.parent / "fixtures" / "phemex"
RECV_NS = 1_764_900_000 * 10**9  # receive time: a day after the captures
HOUR_NS = 3600 * 10**9
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_BODIES = ("market24h", "spot_market24h", "market24h_p", "tick", "tick_p")
INT64 = 2**63  # every wire integer lands in an int64 column: a larger one is a bad frame
SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")  # followed: trades and 24 h tickers
LIMIT, WIDE_LIMIT = 10**18, 10**38  # the lake's decimal(18, 8) and decimal(38, 8), unscaled
# §6.3 names → (how the value is scaled, whether its column is a wide one)
_COIN_M_NAMES = {**dict.fromkeys(("open", "high", "low", "close", "indexPrice", "markPrice"),
                                 ("price", False)),
                 "volume": ("contracts", True), "openInterest": ("contracts", True),
                 "turnover": ("value", True), "fundingRate": ("ratio", False),
                 "predFundingRate": ("ratio", False)}
_SPOT_NAMES = {**dict.fromkeys(("openEp", "highEp", "lowEp", "lastEp", "bidEp", "askEp"),
                               ("price", False)),
               "volumeEv": ("qty", True), "turnoverEv": ("price", True)}
_TEXT_NAMES = {**dict.fromkeys(("openRp", "highRp", "lowRp", "lastRp", "closeRp", "bidRp",
                                "askRp", "indexRp", "indexPriceRp", "markRp", "markPriceRp",
                                "fundingRateRr", "predFundingRateRr"), False),
               **dict.fromkeys(("volumeRq", "turnoverRv", "openInterestRv"), True)}


def _int(value: Any, low: int | None = None, high: int | None = None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and (low is None or value >= low) and (high is None or value < high))


def _reject_constant(name: str) -> Any:
    msg = f"not JSON: {name}"
    raise ValueError(msg)


def _decimal_ok(text: Any, scale: int) -> bool:
    if not isinstance(text, str) or not text.isascii() or len(text) > 40:
        return False
    if not _DECIMAL.fullmatch(text):
        return False
    return not text.partition(".")[2][scale:].strip("0")  # no digit beyond the scale


def _rows_ok(rows: Any, decimal: bool, scales: tuple[int, int]) -> bool:
    if not isinstance(rows, list):
        return False
    for row in rows:
        if not (isinstance(row, list) and len(row) == 4 and _int(row[0], 0, INT64)
                and row[1] in ("Buy", "Sell")):
            return False
        if decimal:
            if not (_decimal_ok(row[2], scales[0]) and _decimal_ok(row[3], scales[1])):
                return False
        elif not (_int(row[2], 0, INT64) and _int(row[3], 0, INT64)):
            return False
    return True


_DECODED = ("id", "error", "result", "symbol", "type", "sequence", "trades", "trades_p")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_replacement(value: Any) -> bool:
    if isinstance(value, str):
        return "\ufffd" in value
    if isinstance(value, list):
        return any(_has_replacement(v) for v in value)
    if isinstance(value, dict):
        return any(_has_replacement(k) or _has_replacement(v) for k, v in value.items())
    return False


def _rows_p_typed(rows: Any) -> bool:
    return isinstance(rows, list) and all(
        isinstance(row, list) and len(row) == 4 and _int(row[0], 0, INT64)
        and row[1] in ("Buy", "Sell") and isinstance(row[2], str) and isinstance(row[3], str)
        for row in rows)


def _book_ok(message: dict[str, Any]) -> bool:
    """An order-book push that reads (§6.1): a known symbol, a type, a sequence, exactly one
    of ``book`` (integer levels) and ``orderbook_p`` (decimal strings within the scales)."""
    get = message.get
    product = default_products().get(get("symbol")) if isinstance(get("symbol"), str) else None
    stamp = get("timestamp")
    if not (product is not None and get("type") in ("snapshot", "incremental")
            and _int(get("sequence"), 0, INT64)
            and (stamp is None or _int(stamp, 0, INT64) or (
                isinstance(stamp, str) and stamp.isascii() and stamp.isdigit()
                and int(stamp) < INT64))
            and (get("depth") is None or _int(get("depth"), 0, INT64))
            and (get("book") is None) != (get("orderbook_p") is None)):
        return False
    text = get("book") is None
    body = get("orderbook_p") if text else get("book")
    if not isinstance(body, dict):
        return False
    for side in ("asks", "bids"):
        levels = body.get(side, [])
        if not isinstance(levels, list):
            return False
        for level in levels:
            if not (isinstance(level, list) and len(level) == 2):
                return False
            if text and not (_decimal_ok(level[0], product.price_scale)
                             and _decimal_ok(level[1], product.qty_scale)):
                return False
            if not text and not (_int(level[0], 0, INT64) and _int(level[1], 0, INT64)):
                return False
            price, qty = ((_units(level[0], product.price_scale), _units(level[1],
                           product.qty_scale)) if text else (level[0], level[1]))
            if (price * 10 ** (8 - product.price_scale) >= 10**18
                    or qty * 10 ** (8 - product.qty_scale) >= 10**18):
                return False  # beyond the lake's decimal(18, 8): refused live and in the lake
    return True


def _units(text: str, scale: int) -> int:
    whole, _, frac = text.partition(".")
    return int(whole + frac[:scale].ljust(scale, "0"))


class _Ambiguous(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):  # RFC 8259: "unpredictable"; parsers differ here
        raise _Ambiguous
    return dict(pairs)


def expected(data: bytes) -> str:
    """What the recorder must do with ``data`` (see the module docstring); ``ambiguous`` for
    an object with a repeated key (no verdict: it must only not crash, and the live path and
    the lake must agree on it)."""
    # Bytes that are not UTF-8 are tolerated inside strings that nothing reads (they reach
    # raw as U+FFFD), and refused anywhere else: "replace" gives exactly that verdict.
    try:
        message = json.loads(data.decode("utf-8", "replace"), parse_constant=_reject_constant,
                             object_pairs_hook=_pairs)
    except _Ambiguous:
        return "ambiguous"
    except (ValueError, RecursionError):
        return "reject"
    if not isinstance(message, dict):
        return "reject"
    if _has_replacement([message.get(key) for key in _DECODED]) and not _utf8(data):
        return "reject"  # a value the decoder reads as text is not UTF-8
    if _out_of_range([message.get(key) for key in ("timestamp", "depth", "result")]):
        return "reject"  # read as any JSON value by the first decode of every frame
    get = message.get
    error = get("error")
    if not (
        (get("id") is None or _int(get("id")))
        and (error is None or (isinstance(error, dict) and _int(error.get("code"))
                               and isinstance(error.get("message", ""), str)))
        and (get("result") is None or isinstance(get("result"), str | dict))
        and (get("symbol") is None or isinstance(get("symbol"), str))
        and (get("type") is None or isinstance(get("type"), str))
        and (get("sequence") is None or _int(get("sequence"), 0, INT64))
        and (get("trades") is None or _rows_ok(get("trades"), False, (0, 0)))
        and (get("trades_p") is None or _rows_p_typed(get("trades_p")))
    ):
        return "reject"
    if get("trades") is not None or get("trades_p") is not None:
        product = default_products().get(get("symbol")) if isinstance(get("symbol"), str) else None
        if get("sequence") is None or get("type") not in ("snapshot", "incremental"):
            return "reject"
        if product is None:
            return "reject"
        if get("trades") is not None:
            rows = get("trades")
        else:
            rows = get("trades_p")
            if not _rows_ok(rows, True, (product.price_scale, product.qty_scale)):
                return "reject"
        if rows and max(row[0] for row in rows) > RECV_NS + HOUR_NS:
            return "reject"
        return "trades"
    if get("id") is not None or error is not None:
        return "reply"
    if "book" in message or "orderbook_p" in message:
        return "other" if _book_ok(message) else "reject"
    return _other_push(message, data)


def _out_of_range(value: Any) -> bool:
    """A number no double holds (``1e400``): what a decoder reading it as any JSON value
    refuses (the parser here reads it as an infinity)."""
    if isinstance(value, float):
        return math.isinf(value)
    if isinstance(value, list):
        return any(_out_of_range(v) for v in value)
    if isinstance(value, dict):
        return any(_out_of_range(v) for v in value.values())
    return False


def _stamp_ok(stamp: Any) -> bool:
    return stamp is None or _int(stamp, 0, INT64) or (
        isinstance(stamp, str) and stamp.isascii() and stamp.isdigit() and int(stamp) < INT64)


def _other_push(message: dict[str, Any], data: bytes) -> str:
    """Klines (kept raw), 24 h tickers and ticks (§6.2-6.4), or nothing Phemex sends."""
    get = message.get
    fields, rows = get("fields"), get("data")
    if (any(get(key) is not None and not isinstance(get(key), dict) for key in _BODIES)
            or (fields is not None and not (isinstance(fields, list)
                                            and all(isinstance(f, str) for f in fields)))
            or (rows is not None and not (isinstance(rows, list)
                                          and all(isinstance(r, list) for r in rows)))):
        return "reject"  # a push of these channels always has these shapes
    decoded = [get(key) for key in (*_BODIES, "fields", "data", "timestamp")]
    if _out_of_range(decoded) or (_has_replacement(decoded) and not _utf8(data)):
        return "reject"  # (the push is decoded whole: these values are read as any JSON)
    if "kline" in message or "kline_p" in message:
        return "tickers" if _klines_ok(message, data) else "reject"
    if fields is not None and rows is not None:
        if not _stamp_ok(get("timestamp")) or "symbol" not in fields:
            return "reject"
        at = fields.index("symbol")
        for row in rows:
            if len(row) != len(fields):
                return "reject"
            if row[at] in SYMBOLS and not _text_ok(dict(zip(fields, row, strict=True))):
                return "reject"
        return "tickers"
    for key, names in (("market24h", _COIN_M_NAMES), ("spot_market24h", _SPOT_NAMES)):
        body = get(key)
        if body is not None:
            symbol = body.get("symbol")
            if not (isinstance(symbol, str) and symbol):
                return "reject"
            if symbol not in SYMBOLS:
                return "tickers"  # not followed: not read
            stamp = get("timestamp") if get("timestamp") is not None else body.get("timestamp")
            return "tickers" if _stamp_ok(stamp) and _scaled_ok(body, names) else "reject"
    if not _stamp_ok(get("timestamp")):
        return "reject"
    return _single(message)


_KLINE_SCALE_KEYS = ("priceScale", "valueScale", "qtyScale")


def _klines_ok(message: dict[str, Any], data: bytes) -> bool:
    """A kline message (§6.2) that reads: bars of nine values, ``ts`` and interval in whole
    seconds, the seven numbers non-negative integers at the message's (else the product's)
    scales, or decimal strings on ``kline_p`` (USDⓈ-M only)."""
    get = message.get
    kline, kline_p = get("kline"), get("kline_p")
    if any(value is not None and not (isinstance(value, list)
                                      and all(isinstance(bar, list) for bar in value))
           for value in (kline, kline_p)):
        return False
    if any(get(key) is not None and not _int(get(key)) for key in _KLINE_SCALE_KEYS):
        return False
    if _out_of_range([kline, kline_p]) or (_has_replacement([kline, kline_p])
                                           and not _utf8(data)):
        return False
    text = kline_p is not None
    bars = kline_p if text else kline
    symbol = get("symbol")
    if bars is None or not (isinstance(symbol, str) and symbol and _int(get("sequence"), 0)
                            and get("type") in ("snapshot", "incremental")):
        return False
    product = default_products().get(symbol)
    if product is None or text != (product.trade_channel == "trade_p"):
        return False
    if text:
        scales = [None] * 7
    else:
        price = get("priceScale") if get("priceScale") is not None else product.price_scale
        qty = ((get("qtyScale") if get("qtyScale") is not None else product.qty_scale)
               if product.family.value == "spot" else 0)  # COIN-M volume: contracts
        value = get("valueScale") if get("valueScale") is not None else product.value_scale
        if value is None or not all(0 <= x <= 8 for x in (price, qty, value)):
            return False
        scales = [price] * 5 + [qty, value]
    for bar in bars:
        if not (len(bar) == 9 and _int(bar[0], 0, INT64 // 10**9) and _int(bar[1], 1, 2**31)):
            return False
        for i, (raw, scale) in enumerate(zip(bar[2:], scales, strict=True)):
            limit = WIDE_LIMIT if i >= 5 else LIMIT
            if scale is None and not (_decimal_ok(raw, 8) and _units(raw, 8) < limit):
                return False
            if scale is not None and not (_int(raw, 0) and raw * 10 ** (8 - scale) < limit):
                return False
    return True


def _single(message: dict[str, Any]) -> str:
    """``market24h_p``, ``tick`` or ``tick_p``."""
    body = message.get("market24h_p")
    if body is not None:
        symbol = body.get("symbol")
        if not (isinstance(symbol, str) and symbol):
            return "reject"
        return "tickers" if symbol not in SYMBOLS or _text_ok(body) else "reject"
    tick, tick_p = message.get("tick"), message.get("tick_p")
    body = tick if tick is not None else tick_p
    if body is None:
        return "reject"
    symbol, last = body.get("symbol"), body.get("last")
    if not (isinstance(symbol, str) and symbol and _stamp_ok(body.get("timestamp"))):
        return "reject"
    if tick is not None:
        scale = body.get("scale")
        ok = (_int(scale, 0, 9) and _int(last)
              and abs(last) * 10 ** (8 - scale) < LIMIT)
    else:
        ok = _signed_ok(last, LIMIT)
    return "tickers" if ok else "reject"


def _scaled_ok(body: dict[str, Any], names: dict[str, tuple[str, bool]]) -> bool:
    product = default_products().require(body["symbol"])
    scales = {"price": product.price_scale, "qty": product.qty_scale, "ratio": 8,
              "contracts": 0, "value": product.value_scale}
    for name, value in body.items():
        if name not in names:
            continue
        kind, wide = names[name]
        scale = scales[kind]
        if not _int(value) or scale is None:
            return False
        if abs(value) * 10 ** (8 - scale) >= (WIDE_LIMIT if wide else LIMIT):
            return False
    return True


def _text_ok(body: dict[str, Any]) -> bool:
    symbol = body.get("symbol")
    if not (isinstance(symbol, str) and symbol):
        return False
    product = default_products().get(symbol)
    if product is not None and product.trade_channel != "trade_p":
        return False  # the decimal-string channels are USDⓈ-M ones
    return all(value is None or _signed_ok(value, WIDE_LIMIT if wide else LIMIT)
               for name, wide in _TEXT_NAMES.items()
               for value in [body.get(name)] if name in body)


def _signed_ok(text: Any, limit: int) -> bool:
    if not isinstance(text, str):
        return False
    unsigned = text.removeprefix("-")
    return _decimal_ok(unsigned, 8) and _units(unsigned, 8) < limit


# §6.2-6.4 samples (with the symbols followed here)
TICKER_PUSHES: list[dict[str, Any]] = [
    {"market24h": {"open": 900000000, "high": 910005000, "low": 890000000, "close": 905001000,
                   "indexPrice": 904999000, "markPrice": 905010000, "openInterest": 123456,
                   "fundingRate": -10000, "predFundingRate": 5000, "symbol": "BTCUSD",
                   "turnover": 12345678901, "volume": 987654},
     "timestamp": 1_764_824_672_000_000_001},
    {"spot_market24h": {"askEp": 9000100000000, "bidEp": 9000000000000,
                        "highEp": 9100000000000, "lastEp": 9000050000000,
                        "lowEp": 8900000000000, "openEp": 8950000000000, "symbol": "sBTCUSDT",
                        "timestamp": 1_764_824_672_000_000_002, "turnoverEv": 123456789000000,
                        "volumeEv": 1371234567},
     "timestamp": 1_764_824_672_000_000_002},
    {"data": [["BTCUSDT", "90000", "91000.5", "89000", "90500.1", "12.345", "1117222.5", "40",
               "90499.9", "90501", "-0.0001", "0.00005", "90500", "90500.2"],
              ["ETHUSDT", "3000", "3100", "2900", "3050", "1", "3050", "2", "3049", "3050.5",
               "0.0001", "0.0001", "3050", "3050.5"]],
     "fields": ["symbol", "openRp", "highRp", "lowRp", "lastRp", "volumeRq", "turnoverRv",
                "openInterestRv", "indexRp", "markRp", "fundingRateRr", "predFundingRateRr",
                "bidRp", "askRp"],
     "method": "perp_market24h_pack_p.update", "timestamp": 1_764_824_672_000_000_003,
     "type": "snapshot"},
    {"market24h_p": {"closeRp": "90500.1", "fundingRateRr": "-0.0001", "highRp": "91000.5",
                     "indexPriceRp": "90499.9", "lowRp": "89000", "markPriceRp": "90501",
                     "openInterestRv": "40", "openRp": "90000", "predFundingRateRr": "0.00005",
                     "symbol": "BTCUSDT", "turnoverRv": "1117222.5", "volumeRq": "12.345"},
     "timestamp": 1_764_824_672_000_000_004},
    {"tick": {"last": 93385362, "scale": 4, "symbol": ".BTC",
              "timestamp": 1_764_824_672_000_000_005}},
    {"tick_p": {"last": "20639.38692364", "symbol": ".BTCUSDT",
                "timestamp": 1_764_824_672_000_000_006}},
    {"kline": [[1590019200, 86400, 95165000, 95160000, 95160000, 95160000, 95160000, 164,
                1723413]], "sequence": 1118993873, "symbol": "BTCUSD", "type": "snapshot"},
]


def corpus() -> list[bytes]:
    """Real captures and documented examples, plus trade messages of the tested symbols."""
    frames = [path.read_bytes().strip() for path in sorted(FIXTURES.glob("in_*.json"))]
    rng = random.Random(5)
    ts = 1_764_824_672_778_886_833
    for seq, symbol in enumerate(SYMBOLS * 4):
        kind = "snapshot" if seq < 3 else "incremental"
        if symbol == "BTCUSDT":
            rows: list[list[Any]] = [[ts + i, rng.choice(["Buy", "Sell"]), "90000.5", "0.012"]
                                     for i in range(3)]
            key = "trades_p"
        else:
            rows = [[ts + i, rng.choice(["Buy", "Sell"]), 900005000, 12] for i in range(3)]
            key = "trades"
        frames.append(json.dumps({"sequence": 1000 + seq, "symbol": symbol, "type": kind,
                                  key: rows}).encode())
        ts += 10**9
    frames += [json.dumps(push).encode() for push in TICKER_PUSHES]
    frames.append(b'{"error":null,"id":7,"result":"pong"}')
    frames.append(b'{"error":{"code":6001,"message":"invalid argument"},"id":null,"result":null}')
    return frames


class FreshTrades:
    """Valid trade messages with new trades (rising timestamps and sequences), all symbols."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ts = 1_764_824_672_000_000_000
        self.sequence = 10_000

    def __call__(self) -> bytes:
        rng = self.rng
        symbol = rng.choice(SYMBOLS)
        rows: list[list[Any]] = []
        for _ in range(rng.randrange(1, 6)):
            self.ts += rng.randrange(0, 3) * 1_000_000
            side = rng.choice(["Buy", "Sell"])
            if symbol == "BTCUSDT":
                rows.append([self.ts, side, f"{rng.randrange(80_000, 100_000)}.{rng.randrange(10)}",
                             f"0.{rng.randrange(1, 999):03d}"])
            else:
                rows.append([self.ts, side, rng.randrange(8 * 10**8, 10**9),
                             rng.randrange(1, 5000)])
        self.sequence += rng.randrange(1, 4)
        key = "trades_p" if symbol == "BTCUSDT" else "trades"
        kind = "snapshot" if rng.random() < 0.02 else "incremental"
        return json.dumps({"sequence": self.sequence, "symbol": symbol, "type": kind,
                           key: rows[::-1] if kind == "snapshot" else rows}).encode()


def next_input(rng: random.Random, frames: list[bytes], fresh: FreshTrades) -> bytes:
    """30 % new valid trade messages (a third of them mutated), 65 % mutated corpus frames,
    5 % corpus frames as they are."""
    roll = rng.random()
    if roll < 0.3:
        data = fresh()
        return mutate(rng, [data]) if roll < 0.1 else data
    return mutate(rng, frames) if roll < 0.95 else rng.choice(frames)


_TOKENS = [b"null", b"true", b"-1", b"0", b"1e400", b"18446744073709551616", b"1.5", b'""',
           b'"Buy"', b'"Sell"', b'"BTCUSD"', b'"snapshot"', b"[", b"]", b"{", b"}", b",", b":",
           b'"trades"', b'"trades_p"', b'"NaN"', b"NaN", b"\xff", b"\x00", b"\\u0000",
           b'"9' + b"9" * 45 + b'"', b'"1.000000001"', b"99999999999999999999", b"[[]]"]


def mutate(rng: random.Random, frames: list[bytes]) -> bytes:
    data = bytearray(rng.choice(frames))
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(9)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # delete a slice
            del data[pos:pos + rng.randrange(1, 16)]
        elif op == 2:  # insert a token
            data[pos:pos] = rng.choice(_TOKENS)
        elif op == 3:  # replace a number
            numbers = list(re.finditer(rb"-?\d+(\.\d+)?", data))
            if numbers:
                m = rng.choice(numbers)
                data[m.start():m.end()] = rng.choice(_TOKENS)
        elif op == 4:  # replace a string
            strings = list(re.finditer(rb'"[^"]*"', data))
            if strings:
                m = rng.choice(strings)
                data[m.start():m.end()] = rng.choice(_TOKENS)
        elif op == 5:  # truncate
            del data[pos:]
        elif op == 6:  # splice another frame in
            other = rng.choice(frames)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        elif op == 7:  # random bytes
            data[pos:pos] = rng.randbytes(rng.randrange(1, 8))
        else:  # duplicate a slice
            end = min(len(data), pos + rng.randrange(1, 32))
            data[pos:pos] = data[pos:end]
    return bytes(data)
