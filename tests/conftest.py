"""Shared test settings."""

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote

import pytest

REQUIRE_ALL = os.environ.get("QABILET_REQUIRE_ALL") == "1"
#: the staff accounts' passwords hashed with Argon2id's cheapest parameters, in this process and
#: in every server it starts (the production profile is tested in tests/attestation/test_accounts.py)
os.environ.setdefault("QABILET_ARGON2_PROFILE", "test")

pytest_plugins = ["tests.demo_fixtures", "tests.api._server", "tests.api._staff"]


#: modules that time latencies, wait out short time limits or kill processes: ``make test`` runs
#: them on their own, after the rest of the suite has run on two pytest-xdist workers, so that no
#: other test loads the machine while they measure it (marked ``alone`` here)
ALONE = frozenset({
    "api/test_candidate_page.py", "api/test_candidate_page_blocks.py", "api/test_crash.py",
    "api/test_faults.py", "api/test_http_rules.py", "api/test_limits.py",
    "api/test_serving.py", "api/test_session_races.py", "api/test_session_tokens.py",
    "api/test_settings.py", "api/test_several_servers.py", "api/test_throttle.py",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of the :data:`ALONE` modules ``alone``."""
    here = os.path.dirname(__file__)
    for item in items:
        if os.path.relpath(str(item.path), here).replace(os.sep, "/") in ALONE:
            item.add_marker(pytest.mark.alone)


def skip_or_fail(reason: str) -> None:
    """Skip with a message, or fail when QABILET_REQUIRE_ALL=1 (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"required by QABILET_REQUIRE_ALL=1: {reason}")
    pytest.skip(reason)


#: the test PostgreSQL server (``.ci/run`` sets it)
PG_ENV = "QABILET_TEST_DATABASE_URL"


def pg_schema(prefix: str = "t") -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema of the test PostgreSQL database.

    A generator for fixtures: it yields the URL, then drops the schema. Without
    ``QABILET_TEST_DATABASE_URL`` or a server there, the test skips with a message (fails under
    ``QABILET_REQUIRE_ALL=1``).
    """
    from sqlalchemy import create_engine, text

    from qabilet.itembank.database import database_url

    base = os.environ.get(PG_ENV)
    if not base:
        skip_or_fail(f"PostgreSQL tests need {PG_ENV}=postgresql://user@host:port/db (a running "
                     f"server; Debian: apt-get install postgresql)")
    admin = create_engine(database_url(base))
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means: no server here
        admin.dispose()
        skip_or_fail(f"PostgreSQL at {base} is not reachable: {exc}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def together(target: Callable, arguments: Iterable[tuple]) -> tuple[list, list[BaseException]]:
    """``target(*args)`` for each of ``arguments``, in threads released at the same moment.

    Returns the results and the exceptions raised, each in the order they came.
    """
    arguments = list(arguments)
    barrier = threading.Barrier(len(arguments))
    results: list = []
    errors: list[BaseException] = []

    def run(args: tuple) -> None:
        barrier.wait()
        try:
            results.append(target(*args))
        except BaseException as exc:  # the caller looks at them
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(args,)) for args in arguments]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results, errors
