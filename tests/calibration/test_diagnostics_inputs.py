"""What every diagnostic accepts: banks, models, fitted MML (anchors, groups), DataFrames."""

import dataclasses

import numpy as np
import pytest

from qabilet.calibration import (
    MML,
    item_fit,
    item_statistics,
    local_dependence,
    m2,
    mantel_haenszel,
    person_fit,
)
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import TwoPL
from qabilet.engine.simulation import simulate_responses

IDS = [f"I{i}" for i in range(8)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    truth = ItemBank([TwoPL(np.linspace(0.8, 1.8, 8), np.linspace(-1.5, 1.5, 8))], IDS)
    x = simulate_responses(truth, rng.normal(size=1500), rng)
    return truth, x


def _all(items, x):
    groups = np.arange(len(x)) % 2
    return [
        item_statistics(items, x), item_fit(items, x), person_fit(items, x),
        local_dependence(items, x), mantel_haenszel(items, x, groups=groups), m2(items, x),
    ]


def test_every_result_is_frozen_and_renders(data):
    truth, x = data
    for res in _all(truth, x):
        field = dataclasses.fields(res)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(res, field, None)
        text = res.summary()
        assert isinstance(text, str) and len(text.splitlines()) >= 2
        assert res._repr_html_() == f"<pre>{__import__('html').escape(text)}</pre>"
        assert len(repr(res)) < 200


def test_anchored_fit_counts_only_the_calibrated_parameters(data):
    truth, x = data
    fit = MML(model="2pl", compute_se=False, fixed=truth.subset([0, 1, 2])).fit(x, item_ids=IDS)
    sx2 = item_fit(fit, x)
    assert sx2.n_estimated.tolist() == [0, 0, 0] + [2] * 5
    res = m2(fit, x)
    assert res.n_estimated == fit.n_parameters == 12  # 5 items × 2 + latent mean and variance


def test_multi_group_and_unfitted_estimators_are_refused(data):
    truth, x = data
    groups = np.repeat(["a", "b"], len(x) // 2)
    fit = MML(model="2pl", compute_se=False).fit(x, groups=groups)
    with pytest.raises(InvalidParameterError, match=r"group\(label\)\.bank"):
        item_fit(fit, x)
    with pytest.raises(InvalidParameterError, match="holds no fit; pass what MML.fit returned"):
        m2(MML(), x)
    with pytest.raises(InvalidParameterError, match="items"):
        item_fit("2pl", x)


def test_known_parameters_keep_every_degree_of_freedom(data):
    truth, x = data
    res = m2(truth, x, parameters_estimated=False)
    assert res.n_estimated == 0 and res.df == res.n_moments == 36


def test_multidimensional_items_are_refused(data):
    _, x = data
    slopes = np.column_stack([np.ones(8), np.r_[np.zeros(4), np.ones(4)]])
    two = TwoPL.from_slope_intercept(slopes, np.zeros(8))
    with pytest.raises(InvalidParameterError, match="unidimensional"):
        item_fit(two, x)
    assert item_statistics(two, x).alpha > 0  # classical statistics need no model


def test_data_frames_are_read_by_item_id(data):
    pd = pytest.importorskip("pandas")
    truth, x = data
    frame = pd.DataFrame(x[:, ::-1], columns=IDS[::-1])
    np.testing.assert_allclose(item_fit(truth, frame).s_x2, item_fit(truth, x).s_x2)
    with pytest.raises(Exception, match="no column"):
        item_fit(truth, frame.drop(columns=["I3"]))
