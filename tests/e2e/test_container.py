"""The Containerfile's entrypoint and health check, run as the image runs them, without a
container runtime (this VM's cgroup layout refuses one): its ENV, its non-root USER (uid
10001 when the test runs as root; the test's own non-root user otherwise), ENTRYPOINT + CMD
against the emulator, the HEALTHCHECK command verbatim, then SIGTERM: it must drain and exit
0 with the trades in the lake, having written nothing outside its /data volume (the root
filesystem is read-only in the task definition: the installed tree must stay as it was).

Substituted, and only these: /data (a fresh directory), the metrics port 9100 (a free one) and
the feed URL (TICKLAKE_FEED__URL: the emulator's, as an operator would set it)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ticklake.catalog import Lake

from ..support import scaled

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
BIN = Path(sys.executable).parent


def instructions() -> dict[str, str]:
    """Each instruction's text (continuation lines joined; ENV lines concatenated)."""
    found: dict[str, str] = {}
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, rest = line.strip().partition(" ")
        found[keyword] = f"{found[keyword]} {rest}" if keyword == "ENV" and keyword in found \
            else rest
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reachable_by_others(path: Path) -> bool:
    """Whether any user may reach ``path`` (by the name given and by its real one) and read
    it: every directory above it open to others."""
    for candidate in (Path(os.path.abspath(path)), path.resolve()):
        if not all(p.stat().st_mode & 0o001 for p in candidate.parents):
            return False
        if not candidate.stat().st_mode & 0o004:
            return False
    return True


def _linked_copy(source: Path, target: Path) -> None:
    """A hard-linked copy (no bytes copied; root-owned, so read-only to uid 10001)."""
    done = subprocess.run(["cp", "-al", str(source), str(target)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:  # e.g. another filesystem: copying ~1 GB is not worth a test
        pytest.skip(f"cannot hard-link {source} into {target}: {done.stderr.strip()}")


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    path.unlink()  # (a hard link: never write through it)
    path.write_text(text.replace(old, new))


def installed_python(scratch: Path) -> tuple[Path, dict[str, str]]:
    """The venv's interpreter as uid 10001 can run it, owned by root (so read-only to it): the
    installed tree itself, or, for what lies under a directory closed to others (pyenv's
    interpreter in /root, a checkout under /root), hard-linked copies in ``scratch``: the
    venv, then the base interpreter and the source tree the editable install points at, if
    they are closed too (with the environment the copied interpreter needs)."""
    if os.geteuid() != 0:
        return Path(sys.executable), {}
    venv, base, src = Path(sys.prefix), Path(sys.base_prefix), ROOT / "src"
    real = Path(os.path.realpath(sys.executable))
    if all(_reachable_by_others(p) for p in (Path(sys.executable), real, src)):
        return Path(sys.executable), {}
    env: dict[str, str] = {}
    _linked_copy(venv, scratch / "venv")
    if not _reachable_by_others(real):
        _linked_copy(base, scratch / "base")
        _rewrite(scratch / "venv" / "pyvenv.cfg", str(base), str(scratch / "base"))
        real = scratch / "base" / real.relative_to(base)
        env["LD_LIBRARY_PATH"] = str(scratch / "base" / "lib")
    bin_dir = scratch / "venv" / "bin"
    for name in ("python", "python3", f"python3.{sys.version_info.minor}"):
        (bin_dir / name).unlink(missing_ok=True)
        (bin_dir / name).symlink_to(real)
    if not _reachable_by_others(src / "ticklake" / "__init__.py"):
        _linked_copy(src, scratch / "src")
        site = next((scratch / "venv" / "lib").glob("python3*/site-packages"))
        for pth in site.glob("*.pth"):
            if str(src) in pth.read_text():
                _rewrite(pth, str(src), str(scratch / "src"))
    for path in (scratch, *scratch.iterdir()):
        path.chmod(0o755)
    return bin_dir / "python", env


def _tree(*roots: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for root in roots for p in root.rglob("*")
            if p.is_file()}


def until(condition: Callable[[], bool], what: str,
          process: subprocess.Popen[str] | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + scaled(seconds)
    while not condition():
        assert process is None or process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def emulator(port: int) -> Iterator[None]:
    """``ticklake emulate`` on ``port`` (as root: it is the exchange, not the image)."""
    proc = subprocess.Popen([str(BIN / "ticklake"), "emulate", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        until(lambda: _answers(f"http://127.0.0.1:{port}/public/products"), "the emulator")
        yield
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def recorded_trades(port: int) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    return sum(sample.value for family in text_string_to_metric_families(body.decode())
               for sample in family.samples if sample.name == "ticklake_session_trades_total")


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Not under pytest's tmp_path: pytest-of-root is 0700, which uid 10001 cannot enter.
    path = Path(tempfile.mkdtemp(prefix="ticklake-image-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_images_entrypoint_records_as_non_root_reports_health_and_drains_on_sigterm(
        scratch: Path) -> None:
    spec = instructions()
    data = scratch / "data"
    data.mkdir()
    python, interpreter_env = installed_python(scratch)
    entrypoint = [str(python), str(python.parent / "ticklake")]
    assert spec["USER"] == "10001" and json.loads(spec["ENTRYPOINT"]) == ["ticklake"]
    metrics_port, exchange_port = _free_port(), _free_port()

    def moved(word: str) -> str:
        return word.replace("/data", str(data)).replace("9100", str(metrics_port))

    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "LANG": "C.UTF-8", **interpreter_env}
    env.update((k, moved(v)) for k, v in (w.split("=", 1) for w in shlex.split(spec["ENV"])))
    env["TICKLAKE_FEED__URL"] = f"ws://127.0.0.1:{exchange_port}/"
    Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    if as_root:
        for path in (data, *data.rglob("*")):
            os.chown(path, 10001, 10001)

    # Popen's own user switch (setgroups, setgid, setuid in the child): no preexec hook.
    non_root: dict[str, Any] = ({"user": 10001, "group": 10001, "extra_groups": []}
                                if as_root else {})

    command = [*entrypoint, *map(moved, json.loads(spec["CMD"]))]
    health = json.loads(spec["HEALTHCHECK"].split(" CMD ", 1)[1])
    health = [str(python) if w == "python" else moved(w) for w in health]
    installed = _tree(ROOT / "src", Path(sys.prefix) / "lib")
    since = time.time()

    with emulator(exchange_port):
        recorder = subprocess.Popen(command, env=env, cwd=data, **non_root,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        try:
            until(lambda: subprocess.run(health, env=env, **non_root,
                                         capture_output=True, check=False).returncode == 0,
                  "the health check passes", recorder)
            status = json.loads(urllib.request.urlopen(
                f"http://127.0.0.1:{metrics_port}/healthz", timeout=5).read())
            assert status["state"] == "streaming"
            until(lambda: recorded_trades(metrics_port) >= 20, "20 trades", recorder)
            recorder.send_signal(signal.SIGTERM)
            _, err = recorder.communicate(timeout=scaled(60))
            assert recorder.returncode == 0, err[-2000:]
        finally:
            if recorder.poll() is None:
                os.killpg(recorder.pid, signal.SIGKILL)
                recorder.wait()

    trades = Lake(str(data / "lake")).query("SELECT count(*) FROM trades").rows()[0][0]
    assert trades > 0
    assert _tree(ROOT / "src", Path(sys.prefix) / "lib") == installed, "the installed tree changed"
    if as_root:  # nothing of uid 10001's outside its volume
        strays = [p for p in Path(tempfile.gettempdir()).glob("*")
                  if p.stat().st_uid == 10001 and p.stat().st_mtime >= since]
        assert strays == []
