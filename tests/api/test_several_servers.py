"""Two ``qabilet serve`` servers on one PostgreSQL, behind a round-robin client; one is killed.

The servers run as separate hosts would run them: separate processes on separate ports, sharing
nothing but the database. The migrations ran once (the database's own fixture) and the keys were
made once, before either started. Each simulated candidate takes a whole session through a client
that alternates the servers request by request, as a reverse proxy's round robin does, and
that — like the proxy's passive health check — stops sending to a server once connecting to it
failed, sending the request that could not connect to the next server (a request that reached a
server and got no answer is sent again by the candidate, as the candidate page does; a request
that got an answer is never sent again). When about half the answers are in, one server is
killed with SIGKILL. Afterwards the database must hold, for every session: each answer that got
a 200 exactly once and in order, the session's end, and a profile equal to the one the library
computes from the stored answers.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from qabilet.api.calibration_jobs import CalibrationJobs
from qabilet.api.live import LiveSessions
from qabilet.delivery.profiles import Answer, build_profile
from qabilet.delivery.session_clock import response_times
from qabilet.delivery.session_state import plan_for
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import CLOSING, SessionStore
from tests.api._server import Crowd, Server, staff, staff_keys
from tests.conftest import pg_schema
from tests.demo_fixtures import copy_demo

N_SERVERS = 2
N_CANDIDATES = 20
#: the test's blueprint: three of the demonstration's middle-level sections, this many items each
ITEMS_PER_SECTION = 5
SECTIONS = ("service_to_public", "transparency", "stress_resilience")


@pytest.fixture(scope="module")
def short_bank(demo_db_file) -> Iterator[str]:
    """A PostgreSQL copy of the demonstration bank whose newest middle-level blueprint is short.

    Three of the level's adaptive sections (two competencies and a personal quality, with their
    content rules and exposure control), each stopping at :data:`ITEMS_PER_SECTION` items: 15
    answers a session instead of the 60-odd of the whole blueprint. Migrated once, here.
    """
    schema = pg_schema("servers")
    url = next(schema)
    try:
        copy_demo(demo_db_file, url)
        engine = connect(url, migrate=False)
        repo = BankRepository(engine)
        whole = repo.blueprint("middle")
        fixed = {"min_items": ITEMS_PER_SECTION, "max_items": ITEMS_PER_SECTION,
                 "se_target": None}
        repo.add_blueprint("middle", whole.bank_version,
                           [s.model_copy(update={"rules": {**s.rules, **fixed}})
                            for s in whole.sections if s.name in SECTIONS],
                           label="several servers' test")
        engine.dispose()
        yield url
    finally:
        next(schema, None)  # drops it, also when the copy failed


class NoAnswer(Exception):
    """The request reached a server that went down before it answered."""


class RoundRobin:
    """One candidate's way to the servers: a reverse proxy's round robin with passive health checks.

    Each request goes to the next server that is not marked down (``down`` is shared by every
    candidate: the proxy's view). A request that cannot connect marks its server down and goes to
    the next one — nothing was sent. A request that was sent and got no answer (the server died
    under it) marks the server down too and raises :class:`NoAnswer`, for the candidate to send
    it again. A response, whatever its status, is returned as it came.
    """

    def __init__(self, bases: list[str], down: set[str], lock: threading.Lock) -> None:
        self.bases, self.down, self.lock = bases, down, lock
        self.turn = itertools.count()
        self.client = httpx.Client(timeout=30)
        self.served: Counter[str] = Counter()
        self.rerouted = self.resent = 0  # requests that could not connect; that got no answer

    def _next(self) -> str:
        with self.lock:
            live = [b for b in self.bases if b not in self.down]
        assert live, "every server is down"
        return live[next(self.turn) % len(live)]

    def send(self, method: str, path: str, **kw) -> httpx.Response:
        while True:
            base = self._next()
            try:
                response = self.client.request(method, f"{base}{path}", **kw)
            except httpx.ConnectError:
                with self.lock:
                    self.down.add(base)
                self.rerouted += 1
                continue
            except httpx.TransportError as exc:
                with self.lock:
                    self.down.add(base)
                raise NoAnswer(f"{method} {path} on {base}: {exc!r}") from None
            self.served[base] += 1
            return response

    def until_answered(self, method: str, path: str, **kw) -> httpx.Response:
        """``send``, sent again while it got no answer (the candidate page's retry)."""
        while True:
            try:
                return self.send(method, path, **kw)
            except NoAnswer:
                self.resent += 1


class Progress:
    """Answers acknowledged by every candidate; ``half`` is set once about half are in."""

    def __init__(self, expected: int) -> None:
        self.lock, self.count, self.expected = threading.Lock(), 0, expected
        self.half = threading.Event()

    def one(self) -> None:
        with self.lock:
            self.count += 1
            if self.count >= self.expected // 2:
                self.half.set()


def _candidate(way: RoundRobin, session: dict, acked: list, progress: Progress, seed: int) -> None:
    """Take the session to its end through ``way``: ask for the item, answer it, until finished."""
    rng = random.Random(seed)
    me = {"X-Session-Token": session["token"]}
    path = f"/v1/sessions/{session['id']}"
    while True:
        r = way.until_answered("GET", f"{path}/item", headers=me)
        assert r.status_code == 200, r.text
        item = r.json()
        if item["finished"]:
            break
        body = {"position": item["position"], "item_id": item["item_id"],
                "code": rng.randrange(len(item["choices"])), "response_time_s": 2.0}
        r = way.until_answered("POST", f"{path}/answers", headers=me, json=body)
        assert r.status_code == 200, r.text  # never a 409: a resent answer is replayed
        acked.append((body["position"], body["item_id"], body["code"]))
        progress.one()
    r = way.until_answered("GET", f"{path}/profile", headers=me)
    assert r.status_code == 200, r.text


def _recomputed(repo: BankRepository, store: SessionStore, session_id: str, bank: dict):
    """The session's profile as the library computes it from the answers stored in its log.

    ``bank``: the version's records the profile reads (the same for every session: read once).
    """
    session = store.session(session_id)
    events = store.events(session_id)
    plan = plan_for(repo, session.bank_version, session.level, session.blueprint_number)
    seconds = response_times(events)
    answers = [Answer(e.payload["item_id"], e.payload["code"], seconds.get(e.seq),
                      e.payload.get("language") or session.language)
               for e in events if e.kind == "answer"]
    issued = repo.profile(f"p-{session_id}")
    return issued, build_profile(
        **bank, scales=plan.scales, level=session.level, answers=answers,
        language=answers[-1].language, candidate_id=session.candidate_id,
        software_version=issued.software_version, session_id=session_id,
        tested_at=session.created_at, profile_id=issued.id)


def test_sessions_alternating_between_two_servers_survive_one_killed(short_bank):
    keys = staff_keys(short_bank)  # once, on the database both servers read
    servers = [Server(short_bank, migrated=True) for _ in range(N_SERVERS)]
    starting = [threading.Thread(target=s.start) for s in servers]
    for t in starting:
        t.start()
    for t in starting:
        t.join(60)
    engine = connect(short_bank, migrate=False)
    try:
        for s in servers:  # what a load balancer's active check asks: the database reached
            health = httpx.get(f"{s.base}/health").json()
            assert health["status"] == "ok" and abs(health["clock_offset_s"]) < 0.5, health
        bases, down, lock = [s.base for s in servers], set(), threading.Lock()
        operator = RoundRobin(bases, down, lock)
        sessions = []
        for _ in range(N_CANDIDATES):
            c = operator.send("POST", "/v1/candidates", json={}, headers=staff(keys))
            s = operator.send("POST", "/v1/sessions", headers=staff(keys), json={
                "candidate_id": c.json()["id"], "level": "middle", "language": "ru",
                "time_limit_s": None, "item_time_limit_s": None})
            assert c.status_code == 201 and s.status_code == 201, (c.text, s.text)
            sessions.append(s.json())
        ways = [RoundRobin(bases, down, lock) for _ in sessions]
        acked: list[list] = [[] for _ in sessions]
        progress = Progress(N_CANDIDATES * ITEMS_PER_SECTION * len(SECTIONS))
        crowd = Crowd(_candidate, [(w, s, a, progress, k) for k, (w, s, a)
                                   in enumerate(zip(ways, sessions, acked, strict=True))]).start()
        deadline = time.monotonic() + 120
        while not progress.half.wait(0.05):  # a candidate's failure is reported at once
            assert not crowd.errors, crowd.errors
            assert time.monotonic() < deadline, f"only {progress.count} answers in two minutes"
        victim = servers[0]
        before = sum(w.served[victim.base] for w in ways)
        victim.kill()
        at_kill = progress.count
        crowd.join(240)
        assert victim.proc.returncode == -9
        # the round robin reached both servers in every session, and none after the kill
        assert all(len(w.served) == N_SERVERS for w in ways)
        assert sum(w.served[victim.base] for w in ways) <= before + N_CANDIDATES
        assert 0 < at_kill < sum(map(len, acked))
        # a proxy that has not yet seen the dead server: its first try there cannot connect and
        # goes on to the other server; from then on the dead one is skipped
        fresh = RoundRobin(bases, set(), threading.Lock())
        for s in sessions:
            r = fresh.send("GET", f"/v1/sessions/{s['id']}", headers=staff(keys))
            assert r.status_code == 200 and r.json()["status"] == "finished", r.text
        assert fresh.rerouted == 1 and fresh.served == {servers[1].base: N_CANDIDATES}

        repo, store = BankRepository(engine), SessionStore(engine)
        responses = repo.responses()
        first = store.session(sessions[0]["id"])
        bank = {"version": repo.version(first.bank_version),
                "norm_set": repo.norm_set(first.norm_set),
                "items": {i.id: i for i in repo.items(version=first.bank_version)},
                "dimensions": repo.dimensions(), "recommendations": repo.recommendations()}
        for session, mine in zip(sessions, acked, strict=True):
            events = store.events(session["id"])
            stored = [(e.position, e.payload["item_id"], e.payload["code"])
                      for e in events if e.kind == "answer"]
            assert stored == mine  # every acknowledged answer once, in order, nothing else
            assert [e.position for e in events if e.kind == "answer"] == \
                list(range(1, len(mine) + 1))
            closing = [e for e in events if e.kind in CLOSING]
            assert len(closing) == 1 and closing[0] is events[-1]
            assert closing[0].kind == "finish" and closing[0].payload["reason"] == "completed"
            assert len(mine) == ITEMS_PER_SECTION * len(SECTIONS)
            issued, recomputed = _recomputed(repo, store, session["id"], bank)
            assert issued.model_dump(exclude={"issued_at"}) == \
                recomputed.model_dump(exclude={"issued_at"})
            kept = [(r.item_id, r.code) for r in responses if r.session_id == session["id"]]
            assert kept == [(item, code) for _, item, code in mine]  # for calibration, once
        print(f"\n{N_CANDIDATES} sessions over {N_SERVERS} servers: {sum(map(len, acked))} answers "
              f"acknowledged, {at_kill} before the kill; requests answered by the killed server "
              f"{sum(w.served[victim.base] for w in ways)}, by the other "
              f"{sum(w.served[servers[1].base] for w in ways)}; sent again after no answer "
              f"{sum(w.resent for w in ways)}, sent on after a refused connection "
              f"{sum(w.rerouted for w in ways) + fresh.rerouted}")
    finally:
        for s in servers:
            s.kill()
        engine.dispose()



def test_a_rule_decided_on_a_log_another_server_moved_on_is_read_again(short_bank):
    """Server A checks a candidate's token (reading the log: item 1 shown, unanswered); server B
    then records the answer to item 1 within its time; by the time A works out the request's
    state, item 1's time has run out on A's copy of the log. A's time-out for position 1 meets
    B's answer in the position's slot: A reads the log again and carries on from B's answer (it
    used to answer the request with a 409)."""
    engines = [connect(short_bank, migrate=False) for _ in range(2)]
    a, b = (LiveSessions(BankRepository(e), SessionStore(e)) for e in engines)
    candidate = a.store.add_candidate(display_name="between two servers")
    session, token = a.create(candidate_id=candidate, level="middle", language="ru",
                              token_ttl=timedelta(hours=1), time_limit_s=None,
                              item_time_limit_s=0.5)
    on_b = ThreadPoolExecutor(1)  # B's requests in a thread (a context) of their own
    try:
        first = on_b.submit(b.state, session.id, start_clock=True, actor="candidate").result()
        assert a.token_valid(session.id, token)  # the request's state will start from this read
        on_b.submit(b.record, session.id, "answer", {"item_id": first.view.item_id, "code": 0},
                    actor="candidate", position=1).result()
        time.sleep(0.6)  # item 1's time is over (on A's copy), and item 2's
        now = a.state(session.id, actor="candidate")
        log = [(e.kind, e.position) for e in b.log(session.id)]
        assert log == [("start", None), ("answer", 1), ("item_timeout", 2)]
        assert now.view.position == 3 and not now.view.finished
    finally:
        on_b.shutdown()
        for live, engine in zip((a, b), engines, strict=True):
            live.shutdown()
            engine.dispose()


#: a calibration job's runner on "another machine": a process that starts a job whose
#: calibration outlasts it, beating every 0.1 s, until it is killed
_RUNNER = """
import sys, time
from qabilet.api import calibration_jobs as jobs
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository

jobs._RUNNER = "another-host:4242"
jobs.recalibrate = lambda *args, **kwargs: time.sleep(3600)
engine = connect(sys.argv[1], migrate=False)
runner = jobs.CalibrationJobs(engine, BankRepository(engine), heartbeat_s=0.1, stale_s=0.8)
print(runner.start({"bank_version": 1}, "key:test")["id"], flush=True)
time.sleep(3600)
"""


def test_a_calibration_job_whose_runner_died_on_another_machine_reads_as_interrupted(short_bank):
    """While its runner beats, a job reads as running past the staleness limit on any server;
    once the runner is killed, it reads as interrupted (it used to stay running for ever: a
    process of another machine could not be checked)."""
    engine = connect(short_bank, migrate=False)
    here = CalibrationJobs(engine, BankRepository(engine), heartbeat_s=0.1, stale_s=0.8)
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER, short_bank], stdout=subprocess.PIPE,
                              text=True)
    try:
        job_id = runner.stdout.readline().strip()
        time.sleep(1.2)  # longer than the staleness limit: the beats keep it running
        assert here.get(job_id)["status"] == "running"
        runner.kill()
        runner.wait(10)
        time.sleep(1.2)
        job = here.get(job_id)
        assert job["status"] == "interrupted" and job["finished_at"] is not None
        assert [j["status"] for j in here.all() if j["id"] == job_id] == ["interrupted"]
    finally:
        runner.kill()
        engine.dispose()
