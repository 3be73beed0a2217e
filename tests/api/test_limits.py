"""Request bodies are bounded by route and read only after the credentials passed, over real HTTP:
413 before a byte past the limit is read (a declared length at once, a chunked body at the
limit) and the connection closed; 401/403 from the headers alone; the imports' own limit; a
body never echoed back whole; no request a client can send makes a 5xx."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from tests.api._server import Server, staff, staff_keys, start_session


def _serve(demo_db_file, tmp_path_factory, env=None):
    copy = tmp_path_factory.mktemp("limits") / "demo.db"
    shutil.copy(demo_db_file, copy)
    url = f"sqlite:///{copy}"
    keys = staff_keys(url)
    server = Server(url, env=env).start()
    yield server.base, keys
    server.stop()


@pytest.fixture(scope="module")
def served(demo_db_file, tmp_path_factory):
    """One server for the module (its default limits), on a copy of the demonstration bank."""
    yield from _serve(demo_db_file, tmp_path_factory)


@pytest.fixture(scope="module")
def served_large_imports(demo_db_file, tmp_path_factory):
    """A server whose imports take 64 MiB: a 40 MB document is read whole and imported."""
    yield from _serve(demo_db_file, tmp_path_factory, {"QABILET_MAX_IMPORT_BYTES": str(64 << 20)})


class Raw:
    """One HTTP/1.1 connection written by hand: headers now, a body (or none) later."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=5)

    def head(self, method: str, path: str, headers: dict[str, str]) -> Raw:
        lines = [f"{method} {path} HTTP/1.1", "Host: test"] + [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self

    def chunk(self, data: bytes) -> bool:
        """Send one chunk; False once the server has closed its side."""
        try:
            self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        except OSError:
            return False
        return True

    def response(self, timeout_s: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body of the response (waiting at most ``timeout_s``)."""
        self.sock.settimeout(timeout_s)
        data = b""
        while b"\r\n\r\n" not in data:
            got = self.sock.recv(65536)
            if not got:
                break
            data += got
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("content-length", 0)):
            body += self.sock.recv(65536)
        return int(lines[0].split()[1]), headers, body

    def closed_by_server(self, timeout_s: float = 5.0) -> bool:
        """True when the server closes the connection (reading what else it sends)."""
        self.sock.settimeout(timeout_s)
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def _answers(session: dict) -> str:
    return f"/v1/sessions/{session['id']}/answers"


def test_credentials_are_checked_before_a_byte_of_the_body_is_read(served):
    base, keys = served
    s = start_session(base, keys)
    cases = [  # (path, headers, status): each declares a body and sends none of it
        ("/v1/admin/bank", {}, 401),  # 20 MB, anonymous
        ("/v1/admin/bank", {"Authorization": "Bearer qk_nope_nope"}, 401),
        ("/v1/admin/bank", staff(keys, "operator"), 403),  # the wrong party
        (_answers(s), {"X-Session-Token": "a guess"}, 403),
        (_answers(s), {"Authorization": "Basic eDp5"}, 401)]
    for path, headers, status in cases:
        size = 20_000_000 if path == "/v1/admin/bank" else 200  # under the import limit
        raw = Raw(base).head("POST", path, {**headers, "Content-Type": "application/json",
                                            "Content-Length": str(size)})
        try:
            got, answer_headers, body = raw.response()  # no body sent: the server did not wait
            assert got == status, (path, headers, body)
            assert "detail" in json.loads(body)
            if size > 16384:  # not read: the connection is closed rather than drained
                assert answer_headers.get("connection") == "close"
                assert raw.closed_by_server()
        finally:
            raw.close()


def test_a_declared_length_over_the_routes_limit_is_refused_at_once(served):
    base, keys = served
    s = start_session(base, keys)
    cases = [(_answers(s), {"X-Session-Token": s["token"]}, 40_000_000),
             (_answers(s), {"X-Session-Token": s["token"]}, 16385),
             ("/v1/candidates", staff(keys), 10_000_000),
             ("/v1/admin/bank", staff(keys, "psychometrician"), 200_000_000),
             ("/nowhere", {}, 1_000_000)]  # no route: the small default
    for path, headers, size in cases:
        raw = Raw(base).head("POST", path, {**headers, "Content-Length": str(size)})
        try:
            status, answer_headers, body = raw.response()
            assert status == 413, (path, body)
            assert answer_headers["connection"] == "close" and raw.closed_by_server()
            assert str(size) in json.loads(body)["detail"] and len(body) < 300
        finally:
            raw.close()
    # at the limit it is read as ever: a valid answer fits many times over
    item = httpx.get(f"{base}/v1/sessions/{s['id']}/item", headers={"X-Session-Token": s["token"]})
    ok = httpx.post(f"{base}{_answers(s)}", headers={"X-Session-Token": s["token"]},
                    json={"position": 1, "item_id": item.json()["item_id"], "code": 0})
    assert ok.status_code == 200, ok.text


def test_a_chunked_body_is_stopped_at_the_limit_and_the_connection_closed(served):
    base, keys = served
    s = start_session(base, keys)
    raw = Raw(base).head("POST", _answers(s), {"X-Session-Token": s["token"],
                                               "Content-Type": "application/json",
                                               "Transfer-Encoding": "chunked"})
    try:
        sent = 0
        for _ in range(24):  # 24 KiB of a body that never ends (no last chunk is sent)
            if not raw.chunk(b'{"x": "' + b"y" * 1010 + b'"},'):
                break
            sent += 1
        status, headers, body = raw.response()
        assert status == 413 and headers["connection"] == "close", body
        assert "16384" in json.loads(body)["detail"]
        assert raw.closed_by_server()
    finally:
        raw.close()


def test_an_invalid_body_is_never_echoed_whole(served):
    base, keys = served
    s = start_session(base, keys)
    big = {"position": 1, "item_id": "x", "code": 0, "pad": "z" * 10_000_000}
    r = httpx.post(f"{base}{_answers(s)}", headers={"X-Session-Token": s["token"]}, json=big)
    assert r.status_code == 413 and len(r.content) < 300


IMPORT_LIMIT = 32 * 1024 * 1024


def test_imports_have_their_own_limit_and_bad_bodies_are_422_never_5xx(served):
    base, keys = served
    psy = staff(keys, "psychometrician")
    for path in ("/v1/admin/bank", "/v1/admin/versions"):
        over = Raw(base).head("POST", path, {**psy, "Content-Length": str(IMPORT_LIMIT + 1)})
        try:
            assert over.response()[0] == 413
        finally:
            over.close()
        raw = Raw(base).head("POST", path, {**psy, "Transfer-Encoding": "chunked"})
        try:
            sent = 0
            while raw.chunk(b" " * 65536):  # until the server stops listening
                sent += 65536
            status, headers, _ = raw.response()
            assert status == 413 and headers["connection"] == "close"
            assert IMPORT_LIMIT <= sent < 2 * IMPORT_LIMIT
        finally:
            raw.close()
        # under the limit, but more than other routes take: read, and judged by the import
        spaced = httpx.post(f"{base}{path}", headers=psy, content=b"{" + b" " * 40_000 + b"}")
        assert spaced.status_code == 422, spaced.text
        for body in (b"", b"[1, 2]", b"\xff\xfe{}", b'{"format": "qabilet-bank"', b"null",
                     b'{"format": "qabilet-bank", "items": 5}', b"{\"a\": NaN}"):
            refused = httpx.post(f"{base}{path}", headers=psy, content=body)
            assert refused.status_code == 422, (path, body, refused.text)
            assert "detail" in refused.json()
    bad_length = Raw(base).head("POST", "/v1/admin/bank", {**psy, "Content-Length": "12x"})
    try:
        assert bad_length.response()[0] == 400
    finally:
        bad_length.close()


def test_a_bank_document_still_imports_whole(served):
    base, keys = served
    psy = staff(keys, "psychometrician")
    document = httpx.get(f"{base}/v1/admin/bank", headers=psy).json()
    assert len(json.dumps(document)) > 16384  # more than an ordinary route takes
    again = httpx.post(f"{base}/v1/admin/bank", headers=psy, json=document, timeout=60)
    assert again.status_code in (201, 422), again.text  # read and judged, not refused for size
    spec = httpx.get(f"{base}/openapi.json").json()
    body = spec["paths"]["/v1/admin/bank"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["type"] == "object"
    assert {"413", "429"} <= set(spec["paths"]["/v1/sessions/{session_id}/answers"]["post"]
                                 ["responses"])


# -- one client cannot stall the others -------------------------------------------------------------
UPLOAD_BYTES = 40_000_000
FLOOR_S = 0.005  # below this, a p95 is the machine's noise (a shared 2-core CI runner)


async def _sample(url: str, headers: dict[str, str], until: threading.Event | float,
                  every_s: float = 0.02) -> list[float]:
    """Latencies of GET ``url`` sent every ``every_s`` seconds (open loop: a stalled server
    delays every request sent meanwhile, not one), until the event is set or the time passes."""
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        started = time.perf_counter()
        r = await client.get(url, headers=headers)
        latencies.append(time.perf_counter() - started)
        assert r.status_code == 200, r.text

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
        await one(client)  # a warm connection
        latencies.clear()
        tasks = []
        start = time.perf_counter()
        deadline = start + until if isinstance(until, float) else start + 180.0
        k = 0
        while time.perf_counter() < deadline and not (isinstance(until, threading.Event)
                                                      and until.is_set()):
            tasks.append(asyncio.create_task(one(client)))
            k += 1
            await asyncio.sleep(max(0.0, start + k * every_s - time.perf_counter()))
        await asyncio.gather(*tasks)
    return latencies


def _p95(latencies: list[float]) -> float:
    return float(np.percentile(latencies, 95))


def _upload(base: str, keys, finished: threading.Event, outcome: dict) -> None:
    """40 MB of a bank document (valid JSON) streamed to the import at ~10 MB/s, chunked."""
    head = b'{"format": "qabilet-bank", "items": ['
    entry = b'{"id": "X-000001", "levels": ["middle"], "texts": {"ru": "' + b"y" * 200 + b'"}},'
    chunk = entry * (65536 // len(entry))
    raw = Raw(base).head("POST", "/v1/admin/bank", {**staff(keys, "psychometrician"),
                                                    "Content-Type": "application/json",
                                                    "Transfer-Encoding": "chunked"})
    try:
        sent, start, open_ = 0, time.perf_counter(), raw.chunk(head)
        while open_ and sent < UPLOAD_BYTES:
            open_ = raw.chunk(chunk)
            sent += len(chunk)
            time.sleep(max(0.0, start + sent / 10e6 - time.perf_counter()))
        if open_:
            raw.chunk(entry[:-1] + b"]}")
            raw.sock.sendall(b"0\r\n\r\n")
        outcome["sent"] = sent
        outcome["status"] = raw.response(timeout_s=180)[0]
    except OSError as exc:  # reset by a server that stopped reading
        outcome.setdefault("status", repr(exc))
    finally:
        raw.close()
        finished.set()


def _measure(base: str, keys, me: dict) -> tuple[float, float, dict]:
    url = f"{base}/v1/sessions/{me['id']}/item"
    headers = {"X-Session-Token": me["token"]}
    idle_before = _p95(asyncio.run(_sample(url, headers, 2.0)))
    finished, outcome = threading.Event(), {}
    uploader = threading.Thread(target=_upload, args=(base, keys, finished, outcome))
    uploader.start()
    loaded = asyncio.run(_sample(url, headers, finished))
    uploader.join(180)
    idle_after = _p95(asyncio.run(_sample(url, headers, 2.0)))
    outcome["samples"] = len(loaded)
    return max(idle_before, idle_after), _p95(loaded), outcome


@pytest.mark.parametrize("limit", ["refused at the limit", "imported whole"])
def test_a_slow_40_mb_upload_leaves_another_candidates_p95_within_twice_idle(request, limit):
    """The candidate's next item, asked 50 times a second: its p95 while another client streams
    40 MB to the bank import stays within 2× its idle p95 (idle measured just before and just
    after; a floor of 5 ms keeps the machine's noise out). Measured twice at most: a neighbour's
    burst on a shared runner may spoil one measurement, a stalled server spoils both.

    Under the default limit the upload is refused at 32 MiB; under a raised one the whole
    document is read, validated and refused entry by entry (422) — seconds of work, done by the
    worker's import process, not on its event loop."""
    whole = limit == "imported whole"
    base, keys = request.getfixturevalue("served_large_imports" if whole else "served")
    me = start_session(base, keys)
    tries = []
    while len(tries) < 2:
        idle, loaded, outcome = _measure(base, keys, me)
        tries.append((idle, loaded, outcome))
        if whole:
            assert outcome["status"] == 422, outcome
        else:
            assert outcome["status"] == 413 or "Error" in str(outcome["status"]), outcome
        assert outcome["samples"] >= 100, outcome  # the upload was in flight for seconds
        print(f"\n40 MB upload, {limit}: next-item p95 idle {idle * 1e3:.1f} ms, during the "
              f"upload {loaded * 1e3:.1f} ms ({outcome['samples']} requests; upload {outcome['status']})")
        if loaded <= 2 * max(idle, FLOOR_S):
            break
    assert loaded <= 2 * max(idle, FLOOR_S), tries
