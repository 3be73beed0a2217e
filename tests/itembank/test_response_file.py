"""Response files and score files (docs/design.md §6): reading against an independent per-cell parse,
recoding, and one test per kind of malformed file (each error names the row and the column)."""

import csv
import io
import os

import numpy as np
import pytest

from qabilet.engine.exceptions import DataFileError, InvalidParameterError
from qabilet.engine.scoring.result import AbilityEstimate
from qabilet.itembank.response_file import (
    format_responses_csv,
    format_scores_csv,
    read_responses_csv,
    write_scores_csv,
)

BANK_IDS = ["Q1", "Q2", "Q3", "Q4"]
BANK_K = [2, 3, 5, 2]


def _write(tmp_path, text, name="responses.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


# -- reading -------------------------------------------------------------------------------------------
def test_columns_follow_bank_order_and_absent_items_are_unobserved(tmp_path):
    path = _write(tmp_path, "person_id,Q3,Q1,Q2\nana,4,1,\nbek,,0,2\n\ncan,0,1,1\n")
    data = read_responses_csv(path, item_ids=BANK_IDS, n_categories=BANK_K)
    assert data.person_ids == ("ana", "bek", "can")
    assert data.item_ids == tuple(BANK_IDS)
    assert data.responses.tolist() == [[1, 0, 4, 0], [0, 2, 0, 0], [1, 1, 0, 0]]
    assert data.observed.tolist() == [[True, False, True, False], [True, True, False, False],
                                      [True, True, True, False]]
    assert data.n_persons == 3 and data.n_items == 4
    with pytest.raises(ValueError):
        data.responses[0, 0] = 1  # read-only


def test_without_person_id_the_row_number_is_the_id(tmp_path):
    # row numbers count every line after the header, so a blank line keeps the numbering of rows
    path = _write(tmp_path, "Q1,Q2\n1,2\n\n0,0\n")
    data = read_responses_csv(path)
    assert data.person_ids == ("1", "3")
    assert data.item_ids == ("Q1", "Q2")
    assert data.responses.tolist() == [[1, 2], [0, 0]]


def test_excluded_columns_are_not_items(tmp_path):
    path = _write(tmp_path, "person_id,level,Q2,language\np1,high,1,kk\np2,low,2,ru\n")
    data = read_responses_csv(path, item_ids=BANK_IDS, n_categories=BANK_K,
                              exclude=["level", "language"])
    assert data.observed[:, 1].all() and not data.observed[:, [0, 2, 3]].any()
    assert data.responses[:, 1].tolist() == [1, 2]


def test_excluding_person_id_makes_row_numbers_the_ids(tmp_path):
    path = _write(tmp_path, "person_id,Q1\nx,1\nx,0\n")
    data = read_responses_csv(path, exclude=["person_id"])
    assert data.person_ids == ("1", "2")


def test_byte_order_mark_spaces_and_signs(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffperson_id , Q1,Q2\n p1 , +1 , 0\n".encode())
    data = read_responses_csv(path)
    assert data.person_ids == ("p1",)
    assert data.item_ids == ("Q1", "Q2")
    assert data.responses.tolist() == [[1, 0]]


def test_recodings_map_original_codes_to_positions(tmp_path):
    # codes in the order of categories 0..K-1, deliberately not sorted for Q3
    recodings = {"Q2": [1, 2, 3], "Q3": [5, 4, 3, 2, 1]}
    path = _write(tmp_path, "Q1,Q2,Q3\n1,3,5\n0,1,1\n1,,3\n")
    data = read_responses_csv(path, item_ids=BANK_IDS, n_categories=BANK_K, recodings=recodings)
    assert data.responses[:, 1].tolist() == [2, 0, 0]
    assert data.responses[:, 2].tolist() == [0, 4, 2]
    assert data.observed[:, 1].tolist() == [True, True, False]


def test_reading_matches_an_independent_cell_by_cell_parse(tmp_path):
    rng = np.random.default_rng(7)
    n, ids, k = 300, [f"I{j}" for j in range(12)], rng.integers(2, 6, size=12)
    codes = [sorted(rng.choice(np.arange(-5, 20), size=kj, replace=False).tolist()) for kj in k]
    order = rng.permutation(12)
    # write: random column order, original codes, missing cells, person ids
    truth = rng.integers(0, k[None, :], size=(n, 12))
    seen = rng.random((n, 12)) > 0.2
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["person_id", *(ids[j] for j in order)])
    for p in range(n):
        writer.writerow([f"id{p}", *(codes[j][truth[p, j]] if seen[p, j] else "" for j in order)])
    path = _write(tmp_path, buffer.getvalue())

    data = read_responses_csv(path, item_ids=ids, n_categories=k,
                              recodings={i: c for i, c in zip(ids, codes, strict=True)})
    # expected, by a plain loop over rows and cells
    expected = np.zeros((n, 12), dtype=int)
    observed = np.zeros((n, 12), dtype=bool)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for p, row in enumerate(rows[1:]):
        for name, cell in zip(header[1:], row[1:], strict=True):
            j = ids.index(name)
            if cell != "":
                expected[p, j] = codes[j].index(int(cell))
                observed[p, j] = True
    np.testing.assert_array_equal(data.responses, expected)
    np.testing.assert_array_equal(data.observed, observed)
    np.testing.assert_array_equal(data.observed, seen)
    np.testing.assert_array_equal(np.where(seen, data.responses, 0), np.where(seen, truth, 0))
    assert data.person_ids == tuple(f"id{p}" for p in range(n))


def test_formatted_responses_read_back(tmp_path):
    x = np.array([[0, 2, 1], [1, 0, 4]])
    seen = np.array([[True, False, True], [True, True, True]])
    path = _write(tmp_path, format_responses_csv(["a", "b"], ["Q1", "Q2", "Q3"], x, seen))
    data = read_responses_csv(path)
    assert data.person_ids == ("a", "b")
    np.testing.assert_array_equal(data.observed, seen)
    np.testing.assert_array_equal(data.responses, np.where(seen, x, 0))


# -- malformed response files ------------------------------------------------------------------------
MALFORMED = {
    "unknown item column": ("person_id,Q1,Q9\na,1,0\n", 0, "Q9", "not an item"),
    "category out of range": ("person_id,Q1,Q2\na,1,0\nb,1,3\n", 2, "Q2", "0..2"),
    "negative category": ("person_id,Q1,Q2\na,-1,0\n", 1, "Q1", "0..1"),
    "non-integer cell": ("person_id,Q1,Q2\na,1,0\nb,1,1.5\n", 2, "Q2", "'1.5'"),
    "text cell": ("person_id,Q1,Q2\na,yes,0\n", 1, "Q1", "'yes'"),
    "NA is not empty": ("person_id,Q1,Q2\na,NA,0\n", 1, "Q1", "empty cell for a missing"),
    "double sign": ("person_id,Q1,Q2\na,--1,0\n", 1, "Q1", "'--1'"),
    "duplicate person id": ("person_id,Q1\na,1\nb,0\na,0\n", 3, "person_id",
                            "'a' repeats (first in row 1)"),
    "empty person id": ("person_id,Q1\na,1\n,0\n", 2, "person_id", "empty"),
    "short row": ("person_id,Q1,Q2,Q3\na,1,0,2\nb,1\n", 2, "Q2", "this row has 2 cells"),
    "long row": ("person_id,Q1,Q2\na,1,0\nb,1,0,1\n", 2, None, "this row has 4 cells"),
    "repeated column": ("person_id,Q1,Q1\na,1,0\n", 0, "Q1", "repeats"),
    "unnamed column": ("person_id,,Q1\na,1,0\n", 0, None, "header cell 2 is empty"),
    "excluded column absent": ("person_id,Q1\na,1\n", 0, "group", "not in the header"),
    "unterminated quote": ('person_id,Q1\na,1\n"b,0\n', 2, None, "malformed CSV"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_response_file_names_row_and_column(tmp_path, case):
    text, row, column, fragment = MALFORMED[case]
    path = _write(tmp_path, text)
    exclude = ["group"] if case == "excluded column absent" else ()
    with pytest.raises(DataFileError) as info:
        read_responses_csv(path, item_ids=BANK_IDS, n_categories=BANK_K, exclude=exclude)
    err = info.value
    assert (err.path, err.row, err.column) == (str(path), row, column)
    message = str(err)
    assert message.startswith(f"{path}, row {row}")
    if column is not None:
        assert f"column {column!r}" in message
    assert fragment in message, message


def test_code_outside_the_recoding_names_the_codes(tmp_path):
    path = _write(tmp_path, "Q3\n1\n0\n")
    with pytest.raises(DataFileError) as info:
        read_responses_csv(path, item_ids=BANK_IDS, n_categories=BANK_K,
                           recodings={"Q3": [1, 2, 3, 4, 5]})
    assert (info.value.row, info.value.column) == (2, "Q3")
    assert "[1, 2, 3, 4, 5]" in str(info.value) and "got 0" in str(info.value)


def test_without_a_bank_codes_must_be_non_negative(tmp_path):
    path = _write(tmp_path, "Q1,Q2\n7,0\n1,-2\n")
    with pytest.raises(DataFileError) as info:
        read_responses_csv(path)
    assert (info.value.row, info.value.column) == (2, "Q2")


@pytest.mark.parametrize("text, fragment", [("", "header"), ("Q1,Q2\n", "no data rows"),
                                            ("person_id\na\n", "no item columns")])
def test_files_without_data(tmp_path, text, fragment):
    with pytest.raises(DataFileError, match=fragment):
        read_responses_csv(_write(tmp_path, text))


def test_recodings_that_do_not_fit_the_bank_are_rejected(tmp_path):
    path = _write(tmp_path, "Q1\n1\n")
    with pytest.raises(InvalidParameterError, match=r"recodings\['Q2'\]: expected 3 codes"):
        read_responses_csv(path, item_ids=BANK_IDS, n_categories=BANK_K,
                           recodings={"Q2": [1, 2]})
    with pytest.raises(InvalidParameterError, match="n_categories"):
        read_responses_csv(path, n_categories=[2])


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("person_id,Q1\nAsqar Ä,1\n".encode("latin-1"))
    with pytest.raises(DataFileError, match="UTF-8"):
        read_responses_csv(path)


# -- score files ---------------------------------------------------------------------------------------
def _estimate_1d():
    theta = np.array([0.1 + 0.2, -1.0 / 3.0, np.nan])
    se = np.array([0.25, 1e-300, np.nan])
    status = np.array(["ok", "at_bound", "no_responses"])
    return AbilityEstimate(theta, se, "ml", status, ("theta",))


def test_score_file_one_factor(tmp_path):
    est = _estimate_1d()
    path = tmp_path / "scores.csv"
    write_scores_csv(path, ["a", "b,c", "d"], est)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["person_id", "theta", "se", "status"]
    assert [r[0] for r in rows[1:]] == ["a", "b,c", "d"]
    assert float(rows[1][1]) == 0.1 + 0.2  # full precision
    assert float(rows[2][1]) == -1.0 / 3.0 and float(rows[2][2]) == 1e-300
    assert rows[3][1:] == ["", "", "no_responses"]  # NaN is an empty cell
    assert [r[3] for r in rows[1:]] == ["ok", "at_bound", "no_responses"]


def test_score_file_several_factors():
    theta = np.array([[0.5, -0.25], [1.5, 2.0]])
    se = np.array([[0.3, 0.4], [0.35, 0.45]])
    est = AbilityEstimate(theta, se, "eap", np.array(["ok", "ok"]), ("SRV", "ACC"))
    rows = list(csv.reader(io.StringIO(format_scores_csv(["p1", "p2"], est))))
    assert rows[0] == ["person_id", "theta_SRV", "se_SRV", "theta_ACC", "se_ACC", "status"]
    assert [float(x) for x in rows[2][1:5]] == [1.5, 0.35, 2.0, 0.45]


def test_score_file_with_wrong_number_of_ids_writes_nothing(tmp_path):
    path = tmp_path / "scores.csv"
    with pytest.raises(InvalidParameterError, match="expected 3 ids"):
        write_scores_csv(path, ["a", "b"], _estimate_1d())
    assert os.listdir(tmp_path) == []


def test_fast_and_exact_paths_read_the_same(tmp_path):
    # the byte-level path (plain files) and the csv-module path (here forced by quoting the
    # header) must give identical results on the same cells
    from qabilet.itembank.response_file import _FastTable

    rng = np.random.default_rng(7)
    codes = rng.integers(0, 12, size=(300, 25))
    missing = rng.random(codes.shape) < 0.3
    items = [f"I{j}" for j in range(25)]
    lines = ["person_id," + ",".join(items)]
    for p in range(300):
        cells = ["" if missing[p, j] else str(codes[p, j]) for j in range(25)]
        lines.append(f"p{p}," + ",".join(cells))
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(lines) + "\n")
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"person_id",' + "\n".join(lines)[len("person_id,"):] + "\n")
    assert _FastTable.read(plain) is not None and _FastTable.read(quoted) is None
    a = read_responses_csv(plain)
    b = read_responses_csv(quoted)
    assert a.person_ids == b.person_ids and a.item_ids == b.item_ids
    np.testing.assert_array_equal(a.responses, b.responses)
    np.testing.assert_array_equal(a.observed, b.observed)
    np.testing.assert_array_equal(a.observed, ~missing)
    np.testing.assert_array_equal(np.where(missing, 0, codes), a.responses)


# -- compact codes (issue 17: sparse 50,000 × 300 files read in a fraction of the memory) --------------
def _plain_and_quoted(tmp_path, text):
    """The same cells as a plain file (the byte-level path) and with a quoted header (the exact one)."""
    quoted = '"' + text.replace(",", '",', 1)  # "person_id",Q1,…
    return _write(tmp_path, text, "plain.csv"), _write(tmp_path, quoted, "quoted.csv")


@pytest.mark.parametrize("largest, dtype", [(1, np.int8), (127, np.int8), (128, np.int16),
                                            (300, np.int16), (70_000, np.int32),
                                            (2**40, np.int64)])
def test_codes_take_the_smallest_integer_type_that_holds_them(tmp_path, largest, dtype):
    text = f"person_id,Q1,Q2\na,0,{largest}\nb,,1\nc,{largest - 1},\n"
    for path in _plain_and_quoted(tmp_path, text):
        data = read_responses_csv(path)
        assert data.responses.dtype == dtype
        assert data.responses.tolist() == [[0, largest], [0, 1], [largest - 1, 0]]
        assert data.observed.tolist() == [[True, True], [False, True], [True, False]]


def test_recoded_codes_are_compact_whatever_the_original_codes(tmp_path):
    path = _write(tmp_path, "Q1,Q2\n5000,1\n-7,\n9999999,0\n")
    data = read_responses_csv(path, item_ids=["Q1", "Q2"], n_categories=[3, 2],
                              recodings={"Q1": [9999999, -7, 5000]})
    assert data.responses.dtype == np.int8
    assert data.responses.tolist() == [[2, 1], [1, 0], [0, 0]]


def test_of_several_bad_cells_the_first_in_file_order_is_named(tmp_path):
    # row 1 has a bad cell in the second item, row 2 in the first: row 1 comes first
    text = "person_id,Q1,Q2\na,0,5\nb,7,0\n"
    for path in _plain_and_quoted(tmp_path, text):
        with pytest.raises(DataFileError) as info:
            read_responses_csv(path, item_ids=["Q1", "Q2"], n_categories=[2, 3])
        assert (info.value.row, info.value.column) == (1, "Q2")
        assert "got 5" in str(info.value)


def test_separator_positions_found_block_by_block_are_flatnonzero():
    from qabilet.itembank.response_file import _positions

    flags = np.random.default_rng(3).random(1000) < 0.3
    for block in (1, 7, 64, 5000):
        found = _positions(flags, block=block)
        assert found.dtype == np.int32
        np.testing.assert_array_equal(found, np.flatnonzero(flags))


def test_reading_sparse_data_takes_a_few_bytes_a_cell(tmp_path):
    """The int64 reader peaked at 55 bytes a cell here (several dense int64 copies); now int32
    cell positions and one-byte codes and masks."""
    import tracemalloc

    rng = np.random.default_rng(11)
    n, m = 20_000, 100
    x = rng.integers(0, 2, (n, m))
    seen = rng.random((n, m)) < 0.1
    path = _write(tmp_path, format_responses_csv([str(p) for p in range(n)],
                                                 [f"I{j}" for j in range(m)], x, seen))
    tracemalloc.start()
    try:
        data = read_responses_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(data.responses, np.where(seen, x, 0))
    assert peak < 24 * n * m, peak / (n * m)
