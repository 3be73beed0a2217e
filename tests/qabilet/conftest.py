"""Fixtures of the top package's tests: the demonstration bank with answered sessions."""

from __future__ import annotations

import pickle
import shutil

import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.qabilet._report_data import answer_sessions

#: sessions answered into the bank for the technical report's tests (80 per level)
N_SESSIONS = 240


@pytest.fixture(scope="session")
def answered_db_file(demo_db_file, tmp_path_factory):
    """A copy of the demonstration bank with :data:`N_SESSIONS` profiles issued with their
    answers (built once), and what was given (:class:`~tests.qabilet._report_data.Answered`)."""
    path = tmp_path_factory.mktemp("answered") / "answered.db"
    shutil.copy(demo_db_file, path)
    engine = connect(f"sqlite:///{path}")
    given = answer_sessions(BankRepository(engine), N_SESSIONS)
    engine.dispose()
    path.with_suffix(".given.pickle").write_bytes(pickle.dumps(given))
    return path


@pytest.fixture
def answered(answered_db_file, tmp_path):
    """(URL of a private copy, what was given)."""
    copy = tmp_path / "answered.db"
    shutil.copy(answered_db_file, copy)
    given = pickle.loads(answered_db_file.with_suffix(".given.pickle").read_bytes())
    return f"sqlite:///{copy}", given
