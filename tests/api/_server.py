"""A real server for the API tests: uvicorn in its own process on 127.0.0.1.

Loaded as a plugin by ``tests/conftest.py`` (the ``server`` fixture: a running server on a private
copy of the demonstration bank, and its two staff keys); the helpers below call it over HTTP.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore

__all__ = ["Crowd", "Server", "answer_current", "children", "free_port", "server", "staff",
           "staff_keys", "start_session", "wait_for"]


def children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (Linux: read from ``/proc``)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return out


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
    workers : int
        Worker processes (``qabilet serve --workers``).
    migrated : bool
        The database is migrated already (``qabilet db upgrade``): the server does not migrate.
    """

    def __init__(self, database_url: str, env: dict[str, str] | None = None,
                 workers: int = 1, migrated: bool = False) -> None:
        self.port, self.workers, self.migrated = free_port(), workers, migrated
        self.base = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "QABILET_DATABASE_URL": database_url,
                     "QABILET_PUBLIC_URL": self.base, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        """Start it and wait until it answers."""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from qabilet.api.serving import serve; "
                                   f"serve('127.0.0.1', {self.port}, workers={self.workers}, "
                                   f"migrated={self.migrated})"],
            env=self._env)  # as ``qabilet serve`` runs it: its protocol, its listener
        wait_for(self.base)
        return self

    def worker_pids(self) -> set[int]:
        """The worker processes of a server started with several (its supervisor's children)."""
        assert self.proc is not None
        return set(children(self.proc.pid))

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


class Crowd:
    """Simulated candidates, each in a thread of its own; their errors kept for the main thread.

    Parameters
    ----------
    target : callable
        What each candidate does.
    arguments : iterable of tuples
        One tuple of ``target``'s arguments per candidate.
    """

    def __init__(self, target, arguments) -> None:  # type: ignore[no-untyped-def]
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(target, args))
                        for args in arguments]

    def _run(self, target, args) -> None:  # type: ignore[no-untyped-def]
        try:
            target(*args)
        except BaseException as exc:  # reported by the main thread
            self.errors.append(exc)

    def start(self) -> Crowd:
        """Start every candidate."""
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout_s: float) -> None:
        """Wait for each candidate up to ``timeout_s``; fail on an error or one still going."""
        for t in self.threads:
            t.join(timeout_s)
        assert not self.errors, self.errors
        assert not any(t.is_alive() for t in self.threads), "a candidate could not go on"


def staff_keys(database_url: str) -> dict[str, str]:
    """A new operator's and psychometrician's key on the database."""
    engine = connect(database_url)
    store = SessionStore(engine)
    keys = {role: store.create_api_key(role) for role in ("operator", "psychometrician")}
    engine.dispose()
    return keys


@pytest.fixture
def server(demo_db):
    """``(base URL, {"operator": key, "psychometrician": key})`` of a running server."""
    keys = staff_keys(demo_db)
    running = Server(demo_db).start()
    yield running.base, keys
    running.stop()


def staff(keys, role="operator") -> dict[str, str]:
    """The Authorization header of a staff key."""
    return {"Authorization": f"Bearer {keys[role]}"}


def start_session(base: str, keys, language: str = "ru", **limits) -> dict:
    """A new candidate and session over HTTP (the session's public record, with its token)."""
    c = httpx.post(f"{base}/v1/candidates", json={"display_name": "A"}, headers=staff(keys))
    assert c.status_code == 201, c.text
    s = httpx.post(f"{base}/v1/sessions", headers=staff(keys),
                   json={"candidate_id": c.json()["id"], "level": "middle", "language": language,
                         **limits})
    assert s.status_code == 201, s.text
    return s.json()


def answer_current(base: str, session: dict, code: int = 0,
                   client: httpx.Client | None = None) -> httpx.Response:
    """Fetch the session's item as its candidate and answer it with ``code`` (or the last choice).

    A finished session has no item: the answer then goes to the next position with no item id.
    ``client``: one to send both requests with (its connections kept alive); by default each
    request has a client of its own.
    """
    me = {"X-Session-Token": session["token"]}
    http = client or httpx
    item = http.get(f"{base}/v1/sessions/{session['id']}/item", headers=me).json()
    return http.post(f"{base}/v1/sessions/{session['id']}/answers", headers=me,
                     json={"position": item["position"], "item_id": item["item_id"] or "none",
                           "code": min(code, len(item["choices"] or [0]) - 1),
                           "response_time_s": 3.0})
