"""`qabilet calibrate --dims`: a two-factor calibration written, read back and scored."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.calibration import MML
from qabilet.cli import app
from qabilet.engine.models import TwoPL
from qabilet.engine.scoring import score
from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.parameter_file import load_bank

runner = CliRunner()
IDS = [f"A{i}" for i in range(5)] + [f"C{i}" for i in range(5)]
SPEC = "A=A0,A1,A2,A3,A4;C=C0,C1,C2,C3,C4"
DIMS = {"A": IDS[:5], "C": IDS[5:]}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(60)
    a = np.zeros((10, 2))
    a[:5, 0] = rng.uniform(1.0, 2.0, 5)
    a[5:, 1] = rng.uniform(1.0, 2.0, 5)
    truth = TwoPL.from_slope_intercept(a, rng.normal(0, 1, 10))
    theta = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=2000)
    x = simulate_responses(truth, theta, rng)
    path = tmp_path_factory.mktemp("dims") / "responses.csv"
    rows = ["person_id," + ",".join(IDS)]
    rows += [f"p{k}," + ",".join(str(v) for v in row) for k, row in enumerate(x)]
    path.write_text("\n".join(rows) + "\n")
    return path, x


def test_two_factor_file_matches_the_library_and_scores(data, tmp_path):
    path, x = data
    out = tmp_path / "bank.json"
    result = runner.invoke(app, ["calibrate", str(path), "--model", "2pl", "--dims", SPEC,
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    bank, _ = load_bank(out)
    direct = MML(model="2pl", dims=DIMS).fit(x, item_ids=IDS)
    assert bank.n_dims == 2 and bank.latent.factor_names == ("A", "C")
    point = np.array([[0.3, -0.2], [1.0, 0.5]])
    np.testing.assert_allclose(bank.log_prob(point), direct.bank.log_prob(point), atol=1e-10)
    doc = json.loads(out.read_text())
    np.testing.assert_allclose(doc["factor_correlations"], direct.latent.correlation, atol=1e-12)
    assert doc["items"][0]["a"][1] == 0.0 and len(doc["items"][0]["se"]["a"]) == 2
    assert "correlated factors" in doc["method"]
    scored = runner.invoke(app, ["score", str(out), str(path), "--method", "map"])
    assert scored.exit_code == 0, scored.output
    header = scored.stdout.splitlines()[0].split(",")
    assert header == ["person_id", "theta_A", "se_A", "theta_C", "se_C", "status"]
    first = [float(v) for v in scored.stdout.splitlines()[1].split(",")[1:5]]
    ref = score(direct.bank, x[:1], method="map")
    np.testing.assert_allclose(first, [ref.theta[0, 0], ref.se[0, 0], ref.theta[0, 1],
                                       ref.se[0, 1]], atol=1e-8)


@pytest.mark.parametrize("spec, message", [
    ("A=", "expected FACTOR=ITEM"),
    ("A=A0;A=A1", "given twice"),
    ("A=A0,Z9;C=C0", "unknown item"),
])
def test_bad_dims(data, spec, message):
    path, _ = data
    result = runner.invoke(app, ["calibrate", str(path), "--model", "2pl", "--dims", spec])
    assert result.exit_code == 2
    assert message in result.output


def test_orthogonal_needs_dims(data):
    path, _ = data
    result = runner.invoke(app, ["calibrate", str(path), "--model", "2pl", "--orthogonal"])
    assert result.exit_code == 2 and "--orthogonal needs --dims" in result.output


def test_mhrm_writes_the_library_s_fit_with_its_method_and_seed(data, tmp_path):
    path, x = data
    out = tmp_path / "mhrm.json"
    result = runner.invoke(app, ["calibrate", str(path), "--model", "2pl", "--dims", SPEC,
                                 "--method", "mhrm", "--seed", "7", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "MML-MH-RM calibration" in result.stdout and "Monte Carlo SE" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["method"].startswith("MH-RM (Cai 2010), 2 correlated factors")
    assert "Louis' identity over posterior draws" in doc["method"]
    direct = MML(model="2pl", dims=DIMS, method="mhrm", seed=7).fit(x, item_ids=IDS)
    np.testing.assert_allclose(doc["factor_correlations"], direct.latent.correlation, atol=1e-12)
    assert doc["loglik"] == pytest.approx(direct.loglik, abs=1e-6)


def test_mhrm_needs_factors(data):
    path, _ = data
    result = runner.invoke(app, ["calibrate", str(path), "--model", "2pl", "--method", "mhrm"])
    assert result.exit_code != 0
    assert "--method mhrm needs --dims SPEC" in result.output
