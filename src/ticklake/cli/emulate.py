"""``emulate``: the Phemex-compatible exchange emulator as a server."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from ticklake.cli.app import app, err
from ticklake.errors import ConfigError


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
    ticker_interval: Annotated[float, typer.Option(
        help="Push the 24 h tickers and ticks every N s")] = 1.0,
    ticker_pack_fields: Annotated[str, typer.Option(
        help="perp_market24h_pack_p columns: legacy (12), 2024 (+ bidRp, askRp) or "
             "appended (2024 + a column no client knows)")] = "2024",
    ticker_inner_timestamp: Annotated[bool, typer.Option(
        help="market24h: a timestamp inside the ticker object too")] = False,
    kline_push_interval: Annotated[float, typer.Option(
        help="Push the changed kline bars every N s (0 = every batch period)")] = 0.0,
    kline_scales: Annotated[bool, typer.Option(
        help="State the scales (priceScale, valueScale, qtyScale) on kline messages")] = True,
    clock_speed: Annotated[float, typer.Option(
        help="Exchange seconds per real second: trade/bar/ticker times, 24 h windows and "
             "funding run this much faster; --rate is per exchange second; pacing options "
             "(--batch-ms, --ticker-interval, ...) stay real time")] = 1.0,
    clock_start: Annotated[str | None, typer.Option(
        help="Exchange time at start: ISO-8601 (UTC unless an offset is given, e.g. "
             "2024-03-01T00:00:00Z) or epoch ms [default: now]", show_default=False)] = None,
) -> None:
    """Serve a Phemex-compatible exchange (WebSocket + REST products + control endpoint)."""
    from ticklake.emulator import Emulator, EmulatorConfig
    from ticklake.emulator.clock import parse_clock_start
    from ticklake.emulator.products import synthetic_symbols

    try:
        clock_start_ns = None if clock_start is None else parse_clock_start(clock_start)
    except ValueError as exc:
        option = "--clock-start"
        raise ConfigError(option, clock_start, str(exc)) from None
    try:
        config = EmulatorConfig(
            host=host, port=port, max_connections=max_connections, catalog=catalog,
            symbols=(*(s for s in symbols.split(",") if s), *synthetic_symbols(extra_symbols)),
            seed=seed, rate=rate, truth_path=str(truth) if truth else None, history=history,
            snapshot_size=snapshot_size, heartbeat_timeout=heartbeat_timeout,
            max_trades_per_message=max_trades_per_message, batch_ms=batch_ms,
            fault_every=fault_every, fault_kinds=tuple(k for k in faults.split(",") if k),
            legacy_410=legacy_410, ticker_interval=ticker_interval,
            ticker_pack_fields=ticker_pack_fields,
            ticker_inner_timestamp=ticker_inner_timestamp,
            kline_push_interval=kline_push_interval, kline_scales=kline_scales,
            clock_speed=clock_speed, clock_start_ns=clock_start_ns,
        )
    except ValueError as exc:
        raise _option_error(str(exc), locals()) from None

    async def serve() -> None:
        async with Emulator(config) as emulator:
            shown = (", ".join(config.symbols) if len(config.symbols) <= 8  # a short line
                     else f"{len(config.symbols)} symbols")
            err.print(f"emulating Phemex on {emulator.url} ({shown})",
                      markup=False, highlight=False)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


# Config fields whose option has another name, and words that name an option in a problem.
_OPTION_OF = {"fault_kinds": "faults", "truth_path": "truth", "clock_start_ns": "clock_start"}
_OPTION_IN = (("fault kind", "faults"), ("symbol", "symbols"), ("catalog", "catalog"))


def _option_error(problem: str, given: dict[str, object]) -> ConfigError:
    """The config's complaint as one line naming the option: ``invalid --rate -1.0: ...``."""
    problem = problem.removeprefix("emulator config: ")
    field = problem.split(" ", 1)[0].rstrip(":")
    option = _OPTION_OF.get(field, field)
    if option not in given:
        option = next((o for words, o in _OPTION_IN if words in problem), "")
    if option not in given:
        return ConfigError("emulator option", None, problem)
    return ConfigError(f"--{option.replace('_', '-')}", given[option], problem)
