"""Settings, read once at start: CLI flags, then ``TICKLAKE_*`` environment (``__`` nests).

Every error names the setting and the offending value on one line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ticklake.errors import ConfigError

DEFAULT_URL = "wss://ws.phemex.com"
MAX_SUBSCRIPTIONS = 20  # per connection; DataGW drops a connection over it (§1.2)
_HEARTBEAT_LIMIT = 30.0  # DataGW drops a connection without a heartbeat for 30 s (§3)


class FeedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = DEFAULT_URL
    products_url: str = Field("auto", description="REST products URL; 'auto' or 'none'")
    symbols: tuple[str, ...] = ("BTCUSD",)
    ping_interval: float = Field(5.0, gt=0, lt=_HEARTBEAT_LIMIT)
    pong_timeout: float = Field(10.0, gt=0)
    silence_timeout: float = Field(15.0, gt=0)
    request_timeout: float = Field(10.0, gt=0)
    snapshot_size: int = Field(200, ge=1)
    backoff_initial: float = Field(0.1, ge=0)
    backoff_cap: float = Field(30.0, gt=0)
    first_connect_timeout: float = Field(30.0, ge=0)

    @field_validator("url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            msg = "must start with ws:// or wss://"
            raise ValueError(msg)
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [s.strip() for s in value.split(",") if s.strip()]
        if isinstance(value, list | tuple) and not value:
            msg = "at least one symbol is needed"
            raise ValueError(msg)
        if isinstance(value, list | tuple) and len(value) > MAX_SUBSCRIPTIONS:
            msg = f"at most {MAX_SUBSCRIPTIONS} symbols per connection (Phemex limit)"
            raise ValueError(msg)
        if isinstance(value, list | tuple) and len(set(value)) != len(value):
            msg = "a symbol is listed twice"
            raise ValueError(msg)
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKLAKE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    feed: FeedSettings = FeedSettings()


def load_settings(**overrides: Any) -> Settings:
    """Build settings; a bad value raises ConfigError naming the field and the value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        problem = error["msg"].removeprefix("Value error, ")
        raise ConfigError(field, error.get("input"), problem) from None
