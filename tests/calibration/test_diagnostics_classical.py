"""Classical item statistics against direct numpy/scipy computations."""

import numpy as np
import pytest
from scipy.stats import pearsonr

from qabilet.calibration import MML, item_statistics
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidResponseError
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.simulation import simulate_responses


def _polytomous(n=300, seed=0):
    rng = np.random.default_rng(seed)
    items = GradedResponse(rng.uniform(0.8, 2.0, 6), np.sort(rng.normal(0, 1, (6, 3)), axis=1))
    return items, simulate_responses(items, rng.normal(size=n), rng)


def _alpha(x):
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))


def test_complete_data_equals_direct_computations():
    items, x = _polytomous()
    st = item_statistics(items, x)
    total = x.sum(axis=1)
    for i in range(x.shape[1]):
        assert st.item_rest[i] == pytest.approx(pearsonr(x[:, i], total - x[:, i])[0], abs=1e-12)
        assert st.item_total[i] == pytest.approx(pearsonr(x[:, i], total)[0], abs=1e-12)
        assert st.alpha_if_deleted[i] == pytest.approx(_alpha(np.delete(x, i, axis=1)), abs=1e-12)
        np.testing.assert_allclose(
            st.proportions[i], np.bincount(x[:, i], minlength=4) / x.shape[0], atol=1e-15
        )
    assert st.alpha == pytest.approx(_alpha(x), abs=1e-12)
    np.testing.assert_allclose(st.mean, x.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(st.sd, x.std(axis=0, ddof=1), atol=1e-12)
    np.testing.assert_allclose(st.p_value, x.mean(axis=0) / 3, atol=1e-12)
    np.testing.assert_allclose(st.covariance, np.cov(x, rowvar=False), atol=1e-12)
    assert not st.pairwise and st.n_complete == x.shape[0]


def test_missing_data_uses_pairwise_covariances():
    items, x = _polytomous(n=400, seed=1)
    rng = np.random.default_rng(2)
    observed = rng.random(x.shape) > 0.15
    st = item_statistics(items, np.where(observed, x, 0), observed)
    k = x.shape[1]
    cov = np.empty((k, k))
    for i in range(k):  # the pairwise matrix, one pair at a time
        for j in range(k):
            both = observed[:, i] & observed[:, j]
            cov[i, j] = np.cov(x[both, i], x[both, j])[0, 1]
    np.testing.assert_allclose(st.covariance, cov, atol=1e-12)
    assert st.alpha == pytest.approx(k / (k - 1) * (1 - np.trace(cov) / cov.sum()), abs=1e-12)
    rest = np.delete(np.delete(cov, 0, 0), 0, 1)
    r0 = (cov[0].sum() - cov[0, 0]) / np.sqrt(cov[0, 0] * rest.sum())
    assert st.item_rest[0] == pytest.approx(r0, abs=1e-12)
    assert st.pairwise and st.n_complete == int(observed.all(axis=1).sum())
    np.testing.assert_array_equal(st.n, observed.sum(axis=0))
    means = [x[observed[:, i], i].mean() for i in range(k)]
    np.testing.assert_allclose(st.mean, means, atol=1e-12)


def test_without_a_bank_and_through_a_fitted_mml():
    rng = np.random.default_rng(3)
    truth = TwoPL(np.linspace(0.8, 1.6, 5), np.linspace(-1, 1, 5))
    x = simulate_responses(truth, rng.normal(size=500), rng)
    plain = item_statistics(None, x)
    fit = MML(model="2pl", compute_se=False).fit(x + 1, item_ids=list("ABCDE"))  # codes 1/2
    via_fit = item_statistics(fit, x + 1)
    assert via_fit.item_ids == tuple("ABCDE")
    np.testing.assert_allclose(via_fit.p_value, x.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(plain.item_rest, via_fit.item_rest, atol=1e-12)
    bank = ItemBank([truth], item_ids=list("VWXYZ"))
    assert item_statistics(bank, x).item_ids == tuple("VWXYZ")


def test_report_formats_existing_values_and_is_frozen():
    items, x = _polytomous()
    st = item_statistics(items, x)
    text = st.summary()
    assert f"{st.alpha:.3f}" in text and "Q6" in text
    assert st._repr_html_().startswith("<pre>")
    with pytest.raises(AttributeError):
        st.alpha = 0.0


def test_to_frame_has_a_row_per_item():
    pytest.importorskip("pandas")
    items, x = _polytomous()
    frame = item_statistics(items, x).to_frame()
    assert list(frame.index) == [f"Q{i + 1}" for i in range(6)]


def test_bad_input_is_named():
    with pytest.raises(InvalidResponseError, match=r"responses\[0, 1\]"):
        item_statistics(None, [[0, -1], [1, 1]])
    with pytest.raises(InvalidResponseError, match="at least two items"):
        item_statistics(None, [[0], [1]])
    with pytest.raises(InvalidResponseError, match="observed"):
        item_statistics(None, [[0, 1], [1, 1]], observed=[[1, 1], [1, 1]])
