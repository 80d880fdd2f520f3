"""Settings, read once at start: CLI flags, then ``TICKLAKE_*`` environment (``__`` nests),
then a TOML file (``--config``), then defaults. Unknown keys are errors.

Every error names the setting and the offending value on one line.
"""

from __future__ import annotations

import contextlib
import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ticklake.errors import ConfigError
from ticklake.feed.phemex.klines import INTERVALS as KLINE_INTERVALS
from ticklake.feed.phemex.limits import (
    DEFAULT_URL,
    HEARTBEAT_LIMIT_S,
    MAX_CONNECTIONS,
)

Channel = Literal["trades", "book", "tickers", "ticks", "klines"]
CHANNELS: tuple[str, ...] = get_args(Channel)


def _comma_list(value: Any) -> Any:
    """``"a, b"`` (a flag or an environment variable) → ``["a", "b"]``; a JSON list in an
    environment variable (``'["a", "b"]'``) and lists as they are."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    return value


class FeedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = DEFAULT_URL
    products_url: str = Field("auto", description="REST products URL; 'auto' or 'none'")
    # Symbols, or ``all:<family>`` (coin-m, usd-m, spot): every listed one in the products.
    # (NoDecode: TICKLAKE_FEED__SYMBOLS=BTCUSD,ETHUSD is split by the validator, not JSON)
    symbols: Annotated[tuple[str, ...], NoDecode] = ("BTCUSD",)
    shard: tuple[int, int] | None = Field(None, description="'i/n': record only shard i of n")
    connections: int = Field(MAX_CONNECTIONS, ge=1, le=MAX_CONNECTIONS)
    ping_interval: float = Field(5.0, gt=0, lt=HEARTBEAT_LIMIT_S)
    pong_timeout: float = Field(10.0, gt=0)
    silence_timeout: float = Field(15.0, gt=0)
    request_timeout: float = Field(10.0, gt=0)
    # The exchange's trade-snapshot capacity (200 since 2022, 1,000 before); None: learned.
    snapshot_size: int | None = Field(None, ge=1)
    backoff_initial: float = Field(0.1, ge=0)
    backoff_cap: float = Field(30.0, gt=0)
    first_connect_timeout: float = Field(30.0, ge=0)
    # What to record of each symbol: its trades, its order book, its family's 24 h ticker
    # (with mark, index and funding for contracts), its index/mark/funding ticks, the
    # exchange's bars of each of ``kline_intervals`` (seconds). Each takes subscriptions of
    # a connection's 20: trades and book one per symbol, klines one per symbol and interval,
    # ticks four per contract, tickers one per family. ``book_depth``: 30 levels or the full
    # book.
    channels: Annotated[tuple[Channel, ...], NoDecode] = ("trades",)
    book_depth: Literal[30, "full"] = 30
    kline_intervals: Annotated[tuple[int, ...], NoDecode] = (60,)

    @field_validator("kline_intervals", mode="before")
    @classmethod
    def _split_intervals(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("kline_intervals")
    @classmethod
    def _intervals(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or len(set(value)) != len(value) or not set(value) <= set(KLINE_INTERVALS):
            msg = f"list some of {', '.join(map(str, KLINE_INTERVALS))} (seconds), each once"
            raise ValueError(msg)
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> Any:
        value = _comma_list(value)
        if isinstance(value, list | tuple) and (not value or len(set(value)) != len(value)):
            msg = f"list each of {', '.join(CHANNELS)} once"
            raise ValueError(msg)
        return value

    @field_validator("book_depth", mode="before")
    @classmethod
    def _depth(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value

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
        value = _comma_list(value)
        if isinstance(value, list | tuple) and not value:
            msg = "at least one symbol is needed"
            raise ValueError(msg)
        if isinstance(value, list | tuple) and len(set(value)) != len(value):
            msg = "a symbol is listed twice"
            raise ValueError(msg)
        return value

    @field_validator("shard", mode="before")
    @classmethod
    def _parse_shard(cls, value: Any) -> Any:
        if isinstance(value, str):
            index, slash, count = value.strip().partition("/")
            if not (slash and index.isdigit() and count.isdigit()):
                msg = "must be i/n, e.g. 0/2"
                raise ValueError(msg)
            value = (int(index), int(count))
        if isinstance(value, list | tuple) and len(value) == 2:  # (i, n)
            index, count = value
            if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
                msg = "must be i/n with 0 <= i < n"
                raise ValueError(msg)
        return value


class LakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = Field("lake", description="local directory or s3://bucket/prefix")
    spool: str = Field("spool", description="local directory of the durable raw log")
    fsync: Literal["always", "interval", "never"] = "interval"
    fsync_interval: float = Field(0.05, gt=0, le=10)
    buffer_mib: float = Field(64.0, gt=0, le=1024)
    buffer_seconds: float = Field(300.0, gt=0, le=86_400)
    segment_mib: float = Field(64.0, gt=0, le=4096)
    # The writer merges its closed hours and days into files of about this size (0: never).
    compact_mib: float = Field(128.0, ge=0, le=65_536)
    # ``book_snapshots``: the whole book at every multiple of this many seconds (0: none),
    # so the book at an instant is rebuilt from at most this much of ``book_updates``.
    book_snapshot_seconds: float = Field(1.0, ge=0, le=3600)
    # kafka://host:port[,host:port]/topic: ship the spool there (``ticklake deliver`` writes
    # the lake) instead of writing the lake; partitions of the topic if it is created.
    log: str | None = Field(None, description="kafka://host:port/topic")
    partitions: int = Field(6, ge=1, le=10_000)


class DashboardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    # Required to bind anything but loopback; also read from TICKLAKE_DASHBOARD_TOKEN.
    token: SecretStr | None = None


class DetectSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    webhook: str | None = Field(None, description="POST every episode start and end here")

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            msg = "must start with http:// or https://"
            raise ValueError(msg)
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKLAKE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    feed: FeedSettings = FeedSettings()
    lake: LakeSettings = LakeSettings()
    dashboard: DashboardSettings = DashboardSettings()
    detect: DetectSettings = DetectSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init) win over the environment, which wins over the TOML file.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file.get())
        return init_settings, env_settings, toml


_config_file: ContextVar[Path | None] = ContextVar("ticklake_config_file", default=None)
_CONFIG_FILE = "config file"
_ENVIRONMENT = "environment"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; a bad value or unknown key raises ConfigError naming it."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(_CONFIG_FILE, str(config_file), "no such file")
    dashboard_token = os.environ.get("TICKLAKE_DASHBOARD_TOKEN")
    if dashboard_token and "token" not in overrides.get("dashboard", {}):
        overrides["dashboard"] = {**overrides.get("dashboard", {}), "token": dashboard_token}
    token = _config_file.set(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        # Never echo a secret: tokens, and webhook URLs (Slack-style hooks embed one).
        value = "***" if "token" in field or "webhook" in field else error.get("input")
        if error["type"] == "extra_forbidden":
            raise ConfigError(field, value, "unknown setting") from None
        problem = error["msg"].removeprefix("Value error, ")
        raise ConfigError(field, value, problem) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML, or environment
        if config_file is None:  # (pydantic-settings could not parse a TICKLAKE_ variable)
            raise ConfigError(_ENVIRONMENT, None, str(exc).splitlines()[0]) from None
        raise ConfigError(_CONFIG_FILE, str(config_file), str(exc).splitlines()[0]) from None
    finally:
        _config_file.reset(token)
