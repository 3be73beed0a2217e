"""The study figures draw the numbers given, where given, and refuse misshapen input."""

import numpy as np
import pytest

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.plot import study_by_theta, study_cells, study_levels, to_svg


def test_by_theta_draws_each_level_at_the_bins_midpoints():
    fig = study_by_theta([-1.0, -0.5, 0.0, 0.5], {"mfi": [0.3, np.nan, 0.25],
                                                   "kl": [0.31, 0.28, 0.26]})
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"mfi", "kl"}
    assert lines["kl"].get_xdata().tolist() == [-0.75, -0.25, 0.25]
    assert lines["kl"].get_ydata().tolist() == [0.31, 0.28, 0.26]
    assert np.isnan(lines["mfi"].get_ydata()[1])  # a gap, not a zero
    with pytest.raises(InvalidParameterError, match=r"lines\['x'\]: expected 3 values"):
        study_by_theta([-1.0, -0.5, 0.0, 0.5], {"x": [0.1, 0.2]})
    with pytest.raises(InvalidParameterError, match="edges"):
        study_by_theta([0.0, 0.0, 1.0], {"x": [0.1, 0.2]})


def test_cells_is_a_heat_map_of_the_values_with_blanks():
    values = np.array([[0.2, np.nan], [0.3, 0.4], [0.5, 0.6]])
    fig = study_cells(["1", "2", "3"], [0.0, 0.5, 1.0], values)
    mesh = fig.axes[0].collections[0]
    drawn = mesh.get_array()
    assert np.ma.getmaskarray(drawn).ravel().tolist() == [False, True, False, False, False, False]
    assert drawn.compressed().tolist() == [0.2, 0.3, 0.4, 0.5, 0.6]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["1", "2", "3"]
    with pytest.raises(InvalidParameterError, match=r"values: expected shape \(2, 2\)"):
        study_cells(["1", "2"], [0.0, 0.5, 1.0], values)


def test_levels_has_a_panel_per_statistic():
    fig = study_levels(["none", "randomesque:5"], {"RMSE": [0.3, 0.32], "overlap": [0.4, 0.2],
                                                   "bias": [-0.01, 0.02]}, title="exposure")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["RMSE", "overlap", "bias"]
    points = shown[1].get_lines()[0]
    assert points.get_xdata().tolist() == [0.4, 0.2] and points.get_ydata().tolist() == [0, 1]
    assert 'aria-label="by exposure"' in to_svg(fig, title="by exposure")
    with pytest.raises(InvalidParameterError, match=r"statistics\['RMSE'\]: expected 2 values"):
        study_levels(["a", "b"], {"RMSE": [0.3]})
