"""The ``ticklake`` command line: thin wrappers over pipeline and emulator.

User mistakes (bad settings, unknown symbols, refused URLs) print one line and exit 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from ticklake.config import DashboardSettings, DetectSettings, load_settings
from ticklake.errors import ConfigError, TicklakeError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
err = Console(stderr=True)
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


def _overrides(section: str, **values: Any) -> dict[str, Any]:
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
ConnectionsOption = Annotated[
    int | None, typer.Option(help="Most connections to hold, 20 symbols each [5, Phemex's cap]")
]


_FAMILY = "--family"


def _feed_selection(symbols: str | None, family: str | None, shard: str | None,
                    connections: int | None) -> dict[str, Any]:
    """The symbol-selection flags as [feed] overrides; --family is --symbols all:FAMILY."""
    if family is not None:
        if symbols is not None:
            raise ConfigError(_FAMILY, family, "give --symbols or --family, not both")
        symbols = f"all:{family}"
    return {k: v for k, v in {"symbols": symbols, "shard": shard,
                              "connections": connections}.items() if v is not None}


@app.command()
def record(
    url: Annotated[str | None, typer.Option(help="WebSocket URL [wss://ws.phemex.com]")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols [BTCUSD]")] = None,
    family: FamilyOption = None,
    shard: ShardOption = None,
    connections: ConnectionsOption = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Append trades and gaps as JSON lines here")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
    ping_interval: Annotated[float | None, typer.Option(help="server.ping period, s [5]")] = None,
    silence_timeout: Annotated[
        float | None, typer.Option(help="Reconnect after this long without a frame, s [15]")
    ] = None,
    products_url: Annotated[
        str | None, typer.Option(help="REST products URL, 'auto' or 'none' [auto]")
    ] = None,
    tape: Annotated[bool, typer.Option(help="Print every trade")] = False,
    metrics_port: MetricsPortOption = None,
    lake: LakeOption = None,
    spool: SpoolOption = None,
    log: LogOption = None,
    partitions: PartitionsOption = None,
    config: ConfigOption = None,
) -> None:
    """Record trades from Phemex (or the emulator) into the spool and the lake.

    With --log the spool is shipped to that topic instead, and `ticklake deliver` writes the
    lake (docs/scale-out.md)."""
    settings = load_settings(
        config,
        **_overrides("feed", url=url, ping_interval=ping_interval,
                     silence_timeout=silence_timeout, products_url=products_url,
                     **_feed_selection(symbols, family, shard, connections)),
        **_overrides("lake", root=lake, spool=spool, log=log, partitions=partitions),
    )
    if settings.lake.log is not None:
        from ticklake.broker import parse_log_uri

        parse_log_uri(settings.lake.log)  # a wrong URI: one line now, before recording
    _run_until_signalled(
        _record(settings.feed, settings.lake, out_path, duration, tape, metrics_port)
    )


def _run_until_signalled(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main``; SIGINT and SIGTERM cancel it so its shutdown (drain the lake) runs."""

    async def guarded() -> None:
        task = asyncio.create_task(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(guarded())


@dataclass(frozen=True)
class _Extras:
    """What runs beside a recording: the live detector and the dashboard (``run``, ``demo``)."""

    detect: DetectSettings | None = None
    dashboard: DashboardSettings | None = None


async def _record(
    feed: Any, lake: Any, out_path: Path | None, duration: float | None, tape: bool,
    metrics_port: int | None = None, extras: _Extras | None = None,
) -> None:
    from ticklake.console import ProgressLine, anomaly_line, tape_lines
    from ticklake.feed.events import TradesReceived
    from ticklake.pipeline import build_recording, run_recording

    extras = extras or _Extras()
    recording = await build_recording(feed, out_path, lake)
    group = recording.session
    if metrics_port is not None:  # one series per connection: phemex, or phemex-0..4
        from ticklake.metrics import serve_metrics  # prometheus_client: ~6 MB, when asked

        serve_metrics(group.per_connection, metrics_port)
    recorded = [sub.symbol for sub in group.subscriptions()]
    count = len(group.sessions)
    label = recorded if len(recorded) <= 4 else [  # a short line
        f"{len(recorded)} symbols on {count} connection{'s' if count > 1 else ''}"]
    progress = ProgressLine(group.stats, label)  # live totals over the connections
    # Only with --tape: an unread view would hold its last 10,000 events (~8 MB) for nothing.
    live_view = recording.bus.subscribe(maxsize=10_000) if tape else None
    alerts_view = recording.anomalies.subscribe(maxsize=1_000)
    interactive = out.is_terminal

    async def print_tape() -> None:
        assert live_view is not None
        while batch := await live_view.get_batch():
            for event in batch:
                if isinstance(event, TradesReceived):
                    for line in tape_lines(event):
                        out.print(line)

    async def print_alerts() -> None:
        while batch := await alerts_view.get_batch():
            for anomaly in batch:
                if anomaly.phase != "update":
                    out.print(anomaly_line(anomaly))

    side_tasks = [asyncio.create_task(print_alerts())]
    if tape:
        side_tasks.append(asyncio.create_task(print_tape()))
    if extras.dashboard is not None:  # first: a port in use stops us before anything runs
        side_tasks.append(await _start_dashboard(recording, lake, extras.dashboard))
    detector_task = _start_detector(recording, lake, extras.detect)
    with Live(progress.render(), console=out, auto_refresh=False,
              transient=False) if interactive else contextlib.nullcontext() as live:

        def on_tick() -> None:
            if live is not None:
                live.update(progress.render(), refresh=True)

        def on_slow_tick() -> None:
            out.print(progress.render())

        try:
            await run_recording(recording, duration,
                                on_tick if interactive else on_slow_tick,
                                tick_seconds=0.5 if interactive else 2.0)
        finally:
            if detector_task is not None:  # the bus is closed: it ends open episodes and stops
                await asyncio.gather(detector_task, return_exceptions=True)
            recording.anomalies.close()
            for task in side_tasks:
                task.cancel()
            await asyncio.gather(*side_tasks, return_exceptions=True)
    out.print(progress.render())


async def _dashboard_started(server: Any, task: asyncio.Task[None]) -> None:
    """Wait until the dashboard listens; a bind failure (port taken) raises its error."""
    listening = asyncio.create_task(server.started.wait())
    await asyncio.wait({listening, task}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        listening.cancel()
        task.result()


def _start_detector(recording: Any, lake: Any, settings: DetectSettings | None) -> Any:
    if settings is None or not settings.enabled:
        return None
    from ticklake.alerts import LiveDetector
    from ticklake.detect import SwingDetector
    from ticklake.lake.anomalies import AnomalyWriter
    from ticklake.lake.storage import LakeStorage

    detector = LiveDetector(recording, SwingDetector(), AnomalyWriter(LakeStorage(lake.root)),
                            settings.webhook)
    return asyncio.create_task(detector.run(), name="swing-detector")


async def _start_dashboard(recording: Any, lake: Any,
                           settings: DashboardSettings) -> asyncio.Task[None]:
    from ticklake.dashboard import DashboardConfig, DashboardServer

    config = DashboardConfig(
        lake_root=lake.root, spool_dir=Path(lake.spool), host=settings.host, port=settings.port,
        token=settings.token.get_secret_value() if settings.token else None,
    )
    server = DashboardServer(config, recording)
    task = asyncio.create_task(server.serve(), name="dashboard")
    await _dashboard_started(server, task)
    err.print(f"dashboard on {server.url}", markup=False, highlight=False)
    return task


HostOption = Annotated[str | None, typer.Option(help="Dashboard bind address [127.0.0.1]")]
PortOption = Annotated[int | None, typer.Option(help="Dashboard port (0 = any free) [8000]")]
TokenOption = Annotated[
    str | None,
    typer.Option(help="Dashboard access token; required off loopback "
                 "[env TICKLAKE_DASHBOARD_TOKEN]", show_default=False),
]


@app.command()
def run(
    url: Annotated[str | None, typer.Option(help="WebSocket URL [wss://ws.phemex.com]")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols [BTCUSD]")] = None,
    family: FamilyOption = None,
    shard: ShardOption = None,
    connections: ConnectionsOption = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
    host: HostOption = None,
    port: PortOption = None,
    token: TokenOption = None,
    detect: Annotated[bool, typer.Option(help="Run the swing detector")] = True,
    webhook: Annotated[str | None, typer.Option(help="POST anomalies to this URL")] = None,
    metrics_port: MetricsPortOption = None,
    lake: LakeOption = None,
    spool: SpoolOption = None,
    config: ConfigOption = None,
) -> None:
    """Everything at once: record into the lake, detect swings, serve the dashboard."""
    settings = load_settings(
        config,
        **_overrides("feed", url=url, **_feed_selection(symbols, family, shard, connections)),
        **_overrides("lake", root=lake, spool=spool),
        **_overrides("dashboard", host=host, port=port, token=token),
        **_overrides("detect", webhook=webhook, enabled=None if detect else False),
    )
    _run_until_signalled(_record(
        settings.feed, settings.lake, None, duration, False, metrics_port,
        _Extras(settings.detect, settings.dashboard),
    ))


@app.command()
def dashboard(
    host: HostOption = None,
    port: PortOption = None,
    token: TokenOption = None,
    lake: LakeOption = None,
    spool: SpoolOption = None,
    config: ConfigOption = None,
) -> None:
    """Serve the dashboard over an existing lake (history, SQL, catalog; no live feed)."""
    from ticklake.catalog import Lake
    from ticklake.dashboard import DashboardConfig, DashboardServer

    settings = load_settings(
        config, **_overrides("lake", root=lake, spool=spool),
        **_overrides("dashboard", host=host, port=port, token=token),
    )
    Lake(settings.lake.root)  # a clear error now rather than on the first page
    board = settings.dashboard
    server = DashboardServer(DashboardConfig(
        lake_root=settings.lake.root, spool_dir=Path(settings.lake.spool), host=board.host,
        port=board.port, token=board.token.get_secret_value() if board.token else None,
    ))

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        await _dashboard_started(server, task)
        err.print(f"dashboard on {server.url} (Ctrl+C stops)", markup=False, highlight=False)
        await task

    _run_until_signalled(serve())


@app.command("detect")
def detect_command(
    input_path: Annotated[str | None, typer.Option(
        "--input", help="A lake root, or Parquet trades (file or directory)")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", help="FILE.parquet, or a lake root (anomalies table)")] = None,
    log: LogOption = None,
    lake: LakeOption = None,
    group: Annotated[str, typer.Option(help="Consumer group of the detectors (--log)")] = (
        "ticklake-detect"),
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Detector parameter NAME=VALUE (JSON value), repeatable")] = None,
    snapshot_seconds: Annotated[float, typer.Option(
        help="--log: snapshot each partition's detector into the lake this often")] = 10.0,
    partitions: PartitionsOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the swing detector over recorded trades, offline (same output as live); or, with
    --log, over a Kafka-protocol log as one member of a consumer group (state snapshotted
    into the lake: a partition moved to another member resumes without a cold start)."""
    from ticklake.detect import SwingDetector, parse_params

    params = parse_params(param or [])
    if log is None:
        if input_path is None or output is None:
            option = "--input/--output"
            raise ConfigError(option, None, "required (or --log and --lake)")
        from ticklake.alerts import detect_offline

        report = detect_offline(input_path, output, SwingDetector(params))
        out.print(f"{report.trades:,} trades → {report.episodes:,} anomalies in {output}",
                  markup=False, highlight=False)
        return
    if input_path is not None or output is not None:
        option = "--input/--output"
        raise ConfigError(option, None, "not with --log (the anomalies go to --lake)")
    if not snapshot_seconds > 0:
        option = "--snapshot-seconds"
        raise ConfigError(option, snapshot_seconds, "must be > 0")
    from ticklake.alerts_group import run_detect_group
    from ticklake.broker import parse_log_uri

    settings = load_settings(config, **_overrides("lake", root=lake, partitions=partitions))
    run_detect_group(parse_log_uri(log), settings.lake, group, params,
                     lambda line: err.print(line, markup=False, highlight=False),
                     snapshot_seconds)


@app.command()
def deliver(
    log: LogOption = None,
    lake: LakeOption = None,
    group: Annotated[str, typer.Option(help="Consumer group of the lake writers")] = (
        "ticklake-lake"),
    partitions: PartitionsOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the lake from a Kafka-protocol log, as one member of a consumer group.

    Start as many as you like, anywhere; kill any: the group rebalances its partitions and
    each resumes from the cursor kept in the lake (exactly once). SIGTERM/Ctrl+C publishes
    what is buffered, commits and leaves the group."""
    from ticklake.broker import parse_log_uri
    from ticklake.deliver import run_deliver

    settings = load_settings(config, **_overrides("lake", root=lake, log=log,
                                                  partitions=partitions))
    if settings.lake.log is None:
        option = "--log"
        raise ConfigError(option, None, "required: kafka://host:port/topic")
    uri = parse_log_uri(settings.lake.log)
    run_deliver(uri, settings.lake, group, lambda line: err.print(line, markup=False,
                                                                  highlight=False))


_FORMAT = "--format"


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(help="One read-only SQL statement")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write the result to this file")] = None,
    max_rows: Annotated[int, typer.Option(help="Row limit")] = 1_000_000,
    timeout: Annotated[float, typer.Option(help="Time limit, s")] = 30.0,
    lake: LakeOption = None,
    spool: SpoolOption = None,
    config: ConfigOption = None,
) -> None:
    """SQL over the lake (views trades, raw, gaps, rejected; macros candles, vwap, ...).

    Trades still in the spool, not yet published to Parquet, are included.
    """
    from ticklake.catalog import FORMATS, format_result
    from ticklake.live_edge import query_lake

    if fmt not in FORMATS:
        raise ConfigError(_FORMAT, fmt, f"choose one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise ConfigError(_FORMAT, fmt, "parquet needs --output FILE")
    settings = load_settings(config, **_overrides("lake", root=lake, spool=spool))
    result = query_lake(settings.lake.root, Path(settings.lake.spool), statement,
                        max_rows=max_rows, timeout=timeout)
    text = format_result(result, fmt, output)
    if text is not None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)
    if result.truncated:
        err.print(f"note: result truncated at {max_rows:,} rows", markup=False)


IcebergOption = Annotated[str | None, typer.Option(
    "--iceberg", help="Commit the lake's files to Iceberg tables in this catalog: "
    "sqlite:///FILE, rest+http(s)://HOST/PATH or glue:// (docs/iceberg.md)")]
NamespaceOption = Annotated[str, typer.Option("--namespace", help="Iceberg namespace")]
WarehouseOption = Annotated[str | None, typer.Option(
    "--warehouse", help="Iceberg warehouse (default for SQLite/Glue: <lake>/_iceberg)")]
IcebergPropertyOption = Annotated[list[str] | None, typer.Option(
    "--iceberg-option", help="Extra catalog property KEY=VALUE (repeatable; values never printed)")]


@app.command()
def catalog(
    lake: LakeOption = None,
    config: ConfigOption = None,
    table: Annotated[str | None, typer.Option(help="Show this table's partitions")] = None,
    duckdb_file: Annotated[
        Path | None,
        typer.Option("--duckdb", help="Write a DuckDB file of views over the lake (BI tools)"),
    ] = None,
    iceberg: IcebergOption = None,
    namespace: NamespaceOption = "ticklake",
    warehouse: WarehouseOption = None,
    iceberg_option: IcebergPropertyOption = None,
) -> None:
    """Tables, schemas, partitions, rows, bytes and freshness of the lake."""
    from rich.table import Table

    from ticklake.catalog import Lake

    settings = load_settings(config, **_overrides("lake", root=lake))
    opened = Lake(settings.lake.root)
    if iceberg is not None:
        _commit_iceberg(opened, iceberg, namespace, warehouse, iceberg_option or [])
        return
    if duckdb_file is not None:
        from ticklake.catalog.export import export_duckdb

        counts = export_duckdb(opened, duckdb_file)
        out.print(f"wrote {duckdb_file}: views {', '.join(counts)} over "
                  f"{sum(counts.values()):,} files (open it read-only; see docs/bi-tools.md)",
                  markup=False, highlight=False)
        return
    if table is not None:
        grid = Table("partition", "files", "rows", "bytes", "newest")
        for part in opened.partitions(table):
            grid.add_row("/".join(f"{k}={v}" for k, v in part.values.items()), str(part.files),
                         f"{part.rows:,}", f"{part.bytes:,}", str(part.max_time or ""))
        out.print(grid)
        return
    grid = Table("table", "partitions", "files", "rows", "bytes", "newest event")
    infos = opened.tables()
    for info in infos:
        grid.add_row(info.name, str(info.partitions), str(info.files), f"{info.rows:,}",
                     f"{info.bytes:,}", str(info.max_time or ""))
    out.print(grid)
    for info in infos:
        columns = ", ".join(f"{name} {kind}" for name, kind in info.columns)
        out.print(f"{info.name}: {columns}", markup=False, highlight=False)


def _commit_iceberg(lake: Any, uri: str, namespace: str, warehouse: str | None,
                    options: list[str]) -> None:
    properties = {}
    for option in options:
        key, equals, value = option.partition("=")
        if not equals or not key.strip():
            option_name = "--iceberg-option"
            raise ConfigError(option_name, None, "write KEY=VALUE")
        properties[key.strip()] = value
    try:
        from ticklake.catalog.iceberg import commit_lake, open_catalog
    except ImportError:
        option_name = "--iceberg"
        raise ConfigError(option_name, None,
                          "needs pyiceberg: pip install 'ticklake[iceberg]'") from None
    catalog = open_catalog(uri, lake, warehouse, properties)
    for result in commit_lake(lake, catalog, namespace):
        change = (f"snapshot {result.snapshot_id}: +{result.added} -{result.removed} files"
                  if result.snapshot_id is not None else "unchanged")
        out.print(f"{result.table}: {change}, {result.files:,} files", markup=False,
                  highlight=False)


@app.command()
def compact(
    lake: LakeOption = None,
    spool: SpoolOption = None,
    config: ConfigOption = None,
    iceberg: IcebergOption = None,
    namespace: NamespaceOption = "ticklake",
    warehouse: WarehouseOption = None,
    iceberg_option: IcebergPropertyOption = None,
) -> None:
    """Merge the small files of closed (past-day) partitions, safely while recording runs.

    With --iceberg, Iceberg tables switch to the merged files before any input is deleted."""
    from ticklake.catalog import Lake
    from ticklake.lake.compact import compact as compact_lake
    from ticklake.lake.storage import LakeStorage
    from ticklake.spool import CursorStore

    settings = load_settings(config, **_overrides("lake", root=lake, spool=spool))
    opened = Lake(settings.lake.root)  # refuse a directory that is not a lake (one line)

    def commit_iceberg() -> None:
        if iceberg is not None:
            _commit_iceberg(opened, iceberg, namespace, warehouse, iceberg_option or [])

    stats = compact_lake(LakeStorage(settings.lake.root),
                         CursorStore(Path(settings.lake.spool) / "cursors"),
                         before_delete=commit_iceberg)
    out.print(f"compacted {stats.partitions} partitions: {stats.files_merged} files merged, "
              f"{stats.files_deleted} deleted, {stats.bytes_before:,} → {stats.bytes_after:,} "
              "bytes", markup=False, highlight=False)


@app.command()
def manifest(
    lake: LakeOption = None,
    config: ConfigOption = None,
) -> None:
    """Build the lake's manifest from its files (once, for a lake written before manifests,
    or after copying in files another tool wrote in the layout); safe while recording."""
    from ticklake.catalog import Lake
    from ticklake.lake.storage import LakeStorage
    from ticklake.manifest import build

    settings = load_settings(config, **_overrides("lake", root=lake))
    Lake(settings.lake.root)  # refuse a directory that is not a lake (one line)
    stats = build(LakeStorage(settings.lake.root).manifest_store())  # errors: one line
    out.print(f"manifest: {stats.files:,} data files, {stats.added:,} added, "
              f"{stats.removed:,} removed, {len(stats.unreadable):,} unreadable",
              markup=False, highlight=False)
    for path in stats.unreadable[:20]:
        out.print(f"  unreadable (left out): {path}", markup=False, highlight=False)


@app.command()
def emulate(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port)")] = 8765,
    symbols: Annotated[str, typer.Option(
        help="Comma-separated symbols to trade; 'all' or 'all:coin-m', 'all:usdt-m', "
             "'all:spot' = every listed symbol of the catalog (of one family)")] = "BTCUSD",
    catalog: Annotated[str, typer.Option(
        help="Products: basic (4 real ones), exchange (hundreds, today's payload) or "
             "exchange-2021 (the 2021 payload: no USDⓈ-M, spot rows without priceScale, "
             "1000-trade snapshots)")] = "basic",
    extra_symbols: Annotated[int, typer.Option(
        help="Also trade N synthetic products (Z001USD, Z002USDT, sZ003USDT, ...); "
             "basic catalog only")] = 0,
    max_connections: Annotated[int, typer.Option(
        help="Refuse upgrades beyond N open connections with HTTP 429 (0 = no limit)")] = 0,
    seed: Annotated[int, typer.Option(help="Market simulator seed")] = 7,
    rate: Annotated[float, typer.Option(help="Mean trades/s per symbol")] = 50.0,
    truth: Annotated[Path | None, typer.Option(help="Ground truth (JSONL or .parquet)")] = None,
    history: Annotated[int, typer.Option(help="Trades pre-generated before start")] = 500,
    snapshot_size: Annotated[int | None, typer.Option(
        help="Trades per snapshot [default: 200; 1000 with --catalog exchange-2021]",
        show_default=False)] = None,
    heartbeat_timeout: Annotated[float, typer.Option(help="Drop without heartbeat, s")] = 30.0,
    max_trades_per_message: Annotated[int, typer.Option(help="0 = no cap")] = 0,
    batch_ms: Annotated[float, typer.Option(help="Incremental batching period, ms")] = 20.0,
    faults: Annotated[str, typer.Option(help="Fault kinds for --fault-every, comma list")] = "",
    fault_every: Annotated[float, typer.Option(help="Inject a random fault every N s")] = 0.0,
    legacy_410: Annotated[bool, typer.Option(help="Answer HTTP 410 on /ws")] = False,
) -> None:
    """Serve a Phemex-compatible exchange (WebSocket + REST products + control endpoint)."""
    from ticklake.emulator import Emulator, EmulatorConfig
    from ticklake.emulator.products import synthetic_symbols

    try:
        config = EmulatorConfig(
            host=host, port=port, max_connections=max_connections, catalog=catalog,
            symbols=(*(s for s in symbols.split(",") if s), *synthetic_symbols(extra_symbols)),
            seed=seed, rate=rate, truth_path=str(truth) if truth else None, history=history,
            snapshot_size=snapshot_size, heartbeat_timeout=heartbeat_timeout,
            max_trades_per_message=max_trades_per_message, batch_ms=batch_ms,
            fault_every=fault_every, fault_kinds=tuple(k for k in faults.split(",") if k),
            legacy_410=legacy_410,
        )
    except ValueError as exc:
        field = "emulator option"
        raise ConfigError(field, symbols, str(exc)) from None

    async def serve() -> None:
        async with Emulator(config) as emulator:
            shown = (", ".join(config.symbols) if len(config.symbols) <= 8  # a short line
                     else f"{len(config.symbols)} symbols")
            err.print(f"emulating Phemex on {emulator.url} ({shown})",
                      markup=False, highlight=False)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


@app.command()
def demo(
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols")] = "BTCUSD,BTCUSDT",
    rate: Annotated[float, typer.Option(help="Mean trades/s per symbol")] = 20.0,
    duration: Annotated[float | None, typer.Option(help="Stop after N seconds")] = None,
    fault_every: Annotated[float, typer.Option(help="Inject a fault every N s")] = 15.0,
    swing_every: Annotated[float, typer.Option(help="Inject a price swing every N s")] = 45.0,
    port: Annotated[int, typer.Option(help="Dashboard port on 127.0.0.1 (0 = any)")] = 8000,
    tape: Annotated[bool, typer.Option(help="Print every trade")] = True,
) -> None:
    """The whole pipeline against the built-in emulator: record, detect, dashboard."""
    _run_until_signalled(_demo(symbols, rate, duration, fault_every, swing_every, port, tape))


async def _demo(symbols: str, rate: float, duration: float | None, fault_every: float,
                swing_every: float, port: int, tape: bool) -> None:
    from ticklake.emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(
        symbols=tuple(symbols.split(",")), rate=rate, history=300, fault_every=fault_every,
        fault_kinds=("close", "garbage", "duplicate", "stall") if fault_every else (),
        swing_every=swing_every,
    )
    async with Emulator(config) as emulator:
        settings = load_settings(
            feed={"url": emulator.url, "symbols": config.symbols, "silence_timeout": 3.0,
                  "ping_interval": 1.0, "pong_timeout": 2.0},
            lake={"buffer_seconds": 5.0},
            dashboard={"host": "127.0.0.1", "port": port},
        )
        err.print(f"emulator on {emulator.url}; recording {symbols} into "
                  f"{settings.lake.root}/ (spool {settings.lake.spool}/); Ctrl+C stops")
        await _record(settings.feed, settings.lake, None, duration, tape,
                      extras=_Extras(settings.detect, settings.dashboard))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=False)
    except TicklakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Usage errors (unknown option, bad value) arrive here in non-standalone mode; typer
        # raises its own vendored click's exception class, so recognise them by what they do.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
