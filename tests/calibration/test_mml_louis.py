"""The observed information by Louis' identity against the numeric Hessian of the marginal
likelihood (central differences of the analytic score, 2k E-steps): every calibrated model, one
and several factors, groups with group-specific items, anchors, priors, missing data."""

import warnings
from functools import partial

import numpy as np
import pytest
from scipy import sparse

from qabilet.calibration import MML, _louis, mml
from qabilet.calibration._design import SUPPORTED
from qabilet.calibration._estep import Patterns
from qabilet.calibration._louis import score_covariance
from qabilet.calibration.mml import _recode, _Run
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GradedResponse, ThreePL, TwoPL
from qabilet.engine.simulation import simulate_responses
from tests.engine.model_zoo import make_models, make_two_factor

TOL = 1e-4  # relative to the largest entry of the numeric Hessian


@pytest.fixture(params=["dense", "pairs"])
def form(request, monkeypatch) -> str:
    """Louis' score covariance taken in the named form (each test runs with both)."""
    monkeypatch.setattr(mml, "score_covariance", partial(score_covariance, form=request.param))
    return str(request.param)


def informations(monkeypatch: pytest.MonkeyPatch, estimator: MML, x: np.ndarray, **fit_args
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Louis' information and the numeric Hessian, both at the fitted parameters."""
    seen: dict[str, np.ndarray] = {}
    covariance = _Run._covariance

    def both(run: _Run, phi: np.ndarray) -> np.ndarray:
        seen["louis"] = run._louis_information(phi)[0]
        seen["numeric"] = run._numeric_information(phi)
        return covariance(run, phi)

    monkeypatch.setattr(_Run, "_covariance", both)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short EM may stop early: the identity holds anywhere
        estimator.fit(x, **fit_args)
    return seen["louis"], seen["numeric"]


def assert_agree(louis: np.ndarray, numeric: np.ndarray) -> None:
    assert louis.shape == numeric.shape and np.isfinite(louis).all()
    assert np.abs(louis - numeric).max() <= TOL * np.abs(numeric).max()
    if np.linalg.cond(numeric) > 1e8:  # a nearly unidentified fit: its inverse amplifies noise
        return
    with np.errstate(invalid="ignore"):  # a short EM's point may not be a maximum: NaN in both
        se_l = np.sqrt(np.diag(np.linalg.inv(louis)))
        se_n = np.sqrt(np.diag(np.linalg.inv(numeric)))
    np.testing.assert_allclose(se_l, se_n, rtol=TOL)


def _columns(model: object, theta: np.ndarray, seeds: range) -> np.ndarray:
    return np.column_stack([simulate_responses(model, theta, rng=s) for s in seeds])


@pytest.mark.parametrize("name", SUPPORTED)
def test_every_model_one_factor(monkeypatch, form, name):
    model = make_models(three_each=True)[name]
    theta = np.random.default_rng(3).normal(size=1200)
    x = _columns(model, theta, range(3))  # nine items
    assert_agree(*informations(monkeypatch, MML(model=name, max_iter=200), x))


# rasch and pcm (unit slopes, free latent variance) have no multidimensional calibration yet
@pytest.mark.parametrize("name", sorted(set(make_two_factor()) - {"rasch", "pcm"}))
def test_every_model_two_factors(monkeypatch, form, name):
    model = make_two_factor()[name]
    rng = np.random.default_rng(4)
    theta = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=1200)
    x = _columns(model, theta, range(3))  # six items: two per copy, one on A, one on both
    ids = [f"Q{i + 1}" for i in range(6)]
    dims = {"A": ids, "B": ids[1::2]}
    est = MML(model=name, dims=dims, max_iter=100, n_points=11)
    assert_agree(*informations(monkeypatch, est, x))


def test_four_factors_quasi_monte_carlo(monkeypatch, form):
    a = np.kron(np.eye(4), np.ones((3, 1))) * 1.3
    truth = TwoPL.from_slope_intercept(a, np.linspace(-1, 1, 12))
    rng = np.random.default_rng(5)
    theta = rng.multivariate_normal(np.zeros(4), 0.3 + 0.7 * np.eye(4), size=800)
    x = simulate_responses(truth, theta, rng)
    dims = {f"F{f}": [f"Q{3 * f + j + 1}" for j in range(3)] for f in range(4)}
    est = MML(model="2pl", dims=dims, n_qmc=256, max_iter=60)
    assert_agree(*informations(monkeypatch, est, x))


def two_groups_with_missing_data(per_group: int, missing: float, seed: int) -> np.ndarray:
    """Six graded items (three of four categories, three of three) answered by two groups,
    N(0, 1) and N(0.4, 1.3²), with a share of the answers missing completely at random."""
    rng = np.random.default_rng(seed)
    items = GradedResponse([1.2, 0.8, 1.5, 1.0, 1.7, 0.9],
                           [[-1.0, 0.0, 1.0]] * 3 + [[-0.5, 0.7]] * 3)
    theta = np.concatenate([rng.normal(0, 1, per_group), rng.normal(0.4, 1.3, per_group)])
    x = simulate_responses(items, theta, rng).astype(float)
    x[rng.random(x.shape) < missing] = np.nan
    return x


def test_groups_with_a_group_specific_item_and_missing_data(monkeypatch, form):
    x = two_groups_with_missing_data(900, 0.3, 6)
    groups = np.array(["a"] * 900 + ["b"] * 900)
    est = MML(model={"Q1": "grm", "Q2": "gpcm", "Q3": "nominal", "Q4": "grm", "Q5": "pcm",
                     "Q6": "grm"}, group_specific=["Q4"], max_iter=150)
    assert_agree(*informations(monkeypatch, est, x, groups=groups))


def test_sparse_data_in_a_csr_one_hot_matrix(monkeypatch, form):
    rng = np.random.default_rng(7)
    items = make_models(three_each=True)["gpcm"]
    x = _columns(items, rng.normal(size=3000), range(8)).astype(float)
    x[rng.random(x.shape) < 0.85] = np.nan  # a quarter or less observed: the one-hot is CSR
    resp, categories = _recode(x, None, [f"Q{i + 1}" for i in range(x.shape[1])])
    assert sparse.issparse(Patterns(resp, np.array([c.size for c in categories])).onehot)
    assert_agree(*informations(monkeypatch, MML(model="gpcm", max_iter=150), x))


def test_anchors_with_a_3pl_prior(monkeypatch, form):
    rng = np.random.default_rng(9)
    old = TwoPL(rng.uniform(0.8, 2.0, 8), rng.normal(0, 1, 8))
    anchors = ItemBank([old], [f"A{i}" for i in range(8)])
    new = ThreePL(rng.uniform(1.0, 2.0, 4), rng.normal(0, 1, 4), np.full(4, 0.2))
    theta = rng.normal(0.4, 1.3, 2000)
    x = np.hstack([simulate_responses(anchors, theta, rng), simulate_responses(new, theta, rng)])
    ids = [f"A{i}" for i in range(8)] + [f"N{i}" for i in range(4)]
    est = MML(model="3pl", fixed=anchors, max_iter=150)  # the default Beta prior on c
    louis, numeric = informations(monkeypatch, est, x, item_ids=ids)
    assert louis.shape == (4 * 3 + 2,) * 2  # new items' a, d, logit c; the mean and variance
    assert_agree(louis, numeric)


def test_the_result_is_the_same_with_either_method():
    truth = TwoPL(np.linspace(0.8, 2.0, 8), np.linspace(-1.5, 1.5, 8))
    x = simulate_responses(truth, np.random.default_rng(0).normal(size=1500), rng=1)
    louis, numeric = (MML(model="2pl", se=se).fit(x) for se in ("louis", "numeric"))
    assert (louis.se_method, numeric.se_method) == ("louis", "numeric")
    # both the observed information, each named for how it was computed
    assert louis.method().endswith("SE: observed information (Louis' identity)")
    assert numeric.method().endswith("SE: observed information (numeric Hessian)")
    np.testing.assert_allclose(louis.covariance, numeric.covariance, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(louis.items[3].traditional_se, numeric.items[3].traditional_se,
                               rtol=1e-6)


def test_an_unknown_method_is_refused():
    with pytest.raises(InvalidParameterError, match="se: expected one of louis, numeric, sandwich"):
        MML(se="oakes").fit(np.array([[0, 1], [1, 0], [1, 1]]))


def _numeric_sandwich(run: _Run, phi: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """I⁻¹ J I⁻¹ with I the numeric Hessian and J from the persons' scores, each by central
    differences of the persons' own log marginal likelihoods."""
    from qabilet.engine.likelihood import flat_log_prob

    def per_pattern(point: np.ndarray) -> list[np.ndarray]:
        lp_t = np.ascontiguousarray(flat_log_prob(run._bank_of(point), run._nodes).T)
        return [patterns.posterior(0, patterns.n_unique, lp_t,
                                   run._latents.log_weights(point, g))[2]
                for g, patterns in enumerate(run._patterns)]

    k = phi.size
    scores = [np.empty((p.n_unique, k)) for p in run._patterns]
    for b in range(k):
        e = np.zeros(k)
        e[b] = h
        for s, up, down in zip(scores, per_pattern(phi + e), per_pattern(phi - e)):
            s[:, b] = (up - down) / (2 * h)
    outer = sum((s * p.counts[:, None]).T @ s for s, p in zip(scores, run._patterns))
    inverse = np.linalg.inv(run._numeric_information(phi))
    return inverse @ outer @ inverse


@pytest.mark.parametrize("case", ["3pl", "groups"])
def test_sandwich_against_a_numeric_sandwich(monkeypatch, case):
    seen: dict[str, np.ndarray] = {}
    covariance = _Run._covariance

    def both(run: _Run, phi: np.ndarray) -> np.ndarray:
        seen["numeric"] = _numeric_sandwich(run, phi)
        seen["sandwich"] = covariance(run, phi)
        return seen["sandwich"]

    monkeypatch.setattr(_Run, "_covariance", both)
    rng = np.random.default_rng(11)
    if case == "3pl":
        items = make_models(three_each=True)["3pl"]
        x = _columns(items, rng.standard_t(5, size=1500), range(2))  # a heavy-tailed trait
        args: dict = {}
    else:
        items = make_models(three_each=True)["grm"]
        theta = np.concatenate([rng.normal(0, 1, 700), rng.normal(0.5, 0.8, 700)])
        x = _columns(items, theta, range(2))
        args = {"groups": np.repeat(["a", "b"], 700)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = MML(model=case if case == "3pl" else "grm", se="sandwich", max_iter=200).fit(
            x, **args)
    sandwich, numeric = seen["sandwich"], seen["numeric"]
    np.testing.assert_allclose(np.sqrt(np.diag(sandwich)), np.sqrt(np.diag(numeric)), rtol=1e-4)
    assert np.abs(sandwich - numeric).max() <= 1e-4 * np.abs(numeric).max()
    assert np.isfinite(result.items[0].traditional_se).all()
    assert result.se_method == "sandwich" and "SE: sandwich (robust)" in result.method()


def test_the_two_forms_give_the_same_sums(monkeypatch):
    """Latent entries (two groups), missing answers, a pattern with none, mixed models."""
    seen: list[tuple[np.ndarray, ...]] = []

    def both(*args):
        dense, pairs = (score_covariance(*args, form=f) for f in ("dense", "pairs"))
        seen.append(dense + pairs)
        return dense

    monkeypatch.setattr(mml, "score_covariance", both)
    x = two_groups_with_missing_data(600, 0.5, 12)
    x[0] = np.nan  # a person who answered nothing: only the latent entries
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MML(model={"Q1": "grm", "Q2": "gpcm", "Q3": "nominal", "Q4": "grm", "Q5": "pcm",
                   "Q6": "grm"}, max_iter=50).fit(x, groups=np.repeat(["a", "b"], 600))
    assert len(seen) == 2  # one call per group
    for cov_d, outer_d, cov_p, outer_p in seen:
        assert np.abs(cov_d).max() > 1 and np.abs(outer_d).max() > 1
        np.testing.assert_allclose(cov_p, cov_d, rtol=0, atol=1e-12 * np.abs(cov_d).max())
        np.testing.assert_allclose(outer_p, outer_d, rtol=0, atol=1e-12 * np.abs(outer_d).max())


@pytest.mark.parametrize(("missing", "expected"), [(0.0, "dense"), (0.9, "pairs")])
def test_the_cheaper_form_is_taken(monkeypatch, missing, expected):
    """Patterns answering all of 60 items: the dense form; a tenth of 100: the pair form."""
    taken: list[str] = []
    for name in ("pair_sums", "_dense_covariance"):
        real = getattr(_louis, name)
        monkeypatch.setattr(_louis, name, lambda *a, _n=name, _r=real: taken.append(_n) or _r(*a))
    n_items = 60 if missing == 0 else 100
    truth = TwoPL(np.full(n_items, 1.3), np.linspace(-1.5, 1.5, n_items))
    x = simulate_responses(truth, np.random.default_rng(13).normal(size=3000), rng=2).astype(float)
    x[np.random.default_rng(14).random(x.shape) < missing] = np.nan
    MML(model="2pl", max_iter=30).fit(x)
    assert taken == [{"dense": "_dense_covariance", "pairs": "pair_sums"}[expected]]


def test_an_unknown_form_is_refused():
    patterns = Patterns(_recode(np.array([[0.0, 1.0], [1.0, 0.0]]), None, ["A", "B"])[0],
                        np.array([2, 2]))
    with pytest.raises(ValueError, match="form: expected auto, dense or pairs; got 'sparse'"):
        score_covariance(patterns, np.zeros((4, 3)), np.log(np.full(3, 1 / 3)),
                         np.zeros((3, 3, 2)), np.array([0, 1]), np.zeros((3, 2)), form="sparse")
