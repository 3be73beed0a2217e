"""The adaptive engine against R's mirtCAT and catR on the same bank and answers.

Reference: tests/data/cat (mirtCAT's and catR's runs; how they were made: PROVENANCE.md there).
"""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import Blueprint, next_item, record, simulate_cat, start

DATA = Path(__file__).resolve().parents[1] / "data" / "cat"


@pytest.fixture(scope="module")
def ref():
    bank = ItemBank.from_records(json.loads((DATA / "bank.json").read_text())["items"])
    with open(DATA / "responses.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(bank.item_ids)
    x = np.array(rows[1:], dtype=np.int64)
    with open(DATA / "theta.csv", newline="") as fh:
        theta = np.array([float(r["theta"]) for r in csv.DictReader(fh)])
    mirtcat = json.loads((DATA / "mirtcat.json").read_text())
    catr = json.loads((DATA / "catr.json").read_text())
    return bank, x, theta, mirtcat, catr


#: mirtCAT's design: MI from θ = 0, EAP on 61 nodes on [−6, 6], stop at SE < 0.3 or 30 items
MIRTCAT = Blueprint(n_points=61, bounds=(-6.0, 6.0), se_target=0.3, max_items=30)


def test_same_item_sequences_and_estimates_as_mirtcat(ref):
    bank, x, theta, mirtcat, _ = ref
    sim = simulate_cat(bank, MIRTCAT, theta=theta, responses=x)
    per = mirtcat["per_simulee"]
    ids = np.asarray(bank.item_ids)
    same = np.mean([ids[sim.items[j, : sim.length[j]]].tolist() == p["items"]
                    for j, p in enumerate(per)])
    assert same >= 0.99
    np.testing.assert_allclose(sim.theta, [p["theta_hat"] for p in per], atol=1e-6, rtol=0)
    np.testing.assert_allclose(sim.se, [p["se"] for p in per], atol=1e-6, rtol=0)
    np.testing.assert_array_equal(sim.length, [p["test_length"] for p in per])
    s, ms = sim.summary(), mirtcat["summary"]
    assert s.mean_length == pytest.approx(ms["mean_test_length"], abs=1e-12)
    assert s.sd_length == pytest.approx(ms["sd_test_length"], rel=1e-9)
    assert s.rmse == pytest.approx(ms["rmse"], abs=1e-6)
    assert s.correlation == pytest.approx(ms["correlation"], abs=1e-6)


def test_defaults_match_mirtcat_length_and_precision(ref):
    """Our defaults (121-node grid) against mirtCAT's run and catR's (33 nodes, trapezoid)."""
    bank, x, theta, mirtcat, catr = ref
    s = simulate_cat(bank, theta=theta, responses=x).summary()
    for other in (mirtcat["summary"], catr["summary"]):
        assert abs(s.mean_length - other["mean_test_length"]) <= 0.3
        assert s.rmse <= other["rmse"] + 0.01


def test_live_session_follows_the_harness(ref):
    """start/next_item/record, one answer at a time, gives mirtCAT's sequence too."""
    bank, x, _, mirtcat, _ = ref
    for j in (0, 1, 2, 417, 999):
        state = start(bank, MIRTCAT, rng=0)
        given = []
        while not hasattr(step := next_item(state), "reason"):
            given.append(step.item_id)
            state = record(state, step.item_id, int(x[j, step.index]))
        ref_j = mirtcat["per_simulee"][j]
        assert given == ref_j["items"]
        assert state.theta == pytest.approx(ref_j["theta_hat"], abs=1e-9)
        assert state.se == pytest.approx(ref_j["se"], abs=1e-9)
        assert step.reason == ("max_items" if len(given) == 30 else "se_target")
