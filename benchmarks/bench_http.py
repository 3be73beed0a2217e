"""Load on the HTTP API: latency at an offered rate, and the saturation rate, SQLite and PostgreSQL.

Run by hand from the repository root (not part of the test suite; the server runs on 127.0.0.1)::

    .venv/bin/python benchmarks/bench_http.py                       # both backends, 3 blueprints
    .venv/bin/python benchmarks/bench_http.py --backend sqlite --blueprint uni
    .venv/bin/python benchmarks/bench_http.py --quick               # SQLite, uni: a smoke run
    .venv/bin/python benchmarks/bench_http.py --profile --backend sqlite --blueprint uni
    .venv/bin/python benchmarks/bench_http.py --backend postgresql --blueprint uni --servers 1,2

PostgreSQL: the server named by ``QABILET_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); the script creates a database of its own there
for each run (``qabilet_bench_<blueprint>_<pid>``) and drops it at the end.

Setup, outside every timer: the demonstration bank (:func:`qabilet.demo_bank.build_demo_bank`,
~30 s) is built once into a cache (``$QABILET_BENCH_CACHE`` or the system's temporary folder,
``qabilet-bench-http/``, keyed by the demo bank's sources and the migrations) and exported as a
bank document. Each run gets a fresh copy — the SQLite file copied, or the document imported
into a new PostgreSQL database — then one new blueprint for the level (``middle``; a session
uses the newest blueprint of its level) and an operator key:

* ``uni``: one section on the competency with the most items at the level; maximum
  information (``mfi``), randomesque exposure control (top 5), EAP, a fixed length
  (``--items``, 20);
* ``multi``: one section on the (up to 4) competencies: Bayesian D-optimality (``dopt``, the
  engine's multidimensional maximum information), randomesque (top 5), EAP, same length;
* ``shadow``: ``uni`` with the items' format as content and quotas on it (situational judgement
  between a quarter and 40 % of the test, Likert the rest) met by shadow tests
  (``content_method: shadow``, a MILP before each item).

The server is the project's own command, ``python -m qabilet serve --workers W`` (``--workers``,
2) on the run's database, in a process group of its own (``--servers 1,2``: one run with one
server, one with two such servers on the same database, each its own process group and port, the
load spread over them request by request, round robin, as a reverse proxy would — or, with
``--spread session``, each candidate's requests to the server its session id hashes to; each run
gets a fresh database): uvicorn workers on uvloop and
httptools, each with a ``SO_REUSEPORT`` listening socket of its own made with ``IPPROTO_TCP`` (so
TCP_NODELAY is on, and the kernel spreads the connections over the workers), no access log; on
a database that is not empty it builds nothing. SQLite runs in WAL mode with
``synchronous=FULL`` (a commit is on disk before the answer is acknowledged: the default);
backend ``sqlite-normal`` is the same server with ``QABILET_SQLITE_SYNCHRONOUS=normal`` (a
commit survives the process being killed but maybe not a power cut; no fsync waits).

The load generator (``benchmarks/_http_load.py``, asyncio + aiohttp: httpx cost the client
several times the CPU per answer, on the server's cores) is a third process: it makes sessions
through the operator's calls before each phase, then drives candidates through whole sessions —
``GET /v1/sessions/{id}/item`` (the next-item call), think, ``POST …/answers`` with a code
drawn uniformly among the item's choices — and times each call from before its wait for a free
connection to the parsed response. Two phases per run:

1. **open workload**: ``--candidates`` (400) candidates, each answering on a Poisson clock of
   mean ``candidates / --rate`` seconds, so that ``--rate`` (200) answers per second are offered
   whatever the latency; ``--warmup`` (10 s) then ``--duration`` (60 s) measured; p50/p95/p99
   of the next-item and answer calls (the answer that completes a test also closes the session
   and issues the profile: in the answer columns, and on its own in one); ``--rate 200,30``
   runs one open phase per rate;
2. **saturation**: closed loops with no think time at each ``--concurrency`` (4, 8, 16, 32, 64),
   ``--step-warmup`` (5 s) then ``--step-duration`` (20 s) each; the saturation rate is the most
   answers per second of a step with no error and both calls' p99 ≤ 1 s; the steps stop after
   the first that fails.

CPU: the server's (its process and its workers, from ``/proc``) and the generator's, in ms per
answer over the measured window. The generator shares the machine's cores with the server, so
at saturation part of the machine is the client's; the results file says how much.

``--profile`` runs two further closed loops (``--profile-concurrency``, 16) on the first backend
and blueprint, with py-spy (``.venv/bin/pip install py-spy``; not a dependency) attached to the
server and its workers for the measured window only (the sessions are made before it): once
sampling every busy thread (wall time: SQLite's C code, lock waits included, shows in
``do_execute``/``do_commit``), once only the thread holding the GIL (``--gil``: where Python's own
CPU goes). It prints, for each, the samples per package (innermost frame), the project's
functions by inclusive share and the functions by self share.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _machine import load, publish, python_speed, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

HERE = ROOT / "benchmarks"
LOADGEN = HERE / "_http_load.py"
RESULTS = HERE / "results" / "http.md"
#: where a run with several servers (``--servers 1,2``) writes
RESULTS_SERVERS = HERE / "results" / "http-servers.md"
CACHE = Path(os.environ.get("QABILET_BENCH_CACHE") or tempfile.gettempdir()) / "qabilet-bench-http"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
BLUEPRINTS = ("uni", "multi", "shadow")
BACKENDS = ("sqlite", "sqlite-normal", "postgresql")
#: how the load is spread over several servers (``--spread``)
SPREADS = ("roundrobin", "session")
#: the server's environment per backend
BACKEND_ENV = {"sqlite-normal": {"QABILET_SQLITE_SYNCHRONOUS": "normal"}}
P99_LIMIT_S = 1.0
TARGET_P95_MS = 20.0
TARGET_RATE = 200.0
TARGET_SATURATION = 500.0
LANGUAGE = "en"


# --- the cached demonstration bank -------------------------------------------------------------------
def cache_key() -> str:
    """A digest of what the demonstration bank is built from, and of the schema's migrations."""
    digest = hashlib.sha256()
    files = [ROOT / "qabilet" / "demo_bank.py", ROOT / "itembank" / "demo_texts.py",
             *sorted((ROOT / "itembank" / "demo_content").rglob("*")),
             *sorted((ROOT / "itembank" / "migrations").rglob("*.py"))]
    for f in files:
        if f.is_file():
            digest.update(f.relative_to(ROOT).as_posix().encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def cached_bank(rebuild: bool) -> tuple[Path, Path]:
    """The demonstration bank as a SQLite file and as a bank document (built once)."""
    from qabilet.demo_bank import build_demo_bank
    from qabilet.itembank.bank_file import export_document
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    CACHE.mkdir(parents=True, exist_ok=True)
    key = cache_key()
    db, doc = CACHE / f"demo-{key}.db", CACHE / f"demo-{key}.json"
    if rebuild or not (db.exists() and doc.exists()):
        print(f"building the demonstration bank into {db} (once; about 30 s) …", flush=True)
        tmp = db.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        engine = connect(f"sqlite:///{tmp}")
        repo = BankRepository(engine)
        build_demo_bank(repo)
        doc.write_text(export_document(repo).to_json(), encoding="utf-8")
        engine.dispose()
        tmp.replace(db)
    return db, doc


# --- one run's database ------------------------------------------------------------------------------
def admin_url() -> str:
    return os.environ.get("QABILET_BENCH_DATABASE_URL") or PG_DEFAULT


def _pg_conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_pg_database(name: str) -> str:
    """A new, empty PostgreSQL database on the admin URL's server; its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(_pg_conninfo(admin_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_pg_conninfo(admin_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_server_version() -> str:
    try:
        import psycopg

        with psycopg.connect(_pg_conninfo(admin_url()), connect_timeout=5) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"not reachable ({type(exc).__name__})"


def blueprint_sections(repo: Any, level: str, design: str, length: int) -> tuple[list, str]:
    """The sections of ``design`` for ``level`` on the bank in ``repo``, and a description."""
    from qabilet.itembank.blueprints import BlueprintSection

    items = [i for i in repo.items() if level in i.levels and i.status == "operational"]
    competencies = [d for d, v in repo.dimensions().items() if v.kind == "competency"]
    count = Counter(i.dimension for i in items if i.dimension in competencies)
    ranked = sorted(count, key=lambda d: (-count[d], d))
    base = {"selection": "mfi", "exposure": "randomesque:5", "estimator": "eap",
            "min_items": length, "max_items": length, "se_target": None}
    if design == "multi":
        dims = sorted(ranked[:4])
        rules = {**base, "selection": "dopt"}
        text = (f"{len(dims)} dimensions ({', '.join(dims)}; {sum(count[d] for d in dims)} items), "
                f"dopt, randomesque:5, EAP, {length} items")
        return [BlueprintSection(name="bench_multi", dimensions=dims, rules=rules)], text
    dim = ranked[0]
    if count[dim] < length:
        raise SystemExit(f"--items {length}: the largest competency at {level!r} has "
                         f"{count[dim]} items")
    text = f"{dim} ({count[dim]} items), mfi, randomesque:5, EAP, {length} items"
    if design == "uni":
        return [BlueprintSection(name="bench_uni", dimensions=[dim], rules=base)], text
    mine = [i for i in items if i.dimension == dim]
    formats = Counter(i.format for i in mine)
    lo, hi = round(length / 4), round(0.4 * length)
    if formats.get("sjt", 0) < hi:
        raise SystemExit(f"shadow: {dim!r} has {formats.get('sjt', 0)} sjt items; needs {hi}")
    rules = {**base, "content": {i.id: i.format for i in mine},
             "quotas": {"sjt": [lo, hi], "likert": [length - hi, length - lo]},
             "content_method": "shadow"}
    text += (f"; content = format ({formats['likert']} likert, {formats['sjt']} sjt), quotas sjt "
             f"{lo}–{hi}, likert {length - hi}–{length - lo}, shadow tests")
    return [BlueprintSection(name="bench_shadow", dimensions=[dim], rules=rules)], text


@dataclass
class Prepared:
    url: str
    key: str
    description: str
    blueprint_number: int
    cleanup: Any = None
    setup_s: float = 0.0


def prepare(backend: str, design: str, level: str, length: int, db_file: Path, doc: Path,
            workdir: Path) -> Prepared:
    """A fresh copy of the bank with the design's blueprint newest for ``level``, and a key."""
    from qabilet.itembank.bank_file import import_document
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.session_store import SessionStore

    t0 = time.perf_counter()
    cleanup = None
    if backend.startswith("sqlite"):
        target = workdir / f"{backend}-{design}.db"
        shutil.copyfile(db_file, target)
        url = f"sqlite:///{target}"
        engine = connect(url)
    else:
        name = f"qabilet_bench_{design}_{os.getpid()}"
        url = create_pg_database(name)
        engine = connect(url)
        import_document(BankRepository(engine), doc.read_text(encoding="utf-8"))

        def cleanup() -> None:
            drop_pg_database(name)

    repo = BankRepository(engine)
    sections, text = blueprint_sections(repo, level, design, length)
    stored = repo.add_blueprint(level, repo.version().number, sections,
                                label=f"bench_http {design}")
    key = SessionStore(engine).create_api_key("operator", "bench_http")
    engine.dispose()
    return Prepared(url, key, text, stored.number, cleanup, time.perf_counter() - t0)


# --- the server ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``qabilet serve`` on the database at ``url``, in a process group of its own."""

    def __init__(self, url: str, workers: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "qabilet", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(workers), "--database", url]
        env = {**os.environ, "QABILET_DATABASE_URL": url, "QABILET_PUBLIC_URL": self.base,
               **(env or {})}
        self._log = log.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(f"{self.base}/openapi.json", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"the server did not answer in {timeout:.0f} s: {self.tail()}")

    def tail(self, n: int = 1500) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")[-n:].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


# --- one backend × blueprint ----------------------------------------------------------------------
@dataclass
class Run:
    backend: str
    design: str
    servers: int = 1
    workers: int = 2
    spread: str = "roundrobin"  # several servers: each request in turn, or by session
    description: str = ""
    blueprint_number: int = 0
    phases: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    setup_s: float = 0.0
    server_errors: str = ""  # the exceptions in the server's log, when it answered 5xx

    @property
    def opens(self) -> list[dict[str, Any]]:
        return [p for p in self.phases if p["kind"] == "open" and not p.get("skipped")]

    @property
    def open(self) -> dict[str, Any] | None:
        """The open phase at the target's rate, else the first."""
        at = [p for p in self.opens if abs(p["offered"] - TARGET_RATE) < 1e-9]
        return (at or self.opens or [None])[0]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [p for p in self.phases if p["kind"] == "closed"]

    @property
    def saturation(self) -> dict[str, Any] | None:
        ok = [p for p in self.steps if passes(p)]
        return max(ok, key=lambda p: p["rate"]) if ok else None


def passes(p: dict[str, Any]) -> bool:
    if p.get("skipped") or not p.get("answers"):
        return False
    return (not p["errors"] and p["answer"]["p99"] <= P99_LIMIT_S
            and p["next_item"]["p99"] <= P99_LIMIT_S)


def phases_for(args: argparse.Namespace) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = []
    for rate in args.rates:
        phases.append({"kind": "open", "label": f"open {rate:g}/s",
                       "candidates": args.candidates, "think_s": args.candidates / rate,
                       "warmup_s": args.warmup, "duration_s": args.duration,
                       "connections": args.connections})
    for c in args.concurrency:
        phases.append({"kind": "closed", "label": f"closed c={c}", "concurrency": c,
                       "warmup_s": args.step_warmup, "duration_s": args.step_duration,
                       "connections": c, "stop_after_failure": True})
    return phases


def run_load(servers: list[Server], prepared: Prepared, args: argparse.Namespace,
             phases: list[dict[str, Any]], spread: str = "roundrobin") -> list[dict[str, Any]]:
    spec = {"base_urls": [s.base for s in servers], "key": prepared.key, "level": args.level,
            "language": LANGUAGE, "server_pids": [s.proc.pid for s in servers],
            "phases": phases, "items_per_session": args.items, "p99_limit_s": P99_LIMIT_S,
            "seed": 20261201, "spread": spread}
    span = sum(p["warmup_s"] + p["duration_s"] for p in phases)
    proc = subprocess.run([sys.executable, str(LOADGEN), json.dumps(spec)], cwd=str(ROOT),
                          stdout=subprocess.PIPE, text=True, timeout=span * 4 + 600)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"the load generator failed ({proc.returncode}); server log: "
                           f"{servers[0].tail()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["phases"]


def server_errors(log: Path) -> str:
    """The distinct exception lines of the server's log (its tracebacks' last lines), counted."""
    found: Counter = Counter()
    for line in log.read_text(errors="replace").splitlines():
        head = line.split(":", 1)[0]
        if line and not line.startswith((" ", "Traceback")) and head.rsplit(".", 1)[-1].endswith(
                ("Error", "Exception", "Exhausted", "Timeout")):
            found[line.strip()[:240]] += 1
    return "; ".join(f"{k} (× {v})" for k, v in found.most_common(4)) or "none in the log"


def run_one(backend: str, design: str, n_servers: int, args: argparse.Namespace, db_file: Path,
            doc: Path, workdir: Path, spread: str = "roundrobin") -> Run:
    run = Run(backend, design, n_servers, args.workers, spread)
    print(f"\n{backend} × {design} × {servers_text(run)} (load {load()})", flush=True)
    prepared = None
    servers: list[Server] = []
    try:
        prepared = prepare(backend, design, args.level, args.items, db_file, doc, workdir)
        run.description, run.blueprint_number = prepared.description, prepared.blueprint_number
        run.setup_s = prepared.setup_s
        print(f"  blueprint {prepared.blueprint_number} of {args.level!r}: {prepared.description}"
              f" (setup {prepared.setup_s:.1f} s)", flush=True)
        servers = [Server(prepared.url, args.workers,
                          workdir / f"server-{backend}-{design}-{n_servers}-{spread}-{k}.log",
                          BACKEND_ENV.get(backend)) for k in range(n_servers)]
        for server in servers:
            server.wait_ready()
        run.phases = run_load(servers, prepared, args, phases_for(args), spread)
        gone = [s for s in servers if s.proc.poll() is not None]
        if gone:
            run.failure = f"a server exited during the run: {gone[0].tail(300)}"
        if any("HTTP 5" in k for p in run.phases for k in p.get("errors", {})):
            run.server_errors = "; ".join(server_errors(s.log) for s in servers)
            print(f"  server errors: {run.server_errors}", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - one failed run is a row, not the end
        run.failure = f"{type(exc).__name__}: {str(exc)[:600]}"
        print(f"  failed: {run.failure}", file=sys.stderr, flush=True)
    finally:
        for server in servers:
            server.stop()
        if prepared is not None and prepared.cleanup is not None:
            prepared.cleanup()
    return run


# --- the profile ------------------------------------------------------------------------------------
#: innermost frames of a thread that waits (py-spy's idle detection misses some)
WAITING = ("select (selectors.py)", "wait (threading.py)", "_wait_for_tstate_lock (threading.py)",
           "get (queue.py)", "_recv (connection.py)", "poll (connection.py)")


def _frame(frame: str) -> tuple[str, str]:
    """(function, file) of a py-spy frame ``function (file:line)``."""
    name, _, rest = frame.partition(" (")
    return name, rest.rsplit(":", 1)[0] if rest else ""


def package_of(path: str) -> str:
    """The project's package (``qabilet.api``, ``qabilet.itembank``, …), a third party's, or stdlib.

    py-spy names files relative to the ``sys.path`` entry they were found on.
    """
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    path = path.removeprefix(str(ROOT) + "/")
    if not path:
        return "native"
    top = Path(path).parts[0].removesuffix(".py") if not path.startswith("/") else Path(path).stem
    return f"{top} (qabilet)" if top in ("api", "itembank", "engine", "qabilet") else top


def _short(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    return path.removeprefix(str(ROOT) + "/")


def read_profile(path: Path) -> dict[str, Any]:
    """py-spy's collapsed stacks: samples busy and waiting; per package and function."""
    busy = waiting = 0
    by_package: Counter = Counter()
    own: Counter = Counter()
    inclusive: Counter = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        name, file = _frame(frames[-1])
        if f"{name.rsplit('.', 1)[-1]} ({Path(file).name})" in WAITING:
            waiting += n
            continue
        busy += n
        by_package[package_of(file)] += n
        own[f"{name} ({_short(file)})"] += n
        seen = set()
        for f in frames:
            fname, ffile = _frame(f)
            label = f"{fname} ({_short(ffile)})"
            if package_of(ffile).endswith("(qabilet)") and label not in seen:
                seen.add(label)
                inclusive[label] += n
    return {"busy": busy, "waiting": waiting, "by_package": by_package, "own": own,
            "inclusive": inclusive}


def profile(args: argparse.Namespace, db_file: Path, doc: Path, workdir: Path) -> list[str]:
    """Two closed-loop windows under py-spy: every busy thread, then the thread holding the GIL."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return [f"profile: not run (no {spy}; .venv/bin/pip install py-spy)"]
    backend, design = args.backend_list[0], args.blueprint_list[0]
    c = args.profile_concurrency
    outs = {gil: CACHE / f"profile-{backend}-{design}{'-gil' if gil else ''}.txt"
            for gil in (False, True)}
    for out in outs.values():
        out.unlink(missing_ok=True)
    prepared = prepare(backend, design, args.level, args.items, db_file, doc, workdir)
    server = Server(prepared.url, args.workers, workdir / "server-profile.log")
    phases = [{"kind": "closed", "label": f"profile c={c}{' (GIL)' if gil else ''}",
               "concurrency": c, "warmup_s": args.step_warmup,
               "duration_s": args.profile_duration, "connections": c,
               "profile": {"py_spy": str(spy), "path": str(out), "gil": gil,
                           "log": str(workdir / f"py-spy-{int(gil)}.log")}}
              for gil, out in outs.items()]
    try:
        server.wait_ready()
        results = run_load([server], prepared, args, phases)
    finally:
        server.stop()
        if prepared.cleanup is not None:
            prepared.cleanup()
    lines: list[str] = []
    for (gil, out), result in zip(outs.items(), results, strict=True):
        what = "the thread holding the GIL (Python's own CPU)" if gil else "every busy thread"
        if not out.exists() or not out.stat().st_size:
            log = workdir / f"py-spy-{int(gil)}.log"
            lines.append(f"profile ({what}): py-spy wrote nothing: "
                         + (log.read_text(errors="replace")[-600:] if log.exists() else "no log"))
            continue
        prof = read_profile(out)
        total = max(prof["busy"], 1)
        answers = max(result["answers"], 1)
        lines += [f"### Profile: {what}", "",
                  f"{backend}, {design}, {args.workers} workers, closed loop at c={c} for "
                  f"{args.profile_duration:g} s: {result['rate']:.0f} answers/s under py-spy, "
                  f"server CPU {result['server_cpu_s'] / answers * 1e3:.2f} ms / answer; "
                  f"{prof['busy']:,} samples ({prof['waiting']:,} more in waits left out); "
                  f"stacks in {out}.", "", "By package (innermost frame):", ""]
        lines += [f"- {pkg}: {n / total:.1%}" for pkg, n in prof["by_package"].most_common(14)]
        lines += ["", "qabilet functions by inclusive share (on the stack):", ""]
        lines += [f"- {fn}: {n / total:.1%}" for fn, n in prof["inclusive"].most_common(30)]
        lines += ["", "Functions by self share (innermost frame):", ""]
        lines += [f"- {fn}: {n / total:.1%}" for fn, n in prof["own"].most_common(25)]
        lines.append("")
    return lines


# --- the report -------------------------------------------------------------------------------------
def ms(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x * 1e3:.1f}" if x < 10 else f"{x * 1e3:,.0f}"


def errors_text(p: dict[str, Any]) -> str:
    n = sum(p["errors"].values())
    if not n:
        return "0"
    return f"{n:,} (" + ", ".join(f"{k} × {v}" for k, v in sorted(p["errors"].items())) + ")"


def cpu_per_answer(p: dict[str, Any], key: str) -> str:
    return f"{p[key] / p['answers'] * 1e3:.2f}" if p.get("answers") else "—"


def busiest(p: dict[str, Any]) -> str:
    """The share of the server's CPU taken by its busiest process (a worker, mostly)."""
    by = p.get("server_cpu_by_process") or []
    total = sum(by)
    return f"{max(by) / total:.0%}" if total > 0 else "—"


def servers_text(r: Run) -> str:
    """``2 × 2 workers, round robin``: the servers on the database, each one's workers, the spread."""
    if r.servers == 1:
        return f"1 × {r.workers} workers"
    how = "by session" if r.spread == "session" else "round robin"
    return f"{r.servers} × {r.workers} workers, {how}"


def not_run(r: Run, width: int) -> list[str]:
    """The row of a run that has no measurement in a table ``width`` wide."""
    return [r.backend, r.design, servers_text(r), r.failure or "not run", *["—"] * (width - 4)]


def open_table(runs: list[Run]) -> str:
    header = ["backend", "blueprint", "servers", "offered ans/s", "achieved ans/s",
              "next-item p50 ms", "p95", "p99", "answer p50 ms", "p95", "p99",
              "closing answer p50 ms", "errors", "server CPU ms / answer", "busiest process",
              "client CPU ms / answer"]
    lines: list[list[str]] = []
    for r in runs:
        if not r.opens:
            lines.append(not_run(r, len(header)))
            continue
        head = [r.backend, r.design, servers_text(r)]
        for p in r.opens:
            lines.append([
                *head, f"{p['offered']:.0f}", f"{p['rate']:.1f}",
                ms(p["next_item"]["p50"]), ms(p["next_item"]["p95"]), ms(p["next_item"]["p99"]),
                ms(p["answer"]["p50"]), ms(p["answer"]["p95"]), ms(p["answer"]["p99"]),
                ms(p["closing"]["p50"]), errors_text(p), cpu_per_answer(p, "server_cpu_s"),
                busiest(p), cpu_per_answer(p, "generator_cpu_s")])
    return table(header, lines)


def saturation_table(runs: list[Run], concurrency: list[int]) -> str:
    header = ["backend", "blueprint", "servers", *(f"c={c}: ans/s (p99 ms)" for c in concurrency),
              "saturation ans/s", "at c", "server CPU ms / answer", "busiest process",
              "client CPU ms / answer"]
    lines: list[list[str]] = []
    for r in runs:
        if not r.steps:
            lines.append(not_run(r, len(header)))
            continue
        head = [r.backend, r.design, servers_text(r)]
        by_c = {p["n"]: p for p in r.steps}
        cells = []
        for c in concurrency:
            p = by_c.get(c)
            if p is None or p.get("skipped"):
                cells.append("—")
                continue
            p99 = max(p["answer"]["p99"], p["next_item"]["p99"])
            mark = "" if passes(p) else (" ✗ errors" if p["errors"] else " ✗")
            cells.append(f"{p['rate']:.0f} ({ms(p99)}){mark}")
        best = r.saturation
        tail = (["none", "—", "—", "—", "—"] if best is None else
                [f"**{best['rate']:.0f}**", str(best["n"]), cpu_per_answer(best, "server_cpu_s"),
                 busiest(best), cpu_per_answer(best, "generator_cpu_s")])
        lines.append([*head, *cells, *tail])
    return table(header, lines)


def verdicts(runs: list[Run], quick: bool) -> list[str]:
    out: list[str] = []
    note = " (a --quick run: short phases; the targets are for a full run)" if quick else ""
    unis = [r for r in runs if r.backend.startswith("sqlite") and r.design == "uni"]
    if not unis:
        return ["SQLite, uni: not assessed (no such run)" + note + "."]
    for uni in unis:
        sync = " (synchronous=NORMAL)" if uni.backend == "sqlite-normal" else ""
        name = f"SQLite{sync}, uni" + (f", {servers_text(uni)}" if uni.servers > 1 else "")
        p = uni.open
        if p is None:
            out.append(f"{name}, p95 ≤ 20 ms at 200 answers/s offered: not assessed "
                       f"({uni.failure or 'no open phase'}){note}.")
        else:
            worst = max(p["next_item"]["p95"], p["answer"]["p95"]) * 1e3
            at_rate = abs(p["offered"] - TARGET_RATE) < 1e-9
            kept = p["rate"] >= 0.95 * p["offered"]
            met = worst <= TARGET_P95_MS and kept and not p["errors"] and at_rate
            out.append(
                f"{name}, at {p['offered']:.0f} answers/s offered ({p['rate']:.1f} achieved): "
                f"p95 next-item {ms(p['next_item']['p95'])} ms, answer "
                f"{ms(p['answer']['p95'])} ms — {'meets' if met else 'misses'} the target (p95 ≤ "
                f"{TARGET_P95_MS:.0f} ms at {TARGET_RATE:.0f} answers/s)"
                + ("" if at_rate else " (offered rate differs)") + note + ".")
        if not uni.steps:
            out.append(f"{name}, saturation ≥ 500 answers/s: not assessed "
                       f"({uni.failure or 'no saturation phase'}){note}.")
            continue
        best = uni.saturation
        rate = best["rate"] if best else 0.0
        where = f" at c={best['n']}" if best else " (no step passed)"
        out.append(f"{name}, saturation {rate:.0f} answers/s{where} — "
                   f"{'meets' if rate >= TARGET_SATURATION else 'misses'} the target (≥ "
                   f"{TARGET_SATURATION:.0f} answers/s with no error and p99 ≤ 1 s){note}.")
    return out


def notes_for(runs: list[Run], args: argparse.Namespace) -> list[str]:
    notes = [
        f"Sessions: level {args.level!r}, language {LANGUAGE!r}, fixed length {args.items} "
        "items, made by the operator (POST /v1/candidates, POST /v1/sessions) before each phase "
        "and not timed in the tables; codes drawn uniformly among the item's choices. Sessions "
        "a phase leaves unfinished are resumed by the next phase.",
        f"Open workload: {args.candidates} candidates, each answering on a Poisson clock of mean "
        "candidates / rate s (the next answer due an exponential time after the previous one "
        "was due), so the offered rate is the rate whatever the latency (rates "
        f"{', '.join(f'{x:g}' for x in args.rates)} answers/s); warm-up {args.warmup:g} s, "
        f"measured {args.duration:g} s; up to {args.connections} keep-alive connections. An "
        "offered rate above what the server can take makes a queue that grows for the whole "
        "window: its latencies then measure the window's length, not the server.",
        f"Saturation: closed loops (no think time) of c candidates, one connection each, "
        f"warm-up {args.step_warmup:g} s, measured {args.step_duration:g} s per step; p99 in "
        "the cells is the larger of the next-item and answer p99; ✗: an error or a p99 over "
        "1 s (the steps after it are not run). The saturation rate is the best passing step.",
        "Latency: from the client's send (before its wait for a free connection) to its parsed "
        "response (aiohttp, asyncio, on the same machine), so it includes the client's own time, "
        "and the event loop's queueing when the client is busy. The answer columns include the "
        "answer that completes a test (it closes the session and issues the profile); its p50 on "
        "its own is in the closing answer column.",
        "CPU ms / answer: user + system CPU over the measured window divided by its answers, "
        "for the server (its process and every worker, /proc) and for the client (the load "
        "generator's process). Their sum against 2 cores × the window shows how busy the "
        "machine was; at saturation the client takes part of the 2 cores the server would have. "
        f"Busiest process: its share of the server's CPU ({args.workers} workers and their "
        f"supervisor; {1 / max(args.workers, 1):.0%} is an even split). The kernel spreads new "
        "connections over the workers' sockets by a hash of their addresses, and a kept-alive "
        "connection stays with its worker, so with few connections the split can be uneven.",
        f"Server: `qabilet serve --workers {args.workers}` (uvicorn workers on uvloop and "
        "httptools, each with a SO_REUSEPORT listening socket of its own made with IPPROTO_TCP, "
        "so TCP_NODELAY is on; no access log).",
    ]
    if max(args.server_counts) > 1:
        notes.append(
            "Several servers: N such servers (each `qabilet serve --workers "
            f"{args.workers}`, a process group and a port of its own) on one database, started "
            "on a fresh copy per run; no proxy between — the load generator sends each request "
            "(a candidate's, the operator's) to the next server in turn, round robin over all "
            "requests, as an nginx `upstream` does, with its own kept-alive connections to each "
            "server; \"by session\": a candidate's requests go to the server its session id "
            "hashes to (nginx's `hash … consistent` on the id in the path), the operator's in "
            "turn. Everything — the servers, PostgreSQL and the load generator — shares the "
            "machine's cores: a second server adds processes, not cores.")
    described = {}
    for r in runs:
        if r.description:
            described.setdefault((r.backend, r.design), f"{r.backend} {r.design}: blueprint "
                                 f"{r.blueprint_number} of the level — {r.description}.")
    notes += described.values()
    dry = [f"{r.backend} {r.design} {p['label']} ({p['created_in_window']['n']})"
           for r in runs for p in r.phases
           if not p.get("skipped") and p["created_in_window"]["n"]]
    if dry:
        notes.append("Sessions made during a measured window (the pre-made pool ran dry): "
                     + "; ".join(dry) + ".")
    for r in runs:
        if r.server_errors:
            notes.append(f"Server errors (HTTP 5xx), {r.backend} {r.design}: "
                         f"{r.server_errors}.")
    failed = [f"{r.backend} {r.design}: {r.failure}" for r in runs if r.failure]
    if failed:
        notes.append("Failed: " + "; ".join(failed))
    return notes


def versions() -> str:
    names = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "sqlalchemy",
             "psycopg", "aiohttp", "httpx")

    def v(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return ", ".join(f"{n} {v(n)}" for n in names) + f", SQLite {sqlite3.sqlite_version}"


def environment(args: argparse.Namespace) -> list[str]:
    import qabilet

    lines = [
        *run_lines(('api', 'itembank', 'engine')),
        f"- python {platform.python_version()}, qabilet {qabilet.__version__}; {versions()}",
        f"- server: `qabilet serve --workers {args.workers}`"
        + (f", {' then '.join(map(str, args.server_counts))} of them on one database"
           if max(args.server_counts) > 1 else "")
        + "; load generator: aiohttp (httpx only for the readiness check)",
    ]
    if "postgresql" in args.backend_list:
        lines.append(f"- PostgreSQL server {pg_server_version()} on {admin_url().split('@')[-1]}"
                     " (same machine)")
    return lines


# --- main -------------------------------------------------------------------------------------------
def _list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    chosen = list(allowed) if text == "all" else [x.strip() for x in text.split(",")]
    bad = [x for x in chosen if x not in allowed]
    if bad:
        raise SystemExit(f"--{what}: expected {', '.join(allowed)} or all; got {bad}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default=None,
                   help="sqlite, sqlite-normal (QABILET_SQLITE_SYNCHRONOUS=normal), postgresql, "
                        "comma-separated, or all (default sqlite,postgresql; --quick: sqlite)")
    p.add_argument("--blueprint", default=None, help="uni, multi, shadow or all (comma-separated"
                   "; default all; --quick: uni)")
    p.add_argument("--workers", type=int, default=2,
                   help="each server's worker processes (qabilet serve --workers; default 2)")
    p.add_argument("--servers", default="1",
                   help="servers on the run's database, the load spread over them round robin; "
                        "several counts, comma-separated, run one after another (1,2: one "
                        f"server, then two; written to {RESULTS_SERVERS.name})")
    p.add_argument("--spread", default="roundrobin",
                   help="with several servers: roundrobin (each request to the next server), "
                        "session (a candidate's requests to the server its session id hashes "
                        "to), or both, comma-separated (one run each)")
    p.add_argument("--rate", default=f"{TARGET_RATE:g}",
                   help="answers per second offered in the open workload; several, "
                        "comma-separated, run one after another ('' for none)")
    p.add_argument("--candidates", type=int, default=400, help="candidates of the open workload")
    p.add_argument("--duration", type=float, default=60.0, help="seconds measured, open workload")
    p.add_argument("--warmup", type=float, default=10.0, help="warm-up seconds, open workload")
    p.add_argument("--connections", type=int, default=100,
                   help="the client's connections in the open workload")
    p.add_argument("--concurrency", default="8,16,32,64,128",
                   help="saturation steps (closed loops), comma-separated; '' for none")
    p.add_argument("--step-duration", type=float, default=20.0, help="seconds measured per step")
    p.add_argument("--step-warmup", type=float, default=5.0, help="warm-up seconds per step")
    p.add_argument("--items", type=int, default=20, help="items per session (fixed length)")
    p.add_argument("--level", default="middle", choices=("high", "middle", "low"))
    p.add_argument("--quick", action="store_true",
                   help="short phases (SQLite, uni unless named): a smoke run of about a minute; "
                        "nothing written")
    p.add_argument("--profile", action="store_true",
                   help="also profile the server (py-spy) in a closed loop on the first backend "
                        "and blueprint")
    p.add_argument("--profile-only", action="store_true", help="the profile and nothing else")
    p.add_argument("--profile-concurrency", type=int, default=16)
    p.add_argument("--profile-duration", type=float, default=30.0)
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached demonstration bank")
    p.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = p.parse_args(argv)

    args.backend_list = _list(args.backend or ("sqlite" if args.quick else "sqlite,postgresql"),
                              BACKENDS, "backend")
    args.blueprint_list = _list(args.blueprint or ("uni" if args.quick else "all"), BLUEPRINTS,
                                "blueprint")
    args.concurrency = [int(x) for x in args.concurrency.split(",") if x.strip()]
    args.rates = [float(x) for x in args.rate.split(",") if x.strip() and float(x) > 0]
    args.server_counts = [int(x) for x in args.servers.split(",") if x.strip()]
    if not args.server_counts or min(args.server_counts) < 1:
        raise SystemExit(f"--servers: expected counts of 1 or more, comma-separated; got "
                         f"{args.servers!r}")
    args.spreads = _list(args.spread, SPREADS, "spread")
    if args.quick:
        args.warmup, args.duration = 3.0, 10.0
        args.step_warmup, args.step_duration = 2.0, 6.0
        args.concurrency = [c for c in args.concurrency if c in (8, 32)] or [8, 32]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out
    running = subprocess.run(["pgrep", "-f", "pytest"], capture_output=True, text=True).stdout
    if running.strip():
        print(f"warning: pytest is running (pids {running.split()}); the numbers will be "
              "skewed", file=sys.stderr)

    env = environment(args)
    speed_line = len(env)
    env.append(f"- machine speed (`_machine.python_speed`, lower is faster): "
               f"{python_speed():.0f} ms before the run")
    print("\n".join(env), flush=True)
    db_file, doc = cached_bank(args.rebuild)
    runs: list[Run] = []
    profile_lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="qabilet-bench-http-") as tmp:
        workdir = Path(tmp)
        if not args.profile_only:
            for backend in args.backend_list:
                for design in args.blueprint_list:
                    for n in args.server_counts:
                        for spread in args.spreads if n > 1 else SPREADS[:1]:
                            runs.append(run_one(backend, design, n, args, db_file, doc, workdir,
                                                spread))
        if args.profile or args.profile_only:
            profile_lines = profile(args, db_file, doc, workdir)
    if profile_lines:
        print("\n" + "\n".join(profile_lines))
    if not runs:
        return

    t_open = open_table(runs)
    t_sat = saturation_table(runs, args.concurrency)
    verdict = verdicts(runs, args.quick)
    notes = notes_for(runs, args)
    loads = defaultdict(list)
    for r in runs:
        for ph in r.phases:
            if not ph.get("skipped"):
                loads[f"{r.backend} {r.design} {servers_text(r)}"].append(
                    f"{ph['label']} {ph['load_before']:.2f} → {ph['load_after']:.2f}")
    env[speed_line] += f", {python_speed():.0f} ms after"
    env.append("- load average (1 min) before → after each phase: "
               + " | ".join(f"{k}: " + ", ".join(v) for k, v in loads.items()))
    several = max(args.server_counts) > 1
    publish(RESULTS_SERVERS if several else RESULTS,
            "HTTP API under load: latency at an offered rate, and saturation"
            + (", one server and several on one database" if several else ""),
            "bench_http.py", argv,
            [("Open workload (latency at the offered rate):", t_open),
             ("Saturation (closed loops, no think time):", t_sat),
             ("Against the targets:", verdict), ("Notes:", notes)], env,
            write=not args.no_write and not args.quick)


if __name__ == "__main__":
    main()
