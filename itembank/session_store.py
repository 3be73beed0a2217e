"""Durable storage of test sessions, candidates, event logs, API keys and the audit log.

The store holds what docs/design.md §3a calls a session's truth, its event log.
:meth:`SessionStore.append` commits an event before it returns, so a caller acknowledges only
what is stored. Answers carry the test position they answer, and the database holds at most one
answer per position (a unique index), so

* a retry of the same answer returns the stored event (``replayed=True``), never a second one;
* a different answer for an answered position is a :class:`~qabilet.engine.exceptions.ConflictError`;
* two concurrent submissions for one position record exactly one: the loser's insert fails on
  the index and it reads the winner's event.

The same index keeps two other events single: the start of the clock (slot −1) and the event
that closes a session — finish, terminate or timeout — (slot 0). A second closing event, from a
concurrent request or another worker, returns the first (``replayed=True``). An item whose time
ran out takes its position with an ``item_timeout`` event, so that a late answer for it and the
time-out cannot both be recorded.

Nothing follows a closing event: the append itself selects its row only while the log holds
none (see ``_appending``), so an answer racing the operator's ``terminate``, the candidate's
``finish`` or a time-out is either stored before the end — and scored — or refused with a
:class:`~qabilet.engine.exceptions.SessionClosedError`, on SQLite and PostgreSQL, alone or in a group
commit.

Secrets — API keys and candidate tokens — are stored as SHA-256 digests only; they are long
random strings (``secrets.token_urlsafe``), for which a fast hash is the usual choice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from pydantic import Field
from sqlalchemy import Connection, Engine, Table, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from qabilet.engine.exceptions import (
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    SessionClosedError,
)
from qabilet.itembank._prepared import Prepared
from qabilet.itembank._runtime import as_utc as _utc
from qabilet.itembank._runtime import now as _now
from qabilet.itembank._schema import Schema
from qabilet.itembank.database import database_unavailable
from qabilet.itembank.group_commit import GroupCommit
from qabilet.itembank.tables import ApiKeyRow, AuditRow, CandidateRow, SessionEventRow, SessionRow

__all__ = ["CLOSING", "EVENT_KINDS", "POSITIONED", "ROLES", "TOKEN_GRACE", "Appended", "SessionEvent",
           "SessionStore", "StoredSession", "token_accepted"]

#: roles of API keys: the staff roles a machine may hold (qabilet.attestation.access.KEY_ROLES)
ROLES = ("administrator", "hr", "operator", "proctor", "commission", "psychometrician")
#: what a session's log records
EVENT_KINDS = ("start", "answer", "item_timeout", "pause", "resume", "extra_time", "incident",
               "token", "finish", "terminate", "timeout")
#: events that close a session (at most one per session)
CLOSING = ("finish", "terminate", "timeout")
#: events that take a test position
POSITIONED = ("answer", "item_timeout")
_CLOSING_SLOT = 0
_SLOT = {"start": -1, **dict.fromkeys(CLOSING, _CLOSING_SLOT)}
_EVENTS = cast(Table, SessionEventRow.__table__)
_EVENT_COLUMNS = (_EVENTS.c.seq, _EVENTS.c.kind, _EVENTS.c.answer_position, _EVENTS.c.at,
                  _EVENTS.c.payload)
#: the statements of the hot path, built once (and compiled once per store: ``Prepared``)
_TAIL = (select(*_EVENT_COLUMNS)
         .where(_EVENTS.c.session_id == bindparam("sid"), _EVENTS.c.seq > bindparam("after"))
         .order_by(_EVENTS.c.seq))
_IN_SLOT = select(*_EVENT_COLUMNS).where(_EVENTS.c.session_id == bindparam("sid"),
                                         _EVENTS.c.answer_position == bindparam("slot"))


def _appending(insert: Any) -> Any:
    """``INSERT`` of one event, its ``seq`` the session's next (``max(seq) + 1``), returning it.

    The row is selected only while the session's log holds no closing event (slot 0), so the
    refusal of an event after a session's end is part of the append itself — no window between
    a check and the write. Why this holds on both back-ends, also at PostgreSQL's READ
    COMMITTED: ``seq`` is unique per session and each insert takes the next one after those
    its statement sees, so an event is stored at ``seq = s`` only by a statement that saw every
    event ``1 … s − 1`` committed (a concurrent writer of the same ``s`` waits on the unique
    index and fails, and retries with a fresh snapshot). An event after the closing one would
    have seen it, and its guard selects nothing.
    """
    seq = (select(func.coalesce(func.max(_EVENTS.c.seq), 0) + 1)
           .where(_EVENTS.c.session_id == bindparam("sid")).scalar_subquery())
    still_open = ~exists().where(_EVENTS.c.session_id == bindparam("sid"),
                                 _EVENTS.c.answer_position == _CLOSING_SLOT)
    row = select(bindparam("sid", type_=_EVENTS.c.session_id.type), seq,
                 bindparam("kind", type_=_EVENTS.c.kind.type),
                 bindparam("slot", type_=_EVENTS.c.answer_position.type),
                 bindparam("at", type_=_EVENTS.c.at.type),
                 bindparam("payload", type_=_EVENTS.c.payload.type)).where(still_open)
    columns = ["session_id", "seq", "kind", "answer_position", "at", "payload"]
    return insert.from_select(columns, row)


_APPEND = _appending(_EVENTS.insert()).returning(_EVENTS.c.seq)


def _append_or_skip(dialect: str) -> Any:
    """The append that skips a row in conflict (``ON CONFLICT DO NOTHING``): no row returned.

    None for a database without that clause (the store then commits each append alone).
    """
    from sqlalchemy.dialects import postgresql, sqlite

    inserts = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
    if dialect not in inserts:
        return None
    return _appending(inserts[dialect](_EVENTS)).on_conflict_do_nothing().returning(_EVENTS.c.seq)


def _key_record(row: ApiKeyRow) -> dict[str, Any]:
    """A key's stored facts, without its digest."""
    return {"id": row.id, "role": row.role, "scope": row.scope, "label": row.label,
            "created_at": _utc(row.created_at), "revoked_at": _utc(row.revoked_at)}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


#: how long a candidate's token still opens a closed session (to read the profile and report)
TOKEN_GRACE = timedelta(hours=1)


def token_accepted(session: StoredSession, digest: str, token: str,
                   events: Sequence[SessionEvent] = (), at: datetime | None = None,
                   grace: timedelta = TOKEN_GRACE) -> bool:
    """True when ``token`` is the session's current candidate token and still valid at ``at``.

    A token lives as long as its session: from its issue until the session's closing event,
    and ``grace`` after it (to read the profile). Until the test starts, the link must be
    opened by its ``link_expires_at`` (``session.token_expires_at`` for the first token), so
    an unused link does not stay open for ever. A ``token`` event of the log (a reissue by the
    operator) replaces the token: the one before is refused from then on, by every process
    that reads the log.

    Parameters
    ----------
    session : StoredSession
    digest : str
        The stored SHA-256 digest of the session's first token.
    token : str
        The token presented (compared in constant time).
    events : sequence of SessionEvent
        The session's log, in order.
    at : datetime, optional
        The instant (default: now).
    grace : timedelta
        How long after the session closes the token still opens it.
    """
    at = at or _now()
    link_expires = session.token_expires_at
    closed_at = None
    started = False
    for e in events:
        if e.kind == "token":
            digest = e.payload["digest"]
            link_expires = datetime.fromisoformat(e.payload["link_expires_at"])
        elif e.kind == "start":
            started = True
        elif e.kind in CLOSING:
            closed_at = e.at
    if not hmac.compare_digest(digest, _digest(token)):
        return False
    if closed_at is not None:
        return at <= closed_at + grace
    return started or at < link_expires


class StoredSession(Schema):
    """A session as created: what it pinned."""

    id: str
    candidate_id: str
    level: str
    language: str
    bank_version: int
    norm_set: int
    blueprint_number: int
    seed: int
    token_expires_at: datetime
    created_at: datetime
    time_limit_s: float | None = None
    item_time_limit_s: float | None = None
    test_centre: str | None = None


class SessionEvent(Schema):
    """One event of a session's log.

    Attributes
    ----------
    seq : int
        1, 2, … in the order committed.
    kind : str
        One of :data:`EVENT_KINDS`.
    position : int, optional
        The test position an answer (or an item's time-out) takes.
    at : datetime
        When the server committed it.
    payload : dict
        The event's content (an answer: item id, code, shown and answered times).
    """

    seq: int = Field(ge=1)
    kind: Literal["start", "answer", "item_timeout", "pause", "resume", "extra_time", "incident",
                  "token", "finish", "terminate", "timeout"]
    position: int | None = None
    at: datetime
    payload: dict[str, Any]


class Appended(Schema):
    """What :meth:`SessionStore.append` returns: the stored event, and whether it was a retry."""

    event: SessionEvent
    replayed: bool = False


class SessionStore:
    """Sessions on one database (the bank's; SQLite or PostgreSQL).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From :func:`qabilet.itembank.database.connect`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._held = threading.local()
        dialect = engine.dialect
        skipping = _append_or_skip(dialect.name)
        #: the log's statements, compiled once for the driver (:mod:`qabilet.itembank._prepared`)
        self._tail = Prepared(_TAIL, dialect, _EVENT_COLUMNS)
        self._insert = Prepared(_APPEND, dialect)
        self._skipping = None if skipping is None else Prepared(skipping, dialect)
        self._group: GroupCommit[dict[str, Any], Appended] = GroupCommit(
            self._append_batch, self._append_values, name="qabilet-log-writer",
            shared_failure=database_unavailable)

    @contextmanager
    def _log_connection(self) -> Iterator[Connection]:
        """An autocommit connection for the log's statements (each its own transaction).

        On a thread running an event loop it is the loop's own, held between calls: the loop
        runs one call at a time, and the candidates' calls (the API's busiest) then skip the
        pool's check-out and check-in. Elsewhere (a worker thread, the command line) it is one
        from the pool, returned after the call. A held connection that fails is dropped, so the
        next call takes a new one (an integrity error — a taken slot — leaves it as it was).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with self._autocommit.connect() as c:
                yield c
            return
        held = getattr(self._held, "pair", None)
        if held is None or held[0] is not loop or held[1].invalidated or held[1].closed:
            self._held.pair = None  # a failed reconnection leaves nothing stale behind
            if held is not None:
                held[1].close()
            held = self._held.pair = (loop, self._autocommit.connect())
        try:
            yield held[1]
        except IntegrityError:
            raise
        except BaseException:
            self._held.pair = None
            held[1].close()
            raise

    # -- API keys -----------------------------------------------------------------------------------
    def create_api_key(self, role: str, label: str | None = None, *,
                       scope: str | None = None) -> str:
        """A new staff key; the returned secret is shown once and stored only hashed.

        Parameters
        ----------
        role : str
            One of :data:`ROLES`.
        label : str, optional
            Whose or what for (at most 200 characters).
        scope : str, optional
            The unit the key is limited to (with the units inside it; at most 128 characters);
            None for every unit. The caller checks that the unit exists and that the role may
            be scoped (:func:`qabilet.attestation.access.check_grant`).

        Raises
        ------
        InvalidParameterError
            A role not in :data:`ROLES`, an empty or too long label or scope.
        """
        if role not in ROLES:
            raise InvalidParameterError(f"role: expected one of {', '.join(ROLES)}; got {role!r}")
        for name, value, limit in (("label", label, 200), ("scope", scope, 128)):
            if value is not None and not 0 < len(value.strip()) <= limit:
                raise InvalidParameterError(f"{name}: expected 1 to {limit} characters; got "
                                            f"{len(value.strip())}")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._sessions.begin() as s:
            s.add(ApiKeyRow(id=key_id, role=role, key_hash=_digest(secret), label=label,
                            scope=scope, created_at=_now()))
        return f"qk_{key_id}_{secret}"

    def authenticate(self, presented: str) -> tuple[str, str, str | None] | None:
        """``(key id, role, scope)`` of a valid, unrevoked key; None otherwise.

        One read by primary key per call, nothing cached: a revocation holds from the next call
        on, in every process that shares the database.
        """
        parts = presented.split("_", 2) if presented.startswith("qk_") else []
        if len(parts) != 3:
            return None
        with self._sessions.begin() as s:
            row = s.get(ApiKeyRow, parts[1])
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.key_hash, _digest(parts[2])):
                return None
            return row.id, row.role, row.scope

    def api_keys(self) -> list[dict[str, Any]]:
        """Every key, oldest first, without secrets.

        Each as ``id``, ``role``, ``scope``, ``label``, ``created_at``, ``revoked_at`` (None while
        valid).
        """
        with self._sessions.begin() as s:
            return [_key_record(r)
                    for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))]

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key (it stays, marked, for the audit trail); a second time changes nothing."""
        with self._sessions.begin() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"API key {key_id!r} does not exist")
            row.revoked_at = row.revoked_at or _now()

    # -- candidates and sessions ----------------------------------------------------------------------
    def add_candidate(self, *, external_id: str | None = None,
                      display_name: str | None = None) -> str:
        """Register a candidate; an external id already registered is a conflict."""
        candidate_id = uuid.uuid4().hex
        try:
            with self._sessions.begin() as s:
                s.add(CandidateRow(id=candidate_id, external_id=external_id,
                                   display_name=display_name, created_at=_now()))
        except IntegrityError:
            raise ConflictError(f"candidate with external id {external_id!r} is already "
                                f"registered") from None
        return candidate_id

    def create_session(self, *, candidate_id: str, level: str, language: str, bank_version: int,
                       norm_set: int, blueprint_number: int, token_ttl: timedelta,
                       seed: int | None = None, time_limit_s: float | None = None,
                       item_time_limit_s: float | None = None,
                       test_centre: str | None = None) -> tuple[StoredSession, str]:
        """A new session pinned to a bank version, norm set, blueprint and time limits.

        ``test_centre`` is the centre it is held at, when an attestation's (the caller checks
        that it exists and is within its reach).

        Returns the stored session and its candidate token (shown once, stored hashed).
        """
        token = secrets.token_urlsafe(24)
        now = _now()
        row = SessionRow(id=uuid.uuid4().hex, candidate_id=candidate_id, level=level,
                         language=language, bank_version=bank_version, norm_set=norm_set,
                         blueprint_number=blueprint_number,
                         seed=seed if seed is not None else secrets.randbelow(2**31),
                         token_hash=_digest(token), token_expires_at=now + token_ttl,
                         created_at=now, time_limit_s=time_limit_s,
                         item_time_limit_s=item_time_limit_s, test_centre=test_centre)
        try:
            with self._sessions.begin() as s:
                if s.get(CandidateRow, candidate_id) is None:
                    raise NotFoundError(f"candidate {candidate_id!r} is not registered")
                s.add(row)
        except IntegrityError as exc:
            raise ConflictError(f"session refused by the database: {exc.orig}") from None
        return self._stored(row), token

    def session_centres(self) -> dict[str, str]:
        """Every session held at a test centre → the centre."""
        with self._sessions.begin() as s:
            rows = s.execute(select(SessionRow.id, SessionRow.test_centre)
                             .where(SessionRow.test_centre.is_not(None)))
            return {sid: str(centre) for sid, centre in rows}

    def session(self, session_id: str) -> StoredSession:
        """The session ``session_id``."""
        return self.pinned(session_id)[0]

    def pinned(self, session_id: str) -> tuple[StoredSession, str]:
        """The session ``session_id`` and its candidate token's digest (a session never changes)."""
        with self._sessions.begin() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise NotFoundError(f"session {session_id!r} does not exist")
            return self._stored(row), row.token_hash

    def token_valid(self, session_id: str, token: str, at: datetime | None = None,
                    grace: timedelta = TOKEN_GRACE) -> bool:
        """True when ``token`` is the session's current token and still valid (:func:`token_accepted`)."""
        try:
            session, digest = self.pinned(session_id)
        except NotFoundError:
            return False
        return token_accepted(session, digest, token, self.events(session_id), at, grace)

    def reissue_token(self, session_id: str, *, by: str, link_ttl: timedelta) -> str:
        """A new candidate token for the session; the one before it is refused from now on.

        Recorded as a ``token`` event of the session's log (its digest only), so every worker
        and every server reading the log refuses the old token at once. The new link must be
        opened within ``link_ttl`` when the test has not started yet.

        Raises
        ------
        SessionClosedError
            The session has ended: there is nothing left to open.
        NotFoundError
            No such session.
        """
        token = secrets.token_urlsafe(24)
        self.append(session_id, "token", {"by": by, "digest": _digest(token),
                                          "link_expires_at": (_now() + link_ttl).isoformat()})
        return token

    @staticmethod
    def _stored(row: SessionRow) -> StoredSession:
        return StoredSession(id=row.id, candidate_id=row.candidate_id, level=row.level,
                             language=row.language, bank_version=row.bank_version,
                             norm_set=row.norm_set, blueprint_number=row.blueprint_number,
                             seed=row.seed, token_expires_at=_utc(row.token_expires_at),
                             created_at=_utc(row.created_at), time_limit_s=row.time_limit_s,
                             item_time_limit_s=row.item_time_limit_s,
                             test_centre=row.test_centre)

    # -- the event log --------------------------------------------------------------------------------
    def append(self, session_id: str, kind: str, payload: Mapping[str, Any], *,
               position: int | None = None) -> Appended:
        """Commit an event; each slot at most once (see the module docstring).

        One statement in the usual case: ``INSERT … SELECT max(seq) + 1`` (the next ``seq`` is
        computed under the writer's lock in SQLite; in PostgreSQL two concurrent writers of one
        session may compute the same one, and the loser retries). When the insert fails on the
        slot's index, the slot's stored event answers (a retry is ``replayed``, a different
        answer a conflict).

        Raises
        ------
        SessionClosedError
            The log already holds a closing event (a retry of an answer stored before it is
            still a replay).
        ConflictError
            A different answer for an answered position (or one whose time ran out).
        NotFoundError
            No such session.
        """
        return self._append_values(self._values(session_id, kind, payload, position))

    def append_soon(self, session_id: str, kind: str, payload: Mapping[str, Any], *,
                    position: int | None = None) -> Future[Appended]:
        """:meth:`append`, committed with the other appends queued meanwhile (a group commit).

        The future resolves once the event is committed, to what :meth:`append` would return
        (or its error). Appends wait for one writer thread of the store, which commits those
        queued while it was busy in one transaction (:mod:`qabilet.itembank.group_commit`): under load,
        one wait for the disk serves many answers, and the caller's thread (an event loop) goes
        on meanwhile.

        Raises
        ------
        ValueError
            An unknown kind, or a position where none belongs (at once, not in the future).
        """
        values = self._values(session_id, kind, payload, position)
        if self._skipping is None:
            done: Future[Appended] = Future()
            done.set_result(self._append_values(values))
            return done
        return self._group.submit(values)

    def close(self) -> None:
        """Commit the appends queued, and stop the writer thread (:meth:`append_soon`)."""
        self._group.close()

    @staticmethod
    def _values(session_id: str, kind: str, payload: Mapping[str, Any],
                position: int | None) -> dict[str, Any]:
        if kind not in EVENT_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(EVENT_KINDS)}; got {kind!r}")
        if (kind in POSITIONED) != (position is not None) or (position is not None and position < 1):
            raise ValueError("position: answers and item time-outs take a position (1, 2, …), "
                             "other events none")
        slot = position if position is not None else _SLOT.get(kind)
        return {"sid": session_id, "kind": kind, "slot": slot, "position": position,
                "at": _now(), "payload": dict(payload)}

    @staticmethod
    def _appended(values: dict[str, Any], seq: int) -> Appended:
        return Appended(event=SessionEvent(seq=seq, kind=values["kind"],
                                           position=values["position"], at=values["at"],
                                           payload=values["payload"]))

    def _append_values(self, values: dict[str, Any]) -> Appended:
        """One append in its own transaction; a taken slot, a closed log or a taken seq handled.

        See :meth:`append`. The insert selects no row when the log already holds a closing
        event; then the slot's stored event answers when there is one (a retry of an answer
        given before the end is still a replay), else the session is closed.
        """
        session_id, slot = values["sid"], values["slot"]
        for attempt in range(50):  # a concurrent writer may take the next seq; read and retry
            try:
                with self._log_connection() as c:  # one statement: its own transaction
                    seq = self._insert.scalar(c, values)
                if seq is not None:
                    return self._appended(values, seq)
            except IntegrityError:
                pass
            existing = self._in_slot(session_id, slot) if slot is not None else None
            if existing is not None:
                return self._same(existing, values["kind"], values["payload"], values["position"])
            closing = self._in_slot(session_id, _CLOSING_SLOT)
            if closing is not None:
                raise self._closed(session_id, closing, values["kind"])
            if attempt == 0 and not self._exists(session_id):
                raise NotFoundError(f"session {session_id!r} does not exist") from None
            time.sleep(random.uniform(0, 0.002) * (1 + attempt))  # back off, jittered
        raise ConflictError(f"session {session_id!r}: the log is too busy; retry the request")

    @staticmethod
    def _closed(session_id: str, closing: SessionEvent, kind: str) -> SessionClosedError:
        what = "the answer is" if kind == "answer" else f"{kind} is"
        return SessionClosedError(f"session {session_id!r} is closed ({closing.kind} at "
                                  f"{closing.at.isoformat()}); {what} not recorded",
                                  reason=closing.kind)

    def _append_batch(self, batch: Sequence[dict[str, Any]]) -> list[Appended | None]:
        """Appends in one transaction, those in conflict skipped (None: :meth:`_append_values`)."""
        skipping = self._skipping
        assert skipping is not None  # a group commit is made only where the clause exists
        with self._engine.begin() as c:
            seqs = [skipping.scalar(c, values) for values in batch]
        return [None if seq is None else self._appended(values, seq)
                for values, seq in zip(batch, seqs, strict=True)]

    def _exists(self, session_id: str) -> bool:
        try:
            self.pinned(session_id)
        except NotFoundError:
            return False
        return True

    def _in_slot(self, session_id: str, slot: int) -> SessionEvent | None:
        with self._engine.connect() as c:
            row = c.execute(_IN_SLOT, {"sid": session_id, "slot": slot}).first()
        return None if row is None else self._event(*row)

    @staticmethod
    def _same(existing: SessionEvent, kind: str, payload: dict[str, Any],
              position: int | None) -> Appended:
        """The stored event of a taken slot, when the new one repeats it; else a conflict."""
        if existing.kind in CLOSING and kind in CLOSING or existing.kind == kind == "start":
            return Appended(event=existing, replayed=True)
        if existing.kind == "item_timeout":
            if kind == "item_timeout":
                return Appended(event=existing, replayed=True)
            raise ConflictError(f"position {position}: the time for item "
                                f"{existing.payload.get('item_id')!r} ran out; the answer is "
                                f"not taken")
        keys = ("item_id", "code", "ranking")
        if kind == "answer" and all(existing.payload.get(k) == payload.get(k) for k in keys):
            return Appended(event=existing, replayed=True)

        def said(p: dict[str, Any]) -> str:
            answer = f"ranking {p['ranking']}" if p.get("ranking") else f"code {p.get('code')}"
            return f"item {p.get('item_id')!r}, {answer}"
        raise ConflictError(f"position {position} is already answered ({said(existing.payload)}); "
                            f"a different answer ({said(payload)}) is refused")

    def events(self, session_id: str, *, after: int = 0) -> list[SessionEvent]:
        """The session's log in commit order; with ``after``, only the events with a later ``seq``.

        Events are never changed or removed and their ``seq`` runs 1, 2, … without gaps, so a
        reader that holds the first ``n`` events reads the rest with ``after=n``.
        """
        with self._log_connection() as c:
            rows = self._tail.rows(c, {"sid": session_id, "after": after})
        return [self._event(*r) for r in rows]

    @staticmethod
    def _event(seq: int, kind: Any, answer_position: int | None, at: datetime,
               payload: dict[str, Any]) -> SessionEvent:
        """An event from its row's columns (``_EVENT_COLUMNS``, in order; the model checks ``kind``)."""
        position = answer_position if kind in POSITIONED else None
        return SessionEvent(seq=seq, kind=kind, position=position, at=_utc(at), payload=payload)

    # -- audit ----------------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, target: str | None = None,
              detail: Mapping[str, Any] | None = None) -> None:
        """Record who did what to which record."""
        with self._sessions.begin() as s:
            s.add(AuditRow(at=_now(), actor=actor, action=action, target=target,
                           detail=dict(detail or {})))

    def audit_trail(self, target: str | None = None) -> list[dict[str, Any]]:
        """The audit log (of ``target``), oldest first."""
        query = select(AuditRow).order_by(AuditRow.id)
        if target is not None:
            query = query.where(AuditRow.target == target)
        with self._sessions.begin() as s:
            return [{"at": _utc(r.at), "actor": r.actor, "action": r.action, "target": r.target,
                     "detail": r.detail} for r in s.scalars(query)]
