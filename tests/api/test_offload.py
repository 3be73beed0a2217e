"""Imports in a child process (api.offload): the same outcome as in the worker, errors raised as
raised there (every bad entry named, at most 100), strict JSON checked, a killed child replaced,
an in-memory database imported in the worker's threads."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from qabilet.api.offload import MAX_PROBLEMS, Offload, import_bank
from qabilet.engine.exceptions import DataFileError, ImportRejectedError
from qabilet.itembank.bank_file import export_document
from qabilet.itembank.database import DatabaseSettings, connect
from qabilet.itembank.repository import BankRepository
from tests.itembank import _bank


def _document() -> bytes:
    source = BankRepository(connect("sqlite://"))
    _bank.fill(source)
    return export_document(source).model_dump_json().encode()


@pytest.fixture
def offload(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'bank.db'}")
    repo = BankRepository(engine)
    done = Offload(DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'bank.db'}"))
    yield done, repo
    done.shutdown()
    engine.dispose()


def test_a_document_imported_by_the_child_is_in_the_workers_database(offload):
    jobs, repo = offload
    done = asyncio.run(jobs.run(import_bank, _document(), "key:psy"))
    assert done.counts["items"] == len(_bank.items()) and done.draft_version is None
    assert {i.id for i in repo.items()} == {i.id for i in _bank.items()}
    assert [v.number for v in repo.versions()] == [1]


def test_errors_come_back_as_raised_and_bounded(offload):
    jobs, repo = offload
    document = json.loads(_document())
    document["items"] = [{"id": f"X-{k}", "levels": ["middle"]} for k in range(300)]
    with pytest.raises(ImportRejectedError) as refused:
        asyncio.run(jobs.run(import_bank, json.dumps(document).encode(), "key:psy"))
    assert len(refused.value.problems) == MAX_PROBLEMS + 1
    assert "more problems not listed" in refused.value.problems[-1][2]
    with pytest.raises(DataFileError, match=r"items/0/a: expected a finite number; got NaN"):
        asyncio.run(jobs.run(import_bank, b'{"items": [{"a": NaN}]}', "key:psy"))
    with pytest.raises(DataFileError, match="expected a JSON object"):
        asyncio.run(jobs.run(import_bank, b"[]", "key:psy"))
    assert repo.items() == []  # nothing half-imported


def test_a_killed_child_is_replaced(offload):
    jobs, repo = offload
    asyncio.run(jobs.run(import_bank, _document(), "key:psy"))
    child = next(iter(jobs._executor()._processes))
    os.kill(child, signal.SIGKILL)
    with pytest.raises(DataFileError, match="got NaN"):  # answered by a new child
        asyncio.run(jobs.run(import_bank, b'{"a": NaN}', "key:psy"))
    assert child not in jobs._executor()._processes


def test_the_child_runs_at_a_lower_priority(offload):
    """Its niceness is the worker's plus IMPORT_NICENESS (read from /proc by the kernel's word)."""
    from qabilet.api.offload import IMPORT_NICENESS

    jobs, _ = offload
    with pytest.raises(DataFileError):  # a job, so that the child exists
        asyncio.run(jobs.run(import_bank, b"[]", "key:psy"))
    child = next(iter(jobs._executor()._processes))
    with open(f"/proc/{child}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    assert int(fields[16]) == os.nice(0) + IMPORT_NICENESS  # field 19 of /proc/PID/stat: nice
