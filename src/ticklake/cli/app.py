"""The ``ticklake`` Typer app, its shared options and the helpers every command uses."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ticklake.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="markdown", help=(
    "The ``ticklake`` command line: thin wrappers over pipeline and emulator.\n\n"
    "User mistakes (bad settings, unknown symbols, refused URLs) print one line and exit 2."))
# Status lines are never wrapped: piped to a log file or a container, one line is one record.
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.callback()
def _root(
    log_level: Annotated[LogLevel, typer.Option(
        "--log-level", case_sensitive=False,
        help="Lifecycle logs shown on stderr: info adds subscribed, reconnecting and "
             "publish lines")] = LogLevel.warning,
) -> None:
    logging.getLogger().setLevel(log_level.value.upper())


def overrides(section: str, **values: Any) -> dict[str, Any]:
    return {section: {k: v for k, v in values.items() if v is not None}}


ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file ([feed], [lake] tables)")
]
LakeOption = Annotated[
    str | None, typer.Option("--lake", help="Lake root: directory or s3://bucket/prefix [lake]")
]
SpoolOption = Annotated[str | None, typer.Option("--spool", help="Spool directory [spool]")]
MetricsPortOption = Annotated[
    int | None, typer.Option(help="Serve Prometheus /metrics on 127.0.0.1:PORT")
]
LogOption = Annotated[
    str | None,
    typer.Option("--log", help="Kafka-protocol log kafka://host:port[,host:port]/topic [lake.log]"),
]
PartitionsOption = Annotated[
    int | None, typer.Option(help="Partitions of the log's topic if it is created [6]")
]
ShardOption = Annotated[str | None, typer.Option(
    help="Record only shard i of n of the symbols (i/n, stable hash; docs in README)")]
FamilyOption = Annotated[str | None, typer.Option(
    help="Every listed symbol of a product family: coin-m, usd-m or spot (= --symbols all:NAME)")]
ChannelsOption = Annotated[str | None, typer.Option(
    help="What to record of each symbol, comma-separated: trades, book, tickers (24 h "
         "statistics, mark, index, funding), ticks (index/mark/funding symbols), klines "
         "(the exchange's bars, of --kline-intervals) (feed.channels) [trades]")]
KlineIntervalsOption = Annotated[str | None, typer.Option(
    help="The exchange's bars to record with klines, comma-separated seconds: 60, 300, 900, "
         "1800, 3600, 14400, 86400, ... (feed.kline_intervals) [60]")]
BookDepthOption = Annotated[str | None, typer.Option(
    help="Order book depth: 30 or full (feed.book_depth) [30]")]
ConnectionsOption = Annotated[
    int | None, typer.Option(help="Most connections to hold, 20 symbols each [5, Phemex's cap]")
]


_FAMILY = "--family"


def feed_selection(symbols: str | None, family: str | None, shard: str | None,
                    connections: int | None) -> dict[str, Any]:
    """The symbol-selection flags as [feed] overrides; --family is --symbols all:FAMILY."""
    if family is not None:
        if symbols is not None:
            raise ConfigError(_FAMILY, family, "give --symbols or --family, not both")
        symbols = f"all:{family}"
    return {k: v for k, v in {"symbols": symbols, "shard": shard,
                              "connections": connections}.items() if v is not None}


HostOption = Annotated[str | None, typer.Option(help="Dashboard bind address [127.0.0.1]")]
PortOption = Annotated[int | None, typer.Option(help="Dashboard port (0 = any free) [8000]")]
TokenOption = Annotated[
    str | None,
    typer.Option(help="Dashboard access token; required off loopback "
                 "[env TICKLAKE_DASHBOARD_TOKEN]", show_default=False),
]


IcebergOption = Annotated[str | None, typer.Option(
    "--iceberg", help="Commit the lake's files to Iceberg tables in this catalog: "
    "sqlite:///FILE, rest+http(s)://HOST/PATH or glue:// (docs/iceberg.md)")]
NamespaceOption = Annotated[str, typer.Option("--namespace", help="Iceberg namespace")]
WarehouseOption = Annotated[str | None, typer.Option(
    "--warehouse", help="Iceberg warehouse (default for SQLite/Glue: LAKE/_iceberg)")]
IcebergPropertyOption = Annotated[list[str] | None, typer.Option(
    "--iceberg-option", help="Extra catalog property KEY=VALUE (repeatable; values never printed)")]


def run_until_signalled(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main``; SIGINT and SIGTERM cancel it so its shutdown (drain the lake) runs."""

    async def guarded() -> None:
        task = asyncio.create_task(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(guarded())
