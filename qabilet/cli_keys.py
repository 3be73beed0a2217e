"""``qabilet keys …``: staff API keys on the database, from the command line.

Registered on :data:`qabilet.cli.app`. A key has a role (a staff role a machine may hold:
:data:`qabilet.attestation.access.KEY_ROLES`), an optional scope (the unit it is limited to,
with the units inside it: :mod:`qabilet.attestation.access`), a label, and its creation and
revocation times. Only a digest of the secret is stored: ``create`` prints the key once, on
stdout alone (``KEY=$(qabilet keys create --role operator)``), and nothing shows it again. A
revocation holds from the next request of every running server: the servers read the key's row
on each request (:meth:`~qabilet.itembank.session_store.SessionStore.authenticate`). Each change
is a row of the audit log (``key.create``, ``key.revoke``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from qabilet.cli import _fail, _user_errors, app
from qabilet.cli_bank import DatabaseOption, _repo, _user

__all__ = ["keys_app"]

keys_app = typer.Typer(name="keys", no_args_is_help=True, add_completion=False,
                       help="Staff API keys: create (the key is shown once), list, revoke.")
app.add_typer(keys_app)


def _actor() -> str:
    """The audit log's actor: the command line and the operating system's user."""
    return f"cli:{_user() or 'unknown'}"


def _when(at: datetime | None) -> str:
    return "" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"


def _described(key: dict[str, Any]) -> str:
    """``operator key 1a2b… (scope 'centre-7', label 'front desk')``."""
    extra = [f"{name} {key[name]!r}" for name in ("scope", "label") if key[name] is not None]
    return f"{key['role']} key {key['id']}" + (f" ({', '.join(extra)})" if extra else "")


@keys_app.command()
def create(
    role: Annotated[str, typer.Option("--role", metavar="ROLE", show_default=False,
                                      help="operator (sessions, candidates), proctor (the "
                                           "sessions' proctoring), hr, commission, "
                                           "administrator (accounts, keys, the organisation) or "
                                           "psychometrician (the bank, calibrations).")],
    scope: Annotated[str | None, typer.Option("--scope", metavar="UNIT", show_default=False,
                                              help="The unit the key is limited to, with the "
                                                   "units inside it (left out: every unit; "
                                                   "never for a psychometrician).")] = None,
    label: Annotated[str | None, typer.Option("--label", metavar="TEXT", show_default=False,
                                              help="Whose key, or what for.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a staff key and print it, once: only its digest is stored."""
    with _user_errors():
        from qabilet.attestation.access import Grant, check_grant
        from qabilet.attestation.repository import OrganisationRepository
        from qabilet.itembank.session_store import ROLES, SessionStore

        if role not in ROLES:
            raise _fail(f"--role: expected one of {', '.join(ROLES)}; got {role!r}")
        try:
            check_grant(Grant(role, scope), for_key=True)
        except ValueError as exc:
            raise _fail(f"--scope: {exc}".replace("--scope: unit: ", "--scope: ")) from None
        engine = _repo(database).engine
        if scope is not None and scope not in OrganisationRepository(engine).unit_parents():
            raise _fail(f"--scope: no unit {scope!r} (`qabilet attestation import-org` brings "
                        f"the units)")
        store = SessionStore(engine)
        secret = store.create_api_key(role, label, scope=scope)
        key_id = secret.split("_", 2)[1]
        store.audit(_actor(), "key.create", f"key:{key_id}",
                    {"role": role, "scope": scope, "label": label})
        described = _described({"id": key_id, "role": role, "scope": scope, "label": label})
        typer.echo(f"Created {described}. The key, shown this once (only its digest is "
                   f"stored):", err=True)
        typer.echo(secret)


@keys_app.command("list")
def list_(database: DatabaseOption = None) -> None:
    """List the keys, oldest first: id, role, scope, created, revoked, label (never a secret)."""
    with _user_errors():
        from qabilet.itembank.session_store import SessionStore

        keys = SessionStore(_repo(database).engine).api_keys()
        if keys:
            typer.echo(f"{'id':<16}  {'role':<15}  {'scope':<16}  {'created':<20}  "
                       f"{'revoked':<20}  label")
        for k in keys:
            typer.echo(f"{k['id']:<16}  {k['role']:<15}  {k['scope'] or '—':<16}  "
                       f"{_when(k['created_at']):<20}  {_when(k['revoked_at']) or '—':<20}  "
                       f"{k['label'] or ''}".rstrip())
        valid = sum(k["revoked_at"] is None for k in keys)
        typer.echo(f"{len(keys)} key{'' if len(keys) == 1 else 's'}, {valid} valid")


@keys_app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", show_default=False,
                                          help="The key's id (`qabilet keys list`), or the key "
                                               "itself.")],
    database: DatabaseOption = None,
) -> None:
    """Revoke a key: running servers refuse it from their next request; it stays listed."""
    with _user_errors():
        from qabilet.itembank.session_store import SessionStore

        if key_id.startswith("qk_") and key_id.count("_") >= 2:
            key_id = key_id.split("_", 2)[1]  # the whole key: its id part
        store = SessionStore(_repo(database).engine)
        known = {k["id"]: k for k in store.api_keys()}
        if key_id not in known:
            raise _fail(f"ID: no key {key_id!r}; `qabilet keys list` shows the keys")
        if known[key_id]["revoked_at"] is not None:
            typer.echo(f"The {_described(known[key_id])} was revoked already, at "
                       f"{_when(known[key_id]['revoked_at'])}; nothing changed.")
            return
        store.revoke_api_key(key_id)
        store.audit(_actor(), "key.revoke", f"key:{key_id}")
        typer.echo(f"Revoked the {_described(known[key_id])}: servers refuse it from their "
                   f"next request.")
