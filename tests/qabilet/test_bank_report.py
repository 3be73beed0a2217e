"""The technical report's numbers against what was given and against independent computations.

240 simulees with known θ answered six items per dimension of the demonstration bank and were
issued profiles (``tests/qabilet/conftest.py``). Each figure of :func:`bank_report` is checked
against the answers as they were given (not as the bank stored them), the true θ, or the
library's statistic computed here on a matrix built from those answers.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from qabilet.bank_report import bank_report
from qabilet.calibration import marginal_reliability, rmsd
from qabilet.itembank.database import connect
from qabilet.itembank.parameter_file import ParameterFile
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import scale_bank


@pytest.fixture
def reported(answered):
    url, given = answered
    engine = connect(url)
    repo = BankRepository(engine)
    yield repo, given, bank_report(repo)
    engine.dispose()


def _given_matrix(repo, given, dimension):
    """The answers as given, in model categories: sessions × the dimension's items."""
    version = repo.version()
    items = {i.id: i for i in repo.items(version=version.number)}
    ids = [i for i in version.item_ids if items[i].dimension == dimension]
    recodings = version.parameters.recodings()
    x = np.full((len(given.sessions), len(ids)), np.nan)
    for k, s in enumerate(given.sessions):
        for j, item in enumerate(ids):
            if item in given.codes[s]:
                code = given.codes[s][item]
                x[k, j] = list(recodings[item]).index(code) if item in recodings else code
    return ids, x


def test_the_data_are_the_sessions_given(reported):
    _, given, report = reported
    assert report.n_sessions == len(given.sessions)
    assert report.n_answers == sum(len(c) for c in given.codes.values())
    expected = {}
    for level, language in zip(given.levels, given.languages, strict=True):
        expected[(level, language)] = expected.get((level, language), 0) + 1
    assert report.sessions == expected
    assert {lv: n for lv, (n, _) in report.validity.items()} == {"high": 80, "middle": 80, "low": 80}


def test_item_statistics_and_exposure_are_those_of_the_answers_given(reported):
    repo, given, report = reported
    scale = report.scales[1]
    ids, x = _given_matrix(repo, given, scale.dimension)
    levels = np.asarray(given.levels)
    rows = {r.item_id: r for r in scale.items}
    for j, item in enumerate(ids):
        seen = ~np.isnan(x[:, j])
        row = rows[item]
        assert row.n == seen.sum()
        if seen.any():
            assert row.mean == pytest.approx(x[seen, j].mean(), abs=1e-12)
            counts = np.bincount(x[seen, j].astype(int), minlength=len(row.category_use))
            assert row.category_use == pytest.approx(counts / seen.sum(), abs=1e-12)
        for level, rate in row.exposure.items():
            assert rate == pytest.approx(seen[levels == level].mean(), abs=1e-12)


def test_item_fit_is_the_libraries_rmsd_per_language_on_the_answers_given(reported):
    repo, given, report = reported
    scale = report.scales[0]
    ids, x = _given_matrix(repo, given, scale.dimension)
    keep = ~np.isnan(x).all(axis=1)
    fit = rmsd(scale_bank(repo.version().parameters, [scale.dimension], ids), x[keep],
               groups=np.asarray(given.languages)[keep])
    rows = {r.item_id: r for r in scale.items}
    for h, lang in enumerate(fit.groups):
        for j, item in enumerate(ids):
            if np.isfinite(fit.rmsd[h, j]):
                assert rows[item].rmsd[str(lang)] == pytest.approx(fit.rmsd[h, j], abs=1e-12)


def test_scales_reliability_against_the_pool_and_the_true_theta(reported):
    repo, given, report = reported
    version = repo.version()
    items = {i.id: i for i in repo.items(version=version.number)}
    levels = np.asarray(given.levels)
    row = {s: k for k, s in enumerate(given.sessions)}
    estimated = np.full(given.theta.shape, np.nan)  # the profiles' EAP estimates
    for p in repo.profiles():
        for r in (*p.professional, *p.personal):
            estimated[row[p.candidate_id], version.dimensions.index(r.dimension)] = r.theta
    for f, scale in enumerate(report.scales):
        for lv in scale.levels:
            pool = [i for i in version.item_ids
                    if items[i].dimension == scale.dimension and lv.level in items[i].levels]
            assert list(lv.item_ids) == pool
            assert lv.marginal_reliability == pytest.approx(
                marginal_reliability(scale_bank(version.parameters, [scale.dimension], pool)),
                abs=1e-12)
            assert lv.n_sessions == (levels == lv.level).sum()
            # the EAP estimates' reliability is their squared correlation with the true θ: with
            # 80 simulees r² has a sampling SD of about 0.04
            here = levels == lv.level
            r = np.corrcoef(estimated[here, f], given.theta[here, f])[0, 1]
            assert lv.empirical_reliability == pytest.approx(r**2, abs=0.15)
            assert lv.empirical_reliability < lv.marginal_reliability


def test_drift_against_the_previous_version_and_the_flags_stored(reported):
    """A second version moves one slope by +0.5: only that item drifts, by that much."""
    repo, _, _ = reported
    first = repo.version()
    data = first.parameters.model_dump(mode="json", exclude_none=True)
    moved = data["items"][0]
    factor = next(k for k, a in enumerate(moved["a"]) if a)
    moved["a"][factor] += 0.5
    second = repo.create_version(ParameterFile.model_validate(data), first.provenance)
    repo.publish_version(second.number)
    repo.add_flags(second.number, [(moved["id"], "dif", {"ets_class": "C", "smd": -0.31}),
                                   ("SRV-L05", "misfit:kk", {"rmsd": 0.15})], by="test")
    report = bank_report(repo, second.number)
    assert report.previous == first.number and report.n_sessions == 0
    rows = {r.item_id: r for s in report.scales for r in s.items}
    assert rows[moved["id"]].drift.delta_a == pytest.approx(0.5, abs=1e-12)
    # the graded item's expected score is the sum of its boundary curves, Σ_k σ(aθ + d_k)
    d = np.asarray(moved["d"])

    def gap(t):
        return (np.sum(1 / (1 + np.exp(-(moved["a"][factor] * t + d))))
                - np.sum(1 / (1 + np.exp(-((moved["a"][factor] - 0.5) * t + d)))))
    square, _ = integrate.quad(lambda t: stats.norm.pdf(t) * gap(t) ** 2, -8, 8)
    assert rows[moved["id"]].drift.rmsd == pytest.approx(np.sqrt(square) / d.size, abs=1e-3)
    se = moved["se"]["a"][factor]
    assert rows[moved["id"]].drift.z_a == pytest.approx(0.5 / np.hypot(se, se), rel=1e-9)
    others = [r.drift for i, r in rows.items() if i != moved["id"]]
    assert all(d.delta_a == 0 and d.rmsd == 0 for d in others)
    assert [f.kind for f in rows[moved["id"]].flags] == ["dif"]
    assert [f.kind for f in rows["SRV-L05"].flags] == ["misfit:kk"]
    assert {f.kind for f in report.flags} == {"dif", "misfit:kk"}
    assert all(np.isnan(r.mean) and r.n == 0 for r in rows.values())
