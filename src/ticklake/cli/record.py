"""``record``, ``run`` and ``demo``: a recording, built and run by ``ticklake.pipeline``."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live

from ticklake.cli.app import (
    BookDepthOption,
    ChannelsOption,
    ConfigOption,
    ConnectionsOption,
    FamilyOption,
    HostOption,
    KlineIntervalsOption,
    LakeOption,
    LogOption,
    MetricsPortOption,
    PartitionsOption,
    PortOption,
    ShardOption,
    SpoolOption,
    TokenOption,
    app,
    err,
    feed_selection,
    out,
    overrides,
    run_until_signalled,
)
from ticklake.config import Settings, load_settings

if TYPE_CHECKING:
    from ticklake.feed.events import TradesReceived
    from ticklake.model import Anomaly


@app.command()
def record(
    url: Annotated[str | None, typer.Option(help="WebSocket URL [wss://ws.phemex.com]")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols [BTCUSD]")] = None,
    family: FamilyOption = None,
    shard: ShardOption = None,
    connections: ConnectionsOption = None,
    channels: ChannelsOption = None,
    book_depth: BookDepthOption = None,
    kline_intervals: KlineIntervalsOption = None,
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
        **overrides("feed", url=url, ping_interval=ping_interval,
                     silence_timeout=silence_timeout, products_url=products_url,
                     channels=channels, book_depth=book_depth,
                     kline_intervals=kline_intervals,
                     **feed_selection(symbols, family, shard, connections)),
        **overrides("lake", root=lake, spool=spool, log=log, partitions=partitions),
    )
    if settings.lake.log is not None:
        from ticklake.scaleout.log import parse_log_uri

        parse_log_uri(settings.lake.log)  # a wrong URI: one line now, before recording
    run_until_signalled(_record(settings, out_path, duration, tape, metrics_port))


@app.command()
def run(
    url: Annotated[str | None, typer.Option(help="WebSocket URL [wss://ws.phemex.com]")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols [BTCUSD]")] = None,
    family: FamilyOption = None,
    shard: ShardOption = None,
    connections: ConnectionsOption = None,
    channels: ChannelsOption = None,
    book_depth: BookDepthOption = None,
    kline_intervals: KlineIntervalsOption = None,
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
        **overrides("feed", url=url, channels=channels, book_depth=book_depth,
                    kline_intervals=kline_intervals,
                    **feed_selection(symbols, family, shard, connections)),
        **overrides("lake", root=lake, spool=spool),
        **overrides("dashboard", host=host, port=port, token=token),
        **overrides("detect", webhook=webhook, enabled=None if detect else False),
    )
    run_until_signalled(_record(settings, None, duration, False, metrics_port, extras=True))


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
    """The whole pipeline against the built-in emulator: record trades and order books,
    detect, dashboard."""
    run_until_signalled(_demo(symbols, rate, duration, fault_every, swing_every, port, tape))


async def _demo(symbols: str, rate: float, duration: float | None, fault_every: float,
                swing_every: float, port: int, tape: bool) -> None:
    from ticklake.emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(
        symbols=tuple(symbols.split(",")), rate=rate, history=300, fault_every=fault_every,
        fault_kinds=("close", "garbage", "duplicate", "stall", "book_drop",
                     "book_out_of_order") if fault_every else (),
        swing_every=swing_every,
    )
    async with Emulator(config) as emulator:
        settings = load_settings(
            feed={"url": emulator.url, "symbols": config.symbols, "silence_timeout": 3.0,
                  "ping_interval": 1.0, "pong_timeout": 2.0, "channels": ("trades", "book")},
            lake={"buffer_seconds": 5.0},
            dashboard={"host": "127.0.0.1", "port": port},
        )
        err.print(f"emulator on {emulator.url}; recording {symbols} into "
                  f"{settings.lake.root}/ (spool {settings.lake.spool}/); Ctrl+C stops")
        await _record(settings, None, duration, tape, extras=True)


async def _record(
    settings: Settings, out_path: Path | None, duration: float | None, tape: bool,
    metrics_port: int | None = None, extras: bool = False,
) -> None:
    """Build the recording (``ticklake.pipeline``), attach what runs beside it, run it while
    the terminal shows its progress."""
    from ticklake.console import ProgressLine, anomaly_line, tape_lines
    from ticklake.pipeline import Consumer, Observers, Service, build_recording

    recording = await build_recording(settings.feed, out_path, settings.lake, metrics_port)
    consumers: list[Consumer] = []
    services: list[Service] = []
    if extras:
        from ticklake.pipeline import extras as attach

        if settings.detect.enabled:
            consumers.append(attach.live_detector(settings.lake, settings.detect))
        board = attach.dashboard(recording, settings.lake, settings.dashboard)
        services.append(board)
    progress = ProgressLine(recording.status)
    interactive = out.is_terminal
    with Live(progress.render(), console=out, auto_refresh=False,
              transient=False) if interactive else contextlib.nullcontext() as live:

        def tick() -> None:
            if live is not None:
                live.update(progress.render(), refresh=True)
            else:
                out.print(progress.render())

        def started() -> None:
            if services:
                err.print(f"dashboard on {board.url}", markup=False, highlight=False)

        def show_anomaly(anomaly: Anomaly) -> None:
            if anomaly.phase != "update":
                out.print(anomaly_line(anomaly))

        def show_trades(event: TradesReceived) -> None:
            for line in tape_lines(event):
                out.print(line)

        observers = Observers(on_started=started, on_tick=tick,
                              tick_seconds=0.5 if interactive else 2.0,
                              on_trades=show_trades if tape else None, on_anomaly=show_anomaly)
        await recording.run(duration, observers, consumers, services)
    out.print(progress.render())
