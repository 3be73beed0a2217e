"""The experts' order of a situational item's options against a nominal fit (issue 18):
:func:`qabilet.calibration.expert_order` by hand, and on simulated data whose truth disagrees with
the experts for known items."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qabilet.calibration import MML, expert_order
from qabilet.calibration.expert_order import holm
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.simulation import simulate_responses


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def test_holm_by_hand():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])
    with pytest.raises(InvalidParameterError, match="p_values"):
        holm([0.1, 1.5])


def test_the_z_of_correlated_slopes_by_hand():
    slopes = [0.0, 1.0, 1.3, 1.1]
    cov = np.array([[0.0, 0.0, 0.0, 0.0],
                    [0.0, 0.01, 0.0, 0.0],
                    [0.0, 0.0, 0.01, 0.005],
                    [0.0, 0.0, 0.005, 0.02]])
    check = expert_order({"S1": (slopes, cov)}, {"S1": (3, 0)})
    # most (3) against 2: (1.1 − 1.3) / √(0.02 + 0.01 − 2·0.005) = −0.2 / √0.02 = −√2;
    # against 1: 0.1 / √0.03 = 0.577 — option 2 contradicts the experts most
    # least (0) against 3, its nearest by z: 1.1 / √0.02 = 7.78 (against 1: 10; 2: 13)
    assert check.check == ("most", "least")
    assert check.rival.tolist() == [2, 3] and check.expert.tolist() == [3, 0]
    assert check.z.tolist() == pytest.approx([-math.sqrt(2), 1.1 / math.sqrt(0.02)])
    assert check.difference.tolist() == pytest.approx([-0.2, 1.1])
    assert check.p_value[0] == pytest.approx(_phi(-math.sqrt(2)))  # 0.0786
    assert check.n_tests == 6
    assert check.p_holm[0] == pytest.approx(6 * _phi(-math.sqrt(2)))  # the smallest of six p-values
    assert check.order == ("2 > 3 > 1 > 0",) * 2
    assert check.review == ()  # 0.47 > 0.05
    assert expert_order({"S1": (slopes, cov)}, {"S1": (3, 0)}, alpha=0.5).review == ("S1",)
    # without a least indicative option, only three comparisons
    alone = expert_order({"S1": (slopes, cov)}, {"S1": (3, None)})
    assert alone.check == ("most",) and alone.p_holm[0] == pytest.approx(3 * _phi(-math.sqrt(2)))


#: the experts say, for every situational item: option 4 shows the competency most, option 1 least
#: (codes 1 … 4, categories 0 … 3); the truth of S2 and S5 disagrees
TRUE_SCORES = {"S1": [0, 1, 2, 3], "S2": [0, 1, 3, 2],  # S2: the "most indicative" is second
               "S3": [0, 2, 1, 3], "S4": [0, 1, 2, 3],
               "S5": [0, -1, 1, 2],  # S5: the "least indicative" lies above option 2
               "S6": [0, 2, 1, 3]}


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(18)
    records = [{"id": f"L{j}", "model": "grm", "a": float(rng.uniform(1.2, 2.0)),
                "b": sorted(rng.normal(0, 1, 4).tolist())} for j in range(10)]
    records += [{"id": i, "model": "nominal", "a": 0.7, "ak": s,
                 "d": [0.0, *rng.normal(0, 0.4, 3).tolist()]} for i, s in TRUE_SCORES.items()]
    truth = ItemBank.from_records(records)
    x = simulate_responses(truth, rng.normal(size=3000), rng) + 1  # codes 1 … 5 and 1 … 4
    result = MML(model={r["id"]: r["model"] for r in records}).fit(x, item_ids=truth.item_ids)
    return result


def test_the_check_flags_exactly_the_items_whose_truth_disagrees(fit):
    check = expert_order(fit, dict.fromkeys(TRUE_SCORES, (4, 1)))
    assert check.review == ("S2", "S5")
    flagged = [(i, c, r) for i, c, r, f in zip(check.item_ids, check.check, check.rival, check.flagged,
                                                 strict=True) if f]
    assert flagged == [("S2", "most", 3), ("S5", "least", 2)]  # the truly higher option, by code
    assert check.order[check.item_ids.index("S2")].startswith("3 > 4")
    # the others are in the experts' order beyond doubt: every z of theirs is large and positive
    agree = np.array([i not in ("S2", "S5") for i in check.item_ids])
    assert np.all(check.z[agree] > 3)
    assert np.all(check.z[~agree & check.flagged] < -4)
    frame = check.to_frame()
    assert frame.loc[frame.review, "item"].tolist() == ["S2", "S5"]
    assert "review" in check.summary() and check.records()[0]["item"] == "S1"


def test_the_slopes_standard_errors_are_the_delta_method_of_the_fit(fit):
    check = expert_order(fit, {"S3": (4, 1)})
    est = next(e for e in fit.items if e.id == "S3")
    names = list(est.names)
    a, ak1 = est.values[names.index("a1")], est.values[names.index("ak1")]
    ra, rk = est.index[names.index("a1")], est.index[names.index("ak1")]
    v = fit.covariance
    by_hand = math.sqrt(ak1**2 * v[ra, ra] + a**2 * v[rk, rk] + 2 * a * ak1 * v[ra, rk])
    codes, slopes, se = check.slopes["S3"]
    assert codes.tolist() == [1, 2, 3, 4]
    assert slopes[1] == pytest.approx(a * ak1) and se[1] == pytest.approx(by_hand)
    assert se[0] == 0.0  # category 0's slope is fixed at 0
    assert se[3] == pytest.approx(3 * math.sqrt(v[ra, ra]))  # ak3 fixed at K − 1 = 3


def test_bad_inputs_are_named(fit):
    with pytest.raises(InvalidParameterError, match=r"orientation\['S1'\]: option 0 is not among"):
        expert_order(fit, {"S1": (4, 0)})
    with pytest.raises(InvalidParameterError, match="'L1' is grm"):
        expert_order(fit, {"L1": (4, 1)})
    with pytest.raises(InvalidParameterError, match="'S9' is not in the calibration"):
        expert_order(fit, {"S9": (4, 1)})
    with pytest.raises(InvalidParameterError, match="alpha"):
        expert_order(fit, {"S1": (4, 1)}, alpha=1.5)
    with pytest.raises(InvalidParameterError, match="K × K covariance"):
        expert_order({"S1": ([0.0, 1.0, 2.0], np.eye(2))}, {"S1": (2, 0)})
    with pytest.raises(InvalidParameterError, match="has no slopes"):
        expert_order({"S1": ([0.0, 1.0, 2.0], np.eye(3))}, {"S2": (2, 0)})
