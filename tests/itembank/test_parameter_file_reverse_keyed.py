"""Reverse-keyed items (negative slopes) through the files and the bank (issue 17).

A reverse-keyed graded item in traditional form has a < 0 and thresholds that decrease (the
intercepts d = −ab keep their order): docs/file-formats.md. Every round trip is checked against
the item's response probabilities computed from the truth written here.
"""

from __future__ import annotations

import numpy as np
import pytest

from qabilet.engine.exceptions import DataFileError, InvalidParameterError
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.itembank.bank_file import (
    format_mirt_table,
    format_parameters_csv,
    import_parameters,
    mirt_rows,
    read_mirt_table,
)
from qabilet.itembank.parameter_file import ParameterFile, load_bank, write_parameter_file
from tests.itembank import _bank

THETA = np.linspace(-4.0, 4.0, 17)[:, None]
LATENT = {"factor_names": ["theta"], "mean": [0.0], "cov": [[1.0]]}
# the truth, in traditional form: Q2 and Q3 reverse-keyed
TRADITIONAL = [
    {"id": "Q1", "model": "grm", "a": 1.3, "b": [-1.2, 0.1, 1.4]},
    {"id": "Q2", "model": "grm", "a": -1.2, "b": [1.5, 0.3, -0.9]},
    {"id": "Q3", "model": "2pl", "a": -0.8, "b": 0.4},
    {"id": "Q4", "model": "gpcm", "a": -1.1, "b": [0.5, -0.5]},
]


def _truth_prob() -> np.ndarray:
    """P(X = k | θ) of the four items straight from the engine's models, padded to 4 categories."""
    out = np.zeros((THETA.shape[0], 4, 4))
    grm = GradedResponse([1.3, -1.2], [[-1.2, 0.1, 1.4], [1.5, 0.3, -0.9]]).prob(THETA[:, 0])
    out[:, :2, :] = grm
    out[:, 2, :2] = TwoPL([-0.8], [0.4]).prob(THETA[:, 0])[:, 0]
    # GPCM by hand: P_k ∝ exp(Σ_{v ≤ k} a(θ − b_v))
    a, b = -1.1, np.array([0.5, -0.5])
    z = np.concatenate([np.zeros((THETA.shape[0], 1)),
                        np.cumsum(a * (THETA - b[None, :]), axis=1)], axis=1)
    out[:, 3, :3] = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return out


def _file(items: list[dict]) -> ParameterFile:
    return ParameterFile.model_validate({"model": "grm", "latent": LATENT, "items": items})


def test_traditional_form_with_negative_slopes_reads_as_the_truth() -> None:
    bank = _file(TRADITIONAL).to_bank()
    np.testing.assert_allclose(bank.prob(THETA), _truth_prob(), atol=1e-14)
    assert bank.reverse_keyed.tolist() == [False, True, True, True]


def test_slope_intercept_form_with_negative_slopes_reads_as_the_truth() -> None:
    # d = −a b by hand; the graded intercepts decrease for both signs of a
    records = [
        {"id": "Q1", "model": "grm", "a": [1.3], "d": [1.56, -0.13, -1.82]},
        {"id": "Q2", "model": "grm", "a": [-1.2], "d": [1.8, 0.36, -1.08]},
        {"id": "Q3", "model": "2pl", "a": [-0.8], "d": 0.32},
        {"id": "Q4", "model": "gpcm", "a": [-1.1], "d": [0.0, 0.55, 0.0]},
    ]
    np.testing.assert_allclose(_file(records).to_bank().prob(THETA), _truth_prob(), atol=1e-12)


def test_a_parameter_file_round_trip_keeps_reverse_keyed_items(tmp_path) -> None:
    bank = _file(TRADITIONAL).to_bank()
    path = tmp_path / "params.json"
    write_parameter_file(path, bank)
    text = path.read_text(encoding="utf-8")
    assert '"a": -1.2' in text  # traditional form, the sign as given
    again, _ = load_bank(path)
    np.testing.assert_allclose(again.prob(THETA), _truth_prob(), atol=1e-14)
    q2 = next(r for r in again.to_records() if r["id"] == "Q2")
    assert np.all(np.diff(q2["b"]) < 0)  # decreasing thresholds where a < 0


@pytest.mark.parametrize(("record", "where"), [
    ({"id": "Q2", "model": "grm", "a": -1.2, "b": [-0.9, 0.3, 1.5]}, "decreasing where a < 0"),
    ({"id": "Q2", "model": "grm", "a": 1.2, "b": [1.5, 0.3, -0.9]}, "strictly increasing"),
    ({"id": "Q2", "model": "grm", "a": 0.0, "b": [-0.9, 1.5]}, "a must be nonzero"),
])
def test_thresholds_against_the_slopes_sign_are_refused(record: dict, where: str) -> None:
    with pytest.raises((InvalidParameterError, DataFileError), match=where):
        _file([TRADITIONAL[0], record]).to_bank()


def test_the_mirt_table_round_trips_negative_slopes() -> None:
    base = _file(TRADITIONAL[:3])
    table = format_mirt_table(mirt_rows(base.to_bank()))
    read = read_mirt_table(table, base)
    assert [i.model for i in read.items] == ["grm", "grm", "2pl"]
    np.testing.assert_allclose(read.to_bank().prob(THETA), _truth_prob()[:, :3], atol=1e-14)


@pytest.fixture
def reversed_bank(repo):
    """The test bank with a published version whose TRN-L2 and ACC-L3 load negatively."""
    _bank.fill(repo)
    pf = _bank.parameters()
    items = []
    for item in pf.items:
        if item.id in ("TRN-L2", "ACC-L3"):
            item = item.model_copy(update={"a": [-a for a in item.a]})
        items.append(item)
    return repo, pf.model_copy(update={"items": items})


def _prob(pf: ParameterFile) -> np.ndarray:
    grid = np.stack(np.meshgrid(np.linspace(-3, 3, 5), np.linspace(-3, 3, 5)), -1).reshape(-1, 2)
    return pf.to_bank().prob(grid)


def test_the_banks_imports_keep_negative_slopes(reversed_bank) -> None:
    repo, pf = reversed_bank
    truth = _prob(pf)
    assert pf.to_bank().reverse_keyed.sum() == 2
    from_json = import_parameters(repo, pf.to_json(), path="fit.json")
    np.testing.assert_allclose(_prob(from_json.parameters), truth, atol=1e-14)
    from_csv = import_parameters(repo, format_parameters_csv(from_json), path="p.csv",
                                 base=from_json.number)
    np.testing.assert_allclose(_prob(from_csv.parameters), truth, atol=1e-14)
    table = format_mirt_table(mirt_rows(from_json.parameters.to_bank()))
    from_mirt = import_parameters(repo, table, path="mirt.csv", base=from_json.number)
    np.testing.assert_allclose(_prob(from_mirt.parameters), truth, atol=1e-14)
    assert [i.id for i in from_mirt.parameters.items if i.reverse_keyed] == ["TRN-L2", "ACC-L3"]
