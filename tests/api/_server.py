"""A real server for the API tests: uvicorn in its own process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

__all__ = ["Server", "free_port", "wait_for"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(base: str, timeout_s: float = 30.0) -> None:
    """Return when ``base`` answers HTTP; raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(f"no server at {base} after {timeout_s} s")


class Server:
    """``uvicorn api.app:create_app`` on a database, started, killed and restarted at will.

    Parameters
    ----------
    database_url : str
    env : dict, optional
        More environment (``QABILET_*`` settings).
    """

    def __init__(self, database_url: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "QABILET_DATABASE_URL": database_url,
                     "QABILET_PUBLIC_URL": self.base, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        """Start it and wait until it answers."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
             "127.0.0.1", "--port", str(self.port), "--log-level", "warning"], env=self._env)
        wait_for(self.base)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """A clean stop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
