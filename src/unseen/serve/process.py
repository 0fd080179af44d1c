"""Run `unseen serve` as a child process on loopback (tests, benchmarks, demos).

Binds 127.0.0.1 only, waits until /healthz answers, and always stops the child (bounded time).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`with ServerProcess(db, admin_token) as srv:` … `srv.url`; `srv.kill()` sends SIGKILL."""

    def __init__(
        self,
        db: str | Path,
        admin_token: str,
        *,
        port: int | None = None,
        env: dict | None = None,
        log: Path | None = None,
        args: list[str] | None = None,
    ):
        self.db = str(db)
        self.admin_token = admin_token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or {}
        self.log = log
        self.args = list(args or [])
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90.0) -> ServerProcess:
        env = dict(os.environ, UNSEEN_ADMIN_TOKEN=self.admin_token, **self.env)
        code = "import sys; from unseen.cli import main; sys.exit(main())"
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db",
                self.db,
                *self.args,
            ],
            env=env,
            stdout=out,
            stderr=out,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"unseen serve exited with {self.proc.returncode}")
            try:
                if (
                    httpx.get(self.url + "/healthz", timeout=0.5, trust_env=False).status_code
                    == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"unseen serve did not answer on {self.url} within {timeout_s} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (crash test)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
