"""Settings: each error names the field on one line; secrets are never echoed."""

from __future__ import annotations

import pytest

from ticklake.config import load_settings
from ticklake.errors import ConfigError


def test_dashboard_token_comes_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKLAKE_DASHBOARD_TOKEN", "s3cret-token-value")
    settings = load_settings()
    assert settings.dashboard.token is not None
    assert settings.dashboard.token.get_secret_value() == "s3cret-token-value"
    assert "s3cret" not in repr(settings)
    flag = load_settings(dashboard={"token": "from-the-flag"}).dashboard.token
    assert flag is not None and flag.get_secret_value() == "from-the-flag"


def test_a_bad_token_is_named_but_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(dashboard={"token": ["s3cret-in-a-list"]})
    assert "dashboard.token" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"detect": {"webhook": "ftp://x"}}, "detect.webhook"),
        ({"dashboard": {"port": 70_000}}, "dashboard.port"),
        ({"detect": {"colour": "red"}}, "detect.colour"),
        ({"feed": {"kline_intervals": "61"}}, "feed.kline_intervals"),  # not an exchange bar
        ({"feed": {"kline_intervals": "60,300,60"}}, "feed.kline_intervals"),
        ({"feed": {"kline_intervals": ""}}, "feed.kline_intervals"),
    ],
)
def test_bad_values_name_their_field(overrides: dict[str, dict[str, object]], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as caught:
        load_settings(**overrides)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["BTCUSD,ETHUSD", "BTCUSD, ETHUSD", '["BTCUSD", "ETHUSD"]'])
def test_list_settings_from_the_environment_read_as_flags_do(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """TICKLAKE_FEED__SYMBOLS=BTCUSD,ETHUSD as --symbols takes it (a container's settings),
    or as JSON."""
    monkeypatch.setenv("TICKLAKE_FEED__SYMBOLS", value)
    monkeypatch.setenv("TICKLAKE_FEED__CHANNELS", "trades,book")
    monkeypatch.setenv("TICKLAKE_FEED__KLINE_INTERVALS", "60, 3600")
    feed = load_settings().feed
    assert (feed.symbols, feed.channels) == (("BTCUSD", "ETHUSD"), ("trades", "book"))
    assert feed.kline_intervals == (60, 3600)
    assert load_settings(feed={"symbols": "sBTCUSDT"}).feed.symbols == ("sBTCUSDT",)  # flag wins
