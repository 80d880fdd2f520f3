"""The decoder's contract: any input yields events or a FrameRejected, never an exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ticklake.feed.events import FrameRejected

from .helpers import connect_and_ack, make_protocol

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
keys = st.sampled_from(["id", "error", "result", "symbol", "type", "sequence", "trades",
                        "trades_p", "book", "method"])
shaped = st.dictionaries(keys, json_values, max_size=6)
trade_like = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["BTCUSD", "BTCUSDT", "sBTCUSDT", "X"]),
        "type": st.sampled_from(["snapshot", "incremental", "?"]),
        "sequence": st.integers(-5, 2**70),
        "trades": st.lists(st.lists(json_values, max_size=5), max_size=4),
    }
)


def _protocol():  # type: ignore[no-untyped-def]
    protocol = make_protocol("BTCUSD", "BTCUSDT", "sBTCUSDT")
    connect_and_ack(protocol)
    return protocol


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes | str) -> None:
    protocol = _protocol()
    protocol.receive_frame(data, 1)
    for event in protocol.events_received():
        if isinstance(event, FrameRejected):
            assert event.reason


@settings(max_examples=1000, deadline=None)
@given(shaped | trade_like)
def test_json_of_almost_the_right_shape_never_raises(message: dict[str, object]) -> None:
    protocol = _protocol()
    protocol.receive_frame(json.dumps(message), 1)
    protocol.events_received()
