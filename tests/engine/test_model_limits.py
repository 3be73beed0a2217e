"""Analytic values and limits, conversions between forms, and parameter validation."""

import math

import numpy as np
import pytest
from model_zoo import ALL_MULTI, ALL_UNI

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError, UnknownModelError
from qabilet.engine.models import (
    FourPL,
    GeneralizedPartialCredit,
    GradedResponse,
    NominalResponse,
    PartialCredit,
    Rasch,
    RatingScale,
    ThreePL,
    TwoPL,
    get_model,
)

THETA = np.linspace(-5, 5, 41)


def test_2pl_matches_closed_form():
    a, b = 1.7, 0.5
    m = TwoPL([a], [b])
    for t in (-2.0, 0.0, 1.0, 3.5):
        p = 1.0 / (1.0 + math.exp(-a * (t - b)))
        assert m.prob(t)[0, 1] == pytest.approx(p, rel=1e-14)
        assert m.information(t)[0] == pytest.approx(a * a * p * (1 - p), rel=1e-12)


def test_2pl_information_peaks_at_b_with_a_squared_over_four():
    m = TwoPL([2.0], [0.3])
    assert m.information(0.3)[0] == pytest.approx(1.0, rel=1e-14)


def test_3pl_at_b_is_one_plus_c_over_two():
    m = ThreePL([1.4, 0.6], [0.2, -1.0], [0.25, 0.1])
    np.testing.assert_allclose(
        m.prob(np.array([0.2, -1.0]))[[0, 1], [0, 1], 1], [0.625, 0.55], rtol=1e-14
    )


def test_4pl_at_b_is_midpoint_of_asymptotes():
    m = FourPL([1.4], [0.2], [0.2], [0.9])
    assert m.prob(0.2)[0, 1] == pytest.approx(0.55, rel=1e-14)


def test_3pl_information_closed_form():
    # Birnbaum: I = a² (P − c)² (1 − P) / ((1 − c)² P)
    a, b, c = 1.3, 0.4, 0.2
    m = ThreePL([a], [b], [c])
    p = m.prob(THETA)[:, 0, 1]
    expected = a**2 * (p - c) ** 2 * (1 - p) / ((1 - c) ** 2 * p)
    np.testing.assert_allclose(m.information(THETA)[:, 0], expected, rtol=1e-11)


def test_rasch_equals_2pl_with_unit_slope():
    b = [-1.0, 0.3, 2.0]
    np.testing.assert_allclose(
        Rasch(b).log_prob(THETA), TwoPL([1, 1, 1], b).log_prob(THETA), rtol=1e-15
    )


def test_grm_with_two_categories_equals_2pl():
    a, b = [0.8, 1.9], [-0.4, 1.2]
    np.testing.assert_allclose(
        GradedResponse(a, [[b[0]], [b[1]]]).prob(THETA), TwoPL(a, b).prob(THETA), rtol=1e-13
    )


def test_gpcm_with_two_categories_equals_2pl():
    a, b = [0.8, 1.9], [-0.4, 1.2]
    np.testing.assert_allclose(
        GeneralizedPartialCredit(a, [[b[0]], [b[1]]]).prob(THETA),
        TwoPL(a, b).prob(THETA),
        rtol=1e-13,
    )


def test_gpcm_matches_muraki_definition():
    a, steps = 1.3, np.array([-0.8, 0.1, 0.9])
    m = GeneralizedPartialCredit([a], [steps])
    for t in (-1.5, 0.0, 2.0):
        num = np.exp(np.concatenate([[0.0], np.cumsum(a * (t - steps))]))
        np.testing.assert_allclose(m.prob(t)[0], num / num.sum(), rtol=1e-13)


def test_grm_matches_samejima_definition():
    a, b = 1.1, np.array([-1.0, 0.2, 1.4])
    m = GradedResponse([a], [b])
    for t in (-2.0, 0.5, 3.0):
        star = np.concatenate([[1.0], 1 / (1 + np.exp(-a * (t - b))), [0.0]])
        np.testing.assert_allclose(m.prob(t)[0], star[:-1] - star[1:], rtol=1e-12)


def test_pcm_is_gpcm_with_unit_slopes_and_rsm_is_pcm_with_shared_thresholds():
    loc, tau = np.array([-0.5, 0.7]), np.array([-1.0, 0.2, 0.8])
    steps = loc[:, None] + tau[None, :]
    np.testing.assert_allclose(
        PartialCredit(steps).prob(THETA),
        GeneralizedPartialCredit([1, 1], steps).prob(THETA),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        RatingScale(loc, tau).prob(THETA), PartialCredit(steps).prob(THETA), rtol=1e-14
    )


def test_nominal_with_linear_scoring_equals_gpcm():
    a, steps = 1.2, [[-0.5, 0.4, 1.0]]
    g = GeneralizedPartialCredit([a], steps)
    d = g.to_slope_intercept()["d"]
    n = NominalResponse([[0.0, a, 2 * a, 3 * a]], d)
    np.testing.assert_allclose(n.prob(THETA), g.prob(THETA), rtol=1e-13)
    # mirt's identification: scoring ak = 0..K-1 and overall slope a
    si = n.to_slope_intercept()
    np.testing.assert_allclose(si["a"][:, 0], [a])
    np.testing.assert_allclose(si["ak"][0], [0, 1, 2, 3])


def test_nominal_items_have_one_parameterisation_whichever_form_they_are_read_in():
    """Bock's category slopes and mirt's form describe the same items: both are held in mirt's
    identification (α_{K−1} = K − 1), so slopes (what a-stratification and mean-mean linking
    read) and parameter vectors agree."""
    bock = NominalResponse([[0.0, 0.6, 1.8], [0.0, -0.5, 0.4, 1.2]],
                           [[0.0, 0.3, -0.4], [0.0, 0.1, 0.2, -0.3]])
    mirt = NominalResponse.from_slope_intercept(
        [0.9, 0.4], [[0.0, 0.6 / 0.9, 2.0], [0.0, -1.25, 1.0, 3.0]],
        [[0.0, 0.3, -0.4], [0.0, 0.1, 0.2, -0.3]])
    np.testing.assert_allclose(bock.slopes[:, 0], [0.9, 0.4])
    np.testing.assert_allclose(bock.param_vector(), mirt.param_vector(), equal_nan=True)
    np.testing.assert_allclose(bock.category_slopes, [[0.0, 0.6, 1.8, np.nan], [0.0, -0.5, 0.4, 1.2]],
                               equal_nan=True)
    theta = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(bock.prob(theta), mirt.prob(theta), atol=1e-12)


@pytest.mark.parametrize("name", sorted(ALL_UNI))
def test_traditional_and_slope_intercept_round_trip(name):
    model = ALL_UNI[name]
    cls = type(model)
    trad = model.to_traditional()
    si = model.to_slope_intercept()
    if name == "rsm":
        again = cls(trad["location"], trad["tau"])
    elif name in ("rasch", "pcm"):
        again = cls(trad["b"] if name == "rasch" else [r[~np.isnan(r)] for r in trad["b"]])
    elif name == "nominal":
        again = cls([r[~np.isnan(r)] for r in trad["a"]], [r[~np.isnan(r)] for r in trad["d"]])
    elif trad["b"].ndim == 2:
        again = cls(trad["a"], [r[~np.isnan(r)] for r in trad["b"]])
    else:
        extra = {k: trad[k] for k in ("c", "u") if k in cls.__init__.__code__.co_varnames}
        again = cls(trad["a"], trad["b"], **extra)
    np.testing.assert_allclose(again.prob(THETA), model.prob(THETA), rtol=1e-12)
    if name != "rsm":
        rows = {
            k: (v if v.ndim < 2 or k == "a" else [r[~np.isnan(r)] for r in v])
            for k, v in si.items()
        }
        back = cls.from_slope_intercept(**rows)
        np.testing.assert_allclose(back.prob(THETA), model.prob(THETA), rtol=1e-12)


def test_slope_intercept_to_traditional_by_hand():
    m = TwoPL.from_slope_intercept([1.5], [-0.75])
    assert m.b[0] == pytest.approx(0.5)
    g = GradedResponse.from_slope_intercept([2.0], [[1.0, -1.0]])
    np.testing.assert_allclose(g.b[0], [-0.5, 0.5])
    p = GeneralizedPartialCredit.from_slope_intercept([2.0], [[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(p.b[0], [-0.5, 0.5])


@pytest.mark.parametrize("name", sorted(ALL_UNI) + sorted(ALL_MULTI))
def test_records_round_trip(name):
    model = {**ALL_UNI, **ALL_MULTI}[name]
    bank = ItemBank([model])
    again = ItemBank.from_records(bank.to_records())
    th = THETA if model.n_dims == 1 else np.random.default_rng(0).normal(size=(9, model.n_dims))
    np.testing.assert_allclose(again.log_prob(th), bank.log_prob(th), rtol=1e-12)
    assert again.model_names == bank.model_names


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ThreePL([1.0], [0.0], [1.2]), r"items\[0\]: c must be in \[0, 1\); got 1.2"),
        (lambda: FourPL([1.0], [0.0], [0.2], [0.1]), r"items\[0\]: u must be in \(c, 1\]"),
        (
            lambda: GradedResponse([1.0, 1.0], [[0.0], [1.0, 0.5]]),
            r"items\[1\]: b must be strictly",
        ),
        (lambda: Rasch([0.0], a=2.0), "every slope is 1"),
        (lambda: TwoPL([1.0, np.nan], [0.0, 0.0]), "finite slopes"),
        (lambda: TwoPL([[1.0, 0.5]], [0.0]), "no traditional form"),
        (lambda: NominalResponse([[0.5, 1.0]], [[0.0, 1.0]]), r"items\[0\]: a_0 must be 0"),
        (lambda: TwoPL([1.0], [0.0, 1.0]), r"b: expected shape \(1,\)"),
    ],
)
def test_bad_parameters_are_named(build, message):
    with pytest.raises(InvalidParameterError, match=message):
        build()


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownModelError, match="unknown model 'irt9'; expected one of 1pl, 2pl"):
        get_model("irt9")


def test_bank_record_errors_name_the_item_id():
    records = [
        {"id": "A", "model": "2pl", "a": 1.0, "b": 0.0},
        {"id": "B", "model": "3pl", "a": 1.0, "b": 0.0, "c": 1.5},
    ]
    with pytest.raises(InvalidParameterError, match=r"items\[1\] \('B'\): c must be"):
        ItemBank.from_records(records)


def test_bank_subset_keeps_order_and_models():
    from model_zoo import make_mixed_bank

    bank = make_mixed_bank()
    sub = bank.subset([9, 0, 4])
    assert sub.item_ids == ("I9", "I0", "I4")
    np.testing.assert_allclose(sub.log_prob(THETA)[..., :2], bank.log_prob(THETA)[:, [9, 0, 4], :2])
