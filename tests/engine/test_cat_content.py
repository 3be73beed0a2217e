"""Content control: quotas and enemy sets by weighted deviations and by shadow tests."""

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import Blueprint, NextItem, next_item, record, simulate_cat, start
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import TwoPL

COMPETENCIES = ("service", "transparency", "accountability", "effectiveness")


@pytest.fixture(scope="module")
def tagged():
    """120 items; 'effectiveness' items are far more discriminating, so MFI alone favours them."""
    rng = np.random.default_rng(8)
    cats = np.repeat(COMPETENCIES, 30)
    a = np.where(cats == "effectiveness", rng.uniform(1.8, 2.6, 120), rng.uniform(0.5, 1.0, 120))
    b = rng.normal(0, 1, 120)
    ids = [f"{c[:3].upper()}{i:03d}" for i, c in enumerate(cats)]
    bank = ItemBank([TwoPL(a, b)], ids)
    content = dict(zip(ids, cats.tolist()))
    enemies = (tuple(ids[90:95]), (ids[0], ids[31], ids[95]))
    return bank, content, enemies, cats


def counts_per_test(sim, cats):
    out = np.zeros((sim.n, len(COMPETENCIES)), int)
    for j in range(sim.n):  # checking results
        given = sim.items[j, : sim.length[j]]
        for k, c in enumerate(COMPETENCIES):
            out[j, k] = np.sum(cats[given] == c)
    return out


def test_mfi_alone_breaks_the_quotas(tagged):
    bank, content, _, cats = tagged
    sim = simulate_cat(bank, Blueprint(max_items=16, se_target=None), n=200, rng=1)
    assert np.mean(counts_per_test(sim, cats)[:, 3] > 5) > 0.8  # effectiveness crowds out the rest


@pytest.mark.parametrize("method", ["wdm", "shadow"])
def test_quotas_and_enemies_hold(tagged, method):
    bank, content, enemies, cats = tagged
    quotas = {c: [3, 5] for c in COMPETENCIES}
    bp = Blueprint(max_items=16, se_target=None, content=content, quotas=quotas,
                   enemies=enemies, content_method=method)
    sim = simulate_cat(bank, bp, n=300 if method == "wdm" else 40, rng=2)
    counts = counts_per_test(sim, cats)
    assert counts.max() <= 5  # maxima are hard under both methods
    if method == "shadow":
        assert counts.min() >= 3  # the shadow test meets every constraint by construction
    else:
        assert np.mean(counts.min(axis=1) >= 3) >= 0.95
    pos = {i: k for k, i in enumerate(bank.item_ids)}
    for j in range(sim.n):
        given = set(sim.items[j, : sim.length[j]].tolist())
        for group in enemies:
            assert len(given & {pos[i] for i in group}) <= 1


def test_no_stop_before_the_minimum_quotas(tagged):
    bank, content, _, cats = tagged
    bp = Blueprint(max_items=30, se_target=0.6, content=content,
                   quotas={"service": [6, 10]}, content_weight=0.0)  # quotas by stopping only
    sim = simulate_cat(bank, bp, n=200, rng=3)
    counts = counts_per_test(sim, cats)
    done = sim.stop_reason == "se_target"
    assert done.any() and counts[done, 0].min() >= 6


def test_live_session_respects_enemies(tagged):
    bank, content, enemies, _ = tagged
    bp = Blueprint(max_items=10, se_target=None, enemies=enemies)
    state = start(bank, bp, rng=0)
    state = record(state, enemies[0][0], 1)
    given = []
    while isinstance(step := next_item(state), NextItem):
        given.append(step.item_id)
        state = record(state, step.item_id, 1)
    assert not set(given) & set(enemies[0][1:])


def test_infeasible_constraints_are_refused(tagged):
    bank, content, enemies, _ = tagged
    few = Blueprint(items=tuple(bank.item_ids[:33]) + tuple(bank.item_ids[60:90]),
                    max_items=12, content=content, quotas={"transparency": [4, 6]})
    with pytest.raises(InvalidParameterError, match="no test of 1 to 12"):
        start(bank, few)
    # all eligible 'effectiveness' items in one enemy set: at most one can be given
    eff = [i for i, c in content.items() if c == "effectiveness"]
    only = Blueprint(items=tuple(bank.item_ids[:60]) + tuple(eff[:4]), max_items=12,
                     content=content, quotas={"effectiveness": [2, 4]}, enemies=(tuple(eff[:4]),))
    with pytest.raises(InvalidParameterError, match="meets every quota and enemy set"):
        start(bank, only)
    with pytest.raises(InvalidParameterError, match="add up to 20 items"):
        Blueprint(max_items=16, content=content, quotas={c: [5, 6] for c in COMPETENCIES})
    with pytest.raises(InvalidParameterError, match="no item is tagged"):
        Blueprint(content=content, quotas={"law": [1, 2]})


def test_binding_minimums_are_met_whatever_the_exposure_lottery():
    # Three uninformative items carry a quota of two; weighted deviations get no weight at all,
    # and Sympson–Hetter parameters of 0.05 make the lottery pass them almost never. Only the
    # hard binding rule (ContentPlan.needed) can put two of them into every test.
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.uniform(1.5, 2.0, 20), [0.2, 0.2, 0.2]])
    ids = [f"G{i}" for i in range(20)] + ["X1", "X2", "X3"]
    bank = ItemBank([TwoPL(a, rng.normal(0, 1, 23))], ids)
    bp = Blueprint(max_items=6, min_items=6, se_target=None, content_weight=0.0,
                   content={i: ("x" if i.startswith("X") else "g") for i in ids},
                   quotas={"x": [2, 6]}, exposure="sh:0.5",
                   sh_parameters={i: (0.05 if i.startswith("X") else 1.0) for i in ids})
    sim = simulate_cat(bank, bp, n=300, rng=4)
    x_given = np.isin(sim.items, bank.index_of(["X1", "X2", "X3"])).sum(axis=1)
    assert (sim.length == 6).all() and (x_given >= 2).all()
    # the rule only binds at the end: before it, the uninformative items are not forced early
    assert np.isin(sim.items[:, :4], bank.index_of(["X1", "X2", "X3"])).mean() < 0.05
