"""Every model's declared parameters through a parameter file: written, read back, the same items.

The file's schema (which fields a model has in each form, which a record may leave out) is
derived from the models' declarations (ItemModel.PARAMETERS); these tests write every model in
both forms, with standard errors on every declared field, and read it back.
"""

import json

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import DataFileError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import model_names
from qabilet.itembank.parameter_file import ParameterFile, read_parameter_file
from tests.engine.model_zoo import make_models, make_two_factor

UNI = {name: model.subset([0, 1]) for name, model in make_models().items()}  # two items each
MULTI = make_two_factor()


def test_every_registered_model_is_covered():
    assert set(UNI) == set(model_names())
    slope_intercept = {n for n in model_names() if UNI[n].PARAMETERS.slope_intercept}
    assert slope_intercept - {"1pl"} == set(MULTI)  # a common slope has no several factors here


def standard_errors(bank):
    """A standard error for every entry of every written field, shaped like the records."""
    out = {}
    for record in bank.to_records():
        out[record["id"]] = {k: [0.1] * len(v) if isinstance(v, list) else 0.2
                             for k, v in record.items() if k not in ("id", "model")}
    return out


def round_trip(tmp_path, model, n_dims):
    latent = LatentDistribution(np.zeros(n_dims), np.eye(n_dims))
    bank = ItemBank([model], ["Q1", "Q2"], latent)
    se = standard_errors(bank)
    path = tmp_path / "p.json"
    path.write_text(ParameterFile.from_bank(bank, se=se).to_json(), encoding="utf-8")
    pf = read_parameter_file(path)
    return bank, se, pf, json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(UNI))
def test_traditional_records_round_trip(tmp_path, name):
    model = UNI[name]
    bank, se, pf, raw = round_trip(tmp_path, model, 1)
    declared = model.PARAMETERS
    written = [f.name for f in declared.traditional if f.written]
    for item, record in zip(raw["items"], bank.to_records(), strict=True):
        assert {k for k in item if k not in ("id", "model", "se")} == set(written)
        assert item["se"] == se[record["id"]]
    back = pf.to_bank()
    assert back.model_names == bank.model_names
    np.testing.assert_allclose(back.models[0].param_vector(), model.param_vector(), rtol=1e-12)
    theta = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(back.log_prob(theta), bank.log_prob(theta), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(MULTI))
def test_slope_intercept_records_round_trip(tmp_path, name):
    model = MULTI[name]
    bank, se, pf, raw = round_trip(tmp_path, model, 2)
    written = [f.name for f in model.PARAMETERS.slope_intercept if f.written]
    assert {k for k in raw["items"][0] if k not in ("id", "model", "se")} == set(written)
    back = pf.to_bank()
    assert back.model_names == bank.model_names
    np.testing.assert_allclose(back.models[0].param_vector(), model.param_vector(), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(UNI))
def test_a_record_may_leave_out_exactly_the_fields_with_a_default(name):
    """Left out, a field with a default reads as that default; any other is missing."""
    model = UNI[name]
    record = {"id": "Q1", "model": name, **ItemBank([model], ["Q1", "Q2"]).to_records()[0]}
    for field in model.PARAMETERS.traditional:
        partial = {k: v for k, v in record.items() if k != field.name}
        data = {"latent": {"mean": [0.0], "cov": [[1.0]]}, "items": [partial]}
        if field.default is None:
            with pytest.raises(DataFileError, match=f"{field.name}: missing"):
                ParameterFile.from_data(data)
        else:
            given = {**partial, field.name: field.default}
            left_out = ParameterFile.from_data(data).to_bank()
            full = ParameterFile.from_data({**data, "items": [given]}).to_bank()
            np.testing.assert_array_equal(left_out.models[0].param_vector(),
                                          full.models[0].param_vector())


@pytest.mark.parametrize("name", sorted(UNI))
def test_a_field_of_the_other_form_is_refused(name):
    model = UNI[name]
    declared = model.PARAMETERS
    traditional = {f.name for f in declared.traditional}
    only_si = [f.name for f in declared.slope_intercept if f.name not in traditional]
    record = {"id": "Q1", "model": name, **ItemBank([model], ["Q1", "Q2"]).to_records()[0]}
    data = {"latent": {"mean": [0.0], "cov": [[1.0]]}, "items": [record]}
    ParameterFile.from_data(data)  # as written: valid
    for extra in only_si:  # the marker turns the record slope-intercept: b is then foreign
        bad = {**record, extra: [0.0, 0.0, 0.0] if extra == "ak" else 0.0}
        with pytest.raises(DataFileError):
            ParameterFile.from_data({**data, "items": [bad]})


def test_the_schema_has_a_field_for_every_declared_parameter():
    """A model declaring a new parameter name needs it in the records' schema too."""
    from qabilet.itembank.parameter_file import GroupParameters, ItemRecord

    declared = {f.name for n in model_names() for f in (*UNI[n].PARAMETERS.traditional,
                                                        *UNI[n].PARAMETERS.slope_intercept)}
    assert declared <= set(ItemRecord.model_fields) and declared <= set(GroupParameters.model_fields)
    assert declared == set(GroupParameters.model_fields) - {"se"}
