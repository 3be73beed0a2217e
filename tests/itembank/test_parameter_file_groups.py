"""Multi-group parameter files: an item's per-group parameters (``items[i].groups``), the file's
``reference_group``, ``ParameterFile.to_bank(group)``, the writer, and malformed files."""

import copy
import json

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import DataFileError, InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import ThreePL, TwoPL
from qabilet.itembank.parameter_file import ParameterFile, read_parameter_file, write_parameter_file
from tests.itembank._json_edits import delete_at, refusal, set_at, write_json

# written by hand: Q2 and Q3 read differently in Russian; Q3 is a 3PL item
VALID = {
    "model": "2pl",
    "reference_group": "kk",
    "latent": {"mean": [0.0], "cov": [[1.0]]},
    "groups": {"kk": {"mean": [0.0], "cov": [[1.0]]},
               "ru": {"mean": [0.4], "cov": [[1.21]]},
               "en": {"mean": [-0.2], "cov": [[0.9]]}},
    "items": [
        {"id": "Q1", "a": 1.1, "b": -0.5, "categories": [1, 2]},
        {"id": "Q2", "a": 1.3, "b": 0.2, "se": {"a": 0.1, "b": 0.05},
         "groups": {"ru": {"a": 1.2, "b": 0.9, "se": {"a": 0.12, "b": 0.07}}}},
        {"id": "Q3", "model": "3pl", "a": 0.9, "b": 0.0, "c": 0.2,
         "groups": {"ru": {"a": 0.8, "b": 0.5, "c": 0.15}, "en": {"a": 1.0, "b": 0.1, "c": 0.25}}},
    ],
}


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_each_groups_bank_has_its_parameters_and_latent(tmp_path):
    pf = read_parameter_file(write_json(tmp_path / "groups.json", VALID))
    assert pf.reference_group == "kk"
    assert pf.group_specific_items() == ("Q2", "Q3")
    theta = np.array([-1.0, 0.3, 2.0])
    # P(1 | θ) from the formulas of docs/design.md §5, with the numbers of the file
    expected = {
        None: [(1.1, -0.5, 0.0), (1.3, 0.2, 0.0), (0.9, 0.0, 0.2)],
        "kk": [(1.1, -0.5, 0.0), (1.3, 0.2, 0.0), (0.9, 0.0, 0.2)],
        "ru": [(1.1, -0.5, 0.0), (1.2, 0.9, 0.0), (0.8, 0.5, 0.15)],
        "en": [(1.1, -0.5, 0.0), (1.3, 0.2, 0.0), (1.0, 0.1, 0.25)],
    }
    for group, items in expected.items():
        bank = pf.to_bank(group)
        assert bank.item_ids == ("Q1", "Q2", "Q3")
        assert bank.model_names == ("2pl", "2pl", "3pl")
        p = bank.prob(theta)[:, :, 1]
        for j, (a, b, c) in enumerate(items):
            np.testing.assert_allclose(p[:, j], c + (1 - c) * _logistic(a * (theta - b)),
                                       rtol=0, atol=1e-14, err_msg=f"{group} {j}")
        latent = VALID["groups"][group] if group else VALID["latent"]
        np.testing.assert_array_equal(bank.latent.mean, latent["mean"])
        np.testing.assert_array_equal(bank.latent.cov, latent["cov"])
    assert pf.items[1].groups["ru"].se == {"a": 0.12, "b": 0.07}
    assert pf.recodings() == {"Q1": (1, 2)}  # codes are shared by every group


def test_a_file_without_item_groups_gives_every_group_the_same_items(tmp_path):
    data = copy.deepcopy(VALID)
    for item in data["items"]:
        item.pop("groups", None)
    pf = ParameterFile.from_data(data)
    assert pf.group_specific_items() == ()
    np.testing.assert_array_equal(pf.to_bank("ru").prob(0.5), pf.to_bank().prob(0.5))
    assert pf.to_bank("ru").latent == LatentDistribution([0.4], [[1.21]])


def test_unknown_group_is_an_error_naming_the_groups():
    pf = ParameterFile.from_data(copy.deepcopy(VALID))
    with pytest.raises(InvalidParameterError, match=r"group: expected one of its groups "
                                                    r"\(kk, ru, en\); got 'de'"):
        pf.to_bank("de")
    plain = ParameterFile.from_data({"model": "2pl", "latent": {"mean": [0.0], "cov": [[1.0]]},
                                     "items": [{"id": "Q1", "a": 1.0, "b": 0.0}]})
    with pytest.raises(InvalidParameterError, match="the file has no groups"):
        plain.to_bank("kk")


def test_round_trip_through_the_writer(tmp_path):
    ids = ["I1", "I2", "I3", "I4"]
    latents = {"kk": LatentDistribution([0.0], [[1.0]]), "ru": LatentDistribution([0.3], [[1.4]])}
    kk = ItemBank([TwoPL([1.0, 1.5, 0.8], [-0.3, 0.4, 1.0]), ThreePL([1.2], [0.1], [0.2])], ids,
                  latents["kk"])
    # I2 and I4 differ in Russian, the others are the very same
    ru = ItemBank([TwoPL([1.0, 1.1, 0.8], [-0.3, 0.9, 1.0]), ThreePL([1.2], [0.6], [0.1])], ids,
                  latents["ru"])
    path = tmp_path / "written.json"
    write_parameter_file(path, kk, group_banks={"kk": kk, "ru": ru}, reference_group="kk",
                         se={"I2": {"a": 0.1, "b": 0.2}},
                         group_se={"ru": {"I2": {"a": 0.3, "b": 0.4}, "I1": {"a": 9.0}}},
                         recodings={"I1": [3, 7]})
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["reference_group"] == "kk"
    assert raw["groups"]["ru"]["mean"] == [0.3] and raw["groups"]["ru"]["cov"] == [[1.4]]
    assert [("groups" in item) for item in raw["items"]] == [False, True, False, True]
    assert raw["items"][1]["groups"] == {"ru": {"a": 1.1, "b": 0.9, "se": {"a": 0.3, "b": 0.4}}}
    assert set(raw["items"][3]["groups"]["ru"]) == {"a", "b", "c"}
    pf = read_parameter_file(path)
    for label, bank in (("kk", kk), ("ru", ru)):
        back = pf.to_bank(label)
        np.testing.assert_allclose(back.prob(np.linspace(-3, 3, 7)),
                                   bank.prob(np.linspace(-3, 3, 7)), rtol=0, atol=1e-14)
        assert back.latent == bank.latent
    assert pf.to_bank().latent == kk.latent


def test_writer_refuses_inconsistent_groups(tmp_path):
    ids = ["I1", "I2"]
    kk = ItemBank([TwoPL([1.0, 1.5], [-0.3, 0.4])], ids)
    ru = ItemBank([TwoPL([1.0, 1.1], [-0.3, 0.9])], ids, LatentDistribution([0.3], [[1.4]]))
    other_ids = ItemBank([TwoPL([1.0, 1.1], [-0.3, 0.9])], ["I1", "X"])
    path = tmp_path / "never.json"
    with pytest.raises(InvalidParameterError, match=r"group_banks\['ru'\]: expected the items "
                                                    "of bank"):
        write_parameter_file(path, kk, group_banks={"kk": kk, "ru": other_ids})
    with pytest.raises(InvalidParameterError, match="the reference group's items must be bank's"):
        write_parameter_file(path, kk, group_banks={"kk": ru, "ru": ru}, reference_group="kk")
    with pytest.raises(InvalidParameterError, match="reference_group: expected one of the groups"):
        write_parameter_file(path, kk, group_banks={"kk": kk, "ru": ru}, reference_group="en")
    with pytest.raises(InvalidParameterError, match=r"group_se: unknown group\(s\) \['en'\]"):
        write_parameter_file(path, kk, group_banks={"kk": kk, "ru": ru}, group_se={"en": {}})
    with pytest.raises(InvalidParameterError, match="groups, group_banks: expected the same"):
        write_parameter_file(path, kk, group_banks={"kk": kk, "ru": ru},
                             groups={"kk": kk.latent})
    assert not path.exists()


MALFORMED = {
    "item group not in the file's groups": (
        set_at(["items", 1, "groups", "de"], {"a": 1.0, "b": 0.0}),
        ["items[1] ('Q2').groups.de", "expected one of the file's groups (kk, ru, en); got 'de'"]),
    "item group is the reference": (
        set_at(["items", 1, "groups", "kk"], {"a": 1.0, "b": 0.0}),
        ["items[1] ('Q2').groups.kk", "top-level"]),
    "item groups without file groups": (
        lambda d: (d.pop("groups"), d.pop("reference_group")),
        ["items[1] ('Q2').groups.ru", "needs the file's groups"]),
    "incomplete group parameters": (
        delete_at(["items", 1, "groups", "ru", "b"]),
        ["items[1] ('Q2').groups.ru.b", "missing; a 2pl item in traditional form needs a, b"]),
    "parameter the model lacks": (
        set_at(["items", 1, "groups", "ru", "c"], 0.1),
        ["items[1] ('Q2').groups.ru.c", "not a parameter of a 2pl item"]),
    "misspelt group parameter": (
        set_at(["items", 1, "groups", "ru", "g"], 0.1),
        ["items[1] ('Q2').groups.ru.g", "unexpected field", "a, ak, b, c, u, d, tau, se"]),
    "group parameter of the wrong type": (
        set_at(["items", 1, "groups", "ru", "b"], [0.1]),
        ["items[1] ('Q2').groups.ru.b", "expected a number"]),
    "group standard error of an unknown parameter": (
        set_at(["items", 1, "groups", "ru", "se"], {"tau": 0.1}),
        ["items[1] ('Q2').groups.ru.se.tau"]),
    "group parameters not an object": (
        set_at(["items", 1, "groups", "ru"], 3),
        ["items[1] ('Q2').groups.ru", "expected a JSON object"]),
    "reference group not among the groups": (
        set_at(["reference_group"], "de"),
        ["reference_group: expected one of the file's groups (kk, ru, en); got 'de'"]),
    "reference group without groups": (
        lambda d: (d.pop("groups"), [i.pop("groups", None) for i in d["items"]]),
        ["reference_group: needs the file's groups"]),
    "reference latent differs from latent": (
        set_at(["groups", "kk", "mean"], [0.1]),
        ["groups.kk", "must equal latent"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_group_entries_name_the_json_path(tmp_path, case):
    edit, expected = MALFORMED[case]
    refusal(tmp_path, VALID, edit, read_parameter_file, expected)


def test_a_group_value_out_of_domain_is_found_when_that_groups_bank_is_built(tmp_path):
    data = copy.deepcopy(VALID)
    data["items"][2]["groups"]["ru"]["c"] = 1.2
    path = write_json(tmp_path / "params.json", data)
    pf = read_parameter_file(path)
    pf.to_bank()  # the top level and the other groups are fine
    pf.to_bank("en")
    with pytest.raises(DataFileError) as info:
        pf.to_bank("ru")
    message = str(info.value)
    assert message.startswith(f"{path}: items[2] ('Q3')"), message
    assert "1.2" in message and "(the parameters of group 'ru')" in message
