"""Scale-out commands (docs/scale-out.md): ``deliver`` and ``detect``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ticklake.cli.app import (
    ConfigOption,
    LakeOption,
    LogOption,
    PartitionsOption,
    app,
    err,
    out,
    overrides,
)
from ticklake.config import load_settings
from ticklake.errors import ConfigError


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
        from ticklake.detect.recorded import detect_offline

        report = detect_offline(input_path, output, SwingDetector(params))
        out.print(f"{report.trades:,} trades → {report.episodes:,} anomalies in {output}"
                  + (f" ({report.gaps:,} recorded gaps suspended the detector)"
                     if report.gaps else ""), markup=False, highlight=False)
        if report.quarantined:
            err.print(f"{report.quarantined:,} trades left out: a null, or a price or "
                      "quantity that is not a finite number > 0", markup=False,
                      highlight=False)
        return
    if input_path is not None or output is not None:
        option = "--input/--output"
        raise ConfigError(option, None, "not with --log (the anomalies go to --lake)")
    if not snapshot_seconds > 0:
        option = "--snapshot-seconds"
        raise ConfigError(option, snapshot_seconds, "must be > 0")
    from ticklake.scaleout.detect_group import run_detect_group
    from ticklake.scaleout.log import parse_log_uri

    settings = load_settings(config, **overrides("lake", root=lake, partitions=partitions))
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
    buffer_seconds: Annotated[float | None, typer.Option(
        help="Publish a partition's batch once its oldest record is this old, s "
             "(lake.buffer_seconds) [300]")] = None,
    config: ConfigOption = None,
) -> None:
    """Write the lake from a Kafka-protocol log, as one member of a consumer group.

    Start as many as you like, anywhere; kill any: the group rebalances its partitions and
    each resumes from the cursor kept in the lake (exactly once). SIGTERM/Ctrl+C publishes
    what is buffered, commits and leaves the group."""
    from ticklake.scaleout.deliver import run_deliver
    from ticklake.scaleout.log import parse_log_uri

    settings = load_settings(config, **overrides("lake", root=lake, log=log,
                                                  partitions=partitions,
                                                  buffer_seconds=buffer_seconds))
    if settings.lake.log is None:
        option = "--log"
        raise ConfigError(option, None, "required: kafka://host:port/topic")
    uri = parse_log_uri(settings.lake.log)
    run_deliver(uri, settings.lake, group, lambda line: err.print(line, markup=False,
                                                                  highlight=False))
