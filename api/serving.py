"""Serving the app: uvicorn worker processes, each with a listening socket of its own.

``uvicorn.run(…, workers=N)`` makes one listening socket and shares it among the workers. Two
things go wrong with that on Linux (both measured by ``benchmarks/bench_http.py``, December
2026): uvicorn 0.54 makes the socket with ``proto`` 0, so asyncio never sets ``TCP_NODELAY`` on
its connections and a response on a kept-alive connection can wait ~40 ms for the client's
delayed ACK (uvicorn issue 3149); and the kernel wakes the same worker for most new
connections, which then stay with it, so one worker (one core) does nearly all the work while
the others idle.

Here each worker binds its own socket with ``SO_REUSEPORT`` (Linux 3.9+), made with
``IPPROTO_TCP`` (so ``TCP_NODELAY`` is set on every connection), and the kernel spreads new
connections over the workers' sockets by a hash of their addresses. Where ``SO_REUSEPORT`` does
not balance (not Linux), the workers share one socket, as uvicorn's own would. The supervisor
holds the address (bound, not listening: it takes no connections), restarts a worker that dies,
and stops them all on SIGINT or SIGTERM.

A started worker freezes what its startup made out of the garbage collector's way and collects
young objects less often (:func:`quiet_gc`), and sends each response's writes together
(:class:`_Coalescing`).

The settings are read once, by the supervisor (or given to :func:`serve`), and handed to each
worker as an argument; the database is migrated once, by the supervisor, before any worker
starts (:func:`migrate`): a worker only opens it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from functools import partial
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from qabilet.api.settings import Settings

__all__ = ["GC_THRESHOLDS", "listening_socket", "migrate", "quiet_gc", "serve"]

#: a worker's garbage-collector thresholds (CPython's are 700, 10, 10): see :func:`quiet_gc`
GC_THRESHOLDS = (20_000, 10, 10)
_log = logging.getLogger("qabilet.serve")
_BALANCED = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, reuse_port: bool, listen: bool = True
                     ) -> socket.socket:
    """A TCP socket bound to ``host:port`` (listening unless ``listen`` is False).

    Made with ``proto=IPPROTO_TCP``, so that asyncio turns Nagle's algorithm off on the
    connections it accepts; ``reuse_port`` lets every worker bind the same address.

    Raises
    ------
    OSError
        The address is taken by another program, or ``host`` is not an address of this machine.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class _Coalescing:
    """A transport whose writes of one event-loop step go out as one send.

    uvicorn writes a response's status line and headers, then its body, each with its own
    ``transport.write``; with ``TCP_NODELAY`` each is a send and a TCP segment of its own (two
    system calls, two wake-ups of the client). Here the writes are held until the loop's next
    step and sent joined — the same bytes, in the same order, one segment for a small response.
    Everything else is the wrapped transport's.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: Any, loop: Any) -> None:
        self._transport, self._loop = transport, loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _protocol() -> type:
    """The httptools protocol of uvicorn on a :class:`_Coalescing` transport."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class CoalescingHttpTools(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            # a Transport by what it does (every attribute but write and close is the wrapped one's)
            super().connection_made(cast("asyncio.Transport", _Coalescing(transport, self.loop)))

    return CoalescingHttpTools


def quiet_gc() -> None:
    """Keep CPython's cyclic garbage collector out of the requests' way (a started worker).

    A worker holds ~160 000 objects the collector tracks from its imports and the app, and
    makes many short-lived ones per request. With CPython's thresholds (700, 10, 10) it ran a
    young collection every few hundred net allocations and a full one — walking every tracked
    object, the event loop stopped meanwhile — every second or so under load: measured with
    ``benchmarks/bench_http.py`` (SQLite, uni, 200 answers/s then saturation, December 2026),
    5–7 s of collection per worker in a one-minute run, full collections of 160–190 ms, the
    answers' p99. ``gc.freeze()`` moves everything alive after the startup to the permanent
    generation, which no collection walks again (Python's ``gc`` documentation, "freeze"), and
    a young threshold of 20 000 (:data:`GC_THRESHOLDS`) makes young collections fewer: 0.3 s of
    collection per worker in the same run, and about 20 % more answers per second. Cycles made
    later are still collected; what startup made stays, as it would anyway.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _server(config: Any) -> Any:
    """A uvicorn server whose process calls :func:`quiet_gc` once it has started."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            quiet_gc()

    return Server(config)


def _config(log_level: str, settings: Settings) -> Any:
    """A worker's configuration of uvicorn: the app made on ``settings`` (its database migrated)."""
    import uvicorn

    from qabilet.api.app import create_app

    # loop "auto": uvloop where installed (a dependency of qabilet's, as httptools is).
    # proxy_headers off: uvicorn would otherwise take the client's address from the
    # X-Forwarded-For of any peer at 127.0.0.1; the app believes that header only from the
    # proxies that QABILET_TRUSTED_PROXIES names (api.auth.client_address)
    return uvicorn.Config(partial(create_app, settings, migrate=False), factory=True,
                          log_level=log_level, access_log=False,
                          timeout_keep_alive=30, http=_protocol(), proxy_headers=False)


def _run_worker(host: str, port: int, log_level: str, shared: socket.socket | None,
                settings: Settings) -> None:
    """One worker process: uvicorn's server on its own socket (or on the shared one).

    It stops itself (SIGTERM, a clean shutdown) when its supervisor is gone, killed or not.
    """
    sock = shared if shared is not None else listening_socket(host, port, reuse_port=True)
    parent = os.getppid()

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=orphaned, name="qabilet-orphan-watch", daemon=True).start()
    _server(_config(log_level, settings)).run(sockets=[sock])


def migrate(settings: Settings) -> None:
    """Bring the settings' database to the newest schema (Alembic), once, before serving.

    Under PostgreSQL's advisory lock (:func:`qabilet.itembank.database.upgrade`): several
    servers started together on one database migrate one after the other.
    """
    from qabilet.itembank.database import connect

    connect(settings=settings, migrate=True).dispose()
    _log.info("database migrated: %s", settings.database_url.partition("://")[0])


def serve(host: str, port: int, *, workers: int = 1, log_level: str = "warning",
          settings: Settings | None = None, migrated: bool = False) -> None:
    """Serve the API on ``host:port`` in ``workers`` processes until SIGINT or SIGTERM.

    Parameters
    ----------
    host, port : str, int
        The address to listen on.
    workers : int
        Worker processes; each gets ``settings``, and none reads the environment or migrates.
    log_level : str
        uvicorn's.
    settings : Settings, optional
        Read from the environment (``QABILET_*``) when not given.
    migrated : bool
        The caller has migrated the database (:func:`migrate`); otherwise it is done here.

    Raises
    ------
    SettingsError
        A setting read from the environment is not what it expects (before anything starts).
    OSError
        The address is taken or not this machine's (before any worker starts).
    """
    from qabilet.api.settings import Settings
    from qabilet.attestation.accounts import password_hasher

    settings = settings or Settings.from_env()
    password_hasher()  # QABILET_ARGON2_PROFILE, checked before anything starts
    if workers <= 1:
        sock = listening_socket(host, port, reuse_port=False)
        if not migrated:
            migrate(settings)
        _server(_config(log_level, settings)).run(sockets=[sock])
        return
    if _BALANCED:
        holder = listening_socket(host, port, reuse_port=True, listen=False)
        shared = None
    else:
        holder = shared = listening_socket(host, port, reuse_port=False)
    try:
        if not migrated:
            migrate(settings)
        _supervise(host, port, workers, log_level, shared, settings)
    finally:
        holder.close()


def _supervise(host: str, port: int, workers: int, log_level: str,
               shared: socket.socket | None, settings: Settings) -> None:
    """Start the workers, restart one that dies, stop them all on a signal."""
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        proc = context.Process(target=_run_worker,
                               args=(host, port, log_level, shared, settings),
                               name="qabilet-worker", daemon=False)
        proc.start()
        return proc

    def stop(_signum: int, _frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    restarts: list[float] = []
    try:
        while not stopping.wait(0.5):
            for k, proc in enumerate(procs):
                if proc.is_alive():
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > 5 * workers:
                    _log.error("workers keep dying (last exit code %s); stopping", proc.exitcode)
                    stopping.set()
                    break
                _log.warning("worker %s exited (%s); restarting it", proc.pid, proc.exitcode)
                procs[k] = start()
    finally:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
