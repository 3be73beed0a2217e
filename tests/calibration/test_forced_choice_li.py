"""The limited-information forced-choice calibration (DWLS on the pairwise tetrachorics).

Independent truth: hand-coded comparisons, the bivariate normal a dichotomised pair comes from,
Monte Carlo spread of the estimates, finite differences of the implied statistics, the
generating parameters of the reference data set and lavaan 0.6.14's fit of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qabilet.calibration import fit_forced_choice, pairwise_outcomes
from qabilet.calibration.forced_choice_li import _Structure, scaled_shifted, tetrachorics
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.forced_choice import (
    BlockDesign,
    BlockResponses,
    ThurstonianBlocks,
    simulate_blocks,
)
from qabilet.itembank.forced_choice_file import read_block_answers, read_design

DATA = Path(__file__).parents[1] / "data" / "fc"


def _design() -> BlockDesign:
    return BlockDesign.from_blocks(["A", "B", "C", "D"], [
        ("B1", [("S1", "A", 1), ("S2", "B", 1), ("S3", "C", -1)]),
        ("B2", [("S4", "A", 1), ("S5", "B", 1), ("S6", "C", 1), ("S7", "D", 1)])])


def test_comparisons_of_full_and_partial_orders():
    design = _design()
    # S3 > S1 > S2; and most S7, least S4 of the quad (S5, S6 in either order); then unanswered
    answers = BlockResponses.from_orders(design, [[[[2], [0], [1]], [[3], [1, 2], [0]]],
                                                 [None, [[0], [1], [2], [3]]]])
    y, pairs = pairwise_outcomes(design, answers)
    ids = [tuple(design.statement_ids[k] for k in p) for p in pairs]
    assert ids[:3] == [("S1", "S2"), ("S1", "S3"), ("S2", "S3")]
    expected_first = [1, 0, 0,  # S1>S2, S1<S3, S2<S3
                      0, 0, 0, np.nan, 0, 0]  # S4 last; S5 vs S6 open; S5, S6 below S7
    np.testing.assert_array_equal(y[0], expected_first)
    np.testing.assert_array_equal(y[1], [np.nan] * 3 + [1] * 6)


def test_tetrachorics_recover_the_bivariate_normal_and_their_spread():
    rng = np.random.default_rng(3)
    rho, tau = np.array([[1, 0.5, -0.3], [0.5, 1, 0.2], [-0.3, 0.2, 1]]), np.array([0.3, -0.5, 0.8])
    estimates, predicted = [], []
    for _ in range(300):
        z = rng.multivariate_normal(np.zeros(3), rho, 800)
        data = tetrachorics((z > tau).astype(float))
        estimates.append(data.statistics)
        predicted.append(data.variances / data.n_persons)
    est, var = np.asarray(estimates), np.mean(predicted, axis=0)
    truth = np.concatenate([tau, rho[np.triu_indices(3, 1)]])
    # unbiased to within the Monte Carlo error, and the influence functions give the spread
    assert np.all(np.abs(est.mean(axis=0) - truth) < 4 * est.std(axis=0) / np.sqrt(len(est)))
    np.testing.assert_allclose(est.var(axis=0), var, rtol=0.2)


def test_tetrachorics_refuse_a_comparison_everyone_answered_alike():
    y = np.array([[1, 0], [1, 1], [1, 0]], dtype=float)
    with pytest.raises(InvalidResponseError, match="comparison 0"):
        tetrachorics(y)


def test_the_implied_statistics_jacobian_matches_finite_differences():
    design = _design()
    pairs = pairwise_outcomes(design, BlockResponses.from_orders(design, [[None, None]]))[1]
    structure = _Structure(design, pairs)
    rng = np.random.default_rng(0)
    x = structure.pack(rng.normal(size=7), rng.uniform(0.5, 1.5, 7) * design.keyed,
                       rng.uniform(0.5, 1.5, 7), np.eye(4) * 0.7 + 0.3)
    jac = structure.implied(x, jacobian=True)[1]
    h = 1e-6
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        fd = (structure.implied(x + e)[0] - structure.implied(x - e)[0]) / (2 * h)
        np.testing.assert_allclose(jac[:, k], fd, atol=1e-7)


def test_weights_other_than_dwls_or_uls_are_refused():
    design = _design()
    with pytest.raises(InvalidParameterError, match="weights"):
        fit_forced_choice(design, BlockResponses.from_orders(design, [[None, None]]), weights="wls")


@pytest.fixture(scope="module")
def reference():
    design = read_design(DATA / "fc_dev_triplets_design.json")
    answers = read_block_answers(DATA / "fc_dev_triplets_responses.csv", design)
    truth = json.loads((DATA / "fc_dev_triplets_truth.json").read_text())
    lavaan = json.loads((DATA / "fc_dev_triplets_lavaan.json").read_text())
    return design, answers.responses, truth, lavaan, fit_forced_choice(design, answers.responses)


def _ratio(values: dict, design: BlockDesign, psi2: dict) -> np.ndarray:
    ids = design.statement_ids
    return np.array([values[i] for i in ids]) / np.sqrt([psi2[i] for i in ids])


def test_reference_recovery_as_good_as_lavaan(reference):
    design, _, truth, lavaan, fit = reference
    true_ratio = _ratio(truth["lambda"], design, truth["psi2"])
    ours = np.sqrt(np.mean((fit.standardized_loadings - true_ratio) ** 2))
    theirs = np.sqrt(np.mean((_ratio(lavaan["lambda"], design, lavaan["psi2"]) - true_ratio) ** 2))
    assert ours <= 1.02 * theirs, (ours, theirs)
    assert fit.converged and fit.statistics["phi_positive_definite"]
    # the redundancies of ranking data: one per triplet
    assert fit.statistics["n_redundancies"] == 20
    assert fit.statistics["df"] == 60 + 1770 - 150 - 20


def test_reference_estimates_match_lavaan(reference):
    """lavaan 0.6.14's WLSMV on the same comparisons: the same statistics and weights but for
    four tables with an empty cell, whose variance each program bounds its own way."""
    design, _, _, lavaan, fit = reference
    ids = design.statement_ids
    for name, ours in (("lambda", fit.lam), ("mu", fit.mu), ("psi2", fit.psi2)):
        np.testing.assert_allclose(ours, [lavaan[name][i] for i in ids], atol=0.03, err_msg=name)
    np.testing.assert_allclose(fit.phi, np.asarray(lavaan["Phi"]), atol=1e-3)
    se = np.array([s["lambda_se"] for s in lavaan["statements"]])
    np.testing.assert_allclose(fit.lam_se, se, rtol=0.03)
    # the scaled-and-shifted statistic on lavaan's degrees of freedom (which keep the redundancies)
    st = fit.statistics
    lavaan_df = scaled_shifted(st["chisq"], st["trace_ug"], st["trace_ug2"], 1680)
    assert lavaan_df == pytest.approx(lavaan["fit_measures"]["chisq.scaled"], rel=0.005)
    assert st["pvalue"] > 0.05  # the data come from the model


def test_standard_errors_cover_the_truth(reference):
    design, _, truth, _, fit = reference
    ids = design.statement_ids
    scale = np.repeat([np.sqrt(truth["psi2"][ids[m[0]]]) for m in design.blocks],
                      [m.size for m in design.blocks])
    lam = np.array([truth["lambda"][i] for i in ids]) / scale  # on the fit's scale
    z = (fit.lam - lam) / fit.lam_se
    assert 0.85 <= np.mean(np.abs(z) < 1.96) <= 1.0, np.mean(np.abs(z) < 1.96)


def test_quads_answered_most_and_least_are_scored_from_the_comparisons_seen():
    design = BlockDesign.from_blocks(["A", "B", "C", "D"], [
        (f"Q{b}", [(f"S{b}{k}", t, 1 if (b + k) % 3 else -1) for k, t in enumerate("ABCD")])
        for b in range(6)])
    rng = np.random.default_rng(11)
    model = ThurstonianBlocks(design, rng.normal(0, 0.5, 24),
                              rng.uniform(0.7, 1.2, 24) * design.keyed, np.full(24, 0.6))
    eta = rng.standard_normal((1000, 4))
    fit = fit_forced_choice(design, simulate_blocks(model, eta, rng, most_least=True))
    # one comparison in six is not observed
    assert fit.statistics["share_unobserved"] == pytest.approx(1 / 6)
    assert np.all(np.sign(fit.lam) == design.keyed)


def test_full_information_from_dwls_recovers_better_than_lavaan(reference):
    """The issue's comparison on the same data: MH-RM on the exact block likelihood, started from
    the DWLS fit, against lavaan's DWLS, on λ/ψ (free of how the scale was fixed)."""
    from qabilet.calibration import fit_forced_choice_mhrm

    design, answers, truth, lavaan, li = reference
    full = fit_forced_choice_mhrm(design, answers, start=li, seed=1)
    true_ratio = _ratio(truth["lambda"], design, truth["psi2"])
    ours = np.sqrt(np.mean((full.standardized_loadings - true_ratio) ** 2))
    theirs = np.sqrt(np.mean((_ratio(lavaan["lambda"], design, lavaan["psi2"]) - true_ratio) ** 2))
    assert full.converged and ours < theirs, (ours, theirs)
    phi_err = np.sqrt(np.mean((full.phi - np.asarray(truth["Phi"])) ** 2))
    assert phi_err <= lavaan["recovery"]["rmse_Phi"] + 0.005, phi_err


def test_a_block_ranked_one_way_by_everyone_is_refused_by_name():
    design = _design()
    answers = BlockResponses.from_orders(design, [[[[0], [1], [2]], [[0], [1], [2], [3]]],
                                                 [[[0], [2], [1]], [[1], [0], [2], [3]]]])
    with pytest.raises(InvalidResponseError, match="block B1: all 2 persons who ordered S1 and S2"):
        fit_forced_choice(design, answers)
