"""Parameter files (docs/design.md §6): round trips, independent checks of the parameters read, and
one test per kind of malformed file (each error names the file and the JSON path)."""

import copy
import json
import math
import os

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import DataFileError, InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.itembank.parameter_file import (
    ParameterFile,
    load_bank,
    read_parameter_file,
    write_parameter_file,
)
from tests.itembank._json_edits import delete_at, refusal, set_at, write_json

# every registered model, unidimensional, in traditional form
UNI_RECORDS = [
    {"id": "SRV-01", "model": "2pl", "a": 1.3, "b": 0.1},
    {"id": "SRV-02", "model": "3pl", "a": 0.7, "b": -0.3, "c": 0.17},
    {"id": "TRN-01", "model": "4pl", "a": 1.9, "b": 0.3, "c": 0.1, "u": 0.93},
    {"id": "TRN-02", "model": "grm", "a": 1.7, "b": [-1.3, 0.2, 0.7, 1.9]},
    {"id": "ACC-01", "model": "gpcm", "a": 0.9, "b": [-1.0, 0.4, 0.2]},
    {"id": "ACC-02", "model": "nominal", "a": [0.0, 0.4, 1.3], "d": [0.0, 0.5, -0.3]},
    {"id": "EFF-01", "model": "pcm", "b": [-0.7, 0.6]},
    {"id": "EFF-02", "model": "rsm", "b": 0.4, "tau": [-1.1, 0.1, 1.2]},
    {"id": "EFF-03", "model": "rsm", "b": -0.3, "tau": [-1.1, 0.1, 1.2]},
    {"id": "EFF-04", "model": "1pl", "a": 1.3, "b": 0.2},
    {"id": "EFF-05", "model": "1pl", "a": 1.3, "b": -0.2},
    {"id": "EFF-06", "model": "rasch", "b": 0.5},
]

# multidimensional items in slope-intercept form
MULTI_RECORDS = [
    {"id": "M1", "model": "2pl", "a": [1.2, 0.0], "d": 0.3},
    {"id": "M2", "model": "grm", "a": [0.7, 0.8], "d": [1.0, -0.5]},
    {"id": "M3", "model": "nominal", "a": [0.9, 0.8], "ak": [0.0, 1.0, 2.0], "d": [0.0, 0.3, -0.2]},
    {"id": "M4", "model": "gpcm", "a": [0.7, 0.8], "d": [0.0, 1.0, -0.5]},
    {"id": "M5", "model": "3pl", "a": [0.0, 1.4], "d": -0.4, "c": 0.2},
]

VALID = {
    "model": "grm",
    "latent": {"factor_names": ["theta"], "mean": [0.0], "cov": [[1.0]]},
    "items": [
        {"id": "Q1", "a": 1.3, "b": [-1.2, 0.1, 1.4], "categories": [1, 2, 3, 4]},
        {"id": "Q2", "model": "3pl", "a": 0.8, "b": 0.2, "c": 0.15},
        {"id": "Q3", "model": "2pl", "a": 1.1, "b": -0.4},
        {"id": "Q4", "model": "2pl", "a": 0.9, "b": 0.7},
    ],
}


def _assert_records_close(left, right, atol=1e-12):
    """Same ids, models and parameter names; values equal up to conversion rounding."""
    assert len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        assert x.keys() == y.keys(), (x, y)
        for key in x:
            if isinstance(x[key], str):
                assert x[key] == y[key]
            else:
                np.testing.assert_allclose(x[key], y[key], rtol=0, atol=atol, err_msg=key)


# -- round trips ---------------------------------------------------------------------------------------
def test_round_trip_every_model_keeps_records_latent_and_fit_information(tmp_path):
    latent = LatentDistribution([0.1], [[1.3]], ["general"])
    bank = ItemBank.from_records(UNI_RECORDS, latent=latent)
    recodings = {"TRN-02": [1, 2, 3, 4, 5], "SRV-01": [7, 3]}
    se = {"SRV-01": {"a": 0.05, "b": 0.04}, "TRN-02": {"a": 0.1, "b": [0.2, None, 0.1, 0.3]}}
    groups = {"kk": LatentDistribution([0.0], [[1.0]], ["general"]),
              "ru": LatentDistribution([0.2], [[0.9]], ["general"])}
    path = tmp_path / "bank.json"
    write_parameter_file(path, bank, recodings=recodings, se=se, groups=groups, loglik=-1234.5,
                         aic=2500.0, bic=2600.25, n_iter=37, converged=True, method="MML-EM")

    pf = read_parameter_file(path)
    again = pf.to_bank()
    _assert_records_close(again.to_records(), bank.to_records())
    assert again.item_ids == bank.item_ids
    assert again.model_names == bank.model_names
    assert again.latent == latent
    assert pf.recodings() == {"TRN-02": (1, 2, 3, 4, 5), "SRV-01": (7, 3)}
    assert (pf.loglik, pf.aic, pf.bic, pf.n_iter, pf.converged, pf.method) == (
        -1234.5, 2500.0, 2600.25, 37, True, "MML-EM")
    assert pf.group_latents() == groups
    assert pf.items[3].se == {"a": 0.1, "b": [0.2, None, 0.1, 0.3]}
    # the two banks answer identically
    theta = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(again.prob(theta), bank.prob(theta), rtol=0, atol=1e-14)


def test_written_items_are_the_bank_records_at_full_precision(tmp_path):
    awkward = [dict(r) for r in UNI_RECORDS[:4]]
    awkward[0]["b"] = 0.1 + 0.2  # 0.30000000000000004 survives only at full precision
    awkward[1]["a"] = 1 / 3
    bank = ItemBank.from_records(awkward)
    path = tmp_path / "bank.json"
    write_parameter_file(path, bank)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["items"] == bank.to_records()
    assert written["latent"] == {"factor_names": ["theta"], "mean": [0.0], "cov": [[1.0]]}
    assert written["items"][0]["b"] == 0.1 + 0.2


def test_round_trip_multidimensional_bank(tmp_path):
    latent = LatentDistribution([0.0, 0.5], [[1.0, 0.3], [0.3, 1.2]], ["SRV", "ACC"])
    bank = ItemBank.from_records(MULTI_RECORDS, latent=latent)
    path = tmp_path / "multi.json"
    write_parameter_file(path, bank)
    again, recodings = load_bank(path)
    assert recodings == {}
    assert again.n_dims == 2
    assert again.latent == latent
    _assert_records_close(again.to_records(), bank.to_records())
    written = json.loads(path.read_text(encoding="utf-8"))
    assert "b" not in json.dumps(written["items"])  # slope-intercept form only


def test_default_model_and_parameters_land_where_the_formulas_say(tmp_path):
    """The bank read from a file gives the probabilities of docs/design.md §5, computed here by hand."""
    path = write_json(tmp_path / "bank.json", VALID)
    bank, recodings = load_bank(path)
    assert bank.model_names == ("grm", "3pl", "2pl", "2pl")
    assert recodings == {"Q1": (1, 2, 3, 4)}
    theta = np.array([-1.5, 0.0, 0.8])
    p = bank.prob(theta)

    def logistic(x):
        return 1.0 / (1.0 + np.exp(-x))

    # graded response: P(x >= k) = logistic(a (theta - b_k))
    cum = logistic(1.3 * (theta[:, None] - np.array([-1.2, 0.1, 1.4])[None, :]))
    bounds = np.column_stack([np.ones(3), cum, np.zeros(3)])
    np.testing.assert_allclose(p[:, 0, :4], bounds[:, :-1] - bounds[:, 1:], atol=1e-14)
    # 3PL: c + (1 - c) logistic(a (theta - b))
    np.testing.assert_allclose(p[:, 1, 1], 0.15 + 0.85 * logistic(0.8 * (theta - 0.2)), atol=1e-14)
    np.testing.assert_allclose(p[:, 2, 1], logistic(1.1 * (theta + 0.4)), atol=1e-14)
    np.testing.assert_allclose(p[:, 3, 1], logistic(0.9 * (theta - 0.7)), atol=1e-14)


def test_file_with_byte_order_mark_and_no_factor_names_reads(tmp_path):
    data = copy.deepcopy(VALID)
    del data["latent"]["factor_names"]
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    bank = read_parameter_file(path).to_bank()
    assert bank.latent.factor_names == ("theta",)


def test_file_without_latent_reads_as_standard_normal(tmp_path):
    """As mirt: no latent block is N(0, 1), the same bank as the block written out; rewriting the
    file writes the block."""
    explicit = load_bank(write_json(tmp_path / "explicit.json", VALID))[0]
    data = copy.deepcopy(VALID)
    del data["latent"]
    path = write_json(tmp_path / "bare.json", data)
    pf = read_parameter_file(path)
    bank = pf.to_bank()
    assert bank.latent == LatentDistribution([0.0], [[1.0]], ["theta"])
    theta = np.linspace(-3.0, 3.0, 7)
    np.testing.assert_array_equal(bank.prob(theta), explicit.prob(theta))
    assert json.loads(pf.to_json())["latent"] == {"factor_names": ["theta"], "mean": [0.0],
                                                  "cov": [[1.0]]}


def test_file_without_latent_whose_items_have_one_slope_in_a_list_reads(tmp_path):
    data = {"items": [{"id": "M1", "model": "2pl", "a": [1.2], "d": 0.3},
                      {"id": "M2", "model": "grm", "a": [0.7], "d": [1.0, -0.5]}]}
    bank = read_parameter_file(write_json(tmp_path / "bare.json", data)).to_bank()
    assert bank.latent == LatentDistribution([0.0], [[1.0]])
    assert [r["b"] for r in bank.to_records()][0] == pytest.approx(-0.3 / 1.2, abs=1e-15)


def test_multidimensional_file_without_latent_says_what_to_add(tmp_path):
    """Several factors' names are only in the latent block: refused, with a block to copy."""
    def edit(data):
        data["items"] = copy.deepcopy(MULTI_RECORDS)
        del data["latent"]

    error, _ = refusal(tmp_path, VALID, edit, read_parameter_file,
                       ["latent: missing", "items[0] ('M1') has 2 slopes", "N(0, 1)", "N(0, I)"])
    block = str(error).split('"latent": ', 1)[1].removesuffix(" for N(0, I)")
    suggested = read_parameter_file(write_json(tmp_path / "fixed.json", {
        "latent": json.loads(block), "items": MULTI_RECORDS})).to_bank().latent
    assert suggested == LatentDistribution.standard(2, ["F1", "F2"])
    np.testing.assert_array_equal(suggested.cov, np.eye(2))


# -- malformed files -----------------------------------------------------------------------------------
MALFORMED = {
    "unknown model": (set_at(["items", 2, "model"], "5pl"),
                      ["items[2] ('Q3').model", "unknown model '5pl'", "2pl"]),
    "unknown default model": (set_at(["model"], "graded"), ["model: unknown model 'graded'"]),
    "no model at all": (delete_at(["model"]), ["items[0] ('Q1').model", "missing"]),
    "list where a number belongs": (set_at(["items", 2, "b"], [0.1, 0.2]),
                                    ["items[2] ('Q3').b", "expected a number", "[0.1, 0.2]"]),
    "number where a list belongs": (set_at(["items", 0, "b"], 0.5),
                                    ["items[0] ('Q1').b", "expected a list of numbers"]),
    "text where a number belongs": (set_at(["items", 3, "a"], "1.2"),
                                    ["items[3] ('Q4').a", "expected a number", '"1.2"']),
    "boolean parameter": (set_at(["items", 3, "a"], True), ["items[3] ('Q4').a", "got true"]),
    "parameter the model lacks": (set_at(["items", 2, "c"], 0.2),
                                  ["items[2] ('Q3').c", "not a parameter of a 2pl item"]),
    "misspelt parameter": (set_at(["items", 2, "g"], 0.2),
                           ["items[2] ('Q3').g", "unexpected field"]),
    "both forms": (set_at(["items", 2, "d"], 0.2),
                   ["items[2] ('Q3').b", "traditional form", "slope-intercept"]),
    "missing parameter": (delete_at(["items", 1, "a"]),
                          ["items[1] ('Q2').a", "missing", "needs a, b and may have c"]),
    "duplicate item id": (set_at(["items", 3, "id"], "Q1"),
                          ["items[3] ('Q1').id", "duplicate item id", "items[0]"]),
    "empty item id": (set_at(["items", 3, "id"], ""), ["items[3]", ".id", "non-empty"]),
    "item called person_id": (set_at(["items", 3, "id"], "person_id"), ["reserved"]),
    "value out of domain (engine)": (set_at(["items", 1, "c"], 1.2),
                                     ["items[1] ('Q2')", "c must be in [0, 1)", "1.2"]),
    "thresholds out of order (engine)": (set_at(["items", 0, "b"], [0.5, -0.1, 1.0]),
                                         ["items[0] ('Q1')", "increasing"]),
    "too few category codes": (set_at(["items", 0, "categories"], [1, 2, 3]),
                               ["items[0] ('Q1').categories", "expected 4 codes", "got 3"]),
    "repeated category codes": (set_at(["items", 0, "categories"], [1, 2, 2, 3]),
                                ["items[0] ('Q1').categories", "distinct"]),
    "non-integer category code": (set_at(["items", 0, "categories"], [1, 2, 3.5, 4]),
                                  ["items[0] ('Q1').categories[2]", "integer"]),
    "standard error of an unknown parameter": (set_at(["items", 2, "se"], {"c": 0.1}),
                                               ["items[2] ('Q3').se.c"]),
    "negative standard error": (set_at(["items", 2, "se"], {"a": -0.1}),
                                ["items[2] ('Q3').se.a", "≥ 0"]),
    "latent without cov": (delete_at(["latent", "cov"]), ["latent.cov: missing"]),
    "latent without mean": (delete_at(["latent", "mean"]), ["latent.mean: missing"]),
    "latent with names only": (set_at(["latent"], {"factor_names": ["F1", "F2"]}),
                               ["latent.mean: missing"]),
    "empty latent": (set_at(["latent"], {}), ["latent.mean: missing"]),
    "latent covariance not positive definite": (set_at(["latent", "cov"], [[-1.0]]),
                                                ["latent.cov", "positive definite"]),
    "latent covariance of the wrong shape": (set_at(["latent", "cov"], [[1.0, 0.0]]),
                                             ["latent.cov", "1×1"]),
    "traditional item in a two-factor bank": (
        set_at(["latent"], {"mean": [0.0, 0.0], "cov": [[1.0, 0.0], [0.0, 1.0]]}),
        ["items[0] ('Q1')", "traditional form measures one factor", "latent has 2"]),
    "slopes against factors": (set_at(["items", 2], {"id": "Q3", "model": "2pl", "a": [1.0, 0.5],
                                                   "d": 0.1}),
                               ["items[2] ('Q3').a", "expected 1 slope(s)", "got 2"]),
    "no items": (set_at(["items"], []), ["items: expected at least 1"]),
    "item not an object": (set_at(["items", 1], 5), ["items[1]: expected a JSON object"]),
    "unknown top-level field": (set_at(["lantent"], {}), ["lantent: unexpected field"]),
    "negative n_iter": (set_at(["n_iter"], -3), ["n_iter", "greater than or equal to 0"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_names_file_and_json_path(tmp_path, case):
    edit, expected = MALFORMED[case]
    error, path = refusal(tmp_path, VALID, edit, lambda p: read_parameter_file(p).to_bank(),
                          expected)
    assert "\n" not in str(error)
    assert error.path == str(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"model": "grm",\n "items": [1,]}', ["not valid JSON", "line 2", "column"]),
        ('{"model": "grm", "model": "2pl"}', ["not valid JSON", "'model' repeats"]),
        ("[]", ["top level: expected a JSON object"]),
        ('{"latent": {"mean": [NaN], "cov": [[1.0]]}, "items": []}',
         ["latent.mean", "finite"]),
        ("", ["not valid JSON", "line 1"]),
    ],
)
def test_unreadable_json_names_what_is_wrong(tmp_path, text, expected):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        read_parameter_file(path)
    for part in expected:
        assert part in str(info.value), (part, str(info.value))


def test_not_utf8_is_a_data_file_error(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"method": "é"}'.encode("latin-1"))
    with pytest.raises(DataFileError, match="UTF-8"):
        read_parameter_file(path)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_parameter_file(tmp_path / "absent.json")


# -- writing -------------------------------------------------------------------------------------------
def test_invalid_content_writes_nothing_and_keeps_the_old_file(tmp_path):
    bank = ItemBank.from_records(UNI_RECORDS[:3])
    path = tmp_path / "bank.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(InvalidParameterError, match="unknown item id"):
        write_parameter_file(path, bank, recodings={"NOPE": [0, 1]})
    with pytest.raises(InvalidParameterError, match=r"items\[0\] \('SRV-01'\)\.categories"):
        write_parameter_file(path, bank, recodings={"SRV-01": [1, 1]})
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["bank.json"]


def test_failed_replace_leaves_no_partial_file(tmp_path, monkeypatch):
    bank = ItemBank.from_records(UNI_RECORDS)
    path = tmp_path / "bank.json"
    path.write_text("old", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_parameter_file(path, bank)
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["bank.json"]


def test_missing_directory_names_the_requested_file(tmp_path):
    bank = ItemBank.from_records(UNI_RECORDS[:2])
    target = tmp_path / "no" / "such" / "bank.json"
    with pytest.raises(FileNotFoundError) as info:
        write_parameter_file(target, bank)
    assert info.value.filename == str(target)
    assert not (tmp_path / "no").exists()


def test_nan_fit_statistic_is_written_as_absent(tmp_path):
    bank = ItemBank.from_records(UNI_RECORDS[:2])
    path = tmp_path / "bank.json"
    write_parameter_file(path, bank, loglik=float("nan"), n_iter=np.int64(4))
    written = json.loads(path.read_text(encoding="utf-8"))
    assert "loglik" not in written
    assert written["n_iter"] == 4
    assert not any(isinstance(v, float) and math.isnan(v) for v in written.values())


def test_schema_validates_python_data_too():
    pf = ParameterFile.from_data(copy.deepcopy(VALID))
    assert [item.id for item in pf.items] == ["Q1", "Q2", "Q3", "Q4"]
    assert pf.item_models() == ["grm", "3pl", "2pl", "2pl"]
    with pytest.raises(DataFileError, match=r"^items\[0\] \('Q1'\)\.a: expected a number"):
        ParameterFile.from_data({**VALID, "items": [{"id": "Q1", "a": {}, "b": [0.0]}]})
