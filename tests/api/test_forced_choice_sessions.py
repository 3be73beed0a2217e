"""Forced-choice blocks over real HTTP: served, answered, validated at the edge, scored into the profile.

The demonstration bank's forced-choice blueprint (number 1 of each level: 20 of 30 triplets,
adaptive), on SQLite and PostgreSQL, and, for most/least answers, a version with blocks of four
given as a fixed form; the candidate page in Chromium on a served block.
A simulee with known traits answers from the demonstration content's true parameters; the
profile's scores are checked against the engine's MAP on the published parameters and the
recorded rankings, the rankings against what was sent.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.engine.forced_choice import RANKINGS, BlockDesign, BlockResponses, ThurstonianBlocks
from qabilet.engine.scoring.forced_choice import block_map
from qabilet.itembank.blueprints import BlockRules, BlueprintSection
from qabilet.itembank.content import Item, Statement
from qabilet.itembank.database import connect
from qabilet.itembank.forced_choice_content import demo_forced_choice_form
from qabilet.itembank.forced_choice_file import read_block_answers, read_design
from qabilet.itembank.forced_choice_parameters import ForcedChoiceParameters
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import Provenance
from tests.api._served import BACKENDS, served_on
from tests.api._server import Server, staff, staff_keys, start_session
from tests.api.test_candidate_page import _at_position
from tests.api.test_candidate_page import browser as browser  # the fixture: Chromium, launched

TRUE = demo_forced_choice_form()


def _me(session: dict) -> dict[str, str]:
    return {"X-Session-Token": session["token"]}


def _item(base: str, session: dict) -> dict:
    r = httpx.get(f"{base}/v1/sessions/{session['id']}/item", headers=_me(session))
    assert r.status_code == 200, r.text
    return r.json()


def _post(base: str, session: dict, body: dict) -> httpx.Response:
    return httpx.post(f"{base}/v1/sessions/{session['id']}/answers", headers=_me(session), json=body)


def _events(base: str, keys, session: dict) -> list[dict]:
    r = httpx.get(f"{base}/v1/sessions/{session['id']}/events", headers=staff(keys))
    return [e for e in r.json() if e["kind"] == "answer"]


def _engine_map(fc: dict, given: list[tuple[str, str]]):
    """The engine's MAP of ``given`` under the parameter file ``fc``, built here from the file.

    The design and answers are made from the JSON and the ranking strings directly (not through
    qabilet.delivery), so the profile is checked against the engine's scorer, not against itself.
    """
    blocks = {b["id"]: b["statements"] for b in fc["blocks"]}
    traits = fc["latent"]["traits"]
    design = BlockDesign.from_blocks(traits, [(b, [(st["id"], st["trait"], st["keyed"])
                                                   for st in blocks[b]]) for b, _ in given])
    st = [x for b, _ in given for x in blocks[b]]
    model = ThurstonianBlocks(design, [x["mu"] for x in st], [x["lambda"] for x in st],
                              [x["psi2"] for x in st])
    orders = []
    for b, ranking in given:
        ids = [x["id"] for x in blocks[b]]
        orders.append([[ids.index(i) for i in tier.split("=")] for tier in ranking.split(">")])
    answers = BlockResponses.from_orders(design, [orders])
    counts = {t: sum(any(x["trait"] == t for x in blocks[b]) for b, _ in given) for t in traits}
    return model, answers, block_map(model, answers, fc["latent"]["correlation"]), counts


def _true_order(statement_ids: list[str], eta: np.ndarray, rng: np.random.Generator) -> list[str]:
    """The simulee's ranking of the statements: utilities from the content's true parameters."""
    index = [TRUE.design.statement_ids.index(s) for s in statement_ids]
    t = (TRUE.mu[index] + TRUE.lam[index] * eta[TRUE.design.trait_of[index]]
         + rng.normal(0, np.sqrt(TRUE.psi2[index])))
    return [statement_ids[i] for i in np.argsort(-t)]


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    yield from served_on(request, tmp_path_factory)


def test_a_forced_choice_test_is_served_answered_and_scored_on_every_trait(served):
    base, keys = served.base, served.keys
    session = start_session(base, keys, "kk", blueprint_number=1)
    assert session["blueprint_number"] == 1 and session["max_items"] == 20
    eta = np.array([1.2, -0.8, 0.4, 0.0, -1.5, 0.9, 1.6, -0.3, 0.2])
    rng = np.random.default_rng(5)
    sent, shown = {}, []
    first = _item(base, session)
    assert first["format"] == "forced_choice" and first["answer_mode"] == "rank"
    assert first["choices"] is None and len(first["statements"]) == 3
    assert first["instruction"].startswith("Дұрыс немесе бұрыс жауап жоқ")  # no right or wrong
    assert first["stem"] == "Жұмыста…" and first["language"] == "kk"
    while True:
        item = _item(base, session)
        if item["finished"]:
            break
        ids = [s["id"] for s in item["statements"]]
        shown += ids
        order = _true_order(ids, eta, rng)
        r = _post(base, session, {"position": item["position"], "item_id": item["item_id"],
                                  "ranking": order})
        assert r.status_code == 200, r.text
        assert r.json()["ranking"] == ">".join(order) and "code" not in r.json()
        sent[item["item_id"]] = ">".join(order)
    assert len(sent) == 20 and len(shown) == len(set(shown)) == 60  # a statement never twice
    recorded = {e["payload"]["item_id"]: e["payload"]["ranking"] for e in _events(base, keys, session)}
    assert recorded == sent
    profile = httpx.get(f"{base}/v1/sessions/{session['id']}/profile", headers=staff(keys)).json()
    results = {d["dimension"]: d for d in profile["professional"] + profile["personal"]}
    assert set(results) == set(TRUE.design.traits)
    assert {d["measured_by"] for d in results.values()} == {"forced_choice"}
    # the profile's scores are the MAP of the published parameters on the recorded rankings
    bank = httpx.get(f"{base}/v1/admin/bank", headers=staff(keys, "psychometrician")).json()
    _, _, estimate, counts = _engine_map(bank["versions"][0]["forced_choice"], list(sent.items()))
    for k, trait in enumerate(estimate.factor_names):
        assert results[trait]["theta"] == pytest.approx(estimate.theta[0, k], abs=1e-9)
        assert results[trait]["sd"] == pytest.approx(estimate.se[0, k], abs=1e-9)
        assert results[trait]["n_items"] == counts[trait] > 0
    assert sum(counts.values()) == 60
    report = httpx.get(f"{base}/v1/sessions/{session['id']}/report", params={"language": "en"},
                       headers=staff(keys))
    assert report.status_code == 200 and report.text.count("(forced-choice blocks)") == 9
    # scores are not ipsative: they do not add up to a constant, and they follow the truth
    theta = np.array([results[t]["theta"] for t in TRUE.design.traits])
    assert np.corrcoef(theta, eta)[0, 1] > 0.5


def test_block_answers_are_checked_at_the_edge_and_a_refused_one_changes_nothing(served):
    base, keys = served.base, served.keys
    session = start_session(base, keys, "en", blueprint_number=1)
    item = _item(base, session)
    ids = [s["id"] for s in item["statements"]]
    at = {"position": item["position"], "item_id": item["item_id"]}
    bad = [({"ranking": [ids[0], ids[1], "FC-XYZ-99"]}, "'FC-XYZ-99' is not a statement of this block"),
           ({"ranking": [ids[0], ids[1]]}, f"{ids[2]} left out"),
           ({"ranking": [ids[0], ids[0], ids[1]]}, f"{ids[0]!r} given twice"),
           ({"code": 1}, "is answered with ranking"),
           ({"most": ids[0], "least": ids[1]}, "is answered with ranking"),
           ({"ranking": ids, "code": 0}, "expected code (an item), ranking"),
           ({}, "got none")]
    for body, said in bad:
        r = _post(base, session, {**at, **body})
        assert r.status_code == 422, (body, r.text)
        assert said in r.text, (body, r.text)
    assert _events(base, keys, session) == []
    ok = _post(base, session, {**at, "ranking": ids[::-1]})
    assert ok.status_code == 200 and not ok.json()["replayed"]
    again = _post(base, session, {**at, "ranking": ids[::-1]})  # a retry: the same answer
    assert again.status_code == 200 and again.json()["replayed"]
    other = _post(base, session, {**at, "ranking": ids})
    assert other.status_code == 409 and "already answered" in other.text
    assert [e["payload"]["ranking"] for e in _events(base, keys, session)] == [">".join(ids[::-1])]
    # an item of the default blueprint is answered with a code, not a ranking
    likert = start_session(base, keys, "en")
    li = _item(base, likert)
    r = _post(base, likert, {"position": li["position"], "item_id": li["item_id"],
                             "ranking": ["a", "b"]})
    assert r.status_code == 422 and "answered with the 0-based choice" in r.text


def _quads(repo: BankRepository) -> list[str]:
    """A published version adding two blocks of four (most/least) and a fixed-form blueprint."""
    base = repo.version()
    dims = list(base.forced_choice.traits)
    rng = np.random.default_rng(4)
    quads, blocks = [], []
    for q in range(2):
        statements = [Statement(id=f"Q{q}-{j}", dimension=dims[4 * q + j], direction=1,
                                text={"en": f"Quad {q} statement {j}.", "ru": f"Утверждение {q}-{j}."})
                      for j in range(4)]
        quads.append(Item(id=f"FCQ-{q}", levels=["middle"], format="forced_choice",
                          answer_mode="most_least", status="operational",
                          text={"en": {"stem": "At work…"}, "ru": {"stem": "В работе…"}},
                          statements=statements))
        blocks.append({"id": f"FCQ-{q}", "statements": [
            {"id": s.id, "trait": s.dimension, "keyed": 1, "mu": float(rng.normal(0, 0.3)),
             "lambda": float(rng.uniform(0.6, 1.0)), "psi2": 0.6} for s in statements]})
    repo.add_items(quads)
    fc = base.forced_choice.model_dump(mode="json", by_alias=True)
    fc["blocks"] += blocks
    version = repo.create_version(base.parameters, Provenance(method="test", software_version="t"),
                                  forced_choice=ForcedChoiceParameters.model_validate(fc))
    repo.publish_version(version.number)
    norms = repo.create_norm_set(version.number, repo.norm_set().levels)
    repo.publish_norm_set(norms.number)
    form = ["FCQ-1", "FC-B02", "FCQ-0"]
    repo.add_blueprint("middle", version.number, [BlueprintSection(
        name="blocks", dimensions=dims, blocks=BlockRules(form=form))])
    return form


def test_most_and_least_answers_to_quads_in_a_fixed_form(demo_db, tmp_path):
    engine = connect(demo_db)
    form = _quads(BankRepository(engine))
    engine.dispose()
    keys = staff_keys(demo_db)
    running = Server(demo_db).start()
    try:
        base = running.base
        session = start_session(base, keys, "en")  # the level's newest blueprint: the form
        given = []
        for k in range(3):
            item = _item(base, session)
            assert item["item_id"] == form[k]  # the form's order
            ids = [s["id"] for s in item["statements"]]
            at = {"position": item["position"], "item_id": item["item_id"]}
            if item["item_id"].startswith("FCQ"):
                assert item["answer_mode"] == "most_least" and len(ids) == 4
                assert "most like you and the one least" in item["instruction"]
                assert _post(base, session, {**at, "ranking": ids}).status_code == 422
                same = _post(base, session, {**at, "most": ids[1], "least": ids[1]})
                assert same.status_code == 422 and "least like you is another" in same.text
                r = _post(base, session, {**at, "most": ids[2], "least": ids[0]})
                assert r.json()["ranking"] == f"{ids[2]}>{ids[1]}={ids[3]}>{ids[0]}"
            else:
                r = _post(base, session, {**at, "ranking": ids})
            assert r.status_code == 200, r.text
            given.append((item["item_id"], r.json()["ranking"]))
        assert _item(base, session)["finished"]
        profile = httpx.get(f"{base}/v1/sessions/{session['id']}/profile", headers=staff(keys)).json()
        engine = connect(demo_db)
        repo = BankRepository(engine)
        version = repo.version(repo.version().number)
        stored = repo.responses(blocks=True)
        engine.dispose()
        assert [(r.item_id, r.ranking, r.code) for r in stored] == [(b, a, -1) for b, a in given]
        # exported for calibrate-fc: the design of the version's blocks and the answers to them
        folder = tmp_path
        for fmt, name in (("blocks", "answers.csv"), ("block-design", "design.json")):
            r = CliRunner().invoke(app, ["bank", "export", "--format", fmt, "--database", demo_db,
                                         "--out", str(folder / name)])
            assert r.exit_code == 0, r.output
        design = read_design(folder / "design.json")
        read = read_block_answers(folder / "answers.csv", design)
        assert len(read.person_ids) == 1 and design.n_blocks == 32
        answered = dict(given)
        header, row = (folder / "answers.csv").read_text().splitlines()
        assert header == "person_id," + ",".join(sorted(answered))
        assert row.split(",")[1:] == [answered[b] for b in sorted(answered)]
        fc = version.forced_choice.model_dump(mode="json", by_alias=True)
        _, _, estimate, _ = _engine_map(fc, given)
        # a most/least answer is the sum over its two rankings, not pairwise comparisons
        quad = version.forced_choice.model(["FCQ-0"])
        assert quad.design.n_blocks == 1 and len(RANKINGS[4]) == 24
        point = estimate.theta[:1]
        b = [g for g, _ in given].index("FCQ-0")
        most, middle, least = given[b][1].split(">")
        ids = [x["id"] for x in next(bl for bl in fc["blocks"] if bl["id"] == "FCQ-0")["statements"]]
        two = [k for k, r in enumerate(RANKINGS[4]) if ids[r[0]] == most and ids[r[3]] == least]
        assert len(two) == 2 and set(middle.split("=")) == {ids[RANKINGS[4][two[0]][1]],
                                                             ids[RANKINGS[4][two[0]][2]]}
        one, alone, _, _ = _engine_map(fc, [given[b]])  # the quad by itself
        p = one.ranking_probabilities(point)[0][0]
        assert one.log_likelihood(point, alone)[0] == pytest.approx(np.log(p[two].sum()), rel=1e-10)
        results = {d["dimension"]: d for d in profile["professional"] + profile["personal"]}
        for k, trait in enumerate(estimate.factor_names):
            if trait in results:
                assert results[trait]["theta"] == pytest.approx(estimate.theta[0, k], abs=1e-9)
    finally:
        running.stop()


def test_the_candidate_page_ranks_a_served_block_and_the_server_records_it(server, browser):
    base, keys = server
    session = start_session(base, keys, "ru", blueprint_number=1)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(session["link"])
    page.wait_for_selector('body[data-screen="intro"]')
    page.click("#begin")
    _at_position(page, 1)
    served = _item(base, session)
    ids = [s["id"] for s in served["statements"]]
    assert page.get_attribute("#item-form", "data-format") == "forced_choice"
    assert page.eval_on_selector_all("#fc-rank > li", "r => r.map(x => x.dataset.statementId)") == ids
    assert page.inner_text("#hint") == served["instruction"]  # the server's words, in Russian
    assert page.locator("#fc-rank .fc-text").all_inner_texts() == [s["text"] for s in served["statements"]]
    page.focus(f'#fc-rank > li[data-statement-id="{ids[2]}"]')
    page.keyboard.press("Alt+ArrowUp")
    page.keyboard.press("Alt+ArrowUp")  # the third statement is now the most like the candidate
    page.click("#next")
    _at_position(page, 2)
    recorded = _events(base, keys, session)
    assert [e["payload"]["ranking"] for e in recorded] == [f"{ids[2]}>{ids[0]}>{ids[1]}"]
    second = _item(base, session)
    assert second["item_id"] != served["item_id"] and not set(ids) & {s["id"] for s in second["statements"]}
    assert errors == []
    page.close()
