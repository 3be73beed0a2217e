"""The command line: `qabilet score` against the engine called directly, error handling (one line on
stderr, exit status 2, nothing written), `--help` without the heavy stack, and the demo."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet._version import __version__
from qabilet.cli import app
from qabilet.engine.bank import ItemBank
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.scoring import score
from qabilet.engine.simulation import simulate_responses

runner = CliRunner()
QABILET = Path(sys.executable).parent / "qabilet"

UNI_ITEMS = [
    {"id": "SRV-01", "model": "2pl", "a": 1.4, "b": -0.8},
    {"id": "SRV-02", "model": "grm", "a": 1.6, "b": [-1.5, -0.3, 0.6, 1.7],
     "categories": [1, 2, 3, 4, 5]},
    {"id": "TRN-01", "model": "3pl", "a": 1.1, "b": 0.4, "c": 0.15},
    {"id": "TRN-02", "model": "gpcm", "a": 0.9, "b": [-0.6, 0.8]},
    {"id": "ACC-01", "model": "2pl", "a": 0.8, "b": 1.2},
    {"id": "ACC-02", "model": "grm", "a": 1.2, "b": [-1.0, 0.2, 1.1]},
    {"id": "EFF-01", "model": "nominal", "a": [0.0, 0.7, 1.6], "d": [0.0, 0.4, -0.5]},
    {"id": "EFF-02", "model": "2pl", "a": 1.9, "b": 0.1},
]
UNI_LATENT = {"factor_names": ["theta"], "mean": [0.0], "cov": [[1.0]]}

MULTI_ITEMS = [
    {"id": "M1", "model": "2pl", "a": [1.2, 0.0], "d": 0.3},
    {"id": "M2", "model": "2pl", "a": [0.0, 1.1], "d": -0.2},
    {"id": "M3", "model": "grm", "a": [0.7, 0.8], "d": [1.0, -0.5]},
    {"id": "M4", "model": "gpcm", "a": [0.9, 0.0], "d": [0.0, 0.6, -0.4]},
    {"id": "M5", "model": "2pl", "a": [0.5, 1.3], "d": 0.0},
]
MULTI_LATENT = {"factor_names": ["SRV", "ACC"], "mean": [0.0, 0.0],
                "cov": [[1.0, 0.4], [0.4, 1.0]]}


def _engine_bank(items, latent):
    records = [{k: v for k, v in r.items() if k != "categories"} for r in items]
    return ItemBank.from_records(records, latent=LatentDistribution(
        latent["mean"], latent["cov"], latent["factor_names"]))


def _setup(tmp_path, items, latent, n=60, seed=3, missing=0.15):
    """Write a parameter file and a response file; return the arrays the files hold."""
    params = tmp_path / "bank.json"
    params.write_text(json.dumps({"latent": latent, "items": items}), encoding="utf-8")
    bank = _engine_bank(items, latent)
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((n, bank.n_dims)) if bank.n_dims > 1 else rng.standard_normal(n)
    x = simulate_responses(bank, theta, rng)
    seen = rng.random(x.shape) > missing
    seen[0] = False  # a person with no responses
    ids = [f"KZ{p:03d}" for p in range(n)]
    codes = {r["id"]: r["categories"] for r in items if "categories" in r}
    order = list(reversed(range(len(items))))  # file columns in another order than the bank
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["person_id", "level", *(items[j]["id"] for j in order)])
    for p in range(n):
        cells = []
        for j in order:
            item_id = items[j]["id"]
            value = int(x[p, j])
            cells.append("" if not seen[p, j] else
                         str(codes[item_id][value] if item_id in codes else value))
        writer.writerow([ids[p], "middle", *cells])
    responses = tmp_path / "responses.csv"
    responses.write_text(buffer.getvalue(), encoding="utf-8")
    return params, responses, bank, x, seen, ids


def _read_scores(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def _as_float(cell):
    return float("nan") if cell == "" else float(cell)


# -- help and version --------------------------------------------------------------------------------
def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "score" in result.stdout and "demo" in result.stdout


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"qabilet {__version__}\n"


def test_help_imports_neither_scipy_nor_the_web_stack():
    code = (
        "import sys\n"
        "from qabilet.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = {'scipy', 'fastapi', 'starlette', 'numpy', 'engine', 'itembank', 'pydantic'}\n"
        "print('loaded:' + ','.join(sorted({m.split('.')[0] for m in sys.modules} & heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage" in out.stdout
    last = out.stdout.strip().splitlines()[-1]
    assert last == "loaded:", f"qabilet --help imported {last}"


def test_installed_script_runs():
    assert QABILET.exists(), "the console script is installed in the virtual environment"
    out = subprocess.run([str(QABILET), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"qabilet {__version__}"


# -- score -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["eap", "map", "ml", "wle"])
def test_scores_equal_the_engine_on_the_same_arrays(tmp_path, method):
    params, responses, bank, x, seen, ids = _setup(tmp_path, UNI_ITEMS, UNI_LATENT)
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(params), str(responses), "--method", method,
                                 "--out", str(out), "--exclude", "level"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote the scores of 60 persons ({method}) to {out}.\n"
    header, rows = _read_scores(out.read_text(encoding="utf-8"))
    assert header == ["person_id", "theta", "se", "status"]
    expected = score(bank, x, seen, method=method)
    assert [r[0] for r in rows] == ids
    np.testing.assert_allclose([_as_float(r[1]) for r in rows], expected.theta, rtol=1e-12,
                               equal_nan=True)
    np.testing.assert_allclose([_as_float(r[2]) for r in rows], expected.se, rtol=1e-12,
                               equal_nan=True)
    assert [r[3] for r in rows] == expected.status.tolist()
    assert rows[0][3] == "no_responses"


def test_scores_go_to_stdout_without_out(tmp_path):
    params, responses, bank, x, seen, ids = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=10)
    result = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level",
                                 "--n-points", "41"])
    assert result.exit_code == 0, result.output
    header, rows = _read_scores(result.stdout)
    expected = score(bank, x, seen, method="eap", n_points=41)
    np.testing.assert_allclose([float(r[1]) for r in rows], expected.theta, rtol=1e-12)
    assert result.stderr == ""


@pytest.mark.parametrize("n_points", [None, 31])
def test_multidimensional_bank_writes_a_column_pair_per_factor(tmp_path, n_points):
    params, responses, bank, x, seen, ids = _setup(tmp_path, MULTI_ITEMS, MULTI_LATENT, n=25)
    grid = [] if n_points is None else ["--n-points", str(n_points)]
    result = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level",
                                 *grid])
    assert result.exit_code == 0, result.output
    header, rows = _read_scores(result.stdout)
    assert header == ["person_id", "theta_SRV", "se_SRV", "theta_ACC", "se_ACC", "status"]
    options = {} if n_points is None else {"n_points": n_points}
    expected = score(bank, x, seen, method="eap", **options)
    got = np.array([[float(c) for c in r[1:5]] for r in rows])
    np.testing.assert_allclose(got[:, [0, 2]], expected.theta, rtol=1e-12)
    np.testing.assert_allclose(got[:, [1, 3]], expected.se, rtol=1e-12)


def test_multidimensional_map_scores(tmp_path):
    params, responses, bank, x, seen, ids = _setup(tmp_path, MULTI_ITEMS, MULTI_LATENT, n=25)
    result = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level",
                                 "-m", "map"])
    assert result.exit_code == 0, result.output
    header, rows = _read_scores(result.stdout)
    expected = score(bank, x, seen, method="map")
    got = np.array([[float(c) for c in r[1:5]] for r in rows])
    np.testing.assert_allclose(got[:, [0, 2]], expected.theta, rtol=1e-12)


def test_recoded_file_scores_like_the_zero_based_file(tmp_path):
    """categories [1..5] in the parameter file: a file coded 1..5 equals one coded 0..4 without."""
    params, responses, bank, x, seen, ids = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=30)
    plain_items = [{k: v for k, v in r.items() if k != "categories"} for r in UNI_ITEMS]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"latent": UNI_LATENT, "items": plain_items}), encoding="utf-8")
    zero_based = tmp_path / "zero.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["person_id", *(r["id"] for r in UNI_ITEMS)])
    for p in range(x.shape[0]):
        writer.writerow([ids[p], *(str(v) if s else "" for v, s in zip(x[p], seen[p],
                                                                         strict=True))])
    zero_based.write_text(buffer.getvalue(), encoding="utf-8")
    recoded = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level"])
    direct = runner.invoke(app, ["score", str(plain), str(zero_based)])
    assert recoded.exit_code == 0 and direct.exit_code == 0, recoded.output + direct.output
    assert recoded.stdout == direct.stdout
    # and the 1..5 file read against the bank without categories is an error (5 is out of range)
    wrong = runner.invoke(app, ["score", str(plain), str(responses), "--exclude", "level"])
    assert wrong.exit_code == 2
    assert "column 'SRV-02'" in wrong.stderr


def test_n_points_with_another_method_is_refused(tmp_path):
    params, responses, *_ = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=5)
    result = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level",
                                 "-m", "wle", "--n-points", "61"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --n-points")


# -- errors: one line on stderr, exit 2, nothing written ------------------------------------------------
def _replace_line(path, number, text):
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


RESPONSE_ERRORS = {
    "unknown item": (lambda p: _replace_line(p, 0, p.read_text().splitlines()[0] + ",Q99"),
                     "row 0", "column 'Q99'"),
    "category out of range": (lambda p: _replace_line(p, 3, "KZ002,middle,1,2,0,1,1,0,3,5"),
                              "row 3", "column 'SRV-01'"),
    "code outside categories": (lambda p: _replace_line(p, 4, "KZ003,middle,1,2,0,1,1,0,0,1"),
                                "row 4", "column 'SRV-02'"),
    "non-integer cell": (lambda p: _replace_line(p, 2, "KZ001,middle,1,2,0,1.0,1,0,3,0"),
                         "row 2", "column 'ACC-01'"),
    "duplicate person id": (lambda p: _replace_line(p, 5, "KZ001,middle,1,2,0,1,1,0,3,0"),
                            "row 5", "column 'person_id'"),
    "ragged row": (lambda p: _replace_line(p, 6, "KZ005,middle,1,2,0"), "row 6",
                   "column 'ACC-01'"),
}


@pytest.mark.parametrize("case", sorted(RESPONSE_ERRORS))
def test_malformed_response_file_exits_2_with_row_and_column(tmp_path, case):
    params, responses, *_ = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=10)
    edit, row, column = RESPONSE_ERRORS[case]
    edit(responses)
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level",
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {responses}, {row}, {column}:")
    assert not out.exists()


PARAMETER_ERRORS = {
    "bad JSON": (lambda text: text.replace('"items":', '"items"'), ["not valid JSON", "line 1"]),
    "unknown model": (lambda text: text.replace('"gpcm"', '"gpcm2"'),
                      ["items[3] ('TRN-02').model", "unknown model 'gpcm2'"]),
    "thresholds out of order": (lambda text: text.replace("[-1.0, 0.2, 1.1]", "[1.0, 0.2, 1.1]"),
                                ["items[5] ('ACC-02')", "increasing"]),
}


@pytest.mark.parametrize("case", sorted(PARAMETER_ERRORS))
def test_malformed_parameter_file_exits_2_and_keeps_the_old_output(tmp_path, case):
    params, responses, *_ = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=10)
    edit, fragments = PARAMETER_ERRORS[case]
    params.write_text(edit(params.read_text(encoding="utf-8")), encoding="utf-8")
    out = tmp_path / "scores.csv"
    out.write_text("previous scores\n", encoding="utf-8")
    result = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level",
                                 "-o", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {params}: ")
    for fragment in fragments:
        assert fragment in line, line
    assert out.read_text(encoding="utf-8") == "previous scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.json", "responses.csv",
                                                          "scores.csv"]


def test_missing_input_and_output_directory(tmp_path):
    params, responses, *_ = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=5)
    result = runner.invoke(app, ["score", str(tmp_path / "nope.json"), str(responses)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope.json'}: No such file or directory\n"
    target = tmp_path / "missing" / "scores.csv"
    result = runner.invoke(app, ["score", str(params), str(responses), "--exclude", "level",
                                 "--out", str(target)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {target}: ")
    assert not target.parent.exists()


def test_unknown_method_is_a_usage_error(tmp_path):
    params, responses, *_ = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=5)
    result = runner.invoke(app, ["score", str(params), str(responses), "-m", "mle"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Invalid value for '--method' / '-m': Value error, 'mle' is not one of 'eap', "
        "'map', 'ml', 'wle'.",
        "try 'qabilet score --help'"]


# -- the option parser's errors look like the commands' -------------------------------------------------
@pytest.mark.parametrize(("args", "message", "command"), [
    (["bank", "list", "--frobnicate"], "error: No such option: --frobnicate", "qabilet bank list"),
    (["score"], "error: Missing argument 'PARAMS.json'.", "qabilet score"),
    (["simulate", "--bank", "b.json", "--n", "0"],
     "error: Invalid value for '--n': Input should be greater than or equal to 1",
     "qabilet simulate"),
    (["nonsense"], "error: No such command 'nonsense'.", "qabilet"),
])
def test_usage_errors_are_an_error_line_and_a_hint(args, message, command):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [message, f"try '{command} --help'"]
    assert "╭" not in result.output and "Usage:" not in result.output


def test_the_installed_script_prints_usage_errors_the_same_way():
    done = subprocess.run([str(QABILET), "bank", "list", "--frobnicate"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: No such option: --frobnicate\ntry 'qabilet bank list --help'\n"


def _commands(group, path=()):
    import typer

    root = typer.main.get_command(group) if not path else group
    for name, sub in getattr(root, "commands", {}).items():
        yield (*path, name)
        yield from _commands(sub, (*path, name))


@pytest.mark.parametrize("command", [(), *_commands(app)], ids=lambda c: " ".join(c) or "qabilet")
def test_no_help_shows_a_placeholder_on_a_plain_flag(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if "--help" in line]
    assert lines and "Show this message and exit." in lines[0]
    assert "<bool>" not in result.stdout and "BOOLEAN" not in result.stdout


# -- the installed script, for real ----------------------------------------------------------------------
def test_installed_script_scores_and_fails_like_the_in_process_runner(tmp_path):
    params, responses, bank, x, seen, ids = _setup(tmp_path, UNI_ITEMS, UNI_LATENT, n=40)
    out = tmp_path / "scores.csv"
    done = subprocess.run([str(QABILET), "score", str(params), str(responses), "--method", "wle",
                           "--exclude", "level", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    header, rows = _read_scores(out.read_text(encoding="utf-8"))
    expected = score(bank, x, seen, method="wle")
    np.testing.assert_allclose([_as_float(r[1]) for r in rows], expected.theta, rtol=1e-12,
                               equal_nan=True)

    _replace_line(responses, 2, "KZ001,middle,1,2,0,x,1,0,3,0")
    out.unlink()
    failed = subprocess.run([str(QABILET), "score", str(params), str(responses), "--exclude",
                             "level", "--out", str(out)], capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert failed.stderr.startswith(f"error: {responses}, row 2, column 'ACC-01': ")
    assert not out.exists()
