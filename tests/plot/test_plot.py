"""qabilet.plot: the curves drawn are the model's, computed here from the formulas; the axes are
labelled; the SVG parses as XML, carries no inline style, and its ids are its own."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from xml.etree import ElementTree

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from qabilet import plot
from qabilet.calibration.norms import LevelNorm
from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import Blueprint, NextItem, next_item, record, simulate_cat, start
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.simulation import simulate_responses

A, B = np.array([1.2, 0.8, 1.7]), np.array([-0.5, 0.0, 1.1])
GA, GB = 1.4, np.array([-1.5, -0.2, 0.9])
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def bank():
    return ItemBank([TwoPL(a=A, b=B), GradedResponse(a=[GA], b=[GB])],
                    item_ids=["S1", "S2", "S3", "L1"])


def _lines(fig):
    """The labelled lines of the figure's one axes: label → (x, y)."""
    (ax,) = fig.axes
    return {line.get_label(): line.get_xydata().T for line in ax.get_lines()
            if not line.get_label().startswith("_")}


def _labelled(ax):
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip()


def _grm_categories(theta):
    """Samejima's graded model by hand: P(X >= k) = logistic(a(θ - b_k)), differenced."""
    at_least = np.column_stack([np.ones_like(theta), *(expit(GA * (theta - b)) for b in GB),
                                np.zeros_like(theta)])
    return at_least[:, :-1] - at_least[:, 1:]


def test_item_curves_are_the_2pl_probabilities_and_the_graded_expected_score(bank):
    fig = plot.item_curves(bank)
    lines = _lines(fig)
    assert list(lines) == ["S1", "S2", "S3", "L1"]
    for item, a, b in zip(("S1", "S2", "S3"), A, B, strict=True):
        theta, p = lines[item]
        np.testing.assert_allclose(p, 1 / (1 + np.exp(-a * (theta - b))), rtol=1e-12, atol=1e-14)
    theta, y = lines["L1"]
    np.testing.assert_allclose(y, _grm_categories(theta) @ np.arange(4) / 3, atol=1e-12)
    np.testing.assert_allclose(theta[[0, -1]], [-4, 4])  # the latent N(0, 1) ± 4 SD
    _labelled(fig.axes[0])
    assert fig.axes[0].get_ylabel() == "expected score / (K − 1)"
    assert plot.item_curves(bank, ["S2"]).axes[0].get_ylabel() == "P(X = 1 | θ)"


def test_category_curves_are_samejima_s(bank):
    fig = plot.category_curves(bank, "L1", categories=["never", "rarely", "often", "always"])
    lines = _lines(fig)
    assert list(lines) == ["never", "rarely", "often", "always"]
    theta = lines["never"][0]
    np.testing.assert_allclose(np.column_stack([lines[k][1] for k in lines]), _grm_categories(theta),
                               atol=1e-12)
    _labelled(fig.axes[0])
    with pytest.raises(InvalidParameterError, match="categories: item 'L1' has 4 categories"):
        plot.category_curves(bank, "L1", categories=["no", "yes"])


def test_information_and_the_conditional_se_are_the_analytic_ones(bank):
    theta = np.linspace(-3, 3, 61)
    p = expit(A[None, :] * (theta[:, None] - B[None, :]))
    two_pl = A**2 * p * (1 - p)  # a² P (1 − P)
    star = np.column_stack([np.ones_like(theta), *(expit(GA * (theta - b)) for b in GB),
                            np.zeros_like(theta)])
    parts = star * (1 - star) * GA  # dP*_k/dθ
    graded = ((parts[:, :-1] - parts[:, 1:]) ** 2 / _grm_categories(theta)).sum(axis=1)
    per_item = _lines(plot.information(bank, per_item=True, theta=theta))
    np.testing.assert_allclose(np.column_stack([per_item[i][1] for i in ("S1", "S2", "S3")]), two_pl,
                               rtol=1e-10)
    np.testing.assert_allclose(per_item["L1"][1], graded, rtol=1e-10)
    total = two_pl.sum(axis=1) + graded
    (_, y), = _lines(plot.information(bank, theta=theta)).values()
    np.testing.assert_allclose(y, total, rtol=1e-10)
    (_, se), = _lines(plot.conditional_se(bank, theta=theta)).values()
    np.testing.assert_allclose(se, 1 / np.sqrt(total), rtol=1e-10)
    fig = plot.conditional_se(bank, ["S1", "S3"], prior=True, theta=theta)
    (_, se), = _lines(fig).values()
    np.testing.assert_allclose(se, 1 / np.sqrt(two_pl[:, [0, 2]].sum(axis=1) + 1.0), rtol=1e-10)
    _labelled(fig.axes[0])


def test_a_multidimensional_bank_and_a_bad_grid_are_refused_by_name():
    two = ItemBank([TwoPL.from_slope_intercept([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.5])])
    with pytest.raises(InvalidParameterError, match="bank: expected a unidimensional bank"):
        plot.item_curves(two)
    with pytest.raises(InvalidParameterError, match="theta: expected at least two finite"):
        plot.item_curves(ItemBank([TwoPL([1.0], [0.0])]), theta=[0.0, np.nan])


#: the CAT's default EAP grid (Blueprint: 121 points on [−6, 6])
NODES = np.linspace(-6, 6, 121)


def _eap(answers, nodes=NODES):
    """Posterior mean and SD of θ on the CAT's default grid, N(0, 1) prior, 2PL by formula."""
    log_post = norm.logpdf(nodes)
    for a, b, x in answers:
        p = 1 / (1 + np.exp(-a * (nodes - b)))
        log_post = log_post + np.log(p if x else 1 - p)
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = float(w @ nodes)
    return mean, float(np.sqrt(w @ (nodes - mean) ** 2))


@pytest.fixture(scope="module")
def cat_bank():
    rng = np.random.default_rng(5)
    a, b = rng.lognormal(0.0, 0.3, 40), rng.normal(0.0, 1.0, 40)
    return ItemBank([TwoPL(a, b)], [f"Q{i:02d}" for i in range(40)]), a, b


def test_a_session_trace_is_the_posterior_after_each_answer(cat_bank):
    bank, a, b = cat_bank
    state = start(bank, Blueprint(max_items=8, se_target=None), rng=11)
    given = []
    while isinstance(step := next_item(state), NextItem):
        x = len(given) % 3 != 1  # agree, disagree, agree, …
        state = record(state, step.item_id, int(x))
        given.append((a[step.index], b[step.index], x))
    truth = [_eap(given[:k]) for k in range(len(given) + 1)]
    fig = plot.cat_trace(state, level=0.9, true_theta=0.4)
    ax = fig.axes[0]
    steps, theta = _lines(fig)["estimate"]
    np.testing.assert_array_equal(steps, np.arange(9))
    np.testing.assert_allclose(theta, [m for m, _ in truth], atol=1e-9)
    band = ax.collections[0].get_paths()[0].vertices
    z = norm.ppf(0.95)
    for k, (m, sd) in enumerate(truth):
        ys = band[np.isclose(band[:, 0], k), 1]
        np.testing.assert_allclose([ys.min(), ys.max()], [m - z * sd, m + z * sd], atol=1e-9)
    assert _lines(fig)["true θ"][1].tolist() == [0.4, 0.4]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["start", *(g.item_id for g in state.answers)]
    _labelled(ax)


def test_a_simulee_s_trace_is_its_posterior_after_each_answer(cat_bank):
    bank, a, b = cat_bank
    theta = np.random.default_rng(1).normal(size=50)
    x = simulate_responses(bank, theta, 2)
    sim = simulate_cat(bank, Blueprint(max_items=6, se_target=None), theta=theta, responses=x, rng=3)
    j = 7
    given = sim.items[j, : sim.length[j]]
    trace = plot.session_trace(sim, j)
    assert trace.item_ids == tuple(bank.item_ids[i] for i in given) and trace.true_theta == theta[j]
    truth = [_eap([(a[i], b[i], x[j, i]) for i in given[:k]]) for k in range(given.size + 1)]
    np.testing.assert_allclose(trace.theta, [m for m, _ in truth], atol=1e-9)
    np.testing.assert_allclose(trace.se, [s for _, s in truth], atol=1e-9)
    with pytest.raises(InvalidParameterError, match="simulee: name the simulee"):
        plot.cat_trace(sim)


def test_exposure_and_conditional_rmse_are_the_simulation_s(cat_bank):
    bank, _, _ = cat_bank
    theta = np.random.default_rng(2).normal(size=400)
    runs = {"MFI": simulate_cat(bank, Blueprint(max_items=5, se_target=None), theta=theta, rng=4),
            "randomesque 5": simulate_cat(bank, Blueprint(max_items=5, se_target=None,
                                                          exposure="randomesque:5"),
                                          theta=theta, rng=4)}
    lines = _lines(plot.exposure(runs, target=0.5))
    for name, sim in runs.items():
        given = sim.items[sim.items >= 0]
        rates = np.sort(np.bincount(given, minlength=40) / 400)[::-1]
        np.testing.assert_allclose(lines[name][1], rates)
        np.testing.assert_array_equal(lines[name][0], np.arange(1, 41))
    observed = _lines(plot.exposure({"high": [0.1, 0.3, 0.2], "low": [0.05, 0.0]}))
    np.testing.assert_allclose(observed["high"][1], [0.3, 0.2, 0.1])
    np.testing.assert_allclose(observed["low"][1], [0.05, 0.0])
    fig = plot.cat_conditional(runs, "rmse", width=1.0, min_n=20)
    lines = _lines(fig)
    for name, sim in runs.items():
        k = np.floor(theta).astype(int)
        kept = [c for c in np.unique(k) if (k == c).sum() >= 20]
        rmse = [np.sqrt(np.mean((sim.theta[k == c] - theta[k == c]) ** 2)) for c in kept]
        np.testing.assert_allclose(lines[name][0], np.array(kept) + 0.5)
        np.testing.assert_allclose(lines[name][1], rmse)
    _labelled(fig.axes[0])
    with pytest.raises(InvalidParameterError, match="statistic: expected one of"):
        plot.cat_conditional(runs, "median")


def test_norm_conversions_are_percentile_t_score_and_sten():
    fig = plot.norm_conversions(LevelNorm(mean=0.3, sd=1.2, cuts=(-0.5, 1.1), percentiles=(25, 75),
                                          n=900))
    assert len(fig.axes) == 3
    (theta, percentile), = _lines_of(fig.axes[0])
    z = (theta - 0.3) / 1.2
    np.testing.assert_allclose(percentile, 100 * norm.cdf(z), atol=1e-9)
    (_, t), = _lines_of(fig.axes[1])
    np.testing.assert_allclose(t, 50 + 10 * z, atol=1e-9)
    (_, stens), = _lines_of(fig.axes[2])
    # stens by their definition: ten half-SD bands, sten 5 is −0.5 ≤ z < 0, 1 below −2, 10 from 2
    np.testing.assert_array_equal(stens, 1 + np.searchsorted(np.arange(-2.0, 2.01, 0.5), z, side="right"))
    for ax in fig.axes:
        _labelled(ax)
        cuts = sorted(line.get_xdata()[0] for line in ax.get_lines()[1:])
        assert cuts == [-0.5, 1.1]


def _lines_of(ax):
    return [line.get_xydata().T for line in ax.get_lines()[:1]]


def test_norm_conversions_take_a_level_s_norms_by_dimension():
    from qabilet.itembank.versions import DimensionNorm

    class Level:  # a LevelNorms has its norms by dimension
        dimensions = {"transparency": DimensionNorm(mean=-0.2, sd=0.9, cuts=(-0.8, 0.4))}

    (theta, percentile), = _lines_of(plot.norm_conversions(Level(), "transparency",
                                                           scales=["percentile"]).axes[0])
    np.testing.assert_allclose(percentile, 100 * norm.cdf((theta + 0.2) / 0.9), atol=1e-9)
    with pytest.raises(InvalidParameterError, match="dimension: expected one of transparency"):
        plot.norm_conversions(Level(), "integrity")
    with pytest.raises(InvalidParameterError, match="scales: expected some of"):
        plot.norm_conversions(Level(), "transparency", scales=["stanine"])


class _Result:
    def __init__(self, percentile, band, edges=(25.0, 75.0)):
        self.percentile, self.band, self.band_edges = percentile, band, edges


def _group():
    rng = np.random.default_rng(8)
    skewed = rng.beta(5, 1.5, 31) * 100
    flat = rng.uniform(0, 100, 12)
    band = lambda p: "development" if p < 25 else "strength" if p >= 75 else "meets"  # noqa: E731
    return {"Прозрачность": [_Result(p, band(p) if k % 4 else None) for k, p in enumerate(skewed)],
            "Service": [_Result(p, band(p)) for p in flat]}


def test_the_group_box_is_the_quantiles_of_the_percentiles():
    results = _group()
    fig = plot.group_distributions(results)
    ax = fig.axes[0]
    medians = [line.get_xdata() for line in ax.get_lines() if line.get_label() == "_median"]
    whiskers = [line.get_xdata() for line in ax.get_lines() if line.get_label() == "_whisker"]
    boxes = [p for p in ax.patches if p.get_facecolor()[:3] == (1.0, 1.0, 1.0)]
    for k, rs in enumerate(results.values()):
        x = [r.percentile for r in rs]
        q1, med, q3 = statistics.quantiles(x, n=4, method="inclusive")  # R's type 7
        deciles = statistics.quantiles(x, n=10, method="inclusive")
        assert medians[k][0] == pytest.approx(med) and med != pytest.approx(np.mean(x), abs=1)
        assert boxes[k].get_x() == pytest.approx(q1) and boxes[k].get_width() == pytest.approx(q3 - q1)
        left, right = whiskers[2 * k], whiskers[2 * k + 1]  # P10 to Q1, Q3 to P90
        np.testing.assert_allclose([*left, *right], [deciles[0], q1, q3, deciles[-1]])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(results)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Development area", "Meets the level", "Strength", "Norm group's median (50)"]
    assert not ax.collections  # no individual point unless asked
    assert len(plot.group_distributions(results, points=True).axes[0].collections) == 2
    assert ax.get_xlabel() == "Percentile in the norm group"  # the rows are named by the ticks


def test_the_group_band_shares_have_wilson_intervals():
    results = _group()
    ax = plot.group_bands(results, labels={"withheld": "Зона не указана"}).axes[0]
    from matplotlib.container import BarContainer

    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == len(results)
    for container, rs in zip(bars, results.values(), strict=True):
        bands = [r.band or "withheld" for r in rs]
        kinds = ("development", "meets", "strength", "withheld")
        counts = [bands.count(k) for k in kinds]
        np.testing.assert_allclose([p.get_width() for p in container.patches],
                                   [100 * c / len(rs) for c in counts])
        (segments,) = [c.get_segments() for c in container.errorbar.lines[2]]
        for segment, c in zip(segments, counts, strict=True):
            lo, hi = proportion_confint(c, len(rs), alpha=0.05, method="wilson")
            np.testing.assert_allclose(sorted(segment[:, 0]), [100 * lo, 100 * hi], atol=1e-9)
    assert "Зона не указана" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xlabel() == "Share of candidates, % (95% interval)"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(results)
    with pytest.raises(InvalidParameterError, match="labels: unknown key"):
        plot.group_bands(results, labels={"not stated": "x"})


def _profiles():
    """Three candidates' issued profiles (one norm group); transparency's cuts at its 20th and 70th."""
    from tests.delivery._group import make_profile

    out = []
    for k, (service, transparency, stress) in enumerate([(12.0, 48.0, 90.0), (55.0, 3.0, 61.0),
                                                          (81.0, 97.0, 35.0)]):
        p = make_profile({"service_to_public": service, "transparency": transparency,
                          "stress_tolerance": stress}, session=f"s{k}")
        moved = [r.model_copy(update={"band_edges": (20.0, 70.0)}) if r.dimension == "transparency"
                 else r for r in p.professional]
        out.append(p.model_copy(update={"professional": moved}))
    return out


def test_a_profile_chart_draws_each_percentile_its_interval_and_its_row_s_bands():
    profiles = _profiles()
    ax = plot.profile_percentiles(profiles).axes[0]
    names = [r.name for r in profiles[0].professional + profiles[0].personal]
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    dots = _lines(ax.get_figure())
    assert list(dots) == [p.candidate_id for p in profiles]
    intervals = [c.get_segments() for c in ax.collections]
    previous = None
    for p, segments in zip(profiles, intervals, strict=True):
        results = p.professional + p.personal
        x, y = dots[p.candidate_id]
        np.testing.assert_array_equal(x, [r.percentile for r in results])
        np.testing.assert_allclose(np.round(y), range(len(names)))  # each in its dimension's row
        if previous is not None:
            assert (y > previous).all()  # the candidates in the order given, top to bottom
        previous = y
        np.testing.assert_array_equal([s[:, 0] for s in segments], [r.percentile_interval for r in results])
        np.testing.assert_array_equal([s[:, 1] for s in segments], np.column_stack([y, y]))
    zones = [(round(b.get_y() + b.get_height() / 2), b.get_x(), b.get_x() + b.get_width())
             for b in ax.patches]
    for k, r in enumerate(profiles[0].professional + profiles[0].personal):
        lo, hi = r.band_edges
        assert [z[1:] for z in zones if z[0] == k] == [(0.0, lo), (lo, hi), (hi, 100.0)]
    assert ax.get_xlabel() == "Percentile in the norm group (90% interval)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Development area", "Meets the level", "Strength", *(p.candidate_id for p in profiles)]


def test_a_profile_chart_takes_one_profile_or_one_section_and_refuses_two_norm_groups():
    profiles = _profiles()
    ax = plot.profile_percentiles(profiles[1], "personal", legend=False).axes[0]
    (x, _), = _lines(ax.get_figure()).values()
    assert x.tolist() == [61.0] and [t.get_text() for t in ax.get_yticklabels()] == ["Стрессоустойчивость"]
    assert ax.get_legend() is None
    other = profiles[0].model_copy(update={"norm_set": 2})
    with pytest.raises(InvalidParameterError, match="profiles: expected profiles read against one norm"):
        plot.profile_percentiles([profiles[1], other])
    with pytest.raises(InvalidParameterError, match="section: expected one of professional, personal"):
        plot.profile_percentiles(profiles, "traits")  # type: ignore[arg-type]


def _ids_and_refs(root):
    import re

    ids = [el.get("id") for el in root.iter() if el.get("id")]
    refs = [m for el in root.iter() for v in el.attrib.values() for m in re.findall(r"url\(#([^)]+)\)", v)]
    refs += [v[1:] for el in root.iter() for k, v in el.attrib.items() if k.endswith("href")
             and v.startswith("#")]
    return ids, refs


def test_svg_parses_as_xml_with_no_inline_style_and_ids_of_its_own(bank):
    first = plot.to_svg(plot.item_curves(bank), title="Curves & <co>")
    second = plot.to_svg(plot.group_distributions(_group()), title="Группа")
    all_ids = []
    for svg in (first, second):
        root = ElementTree.fromstring(svg)
        assert root.tag == f"{SVG}svg" and root.get("width") == "100%" and root.get("viewBox")
        assert not [el for el in root.iter() if "style" in el.attrib or el.tag == f"{SVG}style"]
        assert not [el for el in root.iter() if el.tag == f"{SVG}metadata"]
        ids, refs = _ids_and_refs(root)
        assert refs and set(refs) <= set(ids) and len(ids) == len(set(ids))
        all_ids += ids
    assert len(all_ids) == len(set(all_ids))  # two figures on one page share no id
    root = ElementTree.fromstring(first)
    assert root.find(f"{SVG}title").text == "Curves & <co>" and root.get("aria-label") == "Curves & <co>"
    texts = {el.text for el in ElementTree.fromstring(second).iter(f"{SVG}text")}
    assert {"Прозрачность", "Service", "Percentile in the norm group"} <= texts  # text stays text
    fills = {el.get("fill") for el in ElementTree.fromstring(second).iter() if el.get("fill")}
    assert {"#f6e3c8", "#dbe7f3", "#d7eedc"} <= fills  # the bands' shading, as attributes
    assert plot.to_svg(plot.item_curves(bank), title="Curves & <co>") == first  # no date, no salt


def test_plotting_leaves_pyplot_the_backend_and_the_rc_settings_alone():
    """In a fresh interpreter: every function and to_svg, and still no pyplot, no backend chosen,
    the SVG settings as they were."""
    code = """
import sys, numpy as np, matplotlib
from qabilet import plot
from qabilet.engine.bank import ItemBank
from qabilet.engine.models import TwoPL
from qabilet.engine.cat import Blueprint, simulate_cat
from qabilet.calibration.norms import LevelNorm
before = (matplotlib.rcParams["svg.fonttype"], matplotlib.rcParams["svg.hashsalt"])
bank = ItemBank([TwoPL([1.0, 1.5], [0.0, 0.5])])
sim = simulate_cat(bank, Blueprint(max_items=2, se_target=None), n=20, rng=1)
class R:
    percentile, band, band_edges = 40.0, "meets", (25.0, 75.0)
    dimension, name, percentile_interval = "a", "A", (20.0, 60.0)
class P:
    candidate_id, level, norm_set, interval_level, professional, personal = "K", "middle", 1, 0.9, [R()], []
figs = [plot.item_curves(bank), plot.category_curves(bank, 0), plot.information(bank),
        plot.conditional_se(bank), plot.cat_trace(sim, 0), plot.exposure(sim),
        plot.cat_conditional(sim, min_n=1), plot.norm_conversions(LevelNorm(0, 1, (-1, 1), (16, 84), 9)),
        plot.group_distributions({"a": [R()] * 3}), plot.group_bands({"a": [R()] * 3}),
        plot.profile_percentiles([P(), P()])]
[plot.to_svg(f) for f in figs]
after = (matplotlib.rcParams["svg.fonttype"], matplotlib.rcParams["svg.hashsalt"])
print("matplotlib.pyplot" in sys.modules, matplotlib.rcParams._get_backend_or_none(), before == after)
"""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    assert out.stdout.split() == ["False", "None", "True"], out.stderr
