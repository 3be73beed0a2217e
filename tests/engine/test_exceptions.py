"""The error tree's errors survive pickling with their attributes (they cross process
boundaries: the API's imports run in a child process)."""

from __future__ import annotations

import pickle

import pytest

from qabilet.engine.exceptions import (
    ConflictError,
    DataFileError,
    ImportRejectedError,
    NotFoundError,
    SessionClosedError,
)


@pytest.mark.parametrize("error", [
    DataFileError("expected a number; got 'x'", path="r.csv", row=3, column="Q1"),
    ImportRejectedError([(2, "a", "expected a number"), (5, "b", "missing")], path="bank.json"),
    SessionClosedError("session 's' is closed", reason="terminate"),
    ConflictError("taken"), NotFoundError("no such item"),
])
def test_errors_pickle_with_their_attributes(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    for name in ("path", "row", "column", "problems", "reason"):
        assert getattr(again, name, None) == getattr(error, name, None)
