"""Unit tests of the pure parts: market simulator, number formatting, products payload."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticklake.emulator import EmulatorConfig, Market, Trade
from ticklake.emulator.frames import error_reply, trade_row, trades_message
from ticklake.emulator.products import PRODUCTS, format_units, products_payload
from ticklake.emulator.truth import TruthWriter

T0 = 1_764_824_672_000_000_000
SEC = 1_000_000_000
ALL = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")


def run_market(seed: int, steps: list[int], symbols: tuple[str, ...] = ALL) -> list[Trade]:
    market = Market(symbols, seed=seed, rate=200.0, start_ns=T0)
    out = market.prefill(50)
    for t in steps:
        out.extend(market.advance(t))
    return out


def test_same_seed_same_time_inputs_same_trades() -> None:
    steps = [T0 + i * 20_000_000 for i in range(1, 200)]
    assert run_market(7, steps) == run_market(7, steps)
    assert run_market(7, steps) != run_market(8, steps)


@given(cuts=st.lists(st.integers(min_value=1, max_value=4 * SEC), max_size=12))
@settings(max_examples=25, deadline=None)
def test_output_does_not_depend_on_how_time_is_chunked(cuts: list[int]) -> None:
    end = T0 + 4 * SEC
    chunked = sorted({T0 + c for c in cuts} | {end})
    assert run_market(3, chunked) == run_market(3, [end])


def test_symbols_are_independent_streams() -> None:
    steps = [T0 + SEC]
    alone = run_market(5, steps, ("BTCUSD",))
    together = [t for t in run_market(5, steps) if t.symbol == "BTCUSD"]
    assert alone == together


def test_microstructure() -> None:
    market = Market(ALL, seed=11, rate=100.0, start_ns=T0)
    trades = market.advance(T0 + 60 * SEC)
    by_symbol: dict[str, list[Trade]] = {}
    for t in trades:
        by_symbol.setdefault(t.symbol, []).append(t)
    for symbol, rows in by_symbol.items():
        product = PRODUCTS[symbol]
        ts = [r.ts_ns for r in rows]
        assert ts == sorted(ts), "ts non-decreasing per symbol"
        assert all(T0 < x <= T0 + 60 * SEC for x in ts)
        seqs = [r.seq for r in rows]
        assert all(b > a for a, b in itertools.pairwise(seqs)), "seq increasing"
        assert any(b - a > 1 for a, b in itertools.pairwise(seqs)), "seq jumps"
        assert all(r.price % product.tick_units == 0 for r in rows)
        assert all(r.qty > 0 and r.qty % product.qty_step_units == 0 for r in rows)
        assert {r.side for r in rows} == {"Buy", "Sell"}
        # bursty arrivals around the configured mean rate (60 s at 100 trades/s → ~6000)
        assert 4000 < len(rows) < 8500, len(rows)
        per_second = Counter((t - T0) // SEC for t in ts)
        assert max(per_second.values()) > 2 * min(per_second.values()), "bursty"
        # several fills share one ns timestamp; byte-identical rows occur
        assert max(Counter(ts).values()) >= 3
        rows_text = Counter(trade_row(product, r) for r in rows)
        assert max(rows_text.values()) >= 2
        qtys = sorted(r.qty for r in rows)
        assert qtys[-1] > 20 * qtys[len(qtys) // 2], "heavy-tailed sizes"
        mid = product.start_price_units
        assert all(0.8 * mid < r.price < 1.2 * mid for r in rows)


def test_prefill_before_start_and_exact_count() -> None:
    market = Market(("BTCUSD", "ETHUSD"), seed=1, rate=50.0, start_ns=T0)
    history = market.prefill(300)
    assert Counter(t.symbol for t in history) == {"BTCUSD": 300, "ETHUSD": 300}
    assert all(t.ts_ns < T0 for t in history)
    live = market.advance(T0 + 10 * SEC)
    assert live and all(t.ts_ns > T0 for t in live)
    btc = [t for t in history + live if t.symbol == "BTCUSD"]
    assert [t.seq for t in btc] == sorted({t.seq for t in btc})
    with pytest.raises(RuntimeError):
        market.prefill(1)


def test_halt_freezes_and_resume_continues() -> None:
    market = Market(("BTCUSD",), seed=2, rate=200.0, start_ns=T0)
    assert market.advance(T0 + SEC)
    market.halt(T0 + SEC)
    assert market.advance(T0 + 5 * SEC) == []
    market.resume(T0 + 5 * SEC)
    after = market.advance(T0 + 6 * SEC)
    assert after and all(t.ts_ns > T0 + 5 * SEC for t in after)
    assert market.advance(T0) == [], "a clock going backwards produces nothing"


def test_sequence_jump() -> None:
    market = Market(("BTCUSD",), seed=2, rate=200.0, start_ns=T0)
    before = market.sequence("BTCUSD")
    market.jump_sequence("BTCUSD", 10**6)
    trades = market.advance(T0 + SEC)
    assert trades[0].seq > before + 10**6


@pytest.mark.parametrize(
    ("units", "exp", "text"),
    [(207_036_000, 4, "20703.6"), (206_990_000, 4, "20699"), (669, 3, "0.669"),
     (560_000, 8, "0.0056"), (12, 0, "12"), (0, 8, "0"), (1, 8, "0.00000001"),
     (-15, 1, "-1.5")],
)
def test_format_units(units: int, exp: int, text: str) -> None:
    assert format_units(units, exp) == text


def test_frames_are_valid_json_with_expected_shapes() -> None:
    market = Market(ALL, seed=4, rate=100.0, start_ns=T0)
    trades = market.advance(T0 + SEC)
    for symbol in ALL:
        product = PRODUCTS[symbol]
        rows = [trade_row(product, t) for t in trades if t.symbol == symbol]
        msg = json.loads(trades_message(product, "incremental", 5, rows, (3, 2)))
        assert msg["symbol"] == symbol and msg["sequence"] == 5
        if symbol == "BTCUSDT":
            assert list(msg) == ["dts", "mts", "sequence", "symbol", "type", "trades_p"]
            assert all(isinstance(r[2], str) and isinstance(r[3], str) for r in msg["trades_p"])
        else:
            assert list(msg) == ["sequence", "symbol", "type", "trades"]
            assert all(isinstance(r[2], int) and isinstance(r[3], int) for r in msg["trades"])
    assert json.loads(error_reply(None, 6001, "invalid argument")) == {
        "error": {"code": 6001, "message": "invalid argument"}, "id": None, "result": None}


def test_products_payload() -> None:
    body = products_payload()
    assert body["code"] == 0 and body["msg"] == ""
    data = body["data"]
    assert data["ratioScale"] == 8 and len(data["md5Checksum"]) == 32
    cur = {c["currency"]: c["valueScale"] for c in data["currencies"]}
    assert cur == {"BTC": 8, "USD": 4, "USDT": 8, "ETH": 8}
    prods = {p["symbol"]: p for p in data["products"]}
    btc = prods["BTCUSD"]
    assert (btc["type"], btc["priceScale"], btc["ratioScale"], btc["valueScale"]) == (
        "Perpetual", 4, 8, 8)
    assert (btc["tickSize"], btc["lotSize"], btc["contractSize"]) == (0.1, 1, 1.0)
    assert (btc["settleCurrency"], btc["quoteCurrency"]) == ("BTC", "USD")
    eth = prods["ETHUSD"]
    assert (eth["priceScale"], eth["valueScale"], eth["tickSize"], eth["contractSize"],
            eth["settleCurrency"]) == (4, 4, 0.05, 0.005, "USD")
    spot = prods["sBTCUSDT"]
    assert (spot["type"], spot["priceScale"], spot["valueScale"], spot["baseCurrency"],
            spot["quoteCurrency"], spot["baseTickSizeEv"], spot["quoteTickSizeEv"],
            spot["pricePrecision"]) == ("Spot", 8, 8, "BTC", "USDT", 100, 1_000_000, 2)
    (perp,) = data["perpProductsV2"]
    assert (perp["symbol"], perp["type"], perp["priceScale"], perp["ratioScale"],
            perp["tickSize"], perp["qtyStepSize"], perp["settleCurrency"],
            perp["pricePrecision"], perp["qtyPrecision"]) == (
        "BTCUSDT", "PerpetualV2", 0, 0, "0.1", "0.001", "USDT", 1, 3)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown symbol"):
        EmulatorConfig(symbols=("DOGEUSD",))
    with pytest.raises(ValueError, match="unknown fault kind"):
        EmulatorConfig(fault_schedule=((1.0, "explode"),))
    with pytest.raises(ValueError, match="batch_ms"):
        EmulatorConfig(batch_ms=0)


def test_truth_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = f"{tmp_path}/truth.parquet"
    market = Market(("sBTCUSDT",), seed=4, rate=100.0, start_ns=T0)
    trades = market.advance(T0 + SEC)
    writer = TruthWriter(path)
    writer.write(trades)
    writer.close()
    table = pq.read_table(path)
    assert table.column_names == ["symbol", "ts_ns", "side", "price", "qty"]
    assert table.num_rows == len(trades)
    first = table.slice(0, 1).to_pylist()[0]
    assert first["ts_ns"] == trades[0].ts_ns
    assert first["qty"] == format_units(trades[0].qty, 8)
