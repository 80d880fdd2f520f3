"""8. Bad input everywhere: for every CLI command, bad settings, unknown symbols, unreachable
URLs, bad SQL and a directory that is not a lake each give one line naming the problem on
stderr, exit code 2, and no traceback. All cases run as real processes, four at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..support import scaled
from .common import figure

TICKLAKE = [sys.executable, "-m", "ticklake"]
NOT_A_LAKE = "{notlake}"  # replaced by a directory with files in it but no lake marker
LAKE = "{lake}"  # replaced by an empty, valid lake


@dataclass(frozen=True)
class Case:
    command: str
    args: tuple[str, ...]
    named: str  # what the one line must name
    env: tuple[tuple[str, str], ...] = ()


FAST = ("--products-url", "none", "--duration", "3")
RUN = ("--duration", "3", "--port", "0")
NO_PRODUCTS = (("TICKLAKE_FEED__PRODUCTS_URL", "none"),)
CASES = [
    # record
    Case("record", ("--ping-interval", "45", *FAST), "invalid feed.ping_interval 45.0"),
    Case("record", ("--symbols", "NOPE", *FAST), "unknown symbol 'NOPE'"),
    Case("record", ("--url", "ws://127.0.0.1:9/", *FAST), "cannot connect to ws://127.0.0.1:9/",
         (("TICKLAKE_FEED__FIRST_CONNECT_TIMEOUT", "1"),)),
    Case("record", ("--url", "http://example.invalid/", *FAST), "invalid feed.url"),
    Case("record", (*FAST,), "invalid lake.fsync 'sometimes'",
         (("TICKLAKE_LAKE__FSYNC", "sometimes"),)),
    Case("record", ("--config", "/nonexistent/ticklake.toml", *FAST), "no such file"),
    Case("record", ("--config", "{badtoml}", *FAST), "invalid config file"),
    Case("record", ("--bogus-option",), "No such option: --bogus-option"),
    Case("record", ("--lake", NOT_A_LAKE, *FAST), "not a ticklake lake"),
    # run
    Case("run", ("--duration", "3", "--port", "70000"), "invalid dashboard.port 70000",
         NO_PRODUCTS),
    Case("run", ("--symbols", "NOPE", *RUN), "unknown symbol 'NOPE'", NO_PRODUCTS),
    Case("run", ("--webhook", "ftp://example.invalid/", *RUN), "invalid detect.webhook",
         NO_PRODUCTS),
    Case("run", ("--host", "0.0.0.0", *RUN), "token", NO_PRODUCTS),
    Case("run", ("--lake", NOT_A_LAKE, *RUN), "not a ticklake lake", NO_PRODUCTS),
    # sql
    Case("sql", ("SELEC 1", "--lake", LAKE), "syntax error"),
    Case("sql", ("SELECT nope FROM trades", "--lake", LAKE), "nope"),
    Case("sql", ("SELECT 1", "--lake", NOT_A_LAKE), "no ticklake lake at"),
    Case("sql", ("SELECT 1", "--lake", LAKE, "--format", "xml"), "invalid --format 'xml'"),
    # catalog
    Case("catalog", ("--lake", NOT_A_LAKE), "no ticklake lake at"),
    Case("catalog", ("--lake", LAKE, "--table", "nope"), "nope"),
    # compact
    Case("compact", ("--lake", NOT_A_LAKE), "no ticklake lake at"),
    # dashboard
    Case("dashboard", ("--lake", NOT_A_LAKE), "no ticklake lake at"),
    Case("dashboard", ("--lake", LAKE, "--port", "-1"), "invalid dashboard.port -1"),
    Case("dashboard", ("--lake", LAKE, "--host", "0.0.0.0", "--port", "0"), "token"),
    # detect
    Case("detect", ("--input", "/nonexistent/trades", "--output", "{tmp}/a.parquet"),
         "/nonexistent/trades"),
    Case("detect", ("--input", NOT_A_LAKE, "--output", "{tmp}/a.parquet"), "notlake"),
    # emulate
    Case("emulate", ("--port", "0", "--symbols", "NOPE"), "unknown symbol"),
    Case("emulate", ("--port", "0", "--rate", "-1"), "rate must be >= 0"),
    Case("emulate", ("--port", "0", "--clock-speed", "0"), "invalid --clock-speed 0.0"),
    Case("emulate", ("--port", "0", "--clock-start", "yesterday"), "invalid --clock-start"),
    Case("emulate", ("--port", "0", "--faults", "meteor", "--fault-every", "1"),
         "unknown fault kind 'meteor'"),
]


def _ident(case: Case) -> str:
    return f"{case.command}:{' '.join(case.args)[:60]}"


@pytest.fixture(scope="module")
def results(
        tmp_path_factory: pytest.TempPathFactory,
) -> dict[Case, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("bad-input")
    lake = tmp / "lake"
    (lake / "_ticklake").mkdir(parents=True)
    (lake / "_ticklake" / "lake.json").write_text('{"format": 1}')
    badtoml = tmp / "bad.toml"
    badtoml.write_text("[lake\nroot = ")

    def run(case: Case) -> subprocess.CompletedProcess[str]:
        cwd = Path(tempfile.mkdtemp(dir=tmp))
        notlake = cwd / "notlake"  # one per case: a recorder could turn it into a lake
        (notlake / "trades").mkdir(parents=True)
        (notlake / "trades" / "x.parquet").write_bytes(b"not parquet")
        args = [a.replace(NOT_A_LAKE, str(notlake)).replace(LAKE, str(lake))
                .replace("{badtoml}", str(badtoml)).replace("{tmp}", str(tmp))
                for a in case.args]
        try:
            return subprocess.run([*TICKLAKE, case.command, *args], capture_output=True,
                                  text=True, timeout=scaled(90), check=False,
                                  env={**os.environ, **dict(case.env)},
                                  cwd=cwd)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, -1, "", f"timed out: {exc}")

    with ThreadPoolExecutor(4) as pool:
        done = dict(zip(CASES, pool.map(run, CASES), strict=True))
    ok = sum(1 for c, r in done.items() if _good(c, r))
    figure("bad_input", cases=len(CASES), one_line_exit_2=ok,
           commands=sorted({c.command for c in CASES}),
           failing=[_ident(c) for c, r in done.items() if not _good(c, r)])
    return done


def _lines(case: Case) -> int:
    """Lines allowed on stderr: one; a usage error shows click's usage block as well."""
    return 5 if case.args[:1] == ("--bogus-option",) else 1


def _good(case: Case, result: subprocess.CompletedProcess[str]) -> bool:
    stderr = result.stderr.strip()
    return (result.returncode == 2 and stderr.count("\n") < _lines(case)
            and case.named in stderr and "Traceback" not in result.stderr + result.stdout)


@pytest.mark.parametrize("case", CASES, ids=_ident)
def test_bad_input_is_one_line_naming_it_with_exit_code_2(
        results: dict[Case, subprocess.CompletedProcess[str]], case: Case) -> None:
    result = results[case]
    stderr = result.stderr.strip()
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert stderr.count("\n") < _lines(case), stderr
    assert case.named in stderr, stderr
