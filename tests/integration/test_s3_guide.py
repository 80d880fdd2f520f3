"""docs/s3.md's "Try it on one machine", line by line as written: the exports, SeaweedFS
started by its ``weed mini`` line, the emulator, ``ticklake record`` into ``s3://``, and the
``ticklake sql`` that must then count the recorded trades. Ports are moved to free ones (the
guide's 8333 and 8765, plus flags for weed's other services); every process is killed by its
own PID. A missing bucket is refused at once, in one line, before anything is recorded."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..seaweed import _pick_ports, weed_binary
from ..support import scaled

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "s3.md"
BIN = str(Path(sys.executable).parent)


def guide_lines() -> list[str]:
    text = GUIDE.read_text()
    block = text.split("## Try it on one machine", 1)[1].split("```sh\n", 1)[1].split("```")[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, what: str) -> None:
    deadline = time.monotonic() + scaled(60)
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer: it is up
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.2)


def _wait_bucket(env: dict[str, str], bucket: str) -> None:
    """``weed mini`` makes its bucket after the port opens (seconds later on a loaded
    machine); the guide's reader waits for it, so does the test: the recorder's own check."""
    deadline = time.monotonic() + scaled(60)
    while subprocess.run([sys.executable, "-m", "ticklake.objectstore", f"s3://{bucket}/x"],
                         env=env, capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"SeaweedFS did not make the bucket {bucket}"
        time.sleep(0.5)


def test_the_s3_guide_records_into_a_bucket_and_sql_reads_it(tmp_path: Path) -> None:
    ports = _pick_ports()
    emulator_port = _free_port()
    moved = {"8333": str(ports["s3"]), "8765": str(emulator_port),
             "/tmp/seaweed": str(tmp_path / "seaweed"), "/tmp/spool": str(tmp_path / "spool")}
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        env.pop(name, None)
    background: list[subprocess.Popen[bytes]] = []
    outputs: list[str] = []
    seen: list[str] = []
    try:
        for written in guide_lines():
            line = written
            for old, new in moved.items():
                line = line.replace(old, new)
            words = shlex.split(line.removesuffix("&"))
            if words[:2] == ["pip", "install"]:
                continue  # installed with the test extras
            seen.append(words[0])
            if words[0] == "export":
                env.update(word.split("=", 1) for word in words[1:])
                continue
            if words[0] == "weed":
                words = [weed_binary(), *words[1:], "-s3.port.iceberg=0", "-s3.port.lance=0",
                         *(f"-{name}.port={port}" for name, port in ports.items())]
            if line.endswith("&"):
                log = (tmp_path / f"{len(background)}.log").open("ab")
                background.append(subprocess.Popen(words, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT,
                                                   start_new_session=True))
                log.close()
                if words[0] == weed_binary():
                    _wait_http(env["AWS_ENDPOINT_URL"], "SeaweedFS")
                    _wait_bucket(env, next(w.split("=", 1)[1] for w in words
                                           if w.startswith("-bucket=")))
                else:
                    _wait_http(f"http://127.0.0.1:{emulator_port}/public/products",
                               "the emulator")
                continue
            done = subprocess.run(words, env=env, capture_output=True, text=True,
                                  timeout=scaled(180), check=False)
            assert done.returncode == 0, (line, done.stderr[-2000:])
            outputs.append(done.stdout)
        assert seen == ["export", "export", "weed", "ticklake", "ticklake", "ticklake"], seen
        counted = re.search(r"BTCUSD\D+(\d+)", outputs[-1])
        assert counted is not None and int(counted.group(1)) > 0, outputs[-1]

        # The same environment, a bucket that does not exist: one line, exit 2, at once.
        refused = subprocess.run(
            ["ticklake", "record", "--url", f"ws://127.0.0.1:{emulator_port}/",
             "--lake", "s3://no-such-bucket/lake", "--spool", str(tmp_path / "spool-2"),
             "--duration", "5"],
            env=env, capture_output=True, text=True, timeout=scaled(120), check=False)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip().splitlines()[-1] == (
            "error: cannot write to the lake at s3://no-such-bucket/lake: the bucket "
            f"'no-such-bucket' does not exist at {env['AWS_ENDPOINT_URL']}; create it first "
            "(ticklake never creates buckets): docs/s3.md")
        assert "allow_bucket_creation" not in refused.stderr
        assert not (tmp_path / "spool-2").exists(), "refused before a spool was opened"
    finally:
        for proc in background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=scaled(10))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
