"""Ground truth agrees exactly with what the wire carried, and also holds unseen trades."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator.products import PRODUCTS, format_units

ALL = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
Row = tuple[str, int, str, str, str]


def to_truth(symbol: str, row: list[Any]) -> Row:
    """A wire row in truth form, decoded independently of the emulator's row encoder."""
    ts, side, price, qty = row
    product = PRODUCTS[symbol]
    if isinstance(price, str):
        return (symbol, ts, side, price, qty)
    return (symbol, ts, side, format_units(price, product.price_exp),
            format_units(qty, product.qty_exp))


def sessions(raw: Any) -> dict[str, tuple[list[Row], list[Row]]]:
    """Per symbol: (snapshot rows oldest first, incremental rows) of one subscription."""
    out: dict[str, tuple[list[Row], list[Row]]] = {}
    for m in raw.data():
        sym = m["symbol"]
        rows = [to_truth(sym, r) for r in m.get("trades", m.get("trades_p", []))]
        if m["type"] == "snapshot":
            assert sym not in out, "one snapshot per subscription"
            out[sym] = (rows[::-1], [])
        else:
            out[sym][1].extend(rows)
    return out


def read_truth(path: Path) -> list[Row]:
    rows = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        assert list(r) == ["symbol", "ts_ns", "side", "price", "qty"]
        rows.append((r["symbol"], r["ts_ns"], r["side"], r["price"], r["qty"]))
    return rows


def test_truth_matches_wire_exactly_and_includes_unseen_trades(kit: Any, tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    seen: list[dict[str, tuple[list[Row], list[Row]]]] = []
    gap: dict[str, Any] = {}

    async def session(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        for sym in ALL:
            method = "trade_p.subscribe" if sym == "BTCUSDT" else "trade.subscribe"
            await raw.request(method, [sym])
        for sym in ALL:
            await raw.wait_data(sym, 6)
        await raw.close()
        seen.append(sessions(raw))

    async def scenario(emu: Emulator) -> None:
        await kit.eventually(lambda: emu.trades_produced > 400 + 4 * 20, what="unseen trades")
        await session(emu)
        gap["from"] = emu.state()["trades_produced"]
        await kit.eventually(
            lambda: all(n > gap["from"][s] + 40 + 20 for s, n in
                        emu.state()["trades_produced"].items()),
            what="a gap longer than the snapshot")
        gap["to"] = emu.state()["trades_produced"]
        await session(emu)
        # the file is flushed while running
        assert len(read_truth(path)) >= sum(gap["to"].values())

    config = EmulatorConfig(symbols=ALL, rate=200, batch_ms=10, history=100,
                            snapshot_size=40, truth_path=str(path))
    emulator: list[Emulator] = []

    async def capture(emu: Emulator) -> None:
        emulator.append(emu)
        await scenario(emu)

    kit.run(config, capture)
    truth = read_truth(path)
    assert len(truth) == emulator[0].trades_produced, "every produced trade is recorded"
    counts = Counter(truth)
    for sess in seen:
        for sym, (snap, incs) in sess.items():
            assert len(snap) == 40 and len(incs) > 0
            wire = Counter(snap + incs)
            assert not wire - counts, "every trade sent appears in truth (multiset)"
            # exact and gap-free: snapshot + incrementals are a contiguous stretch of truth
            mine = [r for r in truth if r[0] == sym]
            both = snap + incs
            starts = [i for i in range(len(mine) - len(both) + 1)
                      if mine[i : i + len(both)] == both]
            assert starts, f"{sym}: wire is not a contiguous stretch of truth"
    # trades produced while nobody was connected are in the truth, never sent to anyone
    sent = {r for sess in seen for snap, incs in sess.values() for r in snap + incs}
    first, second = seen
    for sym in ALL:
        mine = [r for r in truth if r[0] == sym]
        start, end = mine.index(first[sym][1][-1]), mine.index(second[sym][1][0])
        unseen = [r for r in mine[start + 1 : end] if r not in sent]
        assert len(unseen) >= 10, f"{sym}: trades produced while disconnected"
    history = [r for r in truth if r[0] == "BTCUSD"][:100]
    assert len(history) == 100
