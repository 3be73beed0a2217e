"""`qabilet keys create|list|revoke`: the key shown once, never listed, revoked for running servers."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from qabilet.itembank.tables import ApiKeyRow
from tests.attestation._world import build
from tests.conftest import pg_schema

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        yield from pg_schema("keys")


def _keys(*args):
    return runner.invoke(app, ["keys", *args])


def test_create_list_revoke(database):
    build(database)  # the organisation, whose unit U-A scopes the key
    made = _keys("create", "--role", "operator", "--scope", "U-A", "--label", "front desk",
                 "--database", database)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert made.stdout == f"{secret}\n" and secret.startswith("qk_")
    key_id = secret.split("_")[1]
    assert made.stderr == (f"Created operator key {key_id} (scope 'U-A', label 'front "
                           f"desk'). The key, shown this once (only its digest is stored):\n")
    other = _keys("create", "--role", "psychometrician", "--database", database).stdout.strip()

    engine = connect(database)
    store = SessionStore(engine)  # as a running server holds it
    with engine.connect() as c:
        stored = {r.id: r for r in c.execute(select(ApiKeyRow))}
    assert stored[key_id].key_hash == hashlib.sha256(secret.split("_", 2)[2].encode()).hexdigest()
    assert (stored[key_id].role, stored[key_id].scope, stored[key_id].label) == (
        "operator", "U-A", "front desk")
    assert store.authenticate(secret) == (key_id, "operator", "U-A")

    listing = _keys("list", "--database", database)
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["id", "role", "scope", "created", "revoked", "label"]
    assert lines[1].split()[:3] == [key_id, "operator", "U-A"]
    assert lines[1].endswith("—                     front desk")
    assert lines[2].split()[:3] == [other.split("_")[1], "psychometrician", "—"]
    assert lines[3] == "2 keys, 2 valid"
    assert secret.split("_", 2)[2] not in listing.output and other.split("_", 2)[2] not in \
        listing.output

    revoked = _keys("revoke", key_id, "--database", database)
    assert revoked.exit_code == 0
    assert revoked.stdout == (f"Revoked the operator key {key_id} (scope 'U-A', label "
                              f"'front desk'): servers refuse it from their next request.\n")
    assert store.authenticate(secret) is None  # the same store, no restart
    assert store.authenticate(other) is not None
    again = _keys("revoke", secret, "--database", database)  # the whole key names it too
    assert again.exit_code == 0 and "was revoked already, at " in again.stdout
    assert again.stdout.endswith("; nothing changed.\n")
    assert _keys("list", "--database", database).stdout.splitlines()[-1] == "2 keys, 1 valid"
    trail = [(t["action"], t["actor"].startswith("cli:")) for t in store.audit_trail(f"key:{key_id}")]
    assert trail == [("key.create", True), ("key.revoke", True)]
    engine.dispose()


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--role", "admin"],
     "error: --role: expected one of administrator, hr, operator, proctor, commission, "
     "psychometrician; got 'admin'"),
    (["create", "--role", "operator", "--scope", "U-NONE"],
     "error: --scope: no unit 'U-NONE' (`qabilet attestation import-org` brings the units)"),
    (["create", "--role", "psychometrician", "--scope", "U-A"],
     "error: --scope: a psychometrician's grant names no unit (the role is the whole "
     "organisation's)"),
    (["create", "--role", "operator", "--label", "  "],
     "error: label: expected 1 to 200 characters; got 0"),
    (["revoke", "0123456789abcdef"],
     "error: ID: no key '0123456789abcdef'; `qabilet keys list` shows the keys"),
])
def test_bad_input_is_refused_and_changes_nothing(tmp_path, args, message):
    database = f"sqlite:///{tmp_path / 'keys.db'}"
    result = _keys(*args, "--database", database)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"{message}\n"
    assert _keys("list", "--database", database).stdout == "0 keys, 0 valid\n"


def test_a_running_server_refuses_a_revoked_key_at_once(demo_db, server):
    base, _ = server
    secret = _keys("create", "--role", "psychometrician", "--database", demo_db).stdout.strip()
    key_id = secret.split("_")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    listed = httpx.get(f"{base}/v1/admin/keys", headers=headers)
    assert listed.status_code == 200 and key_id in {k["id"] for k in listed.json()}
    assert _keys("revoke", key_id, "--database", demo_db).exit_code == 0
    assert httpx.get(f"{base}/v1/admin/keys", headers=headers).status_code == 401
