"""The server's settings (issue 16): one class read once from ``QABILET_*``; a bad variable is a
one-line error naming it, never a traceback; the workers are handed the settings (the
environment is not edited to pass them) and never migrate the database: it is migrated once,
before they start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qabilet.api.settings import Settings
from qabilet.itembank.database import DatabaseSettings, SettingsError
from tests.api._server import children, free_port, staff_keys, start_session, wait_for

#: a clean environment for a server: no QABILET_* variable of the test run's
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("QABILET_")}


def test_every_setting_has_its_variable_and_a_bad_one_is_named(monkeypatch):
    for name in [k for k in os.environ if k.startswith("QABILET_")]:
        monkeypatch.delenv(name)
    names = {f"QABILET_{field.upper()}" for field in Settings.model_fields}
    assert names >= {  # the README's settings table (and the database's)
        "QABILET_DATABASE_URL", "QABILET_PUBLIC_URL", "QABILET_TIME_LIMIT_S",
        "QABILET_ITEM_TIME_LIMIT_S", "QABILET_TOKEN_TTL_HOURS", "QABILET_TOKEN_GRACE_MINUTES",
        "QABILET_MAX_BODY_BYTES", "QABILET_MAX_IMPORT_BYTES", "QABILET_FAILURES_PER_SESSION",
        "QABILET_FAILURES_PER_KEY", "QABILET_FAILURES_PER_ADDRESS", "QABILET_FAILURE_WINDOW_S",
        "QABILET_TRUSTED_PROXIES", "QABILET_SQLITE_SYNCHRONOUS", "QABILET_SQLITE_BUSY_TIMEOUT_S",
        "QABILET_GROUP_MIN_COUNT"}
    monkeypatch.setenv("QABILET_TIME_LIMIT_S", "0")  # no limit
    monkeypatch.setenv("QABILET_PUBLIC_URL", "https://exam.example/")
    monkeypatch.setenv("QABILET_ITEM_TIME_LIMIT_S", "")  # empty: the default
    monkeypatch.setenv("QABILET_SQLITE_SYNCHRONOUS", " Normal ")
    s = Settings.from_env()
    assert (s.time_limit_s, s.item_time_limit_s) == (None, 300.0)
    assert s.public_url == "https://exam.example" and s.sqlite_synchronous == "normal"
    assert isinstance(s, DatabaseSettings)  # what the database module takes
    for name, bad, expected in [
            ("QABILET_TOKEN_TTL_HOURS", "0", "expected a number greater than 0"),
            ("QABILET_TOKEN_TTL_HOURS", "nan", "expected a finite number"),
            ("QABILET_TIME_LIMIT_S", "-5", "expected a number greater than 0"),
            ("QABILET_MAX_BODY_BYTES", "16k", "expected a valid integer"),
            ("QABILET_FAILURE_WINDOW_S", "soon", "expected a valid number"),
            ("QABILET_TRUSTED_PROXIES", "10.0.0.0/33", "expected addresses or networks"),
            ("QABILET_SQLITE_SYNCHRONOUS", "off", "expected one of full, normal"),
            ("QABILET_GROUP_MIN_COUNT", "3", "expected a number greater than or equal to 5")]:
        with monkeypatch.context() as m:
            m.setenv(name, bad)
            with pytest.raises(SettingsError) as caught:
                Settings.from_env()
        message = str(caught.value)
        assert message.startswith(f"{name}: {expected}") and message.endswith(f"got {bad!r}"), \
            message
        assert "\n" not in message


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_bad_setting_stops_serve_with_one_line_naming_it(demo_db, workers):
    done = subprocess.run([sys.executable, "-m", "qabilet", "serve", "--port", str(free_port()),
                           "--workers", workers, "--database", demo_db],
                          env={**CLEAN, "QABILET_FAILURES_PER_KEY": "lots"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["error: QABILET_FAILURES_PER_KEY: expected a valid integer, unable to parse "
                     "string as an integer; got 'lots'"], done.stderr


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in raw if b"=" in entry)


#: a sitecustomize that logs every Alembic upgrade of every process (the workers' too) to a file
_COUNT_UPGRADES = '''
import os
import qabilet.itembank.database as database

_upgrade = database.upgrade

def upgrade(*args, **kwargs):
    with open(os.environ["UPGRADE_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
    return _upgrade(*args, **kwargs)

database.upgrade = upgrade
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_are_handed_the_settings_and_the_database_is_migrated_once(demo_db, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(_COUNT_UPGRADES)
    log = tmp_path / "upgrades.log"
    port = free_port()
    env = {**CLEAN, "PYTHONPATH": str(tmp_path), "UPGRADE_LOG": str(log),
           "QABILET_TOKEN_TTL_HOURS": "2"}
    keys = staff_keys(demo_db)
    log.unlink(missing_ok=True)  # staff_keys opened it in this process (no sitecustomize here)
    proc = subprocess.Popen([sys.executable, "-m", "qabilet", "serve", "--port", str(port),
                             "--workers", "3", "--database", demo_db],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, timeout_s=60)
        deadline = time.monotonic() + 60
        while len(workers := children(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # every worker has made its app (and would have migrated by now)
        for _ in range(6):  # requests reach the workers' apps, made on the settings handed over
            session = start_session(base, keys)
            assert session["link"].startswith(f"{base}/take/"), session  # --host/--port's URL
        for worker in workers:
            seen = _environ(worker)
            assert "QABILET_DATABASE_URL" not in seen and "QABILET_PUBLIC_URL" not in seen, worker
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    upgrades = log.read_text().split()
    assert upgrades == [str(proc.pid)], upgrades  # once, by the supervisor
