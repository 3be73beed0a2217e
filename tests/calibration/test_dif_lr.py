"""Likelihood-ratio DIF: finds a planted DIF item, keeps its size near nominal under no DIF."""

import numpy as np
import pytest
from scipy.stats import chi2

from qabilet.calibration.dif_lr import likelihood_ratio_dif
from qabilet.engine.models import TwoPL
from qabilet.engine.simulation import simulate_responses


def _data(seed, shift):
    rng = np.random.default_rng(seed)
    items = TwoPL(rng.uniform(0.9, 2.0, 10), rng.normal(0, 1, 10))
    theta = np.concatenate([rng.normal(0, 1, 1500), rng.normal(0.4, 1, 1500)])
    x = simulate_responses(items, theta, rng)
    b = items.b.copy()
    b[2] += shift
    x[1500:, 2] = simulate_responses(TwoPL(items.a[2:3], b[2:3]), theta[1500:], rng)[:, 0]
    return x, np.array(["kk"] * 1500 + ["ru"] * 1500)


def test_planted_dif_item_is_found_and_the_others_are_not():
    x, groups = _data(1, 0.8)
    res = likelihood_ratio_dif(x, groups, model="2pl")
    assert res.flagged() == ("Q3",)
    assert res.df.tolist() == [2] * 10
    assert res.signed_difference[2] < -0.05  # harder for the focal group
    # the p-value is the χ² tail of the statistic (scipy, independently)
    np.testing.assert_allclose(res.p_value, chi2.sf(res.statistic, 2))
    assert "Q3" in res.summary()


def test_no_dif_keeps_the_statistics_chi_square_sized():
    x, groups = _data(2, 0.0)
    res = likelihood_ratio_dif(x, groups, model="2pl", items=["Q1", "Q2", "Q3", "Q4"])
    assert res.flagged() == ()
    assert np.all(res.statistic < chi2.ppf(0.999, 2))
    assert np.all(np.abs(res.signed_difference) < 0.05)


def test_errors():
    from qabilet.engine.exceptions import InvalidParameterError

    x, groups = _data(3, 0.0)
    with pytest.raises(InvalidParameterError, match="at least two groups"):
        likelihood_ratio_dif(x, np.array(["a"] * len(x)))
    with pytest.raises(InvalidParameterError, match="unknown item"):
        likelihood_ratio_dif(x, groups, items=["Z9"])
