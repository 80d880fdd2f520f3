"""Labelled swings on request over the control endpoint: label returned, logged, and traded."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ticklake.emulator import Emulator, EmulatorConfig


def read_truth(path: Path) -> list[tuple[str, int, float]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [(r["symbol"], r["ts_ns"], float(r["price"])) for r in rows]


def test_swing_on_request_moves_the_traded_price_and_logs_its_label(
    kit: Any, tmp_path: Path
) -> None:
    truth, labels = tmp_path / "truth.jsonl", tmp_path / "labels.jsonl"
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        base = f"http://127.0.0.1:{emu.port}/control/swing"
        status, body = await kit.aget(base + "?symbol=BTCUSD&k=40&seconds=1&direction=down")
        assert status == 200
        got["label"] = json.loads(body)["label"]
        end_ns = got["label"]["end_ns"]
        await kit.eventually(lambda: emu.market is not None and len(read_truth(truth)) > 0
                             and read_truth(truth)[-1][1] > end_ns + 1_000_000_000,
                             10, "trades well after the swing")
        for query, problem in (("?shape=zigzag", "shape must be one of"),
                               ("?k=-3", "size_sigma must be in"),
                               ("?colour=red", "unknown parameter 'colour'")):
            status, body = await kit.aget(base + query)
            assert status == 400 and problem in json.loads(body)["error"], query

    kit.run(EmulatorConfig(rate=200, history=100, truth_path=str(truth),
                           labels_path=str(labels)), scenario)
    label = got["label"]
    assert [json.loads(line) for line in labels.read_text().splitlines()] == [label]
    assert label["symbol"] == "BTCUSD" and label["shape"] == "ramp"
    assert label["direction"] == "down" and label["size_sigma"] == 40
    expected_bp = 40 * label["sigma_local"] * 1e4
    assert math.isclose(label["move_bp"], expected_bp, rel_tol=1e-9)
    rows = [r for r in read_truth(truth) if r[0] == "BTCUSD"]
    before = [r[2] for r in rows if r[1] < label["start_ns"]][-20:]
    after = [r[2] for r in rows if r[1] > label["end_ns"]][:20]
    moved_bp = (sum(after) / len(after) / (sum(before) / len(before)) - 1) * 1e4
    # The mid keeps diffusing around the swing: the move must dominate, within 40 %.
    assert -1.4 * expected_bp < moved_bp < -0.6 * expected_bp
