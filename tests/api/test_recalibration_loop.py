"""The recalibration loop over real HTTP (issue 19), from new items to the version that scores them.

Simulated candidates with known θ — half Kazakh, half Russian (the Russian group 0.3 SD
higher) — take live sessions through the server of version 2, which tries out new transparency
statements; their answers come from the version's parameters for operational items and from
the new items' true parameters, except that the Russian version of one new item is 1 logit
harder (DIF) and one operational item's answers come from a curve 1 logit harder than published
(drift). Then a pretest calibration job over the admin API must recover the new items'
parameters within their standard errors, flag the injected DIF and the injected drift; the
psychometrician rejects the DIF item, publishes the draft, and the next candidates are scored
with the new items.

In the suite: 600 candidates, 6 new items, 3 per session, one section (transparency). The full
run of the issue — 3,000 candidates, 30 new items, 10 per session, the whole demonstration
blueprint — is ``QABILET_LOOP_CANDIDATES=3000 make check-long`` (docs/reliability.md has
its figures).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest

from qabilet.demo_design import mean_information
from qabilet.engine.models import GradedResponse
from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import scale_bank
from tests.api._server import Server, staff, staff_keys
from tests.delivery._pretest import publish_pretest_version

N_CANDIDATES = int(os.environ.get("QABILET_LOOP_CANDIDATES", "600"))
FULL = N_CANDIDATES >= 2000
N_NEW, PER_SESSION = (30, 10) if FULL else (6, 3)
NEW = [f"TRN-N{k:02d}" for k in range(1, N_NEW + 1)]
DIF_ITEM, SHIFT = NEW[2], 1.0
MIN_ANSWERS = 300 if FULL else 100
THREADS = 8
SEED = int(os.environ.get("QABILET_LOOP_SEED", "2019"))


def _truth(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The new items' true slopes and thresholds (graded response, five categories)."""
    a = rng.uniform(0.9, 1.8, N_NEW)
    location = rng.uniform(-0.8, 0.8, N_NEW)
    b = location[:, None] + np.array([-1.8, -0.6, 0.4, 1.6])
    return a, b


class Candidates:
    """Simulated candidates: true θ per dimension and how each answers each item."""

    def __init__(self, repo: BankRepository, version: int, drifted: str, rng: np.random.Generator):
        self.version = repo.version(version)
        self.items = {i.id: i for i in repo.items(version=version)}
        self.codes = self.version.parameters.recodings()
        self.dims = list(self.version.dimensions)
        self.a, self.b = _truth(rng)
        self.models: dict[tuple[str, str], Any] = {}
        for item_id in self.version.item_ids:
            bank = scale_bank(self.version.parameters, [self.items[item_id].dimension], [item_id])
            if item_id == drifted:
                m = bank.models[0]
                bank = GradedResponse(m.a, np.asarray(m.b) + SHIFT)
            self.models[(item_id, "kk")] = self.models[(item_id, "ru")] = bank
        for k, item_id in enumerate(NEW):
            for lang in ("kk", "ru"):
                shift = SHIFT if (item_id == DIF_ITEM and lang == "ru") else 0.0
                self.models[(item_id, lang)] = GradedResponse([self.a[k]], [self.b[k] + shift])

    def theta(self, language: str, seed: int) -> dict[str, float]:
        """A candidate's θ, from their own seed (the same whatever order threads run in)."""
        draw = np.random.default_rng([SEED, seed]).normal(0.3 if language == "ru" else 0.0, 1.0,
                                                          len(self.dims))
        return dict(zip(self.dims, draw.tolist(), strict=True))

    def answer(self, item_id: str, theta: dict[str, float], language: str, seed: int) -> int:
        model = self.models[(item_id, language)]
        category = int(simulate_responses(model, [theta[self.items[item_id].dimension]],
                                          seed)[0, 0])
        codes = self.codes.get(item_id)
        return int(codes[category]) if codes and item_id not in NEW else category


def _take(client: httpx.Client, base: str, keys: dict, who: Candidates, language: str,
          seed: int) -> list[str]:
    """One candidate's whole session over HTTP; the items given, in order."""
    c = client.post(f"{base}/v1/candidates", json={}, headers=staff(keys)).json()
    s = client.post(f"{base}/v1/sessions", headers=staff(keys), json={
        "candidate_id": c["id"], "level": "middle", "language": language}).json()
    me, sid, theta, given = {"X-Session-Token": s["token"]}, s["id"], who.theta(language, seed), []
    while not (item := client.get(f"{base}/v1/sessions/{sid}/item", headers=me).json())["finished"]:
        given.append(item["item_id"])
        code = who.answer(item["item_id"], theta, language, seed * 1000 + item["position"])
        r = client.post(f"{base}/v1/sessions/{sid}/answers", headers=me, json={
            "position": item["position"], "item_id": item["item_id"], "code": code})
        assert r.status_code == 200, r.text
    assert client.post(f"{base}/v1/sessions/{sid}/finish", headers=me).status_code == 200
    return given


def _crowd(base: str, keys: dict, who: Candidates, n: int, offset: int) -> list[list[str]]:
    """``n`` candidates (every other one Russian) in :data:`THREADS` threads."""
    out: list[list[str]] = [[] for _ in range(n)]
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        with httpx.Client(timeout=60) as client:
            for k in range(worker, n, THREADS):
                try:
                    out[k] = _take(client, base, keys, who, ("kk", "ru")[k % 2], offset + k)
                except BaseException as exc:  # reported by the test
                    failures.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    return out


@pytest.fixture(scope="module")
def loop(tmp_path_factory, demo_db_file):
    import shutil

    path = tmp_path_factory.mktemp("loop") / "bank.db"
    shutil.copy(demo_db_file, path)
    url = f"sqlite:///{path}"
    engine = connect(url)
    repo = BankRepository(engine)
    middle = repo.blueprint("middle")
    sections = None if FULL else {
        lv: [s for s in repo.blueprint(lv).sections if s.dimensions == ["transparency"]]
        for lv in ("high", "middle", "low")}
    version = publish_pretest_version(repo, NEW, PER_SESSION, sections)
    norm = repo.norm_set(bank_version=version).for_level("middle").dimensions["transparency"]
    info = mean_information(scale_bank(repo.version(version).parameters, ["transparency"]),
                            norm.mean, norm.sd)
    eligible = {i for s in middle.sections for i in (s.rules.get("sh_parameters") or {})}
    likert = {i.id for i in repo.items(version=version) if i.format == "likert"}
    drifted = max((i for i in info if i in eligible and i in likert), key=info.get)
    who = Candidates(repo, version, drifted, np.random.default_rng(SEED))
    keys = staff_keys(url)
    server = Server(url, workers=2).start()
    started = time.monotonic()
    given = _crowd(server.base, keys, who, N_CANDIDATES, 0)
    seconds = time.monotonic() - started
    yield {"repo": repo, "server": server, "keys": keys, "who": who, "version": version,
           "drifted": drifted, "given": given, "seconds": seconds, "url": url}
    server.stop()
    engine.dispose()


def _job(base: str, keys: dict, body: dict) -> dict:
    psy = staff(keys, "psychometrician")
    job = httpx.post(f"{base}/v1/admin/calibrations", headers=psy, json=body)
    assert job.status_code == 202, job.text
    for _ in range(1200):
        done = httpx.get(f"{base}/v1/admin/calibrations/{job.json()['id']}", headers=psy).json()
        if done["status"] not in ("queued", "running"):
            assert done["status"] == "done", done.get("error")
            return done["result"]
        time.sleep(0.5)
    raise AssertionError("the calibration job did not finish in 10 minutes")


def test_the_loop_recovers_flags_and_publishes(loop):
    base, keys, repo, who = loop["server"].base, loop["keys"], loop["repo"], loop["who"]
    seeded = [sum(i in NEW for i in g) for g in loop["given"]]
    assert seeded == [PER_SESSION] * N_CANDIDATES
    assert len(repo.responses(pretest=True)) == PER_SESSION * N_CANDIDATES

    result = _job(base, keys, {"kind": "pretest", "min_answers": MIN_ANSWERS})
    found = {i["item_id"]: i for i in result["items"]}
    assert all(found[i]["calibrated"] for i in NEW), [i for i in NEW if not found[i]["calibrated"]]
    inside, total = 0, 0
    for k, item_id in enumerate(NEW):
        if item_id == DIF_ITEM:
            continue
        f = found[item_id]
        estimates = [f["a"], *f["b"]]
        truth = [who.a[k], *who.b[k]]
        errors = [f["se_a"], *f["se_b"]]
        z = np.abs(np.subtract(estimates, truth)) / np.asarray(errors)
        assert np.all(z < 4), (item_id, z)
        inside += int(np.sum(z < 1.96))
        total += z.size
    coverage = inside / total  # of the 95 % intervals, over the slopes and thresholds
    assert coverage >= (0.85 if FULL else 0.75), coverage
    assert found[DIF_ITEM]["dif"]["ets_class"] == "C" and "dif" in found[DIF_ITEM]["flags"]
    false_dif = [i for i in NEW if i != DIF_ITEM and "dif" in found[i]["flags"]]
    assert len(false_dif) <= (1 if FULL else 0), false_dif
    drifted = {a["item_id"] for tests in result["drift"].values() for a in tests if a["drifted"]}
    assert loop["drifted"] in drifted and len(drifted) <= 2, drifted
    flags = repo.flags(bank_version=result["draft_version"])
    assert {("dif", DIF_ITEM), ("drift", loop["drifted"])} <= {(f.kind, f.item_id) for f in flags}

    # the psychometrician rejects the DIF item and publishes; the next candidates get the rest
    psy = staff(keys, "psychometrician")
    r = httpx.post(f"{base}/v1/admin/items/{DIF_ITEM}/reviews", headers=psy,
                   json={"to": "retired", "reason": "DIF between kk and ru, ETS class C"})
    assert r.status_code == 201, r.text
    draft = result["draft_version"]
    assert httpx.post(f"{base}/v1/admin/versions/{draft}/publish", headers=psy).status_code == 200
    published = repo.version(draft)
    accepted = [i for i in NEW if i != DIF_ITEM]
    assert set(accepted) <= set(published.item_ids) and DIF_ITEM not in published.item_ids
    norms = repo.norm_set(bank_version=loop["version"])
    repo.publish_norm_set(repo.create_norm_set(draft, norms.levels, demonstration=True).number)
    form = {"name": "transparency_new", "dimensions": ["transparency"], "rules": {
        "selection": "mfi", "estimator": "eap", "items": accepted,
        "min_items": len(accepted), "max_items": len(accepted), "se_target": None}}
    repo.add_blueprint("middle", draft, [form], label="the new items as a form")
    with httpx.Client(timeout=60) as client:
        for k in range(4):
            language = ("kk", "ru")[k % 2]
            given = _take(client, base, keys, who, language, 10**6 + k)
            assert sorted(given) == sorted(accepted)
    last = repo.profiles()[-1]
    (t,) = [d for d in last.professional if d.dimension == "transparency"]
    assert last.bank_version == draft and t.n_items == len(accepted)
    print(f"\n{N_CANDIDATES} candidates' sessions in {loop['seconds']:.0f} s; coverage of the "
          f"95 % intervals {coverage:.3f}; DIF class of {DIF_ITEM}: "
          f"{found[DIF_ITEM]['dif']['ets_class']}; drifted: {sorted(drifted)}")
