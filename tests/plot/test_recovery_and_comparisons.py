"""qabilet.plot's recovery, comparison and option-slope charts: the points, bars and curves drawn
are the inputs' and the model's, and the numbers stated are computed here by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import expit

from qabilet import plot
from qabilet.calibration import expert_order
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GradedResponse, TwoPL

TRUE = np.array([1.0, 1.5, 0.8, 1.2])
EST = np.array([1.1, 1.2, 0.8, 1.25])
SE = np.array([0.1, 0.1, 0.05, np.nan])  # the last without an interval (a fixed parameter)


def _bars(container):
    """An error-bar container's points and its bars' (low, high)."""
    points = container.lines[0].get_xydata()
    (bars,) = container.lines[2]
    ends = np.array([s[:, 1] for s in bars.get_segments()])
    return points, ends


def test_recovery_draws_each_estimate_with_its_interval_and_states_the_coverage():
    fig = plot.parameter_recovery(TRUE, EST, SE, name="a", z=2.0)
    (ax,) = fig.axes
    hit, miss = ax.containers
    points, ends = _bars(hit)
    np.testing.assert_allclose(points, [[1.0, 1.1], [0.8, 0.8], [1.2, 1.25]])
    np.testing.assert_allclose(ends, [[0.9, 1.3], [0.7, 0.9], [1.25, 1.25]])
    points, ends = _bars(miss)  # 1.2 ± 0.2 misses 1.5: the second colour
    np.testing.assert_allclose(points, [[1.5, 1.2]])
    np.testing.assert_allclose(ends, [[1.0, 1.4]])
    error = EST - TRUE
    rmse, bias = np.sqrt(np.mean(error**2)), np.mean(error)
    assert ax.get_title() == f"Recovery of a: RMSE {rmse:.3f}, bias {bias:+.3f} (n = 4)"
    labels = ax.get_legend_handles_labels()[1]
    assert "estimates ±2 SE: 2 of 3 intervals cover the truth (67 %)" in labels
    (identity,) = [line for line in ax.get_lines() if line.get_label().startswith("identity")]
    x, y = identity.get_xydata().T
    np.testing.assert_array_equal(x, y)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("true a", "estimated a (±2 SE)")


def test_recovery_summary_pairs_positions_and_leaves_out_the_ones_missing_in_both():
    true_b = [[-1.0, 0.5, np.nan], [0.0, np.nan, np.nan]]  # thresholds, padded
    est_b = [[-0.8, 0.4, np.nan], [0.3, np.nan, np.nan]]
    r = plot.recovery_summary(true_b, est_b, [[0.1, 0.1, np.nan], [0.1, np.nan, np.nan]], z=1.96)
    np.testing.assert_allclose(r.true, [-1.0, 0.5, 0.0])
    assert (r.n, r.covered, r.n_intervals) == (3, 1, 3)
    assert r.coverage == pytest.approx(1 / 3)
    assert r.rmse == pytest.approx(np.sqrt((0.04 + 0.01 + 0.09) / 3))
    fig = plot.parameter_recovery(TRUE, EST, name="θ", labels={"title": "θ back"})
    (ax,) = fig.axes
    assert not ax.containers and ax.get_title().startswith("θ back: RMSE")
    with pytest.raises(InvalidParameterError, match="missing on one side only"):
        plot.recovery_summary([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="estimated: expected the shape of true"):
        plot.recovery_summary([1.0, 2.0], [1.0])
    with pytest.raises(InvalidParameterError, match="labels: unknown key"):
        plot.parameter_recovery(TRUE, EST, labels={"colour": "red"})


GA, B_KK = 1.3, np.array([-1.2, 0.0, 1.4])


def _graded(a, b, theta):
    """Samejima's graded model by hand: P(X ≥ k) = logistic(a(θ − b_k)), differenced."""
    star = np.column_stack([np.ones_like(theta), *(expit(a * (theta - bk)) for bk in b),
                            np.zeros_like(theta)])
    return star[:, :-1] - star[:, 1:]


@pytest.fixture(scope="module")
def groups():
    kk = ItemBank([TwoPL([1.0], [0.0]), GradedResponse([GA], [B_KK])], item_ids=["S1", "L1"])
    ru = ItemBank([GradedResponse([GA], [B_KK + 0.8])], item_ids=["L1"])
    return {"kk": kk, "ru": ru}


def test_compare_curves_draws_each_bank_s_expected_score_of_one_item(groups):
    fig = plot.compare_curves(groups, "L1")
    (ax,) = fig.axes
    lines = {line.get_label(): line.get_xydata().T for line in ax.get_lines()}
    assert list(lines) == ["kk", "ru"]
    for name, shift in (("kk", 0.0), ("ru", 0.8)):
        theta, y = lines[name]
        np.testing.assert_allclose(y, _graded(GA, B_KK + shift, theta) @ np.arange(4), atol=1e-12)
    assert ax.get_ylabel() == "expected score" and ax.get_title() == "Expected score: L1"


def test_compare_curves_draws_each_bank_s_category_curves_a_style_each(groups):
    theta = np.linspace(-3, 3, 31)
    fig = plot.compare_curves(groups, "L1", kind="categories", categories=list("abcd"), theta=theta)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == [f"{g}: {c}" for g in ("kk", "ru") for c in "abcd"]
    for name, shift in (("kk", 0.0), ("ru", 0.8)):
        drawn = np.column_stack([lines[f"{name}: {c}"].get_ydata() for c in "abcd"])
        np.testing.assert_allclose(drawn, _graded(GA, B_KK + shift, theta), atol=1e-12)
    assert lines["kk: a"].get_color() == lines["ru: a"].get_color() != lines["kk: b"].get_color()
    assert lines["kk: a"].get_linestyle() != lines["ru: a"].get_linestyle()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [*"abcd", "kk", "ru"]
    other = ItemBank([TwoPL([1.0], [0.0])], item_ids=["L1"])
    with pytest.raises(InvalidParameterError, match="different numbers of categories"):
        plot.compare_curves({**groups, "2pl": other}, "L1")
    with pytest.raises(InvalidParameterError, match="kind: expected"):
        plot.compare_curves(groups, "L1", kind="information")  # type: ignore[arg-type]


#: S1's most indicative option (2) is flatter than option 1; S2's options follow the experts
SLOPES = {"S1": ([0.0, 1.2, 0.8], np.diag([0.0, 0.005, 0.005])),
          "S2": ([0.0, 0.5, 1.0], np.diag([0.0, 0.005, 0.005]))}


def test_option_slopes_draws_the_check_s_slopes_in_the_experts_order():
    check = expert_order(SLOPES, {"S1": (2, 0), "S2": (2, 0)})
    assert check.review == ("S1",)
    fig = plot.option_slopes(check, z=2.0)
    (ax,) = fig.axes
    drawn = {c.get_label(): _bars(c) for c in ax.containers}
    assert list(drawn) == ["S1", "_S2"]
    for item, label in (("S1", "S1"), ("S2", "_S2")):
        slopes, cov = SLOPES[item]
        points, ends = drawn[label]
        np.testing.assert_allclose(points[:, 1], slopes)
        se = np.sqrt(np.diag(cov))
        np.testing.assert_allclose(ends, np.column_stack([slopes - 2 * se, slopes + 2 * se]), atol=1e-12)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["least\nindicative", "middle",
                                                             "most\nindicative"]
    assert ax.get_legend().get_title().get_text() == "flagged for review"


def test_option_slopes_places_the_options_as_the_experts_named_them():
    """Any object with the check's fields: most indicative 0, least 2 — drawn in reverse."""
    check = SimpleNamespace(item_ids=("S2",), check=("most",), expert=np.array([0]),
                            slopes={"S2": (np.array([0, 1, 2]), np.array([0.9, 0.4, 0.0]),
                                           np.array([0.1, 0.1, 0.1]))}, review=())
    assert plot.option_slopes.__module__ == "qabilet.plot.options"
    from qabilet.plot.options import experts_order

    assert experts_order(check, "S2") == [1, 2, 0]
    check.check, check.item_ids, check.expert = ("most", "least"), ("S2", "S2"), np.array([0, 2])
    assert experts_order(check, "S2") == [2, 1, 0]
    (ax,) = plot.option_slopes(check).axes
    (points, _), = (_bars(c) for c in ax.containers)
    np.testing.assert_allclose(points[:, 1], [0.0, 0.4, 0.9])
    assert ax.get_legend().get_title().get_text() == "none flagged for review"
