"""Commands over a lake: ``dashboard``, ``sql``, ``catalog``, ``compact``, ``manifest``,
``rebuild``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from ticklake.cli.app import (
    ConfigOption,
    HostOption,
    IcebergOption,
    IcebergPropertyOption,
    LakeOption,
    NamespaceOption,
    PortOption,
    SpoolOption,
    TokenOption,
    WarehouseOption,
    app,
    err,
    out,
    overrides,
    run_until_signalled,
)
from ticklake.config import load_settings
from ticklake.errors import ConfigError


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
    from ticklake.pipeline.extras import dashboard as make_dashboard

    settings = load_settings(
        config, **overrides("lake", root=lake, spool=spool),
        **overrides("dashboard", host=host, port=port, token=token),
    )
    Lake(settings.lake.root)  # a clear error now rather than on the first page
    server = make_dashboard(None, settings.lake, settings.dashboard)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        await server.wait_started(task)
        err.print(f"dashboard on {server.url} (Ctrl+C stops)", markup=False, highlight=False)
        await task

    run_until_signalled(serve())


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
    settings = load_settings(config, **overrides("lake", root=lake, spool=spool))
    result = query_lake(settings.lake.root, Path(settings.lake.spool), statement,
                        max_rows=max_rows, timeout=timeout)
    text = format_result(result, fmt, output)
    if text is not None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)
    if result.truncated:
        err.print(f"note: result truncated at {max_rows:,} rows", markup=False)


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

    settings = load_settings(config, **overrides("lake", root=lake))
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

    settings = load_settings(config, **overrides("lake", root=lake, spool=spool))
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

    settings = load_settings(config, **overrides("lake", root=lake))
    Lake(settings.lake.root)  # refuse a directory that is not a lake (one line)
    stats = build(LakeStorage(settings.lake.root).manifest_store())  # errors: one line
    out.print(f"manifest: {stats.files:,} data files, {stats.added:,} added, "
              f"{stats.removed:,} removed, {len(stats.unreadable):,} unreadable",
              markup=False, highlight=False)
    for path in stats.unreadable[:20]:
        out.print(f"  unreadable (left out): {path}", markup=False, highlight=False)


@app.command()
def rebuild(
    lake: LakeOption = None,
    config: ConfigOption = None,
    tables: Annotated[str | None, typer.Option(
        help="Tables to derive again from raw, comma-separated [every derived table: trades, "
             "gaps, rejected, book_updates, book_snapshots, tickers, ticks, klines]")] = None,
    from_day: Annotated[str | None, typer.Option(
        "--from", help="First UTC day (YYYY-MM-DD) [the lake's first]")] = None,
    to_day: Annotated[str | None, typer.Option(
        "--to", help="Last UTC day (YYYY-MM-DD) [yesterday: only closed days]")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Derive and compare, report, write nothing")] = False,
) -> None:
    """Derive tables again from raw for closed days (after a parser fix or a new table):
    each changed partition swapped in atomically, unchanged ones left alone; reported."""
    import datetime as dt

    from ticklake.catalog import Lake
    from ticklake.lake.rebuild import DERIVED
    from ticklake.lake.rebuild import rebuild as rebuild_lake
    from ticklake.lake.storage import LakeStorage

    settings = load_settings(config, **overrides("lake", root=lake))
    chosen = tuple(t.strip() for t in tables.split(",") if t.strip()) if tables else DERIVED
    for name, day in (("--from", from_day), ("--to", to_day)):
        if day is not None:
            try:
                dt.date.fromisoformat(day)
            except ValueError:
                raise ConfigError(name, day, "not a day (YYYY-MM-DD)") from None
    unknown = [t for t in chosen if t not in DERIVED]
    if unknown:
        problem = f"{unknown[0]!r} is not derived from raw ({', '.join(DERIVED)})"
        option = "--tables"
        raise ConfigError(option, tables, problem)
    Lake(settings.lake.root)  # refuse a directory that is not a lake (one line)
    report = rebuild_lake(LakeStorage(settings.lake.root), chosen, from_day, to_day,
                          dry_run=dry_run)
    verb = "would rewrite" if dry_run else "rewrote"
    out.print(f"rebuild: {len(report.days)} days, {report.records_decoded:,} raw records "
              f"decoded in {report.seconds:.1f} s; {verb} {len(report.changed)} partitions",
              markup=False, highlight=False)
    for table, stats in report.tables.items():
        if not stats.partitions:
            continue
        changed = (f", columns {', '.join(sorted(stats.columns_changed))}"
                   if stats.columns_changed else "")
        out.print(f"  {table}: {stats.partitions} partitions ({stats.rebuilt} changed, "
                  f"{stats.unchanged} equal), rows {stats.rows_before:,} → "
                  f"{stats.rows_after:,}, {stats.only_before:,} only before, "
                  f"{stats.only_after:,} only after{changed}", markup=False, highlight=False)
    for name in report.skipped:
        err.print(f"  left as it was (changed by another writer meanwhile; run again): {name}",
                  markup=False, highlight=False)
