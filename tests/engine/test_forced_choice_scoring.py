"""MAP trait scores from forced-choice answers: the analytic gradient against finite
differences; recovery and the coverage of the 95 % intervals against the known truth — the
reference triplets (full rankings) and simulated quads answered most/least."""

import json
from pathlib import Path

import numpy as np
import pytest

from qabilet.calibration import empirical_reliability
from qabilet.engine.forced_choice import (
    BlockDesign,
    BlockResponses,
    ThurstonianBlocks,
    simulate_blocks,
)
from qabilet.engine.scoring.forced_choice import block_gradient, block_map
from qabilet.itembank.forced_choice_file import read_block_answers, read_design

FC = Path(__file__).resolve().parents[1] / "data" / "fc"


def _quads(n_traits=4, n_blocks=12, seed=0):
    rng = np.random.default_rng(seed)
    traits = [f"T{k}" for k in range(n_traits)]
    blocks = []
    for b in range(n_blocks):
        chosen = rng.choice(n_traits, size=4, replace=False)
        blocks.append((f"B{b}", [(f"S{b}_{j}", traits[t], 1 if j % 3 else -1)
                                 for j, t in enumerate(chosen)]))
    design = BlockDesign.from_blocks(traits, blocks)
    lam = design.keyed * rng.uniform(0.7, 1.3, design.n_statements)
    model = ThurstonianBlocks(design, rng.normal(0, 0.6, design.n_statements), lam,
                              rng.uniform(0.3, 0.8, design.n_statements))
    return model


def test_the_gradient_is_the_log_likelihoods_derivative():
    model = _quads(n_blocks=6)
    rng = np.random.default_rng(1)
    eta = rng.normal(size=(30, 4))
    answers = simulate_blocks(model, eta, rng=2, most_least=True)
    ll, grad = block_gradient(model, eta, answers)
    np.testing.assert_allclose(ll, model.log_likelihood(eta, answers), rtol=1e-13)
    h = 1e-6
    for t in range(4):
        step = np.zeros(4)
        step[t] = h
        fd = (model.log_likelihood(eta + step, answers) - model.log_likelihood(eta - step, answers)) / (2 * h)
        np.testing.assert_allclose(grad[:, t], fd, atol=1e-6)


def test_triplets_recover_the_truth_with_honest_intervals():
    """The reference data set at its generating parameters: each trait's scores correlate with
    the truth at 0.9 or more (lavaan's scores, from its estimates, 0.90–0.92), and the 95 %
    intervals cover the true trait 93–97 % of the time (1,000 persons: ±4 SD)."""
    design = read_design(FC / "fc_dev_triplets_design.json")
    answers = read_block_answers(FC / "fc_dev_triplets_responses.csv", design)
    truth = json.loads((FC / "fc_dev_triplets_truth.json").read_text())
    keep = np.arange(1000)
    responses = BlockResponses(answers.responses.codes[keep], answers.responses.tables)
    order = [truth["eta_columns"].index(t) for t in design.traits]
    rows = [truth["person_ids"].index(answers.person_ids[p]) for p in keep]
    eta = np.asarray(truth["eta"])[rows][:, order]
    model = ThurstonianBlocks(design, *(np.asarray([truth[k][s] for s in design.statement_ids])
                                        for k in ("mu", "lambda", "psi2")))
    est = block_map(model, responses, np.asarray(truth["Phi"])[np.ix_(order, order)])
    assert set(est.status.tolist()) == {"ok"}
    r = [np.corrcoef(est.theta[:, t], eta[:, t])[0, 1] for t in range(5)]
    assert min(r) >= 0.9, r
    covered = np.abs(est.theta - eta) <= 1.959964 * est.se
    assert np.all((covered.mean(axis=0) > 0.925) & (covered.mean(axis=0) < 0.975)), covered.mean(axis=0)
    # normative, not ipsative: a person's scores do not sum to a constant
    assert np.std(est.theta.sum(axis=1)) > 1.0
    # each trait's empirical reliability is the scores' squared correlation with the truth
    # (±0.05 at 1,000 persons; MAP estimates, whose variance is close to the EAP's)
    for t in range(5):
        rel = empirical_reliability(est.theta[:, t], est.se[:, t])
        assert rel == pytest.approx(r[t] ** 2, abs=0.05)


def test_quads_answered_most_and_least_have_honest_intervals():
    model = _quads()
    rng = np.random.default_rng(5)
    phi = np.full((4, 4), 0.3) + 0.7 * np.eye(4)
    eta = rng.multivariate_normal(np.zeros(4), phi, size=800)
    answers = simulate_blocks(model, eta, rng=6, most_least=True)
    est = block_map(model, answers, phi)
    covered = np.abs(est.theta - eta) <= 1.959964 * est.se
    assert 0.935 < covered.mean() < 0.965, covered.mean(axis=0)
    assert min(np.corrcoef(est.theta[:, t], eta[:, t])[0, 1] for t in range(4)) > 0.6


def test_a_person_without_answers_gets_the_prior():
    model = _quads(n_blocks=3)
    answers = simulate_blocks(model, np.zeros((3, 4)), rng=1)
    codes = answers.codes.copy()
    codes[1] = -1
    est = block_map(model, BlockResponses(codes, answers.tables))
    assert est.status.tolist() == ["ok", "no_responses", "ok"]
    np.testing.assert_array_equal(est.theta[1], 0.0)
    np.testing.assert_array_equal(est.se[1], 1.0)
    with pytest.raises(Exception, match="correlation matrix"):
        block_map(model, answers, np.eye(3))
