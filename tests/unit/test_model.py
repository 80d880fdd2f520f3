"""Exact decimal rendering of scaled integers."""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from ticklake.model import decimal_text


def test_examples() -> None:
    assert decimal_text(86735000, 4) == "8673.5"
    assert decimal_text(560000, 8) == "0.0056"
    assert decimal_text(90000_0000, 4) == "90000"
    assert decimal_text(21, 0) == "21"
    assert decimal_text(-5, 2) == "-0.05"


@given(st.integers(-(10**30), 10**30), st.integers(0, 18))
def test_round_trips_exactly(value: int, scale: int) -> None:
    text = decimal_text(value, scale)
    with localcontext() as context:
        context.prec = 100
        assert Decimal(text) == Decimal(value).scaleb(-scale)
    assert "e" not in text.lower() and not (("." in text) and text.endswith("0"))
