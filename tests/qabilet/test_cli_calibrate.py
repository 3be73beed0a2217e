"""`qabilet calibrate`: the file it writes against an MML fit made directly on the same arrays,
recovery of known parameters, the recoding of category codes (and `qabilet score` applying it),
the mirt table, and errors (one line on stderr, exit status 2, nothing written)."""

import csv
import inspect
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet import cli_calibrate
from qabilet.calibration import MML
from qabilet.calibration._design import SUPPORTED
from qabilet.cli import app
from qabilet.engine.exceptions import ConvergenceWarning
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.scoring import score
from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.parameter_file import load_bank, read_parameter_file

runner = CliRunner()
QABILET = Path(sys.executable).parent / "qabilet"

TRUE_A = np.linspace(0.8, 2.0, 8)
TRUE_B = np.linspace(-1.5, 1.5, 8)
ITEMS_2PL = [f"KZ-{j:02d}" for j in range(8)]
# items 0-3 are coded 1/2 in the file, items 4-7 0/1
CODES_2PL = [[1, 2]] * 4 + [[0, 1]] * 4


def _write_csv(path, person_ids, item_ids, x, observed, codes, extra=None):
    """A response file written here (not by the library): codes[j][k] is category k of item j."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["person_id", *([extra] if extra else []), *item_ids])
    for p, pid in enumerate(person_ids):
        cells = [str(codes[j][x[p, j]]) if observed[p, j] else "" for j in range(len(item_ids))]
        writer.writerow([pid, *(["A"] if extra else []), *cells])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _direct_fit(x, observed, item_ids, **options):
    """The same calibration through the library API, on the 0-based arrays."""
    return MML(**options).fit(x, observed, item_ids=item_ids)


def _rows(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def two_pl(tmp_path_factory):
    """3000 simulated persons on eight 2PL items (5 % missing), calibrated once by the CLI."""
    tmp = tmp_path_factory.mktemp("two_pl")
    rng = np.random.default_rng(20240611)
    x = simulate_responses(TwoPL(TRUE_A, TRUE_B), rng.standard_normal(3000), rng)
    observed = rng.random(x.shape) > 0.05
    ids = [f"P{p:04d}" for p in range(x.shape[0])]
    responses = _write_csv(tmp / "responses.csv", ids, ITEMS_2PL, x, observed, CODES_2PL,
                           extra="form")
    out = tmp / "params.json"
    result = runner.invoke(app, ["calibrate", str(responses), "--model", "2pl", "--exclude",
                                 "form", "--out", str(out)])
    direct = _direct_fit(x, observed, ITEMS_2PL, model="2pl")
    return {"tmp": tmp, "x": x, "observed": observed, "responses": responses, "out": out,
            "result": result, "direct": direct}


# -- the parameter file ---------------------------------------------------------------------------
def test_parameter_file_equals_the_library_fit_on_the_same_arrays(two_pl):
    result, direct = two_pl["result"], two_pl["direct"]
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress line when stderr is not a terminal
    assert result.stdout == direct.summary() + "\n"

    bank, recodings = load_bank(two_pl["out"])
    assert bank.item_ids == tuple(ITEMS_2PL)
    got = bank.to_records()
    want = direct.bank.to_records()
    for g, w in zip(got, want, strict=True):
        assert g["model"] == w["model"] == "2pl"
        np.testing.assert_allclose([g["a"], g["b"]], [w["a"], w["b"]], rtol=0, atol=1e-8)
    np.testing.assert_allclose(bank.latent.cov, [[1.0]])

    pf = read_parameter_file(two_pl["out"])
    assert pf.model == "2pl"
    assert pf.loglik == pytest.approx(direct.loglik, abs=1e-8)
    assert pf.aic == pytest.approx(direct.aic, abs=1e-8)
    assert pf.bic == pytest.approx(direct.bic, abs=1e-8)
    assert pf.n_iter == direct.n_iter and pf.converged is True
    assert pf.method == ("MML-EM (Bock-Aitkin), 61 quadrature points on [-6, 6], SQUAREM; "
                         "SE: observed information (Louis' identity)")
    for item, est in zip(pf.items, direct.items, strict=True):
        se = est.traditional_se_record()
        assert set(item.se) == {"a", "b"}
        np.testing.assert_allclose([item.se["a"], item.se["b"]], [se["a"], se["b"]], atol=1e-8)
        assert 0 < item.se["a"] < 0.3 and 0 < item.se["b"] < 0.3


def test_known_parameters_are_recovered(two_pl):
    bank, _ = load_bank(two_pl["out"])
    records = bank.to_records()
    b = np.array([r["b"] for r in records])
    a = np.array([r["a"] for r in records])
    assert np.abs(b - TRUE_B).max() < 0.3
    assert np.abs(a - TRUE_A).max() < 0.4


def test_original_codes_are_recorded_and_scoring_applies_them(two_pl):
    _, recodings = load_bank(two_pl["out"])
    assert recodings == {item: tuple(codes) for item, codes in zip(ITEMS_2PL, CODES_2PL,
                                                                   strict=True)}
    # `qabilet score` reads the same 1/2-coded file with the written JSON; the scores equal the
    # engine's on the 0-based arrays
    result = runner.invoke(app, ["score", str(two_pl["out"]), str(two_pl["responses"]),
                                 "--exclude", "form"])
    assert result.exit_code == 0, result.output
    header, rows = _rows(result.stdout)
    assert header == ["person_id", "theta", "se", "status"]
    bank, _ = load_bank(two_pl["out"])
    expected = score(bank, two_pl["x"], two_pl["observed"], method="eap")
    np.testing.assert_allclose([float(r[1]) for r in rows], expected.theta, rtol=1e-12)
    np.testing.assert_allclose([float(r[2]) for r in rows], expected.se, rtol=1e-12)


# -- polytomous items, any codes --------------------------------------------------------------------
GRM_ITEMS = ["L1", "L2", "L3", "L4", "L5", "D1"]
GRM_CODES = [[1, 2, 3, 4]] * 4 + [[0, 5, 7, 9], [3, 8]]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Five 4-category items coded 1..4 (one coded 0, 5, 7, 9) and one dichotomous item."""
    tmp = tmp_path_factory.mktemp("graded")
    rng = np.random.default_rng(7)
    thresholds = [[-1.5, -0.2, 1.0], [-1.0, 0.0, 1.2], [-0.8, 0.3, 1.5], [-1.2, 0.1, 0.9],
                  [-0.5, 0.4, 1.8], [0.2]]
    truth = GradedResponse([1.0, 1.4, 1.8, 1.2, 0.9, 1.5],
                           [np.array(t) for t in thresholds])
    x = simulate_responses(truth, rng.standard_normal(600), rng)
    observed = rng.random(x.shape) > 0.05
    ids = [f"P{p}" for p in range(x.shape[0])]
    responses = _write_csv(tmp / "graded.csv", ids, GRM_ITEMS, x, observed, GRM_CODES)
    return {"tmp": tmp, "x": x, "observed": observed, "responses": responses}


def test_graded_items_with_codes_one_to_four(graded):
    out = graded["tmp"] / "grm.json"
    result = runner.invoke(app, ["calibrate", str(graded["responses"]), "-m", "GRM", "-o",
                                 str(out)])
    assert result.exit_code == 0, result.output
    direct = _direct_fit(graded["x"], graded["observed"], GRM_ITEMS, model="grm")
    pf = read_parameter_file(out)
    assert pf.model == "grm"
    assert pf.recodings() == {i: tuple(c) for i, c in zip(GRM_ITEMS, GRM_CODES, strict=True)}
    bank = pf.to_bank()
    assert bank.n_categories.tolist() == [4, 4, 4, 4, 4, 2]
    for item, got, want, est in zip(pf.items, bank.to_records(), direct.bank.to_records(),
                                    direct.items, strict=True):
        se = est.traditional_se_record()
        np.testing.assert_allclose(got["a"], want["a"], atol=1e-8)
        np.testing.assert_allclose(got["b"], want["b"], atol=1e-8)
        assert len(item.se["b"]) == len(got["b"])
        np.testing.assert_allclose(item.se["b"], se["b"], atol=1e-8)
        np.testing.assert_allclose(item.se["a"], se["a"], atol=1e-8)


def test_mirt_table_to_stdout(graded):
    result = runner.invoke(app, ["calibrate", str(graded["responses"]), "-m", "grm", "--format",
                                 "mirt"])
    assert result.exit_code == 0, result.output
    header, rows = _rows(result.stdout)  # the table only, no summary
    assert header == ["item", "a1", "d1", "d2", "d3"]
    direct = _direct_fit(graded["x"], graded["observed"], GRM_ITEMS, model="grm")
    assert [r[0] for r in rows] == GRM_ITEMS
    for row, want in zip(rows, direct.mirt_table(), strict=True):
        cells = dict(zip(header, row, strict=True))
        for column in header[1:]:
            if column in want:
                assert float(cells[column]) == pytest.approx(want[column], abs=1e-8)
            else:
                assert cells[column] == ""  # the dichotomous item has one intercept (NA in mirt)
    assert rows[-1][3:] == ["", ""]


def test_mirt_table_to_a_file_and_the_summary_to_stdout(two_pl):
    out = two_pl["tmp"] / "mirt.csv"
    result = runner.invoke(app, ["calibrate", str(two_pl["responses"]), "-m", "2pl",
                                 "--exclude", "form", "-f", "mirt", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("MML-EM calibration: 8 items, 3000 persons")
    header, rows = _rows(out.read_text(encoding="utf-8"))
    assert header == ["item", "a1", "d", "g", "u"]
    # mirt's slope-intercept form of the written traditional parameters: d = −a·b, g = 0, u = 1
    bank, _ = load_bank(two_pl["out"])
    for row, record in zip(rows, bank.to_records(), strict=True):
        assert row[0] == record["id"]
        a1, d, g, u = map(float, row[1:])
        assert a1 == pytest.approx(record["a"], abs=1e-10)
        assert d == pytest.approx(-record["a"] * record["b"], abs=1e-10)
        assert (g, u) == (0.0, 1.0)


def test_rasch_writes_the_estimated_latent_variance(graded):
    out = graded["tmp"] / "rasch.json"
    # the four 1..4 items dichotomised: 1, 2 -> low, 3, 4 -> high
    x = (graded["x"][:, :4] >= 2).astype(int)
    obs = graded["observed"][:, :4]
    responses = _write_csv(graded["tmp"] / "dich.csv", [f"P{p}" for p in range(x.shape[0])],
                           GRM_ITEMS[:4], x, obs, [[1, 2]] * 4)
    result = runner.invoke(app, ["calibrate", str(responses), "-m", "rasch", "-o", str(out)])
    assert result.exit_code == 0, result.output
    direct = _direct_fit(x, obs, GRM_ITEMS[:4], model="rasch")
    pf = read_parameter_file(out)
    np.testing.assert_allclose(pf.latent.cov, direct.latent.cov, atol=1e-8)
    assert pf.latent.cov[0][0] != pytest.approx(1.0, abs=1e-3)
    for item, want in zip(pf.items, direct.bank.to_records(), strict=True):
        assert item.model == pf.model == "rasch"
        assert item.a is None and set(item.se) == {"b"}
        assert item.b == pytest.approx(want["b"], abs=1e-8)
    assert pf.method.endswith(f"; latent variance estimated, SE {direct.reference.cov_se[0, 0]:.4g}")


# the starting values of divide-by-total models take log(0) for the categories a 2-category item
# lacks (calibration/_design.py, start_model); harmless, and not what these tests are about
START_LOG_ZERO = "ignore:divide by zero encountered in log:RuntimeWarning"


@pytest.mark.filterwarnings(START_LOG_ZERO)
def test_nominal_items_write_the_intercepts_standard_errors(graded):
    out = graded["tmp"] / "nominal.json"
    result = runner.invoke(app, ["calibrate", str(graded["responses"]), "-m", "nominal", "-o",
                                 str(out)])
    assert result.exit_code == 0, result.output
    direct = _direct_fit(graded["x"], graded["observed"], GRM_ITEMS, model="nominal")
    pf = read_parameter_file(out)
    pf.to_bank()
    for item, record, est in zip(pf.items, direct.bank.to_records(), direct.items, strict=True):
        se = est.slope_intercept_se()
        np.testing.assert_allclose(item.a, record["a"], atol=1e-8)
        np.testing.assert_allclose(item.d, record["d"], atol=1e-8)
        k = len(record["d"])
        assert set(item.se) == {"d"}
        assert item.se["d"][0] is None  # d_0 = 0 is fixed
        np.testing.assert_allclose(item.se["d"][1:], [se[f"d{j}"] for j in range(1, k)],
                                   atol=1e-8)


@pytest.mark.filterwarnings(START_LOG_ZERO)
def test_no_se(graded):
    out = graded["tmp"] / "no_se.json"
    result = runner.invoke(app, ["calibrate", str(graded["responses"]), "-m", "gpcm", "--no-se",
                                 "--n-points", "41", "--tol", "1e-4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    direct = _direct_fit(graded["x"], graded["observed"], GRM_ITEMS, model="gpcm", n_points=41,
                         tol=1e-4, compute_se=False)
    pf = read_parameter_file(out)
    assert all(item.se is None for item in pf.items)
    assert pf.method == "MML-EM (Bock-Aitkin), 41 quadrature points on [-6, 6], SQUAREM; SE: not " \
                        "computed"
    for item, record in zip(pf.items, direct.bank.to_records(), strict=True):
        np.testing.assert_allclose(item.b, record["b"], atol=1e-8)


def test_se_numeric_gives_the_standard_errors_of_the_default(two_pl):
    out = two_pl["tmp"] / "numeric.json"
    result = runner.invoke(app, ["calibrate", str(two_pl["responses"]), "--model", "2pl",
                                 "--exclude", "form", "--se", "numeric", "--out", str(out)])
    assert result.exit_code == 0, result.output
    numeric, louis = read_parameter_file(out), read_parameter_file(two_pl["out"])
    for a, b in zip(numeric.items, louis.items, strict=True):
        np.testing.assert_allclose([a.se["a"], a.se["b"]], [b.se["a"], b.se["b"]], rtol=1e-6)
    bad = runner.invoke(app, ["calibrate", str(two_pl["responses"]), "--model", "2pl",
                              "--exclude", "form", "--se", "oakes"])
    assert bad.exit_code == 2 and "--se" in bad.output


# -- convergence and progress -------------------------------------------------------------------------
def test_max_iter_reached_warns_and_still_writes(graded):
    out = graded["tmp"] / "short.json"
    result = runner.invoke(app, ["calibrate", str(graded["responses"]), "-m", "grm",
                                 "--max-iter", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: EM stopped at max_iter=2 ")
    assert len(result.stderr.splitlines()) == 1
    with pytest.warns(ConvergenceWarning):
        direct = _direct_fit(graded["x"], graded["observed"], GRM_ITEMS, model="grm", max_iter=2)
    pf = read_parameter_file(out)
    assert pf.converged is False and pf.n_iter == direct.n_iter
    assert "converged False" in result.stdout


def test_progress_line_on_a_terminal_and_its_absence_with_quiet(graded, monkeypatch):
    monkeypatch.setattr(cli_calibrate, "_stderr_is_terminal", lambda: True)
    args = ["calibrate", str(graded["responses"]), "-m", "grm", "--tol", "1e-8", "-f", "mirt"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    err = shown.stderr
    assert err.startswith("\rEM cycle") and "log-likelihood -" in err and "max change" in err
    assert "converged; standard errors..." in err
    assert err.endswith("\r") and err.split("\r")[-2].strip() == ""  # erased at the end
    assert "\n" not in err
    quiet = runner.invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout == shown.stdout


# -- errors ----------------------------------------------------------------------------------------------
def _set_cell(path, row, column, value):
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _constant_item(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines]
    rows[0].append("KONST")
    for row in rows[1:]:
        row.append("1")
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")


ERRORS = {
    "constant item": (_constant_item, [], "item 'KONST': only the code 1"),
    "unknown model": (lambda p: None, ["-m", "2plx"],
                      f"--model: unknown model '2plx' for calibration; expected one of "
                      f"{', '.join(SUPPORTED)}"),
    "non-integer cell": (lambda p: _set_cell(p, 2, "L3", "1.5"), [], "row 2, column 'L3': "
                         "expected an integer category"),
    "negative code": (lambda p: _set_cell(p, 4, "D1", "-1"), [], "row 4, column 'D1'"),
    "unknown exclusion": (lambda p: None, ["--exclude", "group"], "row 0, column 'group'"),
    "polytomous item under 2pl": (lambda p: None, ["-m", "2pl"],
                                  "item 'L1': 2pl needs two categories; got 4"),
    "zero tolerance": (lambda p: None, ["--tol", "0"], "--tol: expected a positive number"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_exit_2_with_one_line_and_write_nothing(graded, tmp_path, case):
    edit, args, fragment = ERRORS[case]
    responses = tmp_path / "responses.csv"
    responses.write_text(graded["responses"].read_text(encoding="utf-8"), encoding="utf-8")
    edit(responses)
    out = tmp_path / "params.json"
    args = args if "-m" in args else [*args, "-m", "grm"]
    result = runner.invoke(app, ["calibrate", str(responses), *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["responses.csv"]


def test_missing_file_and_output_directory_keep_everything_as_it_was(graded, tmp_path):
    missing = tmp_path / "nope.csv"
    out = tmp_path / "params.json"
    out.write_text("previous\n", encoding="utf-8")
    result = runner.invoke(app, ["calibrate", str(missing), "-m", "grm", "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: No such file or directory\n"
    assert out.read_text(encoding="utf-8") == "previous\n"
    target = tmp_path / "missing" / "params.json"
    result = runner.invoke(app, ["calibrate", str(graded["responses"]), "-m", "grm", "-o",
                                 str(target)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {target}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.json"]


# -- the interface ------------------------------------------------------------------------------------
def test_help_names_every_calibratable_model_and_defaults_match_the_library():
    result = runner.invoke(app, ["calibrate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in SUPPORTED:
        assert name in result.stdout
    options = inspect.signature(cli_calibrate.calibrate).parameters
    library = inspect.signature(MML).parameters
    for option, argument in [("tol", "tol"), ("max_iter", "max_iter"), ("se", "se")]:
        assert options[option].default == library[argument].default
    # the library picks its grid by the number of factors; for one factor it is mirt's 61
    assert library["n_points"].default is None
    assert options["n_points"].default is None
    from qabilet.calibration import MML as Estimator

    fit = Estimator(model="2pl", compute_se=False).fit(np.array([[0, 1], [1, 0], [1, 1], [0, 0]]))
    assert fit.n_nodes == 61
    assert tuple(library["bounds"].default) == (-6.0, 6.0)  # the help text says [-6, 6]
    assert "calibrate" in runner.invoke(app, ["--help"]).stdout


def test_installed_script_calibrates(graded):
    done = subprocess.run([str(QABILET), "calibrate", str(graded["responses"]), "--model", "grm",
                           "--format", "mirt"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # stderr is a pipe here: no progress line
    header, rows = _rows(done.stdout)
    direct = _direct_fit(graded["x"], graded["observed"], GRM_ITEMS, model="grm")
    assert header == ["item", "a1", "d1", "d2", "d3"]
    np.testing.assert_allclose([float(r[1]) for r in rows],
                               [row["a1"] for row in direct.mirt_table()], atol=1e-8)
