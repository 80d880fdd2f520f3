"""9. Security. Extends (does not repeat) tests/unit/catalog/test_sandbox.py (every escape
through ``Lake.query``), tests/unit/dashboard/test_sql.py and test_auth.py (refusals and the
token over HTTP) and tests/e2e/test_cli.py::test_sql_errors_are_one_line:

- the CLI ``ticklake sql`` (lake + spool tail) refuses writes, ATTACH/INSTALL/LOAD/COPY/SET/
  PRAGMA/EXPORT and files outside the lake, one line, exit 2, nothing written;
- the dashboard's ``/api/sql`` refuses the same escapes not listed in test_sql.py;
- ``ticklake dashboard`` bound to 0.0.0.0 with a token refuses every request that lacks it,
  reached over the machine's own non-loopback address;
- no credential (S3 keys, dashboard token, webhook URL token) appears in anything the CLI
  prints, with every logger at DEBUG, on success and on failure paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklake.dashboard import DashboardConfig
from ticklake.lake.hints import CURSOR
from ticklake.model import RawFrame
from ticklake.spool import CursorStore, SpoolWriter

from ..seaweed import SeaweedFS
from ..support import scaled
from ..unit.catalog.conftest import CANDLE_TRADES
from ..unit.catalog.helpers import write_lake
from ..unit.dashboard.client import request, sql
from ..unit.dashboard.stack import LakeServer
from .common import figure, wait_for
from .procs import TICKLAKE, emulator_process, kill_group

# (statement, a word the refusal names); {out} is a directory outside the lake.
REFUSED = [
    ("INSERT INTO trades SELECT * FROM trades", "INSERT"),
    ("DELETE FROM trades", "DELETE"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("DROP VIEW trades", "DROP"),
    ("ATTACH '{out}/x.db' AS x", "ATTACH"),
    ("INSTALL httpfs", "INSTALL/LOAD"),
    ("LOAD '{out}/evil.duckdb_extension'", "INSTALL/LOAD"),
    ("COPY (SELECT * FROM trades) TO '{out}/stolen.csv'", "COPY"),
    ("EXPORT DATABASE '{out}/export'", "EXPORT"),
    ("SET enable_external_access = true", "SET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("SELECT * FROM read_parquet('{out}/outside.parquet')", "outside.parquet"),
    ("SELECT * FROM read_text('/etc/passwd')", "/etc/passwd"),
    ("SELECT * FROM glob('{out}/*')", "Permission"),
    ("SELECT * FROM read_csv('{out}/../../etc/passwd')", "passwd"),
]
WRITTEN = ("x.db", "stolen.csv", "export")
TRADE_FRAME = (b'{"sequence":1,"symbol":"BTCUSD","type":"incremental",'
               b'"trades":[[1764824672778886833,"Buy",900005000,12]]}')


@pytest.fixture(scope="module")
def lake_and_spool(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("security")
    lake = write_lake(tmp / "lake", trades=CANDLE_TRADES)
    spool = tmp / "spool"
    with SpoolWriter(spool) as writer:  # an unpublished tail: the CLI's query_lake path
        writer.append(RawFrame(1, 1_764_824_672_800_000_000, TRADE_FRAME))
    out = tmp / "outside"
    out.mkdir()
    pq.write_table(pa.table({"secret": ["outside"]}), out / "outside.parquet")
    return lake, spool, out


def test_cli_sql_refuses_every_escape(lake_and_spool: tuple[Path, Path, Path]) -> None:
    lake, spool, out = lake_and_spool

    def run(statement: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TICKLAKE, "sql", statement.replace("{out}", str(out)), "--lake", str(lake),
             "--spool", str(spool)], capture_output=True, text=True, timeout=scaled(60),
            check=False, cwd=tempfile.mkdtemp())

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, [s for s, _ in REFUSED]))
        count = pool.submit(run, "SELECT count(*) FROM trades").result()
    bad = []
    for (statement, named), result in zip(REFUSED, results, strict=True):
        message = result.stderr.strip()
        if not (result.returncode == 2 and "\n" not in message and named in message
                and "outside" not in result.stdout and "root:" not in result.stdout
                and "Traceback" not in message):
            bad.append((statement, result.returncode, message[-300:]))
    assert not bad, bad
    assert not [w for w in WRITTEN if (out / w).exists()]
    assert count.returncode == 0 and str(len(CANDLE_TRADES) + 1) in count.stdout  # + the tail
    figure("security_cli_sql", refused=len(REFUSED), statements=[s for s, _ in REFUSED])


def test_dashboard_sql_refuses_the_escapes_too(lake_and_spool: tuple[Path, Path, Path]) -> None:
    lake, spool, out = lake_and_spool
    server = LakeServer(DashboardConfig(str(lake), spool, port=0)).start()
    try:
        bad = []
        for statement, named in REFUSED:
            reply = sql(server.url, statement.replace("{out}", str(out)))
            message = reply.json().get("error", "")
            if not (reply.status == 400 and named in message and "\n" not in message):
                bad.append((statement, reply.status, message))
        ok = sql(server.url, "SELECT count(*) AS n FROM trades")
    finally:
        server.stop()
    assert not bad, bad
    assert not [w for w in WRITTEN if (out / w).exists()]
    assert ok.status == 200
    figure("security_dashboard_sql", refused=len(REFUSED))


def own_address() -> str | None:
    """This machine's address on its default route (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


@contextlib.contextmanager
def process_with_url(args: list[str], log: Path, env: dict[str, str] | None = None,
                     pattern: str = r"dashboard on (http://\S+?)/?\s") -> Iterator[str]:
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        deadline = time.monotonic() + scaled(60)
        while not (match := re.search(pattern, log.read_text())):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield match.group(1).rstrip("/")
    finally:
        kill_group(process, 15)
        try:
            process.wait(timeout=scaled(60))
        except subprocess.TimeoutExpired:
            kill_group(process)
            process.wait()


def test_dashboard_off_loopback_refuses_requests_without_the_token(
        lake_and_spool: tuple[Path, Path, Path], tmp_path: Path) -> None:
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to reach the dashboard on")
    lake, _, _ = lake_and_spool
    token = "tok-" + os.urandom(8).hex()
    with process_with_url([*TICKLAKE, "dashboard", "--lake", str(lake), "--host", "0.0.0.0",
                           "--port", "0", "--token", token], tmp_path / "dash.log") as url:
        port = url.rsplit(":", 1)[1]
        base = f"http://{address}:{port}"
        statuses = {}
        for path in ("/", "/api/lake", "/api/symbols", "/sql", "/static/app.js"):
            statuses[path] = request(base + path).status
            statuses[path + " (wrong token)"] = request(
                base + path, headers={"Authorization": "Bearer nope"}).status
        statuses["POST /api/sql"] = sql(base, "SELECT 1").status
        allowed = sql(base, "SELECT 1", headers={"Authorization": f"Bearer {token}"}).status
        page = request(base + "/api/lake", headers={"Authorization": f"Bearer {token}"}).status
    assert set(statuses.values()) == {401}, statuses
    assert allowed == page == 200
    figure("security_dashboard_token", address="non-loopback", refused=len(statuses),
           with_token=allowed)


DEBUG_MAIN = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, "
              "format='%(levelname)s %(name)s: %(message)s'); "
              "from ticklake.cli import main; sys.argv = ['ticklake'] + sys.argv[1:]; main()")


def test_no_credential_ever_appears_in_output_or_logs(
        tmp_path: Path, seaweed: SeaweedFS) -> None:
    secrets = {"dashboard token": "dash-" + os.urandom(8).hex(),
               "webhook token": "hook-" + os.urandom(8).hex(),
               "wrong S3 secret": "s3wrong-" + os.urandom(8).hex()}
    s3 = seaweed.env()
    secrets["S3 secret key"] = s3["AWS_SECRET_ACCESS_KEY"]
    outputs: dict[str, str] = {}
    debug = [sys.executable, "-c", DEBUG_MAIN]
    with emulator_process(tmp_path, "--symbols", "BTCUSD", "--rate", "50") as (url, _):
        # 1. Everything at once, secrets in flags and environment, the dashboard visited
        #    with ?token= (the access log), the webhook unreachable (its failure logged).
        hook = f"http://127.0.0.1:9/hook?token={secrets['webhook token']}"
        with process_with_url(
                [*debug, "run", "--url", url, "--symbols", "BTCUSD", "--lake",
                 f"s3://{seaweed.bucket}/secrets", "--spool", str(tmp_path / "spool"),
                 "--port", "0", "--host", "127.0.0.1", "--webhook", hook],
                tmp_path / "run.log",
                env={**s3, "TICKLAKE_DASHBOARD_TOKEN": secrets["dashboard token"],
                     "TICKLAKE_LAKE__BUFFER_SECONDS": "0.5"}) as base:
            with contextlib.suppress(urllib.error.URLError):
                request(f"{base}/?token={secrets['dashboard token']}")
            request(f"{base}/api/lake", headers={"Authorization": "Bearer wrong"})
            # Running until it has published to the object store (the credentials used).
            cursors = CursorStore(tmp_path / "spool" / "cursors")
            wait_for(lambda: cursors.load(CURSOR)[0] > 0, 60, "a publish to S3")
        outputs["run"] = (tmp_path / "run.log").read_text()
        # 2. The object store refusing the credentials: errors about S3, with no key in them.
        wrong = {**s3, "AWS_SECRET_ACCESS_KEY": secrets["wrong S3 secret"]}
        recorder = subprocess.run(
            [*debug, "record", "--url", url, "--symbols", "BTCUSD", "--duration", "6",
             "--lake", f"s3://{seaweed.bucket}/wrong", "--spool", str(tmp_path / "spool2")],
            capture_output=True, text=True, env={**os.environ, **wrong,
                                                 "TICKLAKE_LAKE__BUFFER_SECONDS": "1"},
            timeout=scaled(120), check=False)
        outputs["record, wrong S3 secret"] = recorder.stdout + recorder.stderr
    # 3. Secrets in bad settings: the error names the setting, not the secret.
    for name, args in {
        "bad webhook": ["run", "--webhook", f"ftp://u:{secrets['webhook token']}@h/x"],
        "bad port with token": ["dashboard", "--port", "99999", "--token",
                                secrets["dashboard token"]],
        "sql on S3 with wrong secret": ["sql", "SELECT 1", "--lake", f"s3://{seaweed.bucket}/x"],
    }.items():
        done = subprocess.run([*debug, *args], capture_output=True, text=True,
                              env={**os.environ, **wrong}, timeout=scaled(60), check=False,
                              cwd=tempfile.mkdtemp())
        outputs[name] = done.stdout + done.stderr
    leaks = {(where, what) for where, text in outputs.items()
             for what, secret in secrets.items() if secret in text}
    assert "wrong" in outputs["record, wrong S3 secret"].lower() or \
        "denied" in outputs["record, wrong S3 secret"].lower() or \
        "failed" in outputs["record, wrong S3 secret"].lower()  # the failure was reported
    figure("security_secrets", scenarios=sorted(outputs), secrets=sorted(secrets),
           log_bytes=sum(len(t) for t in outputs.values()), leaks=sorted(map(list, leaks)))
    assert not leaks, {k: json.dumps(v)[:200] for k, v in outputs.items()
                       if any(k == w for w, _ in leaks)}
