"""Every model's declaration (ItemModel.PARAMETERS) against the model itself.

The declaration is what records, parameter files and calibration derive their lists from, so it
must say what the model does: the checks here read the model's own conversions and parameter
vector, never the declaration's consequences.
"""

import numpy as np
import pytest
from model_zoo import ALL_MULTI, ALL_UNI

from qabilet.engine.models import get_model, model_names
from qabilet.engine.models.records import model_to_records, record_form

UNI = sorted(ALL_UNI.items())
MULTI = sorted(ALL_MULTI.items())


def test_every_registered_model_declares_its_parameters():
    for name in model_names():
        declared = get_model(name).PARAMETERS
        assert declared.columns and declared.traditional, name


@pytest.mark.parametrize(("name", "model"), UNI + MULTI)
def test_every_parameter_column_has_exactly_one_declaration(name, model):
    declared = model.PARAMETERS
    for column in model.param_names():
        assert sum(c.matches(column) for c in declared.columns) == 1, (name, column)


@pytest.mark.parametrize(("name", "model"), UNI)
def test_the_fields_are_the_conversions_keys_and_the_records_fields(name, model):
    declared = model.PARAMETERS
    trad = model.to_traditional()
    assert {f.key for f in declared.traditional} <= set(trad)
    (record,) = model_to_records(model.subset([0]))
    assert list(record) == [f.name for f in declared.traditional if f.written]
    assert record_form(name, record) == "traditional"
    for field in declared.traditional:
        value = record.get(field.name)
        if field.is_list:
            assert isinstance(value, list) and len(value) >= 1
        elif field.written:
            assert isinstance(value, float)


@pytest.mark.parametrize(("name", "model"), MULTI)
def test_slope_intercept_records_hold_the_declared_fields(name, model):
    declared = model.PARAMETERS
    record = model_to_records(model)[0]
    assert list(record) == [f.name for f in declared.slope_intercept if f.written]
    assert record_form(model.name, record) == "slope_intercept"
    assert len(record["a"]) == model.n_dims


@pytest.mark.parametrize(("name", "model"), UNI + MULTI)
def test_a_field_declared_the_same_as_a_column_holds_its_values(name, model):
    declared = model.PARAMETERS
    multi = model.n_dims > 1
    values = model.to_slope_intercept() if multi else model.to_traditional()
    psi, names = model.param_vector(), model.param_names()
    for field in declared.slope_intercept if multi else declared.traditional:
        if field.same_as is None:
            continue
        cols = [j for j, n in enumerate(names) if declared.column(n).stem == field.same_as]
        mine = np.asarray(values[field.key], dtype=np.float64).reshape(model.n_items, -1)
        for i in range(model.n_items):  # test code: items one by one
            expect = psi[i, cols][~np.isnan(psi[i, cols])]
            got = mine[i][~np.isnan(mine[i])]
            np.testing.assert_array_equal(got, expect, err_msg=f"{name}.{field.name}")


@pytest.mark.parametrize(("name", "model"), UNI)
def test_fields_left_out_of_records_are_the_models_fixed_values(name, model):
    trad = model.to_traditional()
    for field in model.PARAMETERS.traditional:
        if not field.written:
            assert field.default is not None
            np.testing.assert_array_equal(trad[field.key], field.default)


@pytest.mark.parametrize(("name", "model"), UNI + MULTI)
def test_columns_are_inside_their_bounds_and_identified_categories_fixed(name, model):
    declared = model.PARAMETERS
    psi = model.param_vector()
    last = model.n_categories - 1
    for j, column_name in enumerate(model.param_names()):
        column = declared.column(column_name)
        lo, hi = column.bounds
        values = psi[:, j][~np.isnan(psi[:, j])]
        assert np.all((values >= lo) & (values <= hi)), column_name
        number = int(column_name[len(column.stem):] or -1)
        if "first" in column.fixed_categories and number == 0:
            np.testing.assert_array_equal(psi[:, j], 0.0)  # the reference category
        if "last" in column.fixed_categories:  # mirt's nominal scoring: ak(K−1) = K − 1
            at_last = last == number
            np.testing.assert_array_equal(psi[at_last, j], last[at_last])


@pytest.mark.parametrize(("name", "model"), UNI)
def test_columns_declared_fixed_hold_one_value_and_tied_ones_one_per_column(name, model):
    """A model's fixed columns do not vary with its parameters; a tied one is common to all items."""
    declared = model.PARAMETERS
    psi = model.param_vector()
    for j, column_name in enumerate(model.param_names()):
        column = declared.column(column_name)
        present = psi[~np.isnan(psi[:, j]), j]
        if column.estimated == "tied":
            assert np.unique(present).size == 1, column_name
        if column.estimated == "fixed" and column.kind != "category slope":
            assert np.unique(present).size == 1, column_name


def test_the_slope_intercept_marker():
    markers = {name: get_model(name).PARAMETERS.marker for name in model_names()}
    assert markers["nominal"] == "ak"  # its traditional form has d too
    assert {m for name, m in markers.items() if name != "nominal"} == {"d"}


def test_records_read_back_into_the_same_model():
    from qabilet.engine.models.records import model_from_records

    for name, model in UNI + MULTI:
        back = model_from_records(model.name, model_to_records(model))
        assert type(back) is type(model), name
        np.testing.assert_allclose(back.param_vector(), model.param_vector(), rtol=1e-12,
                                   atol=1e-15, err_msg=name)  # via b = −d/a and back


def test_a_parameter_the_model_does_not_declare_is_refused():
    from qabilet.engine.exceptions import InvalidParameterError
    from qabilet.engine.models.records import model_from_records

    with pytest.raises(InvalidParameterError, match="'c' is not a parameter of a 2pl item"):
        model_from_records("2pl", [{"a": 1.0, "b": 0.0, "c": 0.2}])
    with pytest.raises(InvalidParameterError, match="missing parameter 'b'"):
        model_from_records("2pl", [{"a": 1.0}])
    rasch = model_from_records("rasch", [{"b": 0.5}])  # the declared default slope
    np.testing.assert_array_equal(rasch.slopes, 1.0)
