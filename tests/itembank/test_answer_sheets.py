"""Answer files for profiles (`read_answer_sheets`): what is read, and every bad cell named."""

from __future__ import annotations

import pytest

from qabilet.engine.exceptions import DataFileError, ImportRejectedError
from qabilet.itembank.response_file import AnswerSheet, read_answer_sheets

ITEMS = ["Q1", "Q2", "Q3"]


def _file(tmp_path, text, name="answers.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_become_sheets_with_defaults_codes_and_times(tmp_path):
    answers = _file(tmp_path, "person_id,language,level,site,Q3,Q1\n"
                              "A,kk,high,x,2,0\n"
                              "B,,,y,,1\n")
    times = _file(tmp_path, "person_id,Q1,Q3\nB,4.5,\nA,1,2.25\n", "times.csv")
    sheets = read_answer_sheets(answers, ITEMS, exclude=["site"], times=times, level="low",
                                language="en")
    assert sheets == [
        AnswerSheet(row=1, person_id="A", level="high", language="kk",
                    codes={"Q3": 2, "Q1": 0}, seconds={"Q1": 1.0, "Q3": 2.25}),
        AnswerSheet(row=2, person_id="B", level="low", language="en", codes={"Q1": 1},
                    seconds={"Q1": 4.5}),
    ]
    assert list(sheets[0].codes) == ["Q3", "Q1"]  # file order


def test_every_bad_cell_is_named_and_nothing_is_returned(tmp_path):
    answers = _file(tmp_path, "person_id,level,language,Q1,Q2\n"
                              "A,top,ru,1,x\n"
                              "B,high,de,-1,\n"
                              "A,high,ru,0,0\n")
    with pytest.raises(ImportRejectedError) as caught:
        read_answer_sheets(answers, ITEMS)
    assert caught.value.problems == [
        (1, "level", "expected one of high, middle, low; got 'top'"),
        (1, "Q2", "expected an answer code 0, 1, …; got 'x'"),
        (2, "language", "expected one of kk, ru, en; got 'de'"),
        (2, "Q1", "expected an answer code 0, 1, …; got '-1'"),
        (3, "person_id", "'A' is row 1 already"),
    ]
    assert str(caught.value).startswith(f"{answers}: 3 bad rows, nothing imported")


def test_bad_times_and_bad_headers(tmp_path):
    answers = _file(tmp_path, "person_id,Q1\nA,1\n")
    times = _file(tmp_path, "person_id,Q1\nA,-2\n", "times.csv")
    with pytest.raises(ImportRejectedError, match=r"row 1, Q1: expected seconds ≥ 0; got '-2'"):
        read_answer_sheets(answers, ITEMS, times=times)
    with pytest.raises(DataFileError, match="columns Q9 are not items of the bank version"):
        read_answer_sheets(_file(tmp_path, "person_id,Q9\nA,1\n"), ITEMS)
    with pytest.raises(DataFileError, match="expected a header with a person_id column"):
        read_answer_sheets(_file(tmp_path, "id,Q1\nA,1\n"), ITEMS)
