"""The demonstration bank's forced-choice content: every rule of the statements and blocks
recomputed from the shipped file itself, the engine's design built from it and answers simulated,
and malformed files refused naming the field."""

import itertools
import json
import re
from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError

from qabilet.engine.forced_choice import simulate_blocks
from qabilet.itembank.forced_choice_content import (
    CONTENT_FILE,
    ForcedChoiceContent,
    demo_forced_choice_form,
    load_forced_choice_content,
)
from tests.itembank._json_edits import delete_at, refusal, set_at

DIMENSIONS_FILE = CONTENT_FILE.with_name("dimensions.json")
CODES = {"service_to_public": "SRV", "transparency": "TRN", "accountability": "ACC",
         "effectiveness": "EFF", "stress_resilience": "STR", "initiative": "INI",
         "integrity": "INT", "cooperation": "COO", "learning_orientation": "LRN"}
KAZAKH_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")


@pytest.fixture(scope="module")
def raw():
    return json.loads(CONTENT_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dims():
    return [d["id"] for d in json.loads(DIMENSIONS_FILE.read_text(encoding="utf-8"))["dimensions"]]


@pytest.fixture(scope="module")
def by_id(raw):
    return {s["id"]: s for s in raw["statements"]}


def _blocks(raw, by_id):
    return [[by_id[sid] for sid in b["statements"]] for b in raw["blocks"]]


# -- statements ------------------------------------------------------------------------------------
def test_ten_statements_per_dimension_with_unique_ids_named_after_it(raw, dims):
    statements = raw["statements"]
    assert len(statements) == 90
    assert Counter(s["dimension"] for s in statements) == {d: 10 for d in dims}
    assert set(CODES) == set(dims)
    ids = [s["id"] for s in statements]
    assert len(set(ids)) == len(ids)
    for s in statements:
        assert re.fullmatch(rf"FC-{CODES[s['dimension']]}-\d\d", s["id"]), s["id"]


def test_about_a_quarter_negatively_keyed_and_some_in_every_dimension(raw, dims):
    keyed = [s["keyed"] for s in raw["statements"]]
    assert set(keyed) == {1, -1}
    assert 0.2 <= keyed.count(-1) / len(keyed) <= 0.3
    for d in dims:
        assert any(s["keyed"] == -1 for s in raw["statements"] if s["dimension"] == d), d


def test_desirability_spread_for_matching(raw):
    rated = np.array([s["desirability"] for s in raw["statements"]])
    assert rated.min() >= 1 and rated.max() <= 5
    assert np.mean((rated >= 2.5) & (rated <= 4.0)) >= 0.6
    assert len(set(rated.tolist())) >= 10
    negative = rated[[s["keyed"] == -1 for s in raw["statements"]]]
    assert negative.mean() < rated.mean()    # agreeing to low standing is the less desirable


def test_generating_parameters_are_keyed_and_in_range(raw):
    assert "demonstration" in raw["notes"] and "not a calibration" in raw["notes"]
    for s in raw["statements"]:
        lam = s["lambda"]
        assert np.sign(lam) == s["keyed"], s["id"]
        assert 0.6 <= abs(lam) <= 1.2, s["id"]
        assert s["psi2"] == pytest.approx(max(1 - lam**2, 0.3), abs=0.006), s["id"]
        assert np.isfinite(s["mu"]) and abs(s["mu"]) < 3, s["id"]


def test_every_statement_has_distinct_texts_in_kazakh_russian_and_english(raw):
    for lang in ("kk", "ru", "en"):
        texts = [s["text"][lang].strip() for s in raw["statements"]]
        assert all(texts), lang
        folded = [" ".join(t.casefold().split()) for t in texts]
        assert len(set(folded)) == len(folded), lang
    for s in raw["statements"]:
        kk, ru, en = s["text"]["kk"], s["text"]["ru"], s["text"]["en"]
        assert KAZAKH_LETTERS & set(kk), (s["id"], kk)       # Kazakh, in Cyrillic script
        assert CYRILLIC.search(ru) and not KAZAKH_LETTERS & set(ru), (s["id"], ru)
        assert not CYRILLIC.search(en), (s["id"], en)


# -- blocks ----------------------------------------------------------------------------------------
def test_thirty_triplets_holding_each_statement_once(raw, by_id):
    placed = [sid for b in raw["blocks"] for sid in b["statements"]]
    assert len(raw["blocks"]) == 30
    assert all(len(b["statements"]) == 3 for b in raw["blocks"])
    assert sorted(placed) == sorted(by_id)
    ids = [b["id"] for b in raw["blocks"]]
    assert len(set(ids)) == len(ids)


def test_blocks_are_desirability_matched_on_three_dimensions(raw, by_id):
    gaps = []
    for members in _blocks(raw, by_id):
        assert len({s["dimension"] for s in members}) == 3
        rated = [s["desirability"] for s in members]
        gaps.append(round(max(rated) - min(rated), 6))
    assert max(gaps) <= 0.5


def test_dimensions_balanced_and_every_pair_compared(raw, by_id, dims):
    blocks = _blocks(raw, by_id)
    assert Counter(s["dimension"] for members in blocks for s in members) == {d: 10 for d in dims}
    pairs = Counter(pair for members in blocks
                    for pair in itertools.combinations(sorted(s["dimension"] for s in members), 2))
    assert set(pairs) == set(itertools.combinations(sorted(dims), 2))     # all 36 pairs


def test_a_third_of_the_blocks_mix_keying(raw, by_id):
    mixed = sum(len({s["keyed"] for s in members}) == 2 for members in _blocks(raw, by_id))
    assert mixed >= 10


# -- the reader and the engine ---------------------------------------------------------------------
def test_the_design_follows_the_file(raw, by_id, dims):
    form = demo_forced_choice_form()
    design = form.design
    assert design.traits == tuple(dims) and design.n_blocks == 30 and design.n_statements == 90
    assert design.block_ids == tuple(b["id"] for b in raw["blocks"])
    assert design.statement_ids == tuple(sid for b in raw["blocks"] for sid in b["statements"])
    ordered = [by_id[sid] for sid in design.statement_ids]
    assert [dims[t] for t in design.trait_of] == [s["dimension"] for s in ordered]
    assert design.keyed.tolist() == [s["keyed"] for s in ordered]
    for name, values in (("mu", form.mu), ("lambda", form.lam), ("psi2", form.psi2),
                         ("desirability", form.desirability)):
        assert values.tolist() == [s[name] for s in ordered], name
    for lang in ("kk", "ru", "en"):
        assert form.texts[lang] == tuple(s["text"][lang] for s in ordered)


def test_answers_simulated_on_the_blocks_follow_the_traits():
    form = demo_forced_choice_form()
    model = form.model()
    eta = np.random.default_rng(11).normal(size=(400, 9))
    answers = simulate_blocks(model, eta, rng=12)
    assert answers.codes.shape == (400, 30) and (answers.codes >= 0).all()
    ll = model.log_likelihood(eta, answers)
    assert ll.shape == (400,) and np.isfinite(ll).all()
    # the true traits explain the answers better than traits drawn for other persons
    assert ll.mean() > model.log_likelihood(eta[::-1], answers).mean()


# -- malformed files -------------------------------------------------------------------------------
def _unkeyed(data):
    for s in data["statements"]:
        s["keyed"], s["lambda"] = 1, abs(s["lambda"])


def _drop_first_block(data):
    gone = set(data["blocks"].pop(0)["statements"])
    data["statements"] = [s for s in data["statements"] if s["id"] not in gone]


def _swap_dimension_in_block(raw, by_id):
    """An edit putting two statements of one dimension in block 0."""
    first = raw["blocks"][0]["statements"]
    twin = next(s["id"] for s in raw["statements"]
                if s["dimension"] == by_id[first[0]]["dimension"] and s["id"] != first[0])
    other = next(b for b, block in enumerate(raw["blocks"]) if twin in block["statements"])
    j = raw["blocks"][other]["statements"].index(twin)

    def edit(data):
        a, b = data["blocks"][0]["statements"], data["blocks"][other]["statements"]
        a[1], b[j] = twin, a[1]
    return edit


@pytest.mark.parametrize("case", [
    "text missing", "text empty", "unknown dimension", "unknown field", "loading against keying",
    "rating out of range", "id used twice", "unknown statement in a block", "two blocks",
    "a pair in a block", "block of two", "desirability gap", "unbalanced", "keyed one way"])
def test_malformed_files_are_refused_naming_the_field(tmp_path, raw, by_id, case):
    wide = next(k for k, s in enumerate(raw["statements"])
                if s["id"] == raw["blocks"][3]["statements"][0])
    edits = {
        "text missing": (delete_at(["statements", 4, "text", "kk"]),
                         ["statements.4.text", "missing kk"]),
        "text empty": (set_at(["statements", 7, "text", "ru"], "  "), ["statements.7.text.ru"]),
        "unknown dimension": (set_at(["statements", 0, "dimension"], "honesty"),
                              ["statements.0.dimension", "'honesty'"]),
        "unknown field": (set_at(["statements", 2, "weight"], 1.0), ["statements.2.weight"]),
        "loading against keying": (set_at(["statements", 5, "lambda"], -0.8),
                                   ["statements.5", "lambda", "keyed"]),
        "rating out of range": (set_at(["statements", 9, "desirability"], 6),
                                ["statements.9.desirability"]),
        "id used twice": (set_at(["statements", 1, "id"], raw["statements"][0]["id"]),
                          ["statements: the id", "twice"]),
        "unknown statement in a block": (set_at(["blocks", 2, "statements", 1], "FC-XYZ-01"),
                                         ["blocks.2.statements.1", "FC-XYZ-01"]),
        "two blocks": (set_at(["blocks", 1, "statements", 0], raw["blocks"][0]["statements"][0]),
                       ["blocks", "in two blocks"]),
        "a pair in a block": (_swap_dimension_in_block(raw, by_id),
                              ["blocks.0.statements", "two statements measure"]),
        "block of two": (delete_at(["blocks", 6, "statements", 2]), ["blocks.6.statements"]),
        "desirability gap": (set_at(["statements", wide, "desirability"], 5.0),
                             ["blocks.3.statements", "desirability", "at most 0.5"]),
        "unbalanced": (_drop_first_block, ["blocks", "measured in 9 blocks", "in 10;"]),
        "keyed one way": (_unkeyed, ["blocks", "0 blocks mix", "at least 10"]),
    }
    edit, expected = edits[case]
    refusal(tmp_path, raw, edit, load_forced_choice_content, expected)


def test_a_form_that_never_compares_two_dimensions_is_refused():
    dims = ("d1", "d2", "d3", "d4", "d5", "d6")
    blocks = [dims[:3], dims[3:], dims[:3], dims[3:]]      # balanced, but d1 never meets d4
    statements, ids = [], []
    for b, block in enumerate(blocks):
        ids.append([f"S{b}{j}" for j in range(3)])
        for j, d in enumerate(block):
            key = -1 if j == 0 else 1
            statements.append({"id": f"S{b}{j}", "dimension": d, "keyed": key,
                               "desirability": 3.0, "mu": 0.0, "lambda": 0.8 * key, "psi2": 0.36,
                               "text": {"kk": "Мен.", "ru": "Я.", "en": "I."}})
    data = {"statements": statements,
            "blocks": [{"id": f"B{b}", "statements": s} for b, s in enumerate(ids)]}
    with pytest.raises(ValidationError, match="no block compares d1 with d4"):
        ForcedChoiceContent.model_validate(data, context={"dimensions": dims})
