"""The group column of response files (``read_responses_csv(..., group_column=...)``)."""

import pytest

from qabilet.engine.exceptions import DataFileError
from qabilet.itembank.response_file import read_responses_csv


def _write(tmp_path, text):
    path = tmp_path / "responses.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_group_labels_are_read_and_the_column_is_not_an_item(tmp_path):
    path = _write(tmp_path, "person_id,Q1,lang,Q2,level\nana,1, kk ,0,high\nbek,0,ru,,low\n"
                            "\ncan,1,kk,1,low\n")
    data = read_responses_csv(path, group_column="lang", exclude=["level"])
    assert data.item_ids == ("Q1", "Q2")
    assert data.groups == ("kk", "ru", "kk")  # surrounding spaces stripped, as every cell's
    assert data.responses.tolist() == [[1, 0], [0, 0], [1, 1]]
    # the same column may also be excluded; without group_column there are no labels
    again = read_responses_csv(path, group_column="lang", exclude=["lang", "level"])
    assert again.groups == data.groups
    assert read_responses_csv(path, exclude=["lang", "level"]).groups is None


@pytest.mark.parametrize(
    "text, column, expected",
    [
        ("person_id,Q1\na,1\n", "lang", "row 0, column 'lang': group column is not in the header"),
        ("person_id,lang,Q1\na,kk,1\nb,,0\n", "lang",
         "row 2, column 'lang': expected a group label; the cell is empty"),
        ("person_id,Q1\na,1\n", "person_id", "person id column cannot be the group column"),
    ],
)
def test_group_column_errors_name_row_and_column(tmp_path, text, column, expected):
    path = _write(tmp_path, text)
    with pytest.raises(DataFileError) as info:
        read_responses_csv(path, group_column=column)
    assert expected in str(info.value)
