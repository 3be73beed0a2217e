"""Mantel–Haenszel DIF: hand computation on 2×2×K tables, statsmodels, the Rasch identity."""

import numpy as np
import pytest

from qabilet.calibration import mantel_haenszel
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.models import GradedResponse, Rasch, TwoPL
from qabilet.engine.simulation import simulate_responses


def _strata_tables(x, focal, item, matching="total"):
    """2×2×K tables of one item, counted person by person."""
    score = x.sum(axis=1) - (x[:, item] if matching == "rest" else 0)
    tables = {}
    for s, g, y in zip(score, focal, x[:, item]):
        t = tables.setdefault(int(s), np.zeros((2, 2)))
        t[int(g), int(y)] += 1
    return [tables[s] for s in sorted(tables)]


def _hand_mh(tables):
    """MH statistics written out stratum by stratum (Holland & Thayer 1988; RBG 1986)."""
    num = den = sum_a = sum_e = sum_v = 0.0
    rs, ss, pr, ps_qr, qs = [], [], 0.0, 0.0, 0.0
    for t in tables:
        b, a = t[0]  # reference: wrong, right
        d, c = t[1]  # focal: wrong, right
        n = a + b + c + d
        if n < 2:
            continue
        num += a * d / n
        den += b * c / n
        sum_a += a
        sum_e += (a + b) * (a + c) / n
        sum_v += (a + b) * (c + d) * (a + c) * (b + d) / (n * n * (n - 1))
        r, s, p, q = a * d / n, b * c / n, (a + d) / n, (b + c) / n
        rs.append(r)
        ss.append(s)
        pr += p * r
        ps_qr += p * s + q * r
        qs += q * s
    alpha = num / den
    chi2 = max(abs(sum_a - sum_e) - 0.5, 0.0) ** 2 / sum_v
    r_tot, s_tot = sum(rs), sum(ss)
    var_log = pr / (2 * r_tot**2) + ps_qr / (2 * r_tot * s_tot) + qs / (2 * s_tot**2)
    return chi2, alpha, np.sqrt(var_log)


def _two_groups(n, shift, seed, items=10):
    rng = np.random.default_rng(seed)
    b = np.linspace(-1.5, 1.5, items)
    ref = simulate_responses(Rasch(b), rng.normal(size=n), rng)
    shifted = b.copy()
    shifted[0] += shift
    foc = simulate_responses(Rasch(shifted), rng.normal(-0.3, 1.0, size=n), rng)
    return Rasch(b), np.vstack([ref, foc]), np.repeat(["ref", "foc"], n)


@pytest.mark.parametrize("matching", ["total", "rest"])
def test_matches_a_hand_computation(matching):
    model, x, groups = _two_groups(150, 0.8, 0, items=6)
    dif = mantel_haenszel(model, x, groups=groups, focal="foc", matching=matching)
    focal = groups == "foc"
    for item in range(6):
        chi2, alpha, se_log = _hand_mh(_strata_tables(x, focal, item, matching))
        assert dif.chi2[item] == pytest.approx(chi2, rel=1e-12)
        assert dif.odds_ratio[item] == pytest.approx(alpha, rel=1e-12)
        assert dif.delta[item] == pytest.approx(-2.35 * np.log(alpha), rel=1e-12)
        assert dif.delta_se[item] == pytest.approx(2.35 * se_log, rel=1e-12)


def test_matches_statsmodels_stratified_table():
    tables_mod = pytest.importorskip("statsmodels.stats.contingency_tables")
    model, x, groups = _two_groups(200, 0.8, 1, items=6)
    dif = mantel_haenszel(model, x, groups=groups, focal="foc")
    focal = groups == "foc"
    for item in range(6):
        # rows: reference, focal; columns: right, wrong (statsmodels' odds ratio a·d / b·c)
        tabs = [t[:, ::-1] for t in _strata_tables(x, focal, item) if t.sum() > 1]
        st = tables_mod.StratifiedTable(tabs)
        assert dif.odds_ratio[item] == pytest.approx(st.oddsratio_pooled, rel=1e-10)
        corrected = st.test_null_odds(correction=True).statistic
        if dif.chi2[item] > 0:
            assert dif.chi2[item] == pytest.approx(corrected, rel=1e-10)
        else:  # |ΣA − ΣE| < ½: floored at 0 as R's mantelhaen.test does; statsmodels is not
            assert corrected < 0.05  # (|ΣA − ΣE| − ½)² / ΣVar(A) with ΣVar(A) of dozens
        assert dif.delta_se[item] / 2.35 == pytest.approx(st.logodds_pooled_se, rel=1e-10)


def test_recovers_the_rasch_shift_and_classifies():
    # under the Rasch model, matching on the total score, α_MH estimates exp(shift)
    # (Holland & Thayer 1988)
    model, x, groups = _two_groups(4000, 1.0, 2)
    dif = mantel_haenszel(model, x, groups=groups, focal="foc")
    assert np.log(dif.odds_ratio[0]) == pytest.approx(1.0, abs=3 * dif.delta_se[0] / 2.35)
    assert dif.ets_class[0] == "C" and dif.delta[0] < -1.5
    assert set(dif.ets_class[1:].tolist()) <= {"A", "B"}
    assert np.all(np.abs(dif.delta[1:]) < 1.0)


def test_no_dif_gives_class_a():
    model, x, groups = _two_groups(1500, 0.0, 3)
    dif = mantel_haenszel(model, x, groups=groups)
    assert np.mean(dif.ets_class == "A") >= 0.9
    assert dif.reference == "foc" and dif.focal == "ref"  # sorted labels, second is focal


def test_ets_rules_at_their_boundaries():
    from qabilet.calibration.dif import ets_classes

    delta = np.array([-0.9, -1.2, -1.2, -1.6, -1.6, 1.6, np.nan])
    se = np.array([0.1, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1])
    p = np.array([1e-6, 1e-6, 0.2, 1e-6, 1e-6, 1e-6, 0.5])
    assert ets_classes(delta, se, p).tolist() == ["A", "B", "A", "C", "B", "C", ""]


def test_polytomous_items_count_in_the_score_but_are_not_tested():
    rng = np.random.default_rng(4)
    bank = ItemBank([TwoPL(np.ones(4), np.linspace(-1, 1, 4)),
                     GradedResponse([1.2], [[-0.5, 0.5]])])
    x = simulate_responses(bank, rng.normal(size=600), rng)
    dif = mantel_haenszel(bank, x, groups=rng.integers(0, 2, 600))
    assert np.isnan(dif.chi2[4]) and dif.ets_class[4] == ""
    assert np.isfinite(dif.chi2[:4]).all()
    assert "Q5" in dif.summary()


def test_bad_input_is_refused():
    model, x, groups = _two_groups(50, 0.0, 5, items=4)
    with pytest.raises(InvalidParameterError, match="exactly two groups"):
        mantel_haenszel(model, x, groups=np.arange(100) % 3)
    with pytest.raises(InvalidParameterError, match="focal"):
        mantel_haenszel(model, x, groups=groups, focal="other")
    with pytest.raises(InvalidParameterError, match="matching"):
        mantel_haenszel(model, x, groups=groups, matching="theta")
    with pytest.raises(InvalidParameterError, match="one label per person"):
        mantel_haenszel(model, x, groups=groups[:10])
    missing = x.astype(float)
    missing[0, 0] = np.nan
    with pytest.raises(InvalidResponseError, match="complete data"):
        mantel_haenszel(model, missing, groups=groups)
    pytest.importorskip("pandas")
    frame = mantel_haenszel(model, x, groups=groups).to_frame()
    assert list(frame.columns) == ["chi2", "p", "alpha_mh", "delta", "delta_se", "ets_class"]
