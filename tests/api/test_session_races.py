"""An answer racing the end of its session (terminate, finish, time-out) over real HTTP, on two
workers, on SQLite and PostgreSQL: every acknowledged answer is scored, every other one refused.

Before the store refused events after a closing event, about one race in four lost its answer
(acknowledged, then missing from the profile and the responses table). ``make check-long`` runs
200 trials per back-end and kind of end (``QABILET_RACE_TRIALS``).
"""

from __future__ import annotations

import os

import pytest

from tests.api._races import ENDS, race
from tests.api._server import Server, staff_keys

TRIALS = int(os.environ.get("QABILET_RACE_TRIALS", "16"))


@pytest.fixture(params=["sqlite", "postgresql"])
def racing_server(request):
    url = request.getfixturevalue("demo_db" if request.param == "sqlite" else "demo_pg")
    keys = staff_keys(url)
    running = Server(url, workers=2).start()
    yield running.base, url, keys
    running.stop()


@pytest.mark.parametrize("end", ENDS)
def test_no_acknowledged_answer_is_lost_to_the_end_of_its_session(racing_server, end):
    base, url, keys = racing_server
    tally = race(base, url, keys, end, TRIALS)
    print(f"\nrace {end}: {tally}")
    assert tally.lost == 0, tally
    assert set(tally.statuses) <= {200, 409}, tally  # refused answers are 409 "closed"
