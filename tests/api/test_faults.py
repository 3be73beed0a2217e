"""Faults the service rides out: the database unavailable for a while is a 503 with Retry-After.

* PostgreSQL restarted during load — a throwaway cluster of the test's own
  (:mod:`tests.api._pg_cluster`), stopped cleanly and crashed (``-m immediate``) while
  candidates answer: requests meanwhile get 503 (never 500, never a hang), the server reconnects
  without being restarted, no acknowledged answer is lost and every session goes on.
* A SQLite file whose write lock another process holds past the busy timeout: the answer gets
  503, nothing is written, and the same request succeeds once the lock is released.
* The whole request path: an outage raised in a dependency, in the group commit's future, in a
  middleware is a 503; a database error that is a defect stays a 500.

(A worker process killed while others serve: ``test_serving.py``; the server killed:
``test_crash.py``.) The PostgreSQL test prints its figures (``pytest -s``).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc

from qabilet.api.app import create_app
from qabilet.api.dependencies import services_of
from qabilet.api.faults import RETRY_AFTER_S
from qabilet.api.settings import Settings
from qabilet.itembank.bank_file import export_document, import_document
from qabilet.itembank.database import connect, database_unavailable
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionStore
from tests.api._pg_cluster import Cluster, postgres_bin
from tests.api._server import Crowd, Server, free_port, staff, staff_keys, start_session
from tests.conftest import skip_or_fail

N_CANDIDATES = 4
ANSWERS_EACH = 24
#: a candidate's pause after a 503 (shorter than Retry-After: the outage is probed densely)
PAUSE_S = 0.05
#: the requests' timeout: a request that hangs this long fails the test
REQUEST_TIMEOUT_S = 20.0


# -- real errors of the databases ---------------------------------------------------------------
def _locked(path: Path) -> sa_exc.OperationalError:
    """The error of a write to a SQLite file whose lock another connection holds."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with engine.begin() as c:
            c.execute(text("CREATE TABLE t (x INTEGER)"))
    except sa_exc.OperationalError as exc:
        return exc
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    raise AssertionError("the write went through a held lock")


def _no_table(path: Path) -> sa_exc.OperationalError:
    """SQLite's error for a table that does not exist (an OperationalError too: a defect)."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as c:
            c.execute(text("SELECT * FROM no_such_table"))
    except sa_exc.OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("a missing table was read")


def _refused() -> sa_exc.OperationalError:
    """psycopg's error for a PostgreSQL server that is not there."""
    pytest.importorskip("psycopg")
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    try:
        engine.connect()
    except sa_exc.OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("a closed port accepted a connection")


def test_database_unavailable_tells_an_outage_from_a_defect(tmp_path):
    locked, refused = _locked(tmp_path / "a.db"), _refused()
    assert database_unavailable(locked) and database_unavailable(locked.orig)
    assert database_unavailable(refused) and database_unavailable(refused.orig)
    assert database_unavailable(sa_exc.TimeoutError("QueuePool limit reached"))
    wrapped = RuntimeError("issuing failed")
    wrapped.__cause__ = locked
    assert database_unavailable(wrapped)
    assert database_unavailable(ExceptionGroup("tasks", [ValueError("x"), refused]))
    for defect in (_no_table(tmp_path / "b.db"), sa_exc.IntegrityError("INSERT", {}, ValueError()),
                   ValueError("locked"), ExceptionGroup("tasks", [KeyError("x")])):
        assert not database_unavailable(defect), defect


def test_busy_timeout_setting_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("QABILET_SQLITE_BUSY_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="QABILET_SQLITE_BUSY_TIMEOUT_S.*'soon'"):
        connect(f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("QABILET_SQLITE_BUSY_TIMEOUT_S", "0.25")
    engine = connect(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 250
    engine.dispose()


# -- the request path, in process ---------------------------------------------------------------
def _unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == str(RETRY_AFTER_S)
    assert "send the request again" in r.json()["detail"]


def test_an_outage_anywhere_in_a_request_is_a_503_and_a_defect_a_500(demo_db, tmp_path,
                                                                     monkeypatch):
    keys = staff_keys(demo_db)
    locked, defect = _locked(tmp_path / "a.db"), _no_table(tmp_path / "b.db")
    app = create_app(Settings(database_url=demo_db, time_limit_s=None, item_time_limit_s=None))
    broken_paths = {"/v1/sessions/none/events"}

    @app.middleware("http")
    async def guard(request, call_next):  # a middleware that reads the database, failing
        if request.url.path in broken_paths:
            raise locked
        return await call_next(request)

    with TestClient(app, raise_server_exceptions=False) as client:
        store = services_of(app).store
        c = client.post("/v1/candidates", json={"display_name": "A"}, headers=staff(keys))
        s = client.post("/v1/sessions", headers=staff(keys),
                        json={"candidate_id": c.json()["id"], "level": "middle", "language": "ru"})
        session = s.json()
        me = {"X-Session-Token": session["token"]}
        item = client.get(f"/v1/sessions/{session['id']}/item", headers=me).json()
        body = {"position": item["position"], "item_id": item["item_id"], "code": 0,
                "response_time_s": 2.0}

        with monkeypatch.context() as m:  # the staff key's check, in a dependency
            m.setattr(store, "authenticate", lambda _key: (_ for _ in ()).throw(locked))
            _unavailable(client.post("/v1/candidates", json={"display_name": "B"},
                                     headers=staff(keys)))

        def failed_append(*_args, **_kw) -> Future:
            future: Future = Future()
            future.set_exception(locked)
            return future

        with monkeypatch.context() as m:  # the group commit's writer failed the answer
            m.setattr(store, "append_soon", failed_append)
            _unavailable(client.post(f"/v1/sessions/{session['id']}/answers", headers=me,
                                     json=body))
        assert [e.kind for e in store.events(session["id"])] == ["start"]  # nothing written

        _unavailable(client.get("/v1/sessions/none/events", headers=staff(keys)))  # middleware

        with monkeypatch.context() as m:  # a database error that is a defect: still a 500
            m.setattr(store, "events", lambda *_a, **_k: (_ for _ in ()).throw(defect))
            r = client.get(f"/v1/sessions/{session['id']}", headers=me)
            assert r.status_code == 500 and "retry-after" not in r.headers, r.text
            assert "internal error (reference" in r.json()["detail"]
            assert r.headers["cache-control"] == "no-store"  # the 500 has the edge's headers too
            assert r.headers["x-content-type-options"] == "nosniff"

        ok = client.post(f"/v1/sessions/{session['id']}/answers", headers=me, json=body)
        assert ok.status_code == 200 and not ok.json()["replayed"], ok.text


# -- SQLite held locked by another process ------------------------------------------------------
def test_sqlite_locked_past_the_busy_timeout_is_a_503_that_writes_nothing(demo_db):
    busy_s = 0.5
    keys = staff_keys(demo_db)
    server = Server(demo_db, env={"QABILET_SQLITE_BUSY_TIMEOUT_S": str(busy_s)}).start()
    path = demo_db.removeprefix("sqlite:///")
    store_engine = connect(demo_db)
    store = SessionStore(store_engine)
    try:
        session = start_session(server.base, keys, time_limit_s=None, item_time_limit_s=None)
        me = {"X-Session-Token": session["token"]}
        url = f"{server.base}/v1/sessions/{session['id']}"

        def next_answer() -> dict:
            item = httpx.get(f"{url}/item", headers=me, timeout=REQUEST_TIMEOUT_S)
            assert item.status_code == 200, item.text
            shown = item.json()
            return {"position": shown["position"], "item_id": shown["item_id"], "code": 1,
                    "response_time_s": 2.0}

        for _ in range(2):
            assert httpx.post(f"{url}/answers", headers=me, json=next_answer()).status_code == 200
        body = next_answer()
        # another process's write lock, in effect (released below by a timer's thread)
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            sent = time.monotonic()
            r = httpx.post(f"{url}/answers", headers=me, json=body, timeout=REQUEST_TIMEOUT_S)
            waited = time.monotonic() - sent
            _unavailable(r)
            assert busy_s <= waited < 5 * busy_s + 2, waited
            assert next_answer() == body  # reads go on meanwhile (write-ahead log)
        finally:
            holder.execute("ROLLBACK")
        answers = [e for e in store.events(session["id"]) if e.kind == "answer"]
        assert [e.position for e in answers] == [1, 2]  # nothing half-written

        holder.execute("BEGIN EXCLUSIVE")  # a lock shorter than the busy timeout is waited for
        threading.Timer(busy_s / 3, holder.execute, ("ROLLBACK",)).start()
        again = httpx.post(f"{url}/answers", headers=me, json=body, timeout=REQUEST_TIMEOUT_S)
        assert again.status_code == 200 and not again.json()["replayed"], again.text
        answers = [e for e in store.events(session["id"]) if e.kind == "answer"]
        assert [e.position for e in answers] == [1, 2, 3]
        assert (answers[-1].payload["item_id"], answers[-1].payload["code"]) == \
            (body["item_id"], body["code"])
        print(f"\nsqlite lock: 1 request during the lock -> 503 after {waited:.2f} s "
              f"(busy timeout {busy_s} s); after release 200; acknowledged answers lost: 0")
        holder.close()
    finally:
        server.stop()
        store_engine.dispose()


# -- PostgreSQL restarted under load ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Call:
    sent: float
    done: float
    status: int
    retry_after: str | None


def _candidate(base: str, session: dict, acked: dict, calls: list[_Call], stop: threading.Event,
               seed: int) -> None:
    """Answer until ``ANSWERS_EACH`` are acknowledged; a 503 is sent again, anything else fails."""
    rng = random.Random(seed)
    me = {"X-Session-Token": session["token"]}
    url = f"{base}/v1/sessions/{session['id']}"

    def call(method: str, path: str, **kw) -> httpx.Response:
        sent = time.monotonic()
        r = httpx.request(method, f"{url}{path}", headers=me, timeout=REQUEST_TIMEOUT_S, **kw)
        calls.append(_Call(sent, time.monotonic(), r.status_code, r.headers.get("retry-after")))
        if r.status_code == 503:
            time.sleep(PAUSE_S)
        elif r.status_code != 200:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
        return r

    while len(acked) < ANSWERS_EACH and not stop.is_set():
        item = call("GET", "/item")
        if item.status_code != 200:
            continue
        shown = item.json()
        assert not shown["finished"], shown
        body = {"position": shown["position"], "item_id": shown["item_id"],
                "code": rng.randrange(len(shown["choices"])), "response_time_s": 1.0}
        while not stop.is_set():
            if call("POST", "/answers", json=body).status_code == 200:
                acked[body["position"]] = (body["item_id"], body["code"])
                break


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)


@pytest.fixture
def cluster(demo_db):
    """A throwaway PostgreSQL cluster holding a copy of the demonstration bank."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        skip_or_fail("the PostgreSQL fault test needs Debian's postgresql package (initdb, "
                     "pg_ctl under /usr/lib/postgresql/*/bin): apt-get install postgresql")
    pytest.importorskip("psycopg")
    made = Cluster(bin_dir)
    try:
        made.create()
        source, target = connect(demo_db), connect(made.url)
        import_document(BankRepository(target), export_document(BankRepository(source)).to_json())
        source.dispose()
        target.dispose()
        yield made
    finally:
        made.destroy()


def test_postgresql_restarted_under_load_loses_no_acknowledged_answer(cluster):
    keys = staff_keys(cluster.url)
    engine = connect(cluster.url)
    store = SessionStore(engine)
    server = Server(cluster.url, workers=2).start()
    try:
        workers = server.worker_pids()
        assert len(workers) >= 2, workers
        sessions = [start_session(server.base, keys, time_limit_s=None, item_time_limit_s=None)
                    for _ in range(N_CANDIDATES)]
        acked: list[dict] = [{} for _ in sessions]
        calls: list[list[_Call]] = [[] for _ in sessions]
        stop = threading.Event()
        crowd = Crowd(_candidate, [(server.base, s, a, c, stop, k) for k, (s, a, c)
                                   in enumerate(zip(sessions, acked, calls, strict=True))]).start()
        outages = []
        for k, mode in enumerate(("fast", "immediate")):  # a clean restart, then a crash
            _wait(lambda k=k: crowd.errors or all(len(a) >= 4 + 8 * k for a in acked), 60,
                  "answers before the outage")
            down = time.monotonic()
            cluster.stop(mode)
            time.sleep(1.0)  # the outage: the candidates keep asking
            cluster.start()
            up = time.monotonic()
            outages.append((mode, down, up))
        try:
            crowd.join(120)
        finally:
            stop.set()
        assert server.proc is not None and server.proc.poll() is None
        assert server.worker_pids() == workers, "a worker was restarted"

        lost = 0
        for s, mine in zip(sessions, acked, strict=True):
            stored = [e for e in store.events(s["id"]) if e.kind == "answer"]
            assert [e.position for e in stored] == list(range(1, len(stored) + 1))
            assert len(mine) == ANSWERS_EACH == len(stored)
            lost += sum(mine[e.position] != (e.payload["item_id"], e.payload["code"])
                        for e in stored)
            state = httpx.get(f"{server.base}/v1/sessions/{s['id']}",
                              headers={"X-Session-Token": s["token"]})
            assert state.status_code == 200 and state.json()["answered"] == ANSWERS_EACH
        assert lost == 0

        every = sorted((c for mine in calls for c in mine), key=lambda c: c.sent)
        assert {c.status for c in every} <= {200, 503}
        assert all(c.retry_after == str(RETRY_AFTER_S) for c in every if c.status == 503)
        print(f"\npostgresql restarts: {len(every)} requests in all, "
              f"{N_CANDIDATES} candidates x {ANSWERS_EACH} answers, 2 workers (same pids after)")
        for mode, down, up in outages:
            during = [c for c in every if down <= c.sent <= up]
            after = [c for c in every if c.sent > up]
            first_ok = next(c for c in after if c.status == 200)
            late = [c for c in after if c.done <= first_ok.done and c.status == 503]
            statuses = {code: sum(c.status == code for c in during) for code in (200, 503)}
            assert statuses[503] > 0, f"no request met the {mode} outage"
            print(f"  stop -m {mode}: outage {up - down:.2f} s, {len(during)} requests sent "
                  f"during it -> {statuses}; first 200 {first_ok.done - up:.2f} s after the "
                  f"server was back ({len(late)} more 503 before it); acknowledged answers "
                  f"lost: {lost}")
    finally:
        server.stop()
        engine.dispose()
