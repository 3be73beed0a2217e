"""The load generator of ``bench_http.py``: simulated candidates driving the HTTP API (asyncio, aiohttp).

Run by ``bench_http.py`` in a process of its own (not by hand)::

    .venv/bin/python benchmarks/_http_load.py '<JSON spec>'

The spec names the servers (``base_urls``: one, or several on one database), an operator's API
key, the level and language of the sessions, the servers' process ids (their CPU time and their
workers' are read from ``/proc``) and a list of phases. Each phase is one of

* ``open``: ``candidates`` simulated candidates, each answering on a Poisson clock of mean
  ``think_s`` seconds (the next answer is due an exponential time after the previous one was
  due; a candidate behind its clock answers as soon as it has its item), so that the answers
  offered are ``candidates / think_s`` per second whatever the server's latency;
* ``closed``: ``concurrency`` candidates with no think time (each sends its next request as soon
  as the previous one returned).

A candidate takes a session (pre-created by the operator before the phase, outside the timer:
``POST /v1/candidates`` then ``POST /v1/sessions``), then loops ``GET /v1/sessions/{id}/item``
(the next-item call) → think → ``POST /v1/sessions/{id}/answers`` (a code drawn uniformly among
the item's choices) until the session is finished, then takes the next session. Sessions a phase
leaves unfinished are resumed by the next phase's candidates. Only requests started inside the
measured window (after ``warmup_s``) are counted; a request's time runs from before its wait for
a free one of the phase's ``connections`` to its parsed response. The result, one JSON object
with one summary per phase, is the last line of stdout; progress goes to stderr.

Several servers: every request — a candidate's, the operator's — goes to the next server in turn
(round robin over the requests of all candidates, as a reverse proxy's ``upstream`` does), so
consecutive requests of one session land on different servers; or, with ``"spread":
"session"``, a candidate's requests go to the server its session id hashes to (as nginx's
``hash … consistent`` on the id in the path would), the operator's still in turn. Each server has
its own ``connections`` kept-alive connections.

Notes
-----
Why aiohttp: the generator runs on the same cores as the server, so whatever CPU it spends per
answer is taken from the server at saturation. httpx (on httpcore) cost the client 3.5–7 ms of
CPU per answer (two requests); aiohttp (its HTTP parser compiled, llhttp) measured ~0.7–1 ms.

The connections: each of a phase's ``connections`` (per server) is an
:class:`aiohttp.ClientSession` of its own on a ``TCPConnector(limit=1, force_close=False)``, so
one kept-alive TCP connection; the free ones wait in a FIFO queue per server and are used in
turn, so at most ``connections`` TCP connections per server exist and a request waits for a free
one of the server whose turn it is. A kept-alive connection the server closed just as a request
went out is retried once (on a new connection of the same session) and counted in ``retried``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import random
import subprocess
import sys
import time
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TIMEOUT = aiohttp.ClientTimeout(total=30)
#: what a kept-alive connection closed by the server under a request raises (a reset is its own
#: class from aiohttp 3.10, a ``ClientOSError`` before); a connect that fails is not one of them
STALE: tuple[type[Exception], ...] = (
    aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError,
    getattr(aiohttp, "ClientConnectionResetError", aiohttp.ClientOSError))


# --- CPU time of the server's processes ----------------------------------------------------------
def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every live descendant (``/proc``)."""
    return sum(tree_cpu_by_pid(pid).values())


def tree_cpu_by_pid(pid: int) -> dict[int, float]:
    """User + system CPU seconds of ``pid`` and of each live descendant, by process id."""
    out: dict[int, float] = {}
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            out[p] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(p)
    return out


# --- the sessions and what was measured ----------------------------------------------------------
@dataclass
class Session:
    id: str
    token: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A response read in full: its status, and its JSON body when the status is below 400."""

    status: int
    body: Any = None


@dataclass
class Window:
    """What one phase measured: latencies (s) of requests started inside the window."""

    start: float = math.inf
    end: float = math.inf
    next_item: list[float] = field(default_factory=list)
    answer: list[float] = field(default_factory=list)
    closing: list[float] = field(default_factory=list)  # answers that completed the test
    created: list[float] = field(default_factory=list)  # sessions made during the window
    errors: Counter = field(default_factory=Counter)
    retried: Counter = field(default_factory=Counter)  # kept-alive connections closed under us
    finished: int = 0

    def inside(self, t: float) -> bool:
        return self.start <= t < self.end


def connection() -> aiohttp.ClientSession:
    """One kept-alive TCP connection: a client session whose pool holds one."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, force_close=False),
                                 timeout=TIMEOUT)


async def exchange(conn: aiohttp.ClientSession, method: str, url: str,
                   headers: dict[str, str], body: dict | None) -> Reply:
    """One request on ``conn``, its response read in full (so the connection can be reused)."""
    async with conn.request(method, url, headers=headers, json=body) as r:
        if r.status >= 400:
            await r.read()
            return Reply(r.status)
        return Reply(r.status, await r.json())


class Load:
    """The servers, one operator key, a pool of sessions, the phases run one after another."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.bases = [b.rstrip("/") for b in spec.get("base_urls") or [spec["base_url"]]]
        self.server_pids = spec.get("server_pids") or [spec["server_pid"]]
        self.operator = {"Authorization": f"Bearer {spec['key']}"}
        self.fresh: deque[Session] = deque()
        self.resumable: deque[Session] = deque()
        self.rng = random.Random(spec.get("seed", 1))
        self.window = Window()
        self.turn = itertools.count()
        self.by_session = spec.get("spread", "roundrobin") == "session"
        self.free: list[asyncio.Queue[aiohttp.ClientSession]] = []

    def cpu_by_pid(self) -> dict[int, float]:
        """CPU seconds of every server's processes, by process id."""
        out: dict[int, float] = {}
        for pid in self.server_pids:
            out.update(tree_cpu_by_pid(pid))
        return out

    # -- the connections -----------------------------------------------------------------------
    async def send(self, method: str, path: str, headers: dict[str, str],
                   body: dict | None = None, kind: str = "", session: str | None = None) -> Reply:
        """One request to the server whose turn it is (or ``session``'s), on its next free connection.

        A kept-alive connection the server closed just as the request went out is retried once
        on a new one (the calls are idempotent: an answer repeated is ``replayed``) and counted.
        """
        if self.by_session and session is not None:
            k = zlib.crc32(session.encode()) % len(self.bases)
        else:
            k = next(self.turn) % len(self.bases)
        url = f"{self.bases[k]}{path}"
        conn = await self.free[k].get()
        try:
            try:
                return await exchange(conn, method, url, headers, body)
            except STALE as exc:
                if isinstance(exc, aiohttp.ClientConnectorError):  # no connection was made
                    raise
                self.window.retried[kind or "operator"] += 1
                return await exchange(conn, method, url, headers, body)
        finally:
            self.free[k].put_nowait(conn)

    # -- the operator --------------------------------------------------------------------------
    async def operator_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.send("POST", path, self.operator, body)
        if r.status >= 400:
            raise RuntimeError(f"POST {path}: HTTP {r.status}")
        return r.body

    async def create_session(self) -> Session:
        candidate = await self.operator_post("/v1/candidates", {})
        got = await self.operator_post("/v1/sessions", {
            "candidate_id": candidate["id"], "level": self.spec["level"],
            "language": self.spec["language"]})
        return Session(got["id"], got["token"])

    async def precreate(self, n: int, parallel: int = 8) -> float:
        """Make ``n`` sessions ahead of a phase; the seconds it took."""
        t0 = time.perf_counter()
        todo = iter(range(n))

        async def worker() -> None:
            for _ in todo:
                self.fresh.append(await self.create_session())

        await asyncio.gather(*(worker() for _ in range(parallel)))
        return time.perf_counter() - t0

    async def take(self) -> Session:
        if self.resumable:
            return self.resumable.popleft()
        if self.fresh:
            return self.fresh.popleft()
        t0 = time.perf_counter()  # the pool ran dry: the operator makes one now
        s = await self.create_session()
        if self.window.inside(t0):
            self.window.created.append(time.perf_counter() - t0)
        return s

    # -- a candidate ---------------------------------------------------------------------------
    async def request(self, kind: str, method: str, url: str, headers: dict[str, str],
                      body: dict | None = None, session: str | None = None
                      ) -> tuple[Reply | None, float, float]:
        """``send``, timed from before the wait for a free connection; errors counted."""
        t0 = time.perf_counter()
        try:
            r = await self.send(method, url, headers, body, kind, session)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if self.window.inside(t0):
                self.window.errors[f"{kind}: {type(exc).__name__}"] += 1
            return None, t0, time.perf_counter() - t0
        dt = time.perf_counter() - t0
        if r.status >= 400 and self.window.inside(t0):
            self.window.errors[f"{kind}: HTTP {r.status}"] += 1
        return r, t0, dt

    async def candidate(self, stop: asyncio.Event, think_s: float | None) -> None:
        """Take sessions and answer them until ``stop``; hand back an unfinished one."""
        w = self.window
        session: Session | None = None
        if think_s is not None:  # arrivals spread over one think time, not all at once
            await asyncio.sleep(self.rng.uniform(0.0, think_s))
        due = time.perf_counter()
        try:
            while not stop.is_set():
                if session is None:
                    session = await self.take()
                head = {"X-Session-Token": session.token}
                base = f"/v1/sessions/{session.id}"
                r, t0, dt = await self.request("next-item", "GET", f"{base}/item", head,
                                               session=session.id)
                if r is None or r.status != 200:
                    await asyncio.sleep(0.05)
                    continue
                if w.inside(t0):
                    w.next_item.append(dt)
                item = r.body
                if item["finished"]:
                    session = None
                    continue
                if item.get("paused"):
                    await asyncio.sleep(0.05)
                    continue
                shown = time.perf_counter()
                if think_s is not None:
                    due += self.rng.expovariate(1.0 / think_s)
                    while (wait := due - time.perf_counter()) > 0 and not stop.is_set():
                        await asyncio.sleep(min(wait, 0.25))
                    if stop.is_set():
                        break
                code = self.rng.randrange(len(item["choices"] or [0, 1]))
                body = {"position": item["position"], "item_id": item["item_id"], "code": code,
                        "response_time_s": round(time.perf_counter() - shown, 3)}
                r, t0, dt = await self.request("answer", "POST", f"{base}/answers", head, body,
                                               session.id)
                if r is None or r.status != 200:
                    await asyncio.sleep(0.05)
                    continue
                done = bool(r.body.get("finished"))
                if w.inside(t0):
                    (w.closing if done else w.answer).append(dt)
                    w.finished += done
                if done:
                    session = None
        finally:
            if session is not None:
                self.resumable.append(session)

    # -- a phase -------------------------------------------------------------------------------
    async def phase(self, ph: dict[str, Any], items_per_session: int) -> dict[str, Any]:
        open_ = ph["kind"] == "open"
        n = int(ph["candidates"] if open_ else ph["concurrency"])
        think = float(ph["think_s"]) if open_ else None
        span = ph["warmup_s"] + ph["duration_s"]
        expected = ph.get("expected_rate") or (n / think if think else 50.0 * n)
        need = n + math.ceil(expected * span * 1.25 / items_per_session)
        need = max(0, need - len(self.fresh) - len(self.resumable))
        pools = [[connection() for _ in range(int(ph["connections"]))] for _ in self.bases]
        conns = [c for pool in pools for c in pool]
        self.free = []
        for pool in pools:
            self.free.append(asyncio.Queue())
            for c in pool:
                self.free[-1].put_nowait(c)
        try:
            made_s = await self.precreate(need)
            say(f"  {ph['label']}: {need} sessions made in {made_s:.1f} s; running {span:.0f} s")
            self.window = w = Window()
            stop = asyncio.Event()
            load_before = os.getloadavg()[0]
            t_begin = time.perf_counter()
            w.start, w.end = t_begin + ph["warmup_s"], t_begin + span
            tasks = [asyncio.create_task(self.candidate(stop, think)) for _ in range(n)]
            await asyncio.sleep(max(0.0, w.start - time.perf_counter()))
            spy = self.profiler(ph)
            cpu0, gen0 = self.cpu_by_pid(), time.process_time()
            await asyncio.sleep(max(0.0, w.end - time.perf_counter()))
            cpu1, gen1 = self.cpu_by_pid(), time.process_time()
            stop.set()
            await asyncio.gather(*tasks)
            if spy is not None:
                try:
                    spy.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    spy.terminate()
        finally:
            await asyncio.gather(*(c.close() for c in conns))
        seconds = w.end - w.start
        answers = len(w.answer) + len(w.closing)
        out = {
            "label": ph["label"], "kind": ph["kind"], "n": n, "think_s": think,
            "seconds": seconds, "answers": answers, "rate": answers / seconds,
            "offered": n / think if think else None, "next_item": summary(w.next_item),
            "answer": summary(w.answer + w.closing), "closing": summary(w.closing),
            "created_in_window": summary(w.created), "errors": dict(w.errors),
            "sessions_finished": w.finished, "retried": dict(w.retried), "precreated": need,
            "precreate_s": made_s,
            "server_cpu_s": sum(cpu1.values()) - sum(v for k, v in cpu0.items() if k in cpu1),
            "server_cpu_by_process": sorted(
                (round(v - cpu0.get(k, 0.0), 2) for k, v in cpu1.items()), reverse=True),
            "generator_cpu_s": gen1 - gen0,
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "connections": ph["connections"], "servers": len(self.bases),
        }
        say(f"  {ph['label']}: server CPU s by process {out['server_cpu_by_process']} in "
            f"{seconds:.0f} s, client {out['generator_cpu_s']:.1f} s")
        say(f"  {ph['label']}: {out['rate']:.1f} answers/s, answer p95 "
            f"{out['answer']['p95'] * 1e3:.1f} ms, p99 {out['answer']['p99'] * 1e3:.1f} ms, "
            f"next-item p95 {out['next_item']['p95'] * 1e3:.1f} ms, errors {sum(w.errors.values())}")
        return out

    def profiler(self, ph: dict[str, Any]) -> subprocess.Popen | None:
        """py-spy attached to the server for the measured window, when the phase asks."""
        prof = ph.get("profile")
        if not prof:
            return None
        cmd = [prof["py_spy"], "record", "--pid", str(self.server_pids[0]), "--subprocesses",
               "--format", "raw", "--rate", str(prof.get("rate", 250)), "--nonblocking",
               "--duration", str(max(1, int(ph["duration_s"]))), "-o", prof["path"],
               *(["--gil"] if prof.get("gil") else [])]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(prof["log"], "wb"))

    async def run(self) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        items = int(self.spec["items_per_session"])
        for ph in self.spec["phases"]:
            if ph["kind"] == "closed" and ph.get("stop_after_failure") and results:
                last = results[-1]
                if last["kind"] == "closed" and not passes(last, self.spec["p99_limit_s"]):
                    results.append({"label": ph["label"], "kind": "closed",
                                    "n": ph["concurrency"], "skipped": True})
                    continue
                if last["kind"] == "closed":
                    ph = {**ph, "expected_rate": last["rate"] * 1.5}
            results.append(await self.phase(ph, items))
        return results


def passes(result: dict[str, Any], p99_limit_s: float) -> bool:
    """No errors, and the p99 of both calls within the limit."""
    if result.get("skipped") or result["answers"] == 0:
        return False
    return (not result["errors"] and result["answer"]["p99"] <= p99_limit_s
            and result["next_item"]["p99"] <= p99_limit_s)


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan,
                "mean": math.nan}
    x = np.asarray(values)
    p50, p95, p99 = np.percentile(x, [50, 95, 99])
    return {"n": int(x.size), "p50": float(p50), "p95": float(p95), "p99": float(p99),
            "max": float(x.max()), "mean": float(x.mean())}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    spec = json.loads(sys.argv[1])
    results = asyncio.run(Load(spec).run())
    print(json.dumps({"phases": results}, allow_nan=True))


if __name__ == "__main__":
    main()
