"""qabilet.plot's faking summary and chart: the numbers are computed here by hand, and the points
drawn are the standardised scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from qabilet import plot
from qabilet.engine.exceptions import InvalidParameterError


def _scores(n=200, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=(n, 3))
    honest = true + rng.normal(0, 0.5, (n, 3))
    faking = np.arange(n) % 2 == 1
    faked = honest + np.where(faking[:, None], [0.8, 0.0, 0.3], 0.0)
    return true, honest, faked, faking


def test_the_summary_is_the_hand_computed_numbers():
    true, honest, faked, faking = _scores()
    s = plot.faking_summary(honest, faked, faking, true, cuts=(-1.0, 1.0), top=0.1)
    centre, spread = honest.mean(axis=0), honest.std(axis=0)
    hz, fz = (honest - centre) / spread, (faked - centre) / spread
    np.testing.assert_allclose(s.honest_z, hz)
    np.testing.assert_allclose(s.faked_z, fz)
    for k in range(3):
        assert s.r_honest[k] == pytest.approx(np.corrcoef(honest[:, k], true[:, k])[0, 1])
        assert s.r_faked[k] == pytest.approx(np.corrcoef(faked[:, k], true[:, k])[0, 1])
        assert s.rank[k] == pytest.approx(spearmanr(honest[:, k], faked[:, k])[0])
        assert s.inflation[k] == pytest.approx(np.mean(fz[faking, k] - hz[faking, k]))
        band_h = np.where(hz[:, k] < -1, 0, np.where(hz[:, k] < 1, 1, 2))
        band_f = np.where(fz[:, k] < -1, 0, np.where(fz[:, k] < 1, 1, 2))
        assert s.band_change[k] == pytest.approx(np.mean(band_h[faking] != band_f[faking]))
        best = np.argsort(-faked[:, k])[:20]
        assert s.top_fakers[k] == pytest.approx(faking[best].mean())
    # the trait nobody faked on: same ranks, no inflation, no band change, fakers as common as anyone
    assert (s.rank[1], s.inflation[1], s.band_change[1]) == (pytest.approx(1.0), 0.0, 0.0)
    assert s.inflation[0] > s.inflation[2] > 0 and s.top_fakers[0] > s.faker_share == 0.5
    # one trait, everyone faking
    one = plot.faking_summary(honest[:, 0], faked[:, 0] + 1.0)
    assert one.r_honest is None and one.top_fakers.tolist() == [1.0]
    assert one.inflation[0] == pytest.approx(np.mean(faked[:, 0] + 1.0 - honest[:, 0]) / spread[0])


def test_bad_inputs_are_refused():
    _, honest, faked, faking = _scores(20)
    with pytest.raises(InvalidParameterError, match="faked"):
        plot.faking_summary(honest, faked[:, :2], faking)
    with pytest.raises(InvalidParameterError, match="faking"):
        plot.faking_summary(honest, faked, np.zeros(20, dtype=bool))
    with pytest.raises(InvalidParameterError, match="cuts"):
        plot.faking_summary(honest, faked, faking, cuts=(1.0, -1.0))
    with pytest.raises(InvalidParameterError, match="top"):
        plot.faking_summary(honest, faked, faking, top=1.0)
    with pytest.raises(InvalidParameterError, match="honest"):
        plot.faking_summary(np.ones((20, 3)), faked, faking)
    with pytest.raises(InvalidParameterError, match="labels"):
        plot.honest_faked(honest, faked, faking, labels={"z": "?"})


def test_the_chart_draws_every_person_and_trait_and_states_the_numbers():
    _, honest, faked, faking = _scores()
    s = plot.faking_summary(honest, faked, faking)
    fig = plot.honest_faked(honest, faked, faking, title="Likert")
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["fakers"].get_xydata(),
                               np.c_[s.honest_z[faking].ravel(), s.faked_z[faking].ravel()])
    np.testing.assert_allclose(lines["honest"].get_xydata(),
                               np.c_[s.honest_z[~faking].ravel(), s.faked_z[~faking].ravel()])
    x, y = lines["identity (no change)"].get_xydata().T
    np.testing.assert_array_equal(x, y)
    assert ax.get_title() == (f"Likert\nrank ρ {s.rank.mean():.3f}, inflation "
                              f"{s.inflation.mean():+.2f} SD, band changes "
                              f"{100 * s.band_change.mean():.0f} %")
    assert "band cuts" in ax.get_legend_handles_labels()[1]
    # drawn on given axes, everyone faking: no grey points
    from matplotlib.figure import Figure
    other = Figure().add_subplot()
    assert plot.honest_faked(honest, faked + 0.5, ax=other) is other.figure
    assert "honest" not in {line.get_label() for line in other.get_lines()}
