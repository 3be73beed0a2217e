"""``qabilet serve``'s listeners, transport and workers: Nagle's algorithm off, a response's
writes sent together, the startup's objects frozen out of the garbage collector's way,
connections spread over the workers, a killed worker replaced, a clear error for a taken
address."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvloop

from qabilet.api.serving import GC_THRESHOLDS, _Coalescing, _config, _server, listening_socket
from qabilet.api.settings import Settings
from tests.api._server import children, free_port, wait_for


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop],
                         ids=["asyncio", "uvloop"])
def test_accepted_connections_have_nagle_off(loop_factory):
    """The listener is made with IPPROTO_TCP, so the event loop sets TCP_NODELAY on each
    connection (uvicorn's own ``--workers`` listener, proto 0, left it off: uvicorn issue 3149)."""
    sock = listening_socket("127.0.0.1", 0, reuse_port=False)
    assert sock.proto == socket.IPPROTO_TCP
    port = sock.getsockname()[1]
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            raw = transport.get_extra_info("socket")
            seen.append(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    loop = loop_factory()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert seen and seen[0] != 0


def _sockets(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 TCP sockets with local port ``port`` in ``state`` (01 established,
    0A listening), from ``/proc/net/tcp``."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == state and int(fields[1].split(":")[1], 16) == port:
            out.add(fields[9])
    return out


def _socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets process ``pid`` holds open."""
    out: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # gone meanwhile (reaped), or a zombie
        return out
    for fd in fds:
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _established_on(pid: int, port: int) -> int:
    """How many established TCP connections with local port ``port`` process ``pid`` holds."""
    return len(_sockets(port, "01") & _socket_inodes(pid))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balances on Linux")
def test_two_workers_each_take_connections(demo_db):
    """Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new connections
    over both (one shared listener handed most to one worker, measured in bench_http.py)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qabilet", "serve", "--port", str(port),
                             "--workers", "2", "--database", demo_db],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    clients: list[socket.socket] = []
    try:
        wait_for(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while len(workers := _children_serving(proc.pid, port)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # the second worker may still be starting
        assert len(workers) == 2, f"workers listening: {workers}"
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
        time.sleep(0.5)
        counts = {w: _established_on(w, port) for w in workers}
        assert sum(counts.values()) == 24 and min(counts.values()) > 0, counts
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def _children_serving(pid: int, port: int) -> list[int]:
    """The supervisor's children that hold a listening socket on ``port``."""
    listening = _sockets(port, "0A")
    return [child for child in children(pid) if _socket_inodes(child) & listening]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_worker_is_replaced_and_the_server_goes_on(demo_db):
    """The supervisor restarts a worker that dies (SIGKILL: no clean exit) on the same address;
    requests go on being served meanwhile by the other, and after by both."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qabilet", "serve", "--port", str(port),
                             "--workers", "2", "--database", demo_db],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def serving(n: int, timeout: float = 60) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(found := _children_serving(proc.pid, port)) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        return found

    try:
        wait_for(f"http://127.0.0.1:{port}")
        first = serving(2)
        assert len(first) == 2, f"workers listening: {first}"
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while first[0] in _children_serving(proc.pid, port) and time.monotonic() < deadline:
            time.sleep(0.05)  # dead: its sockets closed (a zombie holds none)
        for _ in range(5):  # the other worker answers while the first is replaced
            assert httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10).status_code == 200
        deadline = time.monotonic() + 60
        while first[0] in children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # reaped
        after = serving(2)
        assert len(after) == 2 and first[0] not in after and first[1] in after, (first, after)
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0
    assert "restarting it" in (proc.stderr.read() if proc.stderr else "")


def test_a_taken_address_is_a_clear_error(demo_db):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        for workers in ("1", "2"):
            done = subprocess.run([sys.executable, "-m", "qabilet", "serve", "--port", str(port),
                                   "--workers", workers, "--database", demo_db],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 2
            assert f"--host/--port: cannot listen on 127.0.0.1:{port}" in done.stderr
            assert "Traceback" not in done.stderr
    finally:
        taken.close()


class _Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


def test_the_writes_of_one_loop_step_are_sent_as_one_in_order():
    async def steps():
        raw = _Transport()
        t = _Coalescing(raw, asyncio.get_running_loop())
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"{\"a\": 1}")
        held = list(raw.sent)
        await asyncio.sleep(0)  # the loop's next step
        after_one = list(raw.sent)
        t.write(b"next")
        await asyncio.sleep(0)
        t.write(b"last")
        t.close()  # flushes first: nothing written is lost
        await asyncio.sleep(0)
        return raw, held, after_one, t.get_extra_info("peername")

    raw, held, after_one, extra = asyncio.run(steps())
    assert held == []  # nothing sent inside the step that wrote
    assert after_one == [b'HTTP/1.1 200 OK\r\n\r\n{"a": 1}']
    assert raw.sent == [after_one[0], b"next", b"last"] and raw.closed
    assert extra == "extra peername"  # the rest is the wrapped transport's


def test_writes_to_a_closing_transport_are_dropped_not_raised():
    async def steps():
        raw = _Transport()
        t = _Coalescing(raw, asyncio.get_running_loop())
        t.write(b"late")
        raw.closed = True  # the peer went away within the step
        await asyncio.sleep(0)
        return raw.sent

    assert asyncio.run(steps()) == []


def test_a_started_worker_freezes_its_startup_objects_and_collects_young_ones_less_often(
        demo_db):
    import gc

    before = gc.get_threshold()
    sock = listening_socket("127.0.0.1", 0, reuse_port=False)
    server = _server(_config("warning", Settings(database_url=demo_db)))

    async def run():
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(400):
            if server.started:
                break
            await asyncio.sleep(0.025)
        seen = gc.get_freeze_count(), gc.get_threshold()
        port = sock.getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = await reader.read()
        writer.close()
        server.should_exit = True
        await task
        return seen, reply

    try:
        (frozen, thresholds), reply = asyncio.run(run())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        sock.close()
    assert frozen > 50_000  # the imports and the app: nothing of them is walked again
    assert thresholds == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"}")  # served whole after it


def test_a_started_server_has_imported_what_a_profile_needs(demo_db):
    """The first profile of a worker imports nothing (scipy.stats took ~0.5 s on its thread)."""
    code = ("import sys, asyncio\n"
            "from qabilet.api.serving import listening_socket, _server, _config\n"
            "from qabilet.api.settings import Settings\n"
            "s = _server(_config('warning', Settings.from_env()))\n"
            "async def go():\n"
            "    t = asyncio.create_task(s.serve(sockets=[listening_socket('127.0.0.1', 0, "
            "reuse_port=False)]))\n"
            "    while not s.started: await asyncio.sleep(0.02)\n"
            "    print('scipy.stats' in sys.modules, 'qabilet.calibration.person_fit' in sys.modules)\n"
            "    s.should_exit = True; await t\n"
            "asyncio.run(go())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "QABILET_DATABASE_URL": demo_db})
    assert done.stdout.split() == ["True", "True"], done.stderr[-2000:]
