"""The item bank's repository: the one way in and out of its tables.

Every method takes and returns pydantic schemas (:mod:`qabilet.itembank.content`,
:mod:`qabilet.itembank.versions`, :mod:`qabilet.itembank.blueprints`); ORM rows stay inside. Every write is one
transaction: it commits whole or, when anything in it is refused, leaves the database exactly as it
was. Published bank versions and norm sets never change; an attempt raises
:class:`~qabilet.engine.exceptions.ImmutableRecordError`.

That includes what a published version *shows*: it holds the texts of its items, the names of its
dimensions and the labels of its scales as they were when it was published. A write of new texts
(:meth:`BankRepository.add_items`, :meth:`~BankRepository.put_dimensions`,
:meth:`~BankRepository.put_scales`, an import through :meth:`~BankRepository.load`) changes the
bank's current texts, which drafts show; when a published version showed the old ones, the same
transaction makes a new draft version with that version's parameters, carrying the new texts
and a :class:`~qabilet.itembank.versions.TextRevision` (who, when, from where, what). A change to the
answer categories of a calibrated item — options reordered, added or removed, another format,
scale or key — is refused unless the same import brings the item's new parameters.

Examples
--------
>>> from qabilet.itembank.database import connect
>>> repo = BankRepository(connect("sqlite://"))
>>> repo.add_items([Item(id="TRN-1", competency="transparency", levels=["low"], format="likert",
...                      scale="agreement5", direction=1, text={"en": {"stem": "I explain."}})])
>>> [item.id for item in repo.items()]
['TRN-1']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine, bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from qabilet.engine.exceptions import (
    ConflictError,
    DataFileError,
    ImmutableRecordError,
    ImportRejectedError,
    InvalidParameterError,
    NotFoundError,
)
from qabilet.itembank._runtime import as_utc as _utc
from qabilet.itembank._runtime import installed_version
from qabilet.itembank._runtime import now as _now
from qabilet.itembank.blueprints import (
    BlueprintSection,
    PretestSeeding,
    StoredBlueprint,
    check_against,
)
from qabilet.itembank.content import (
    STATUSES,
    Dimension,
    Item,
    Level,
    Recommendation,
    ResponseScale,
    Status,
    choice_changes,
    label_changes,
)
from qabilet.itembank.forced_choice_parameters import ForcedChoiceParameters, check_blocks
from qabilet.itembank.parameter_file import ParameterFile
from qabilet.itembank.profiles import Profile
from qabilet.itembank.review import ItemFlag, ItemReview, ReviewNote, move_problem
from qabilet.itembank.tables import (
    BankVersionRow,
    BlueprintRow,
    DimensionRow,
    ItemFlagRow,
    ItemParameterRow,
    ItemReviewRow,
    ItemRow,
    NormSetRow,
    ProfileRow,
    RecommendationRow,
    ResponseRow,
    ScaleRow,
)
from qabilet.itembank.versions import (
    BankVersion,
    ItemContent,
    LevelNorms,
    NormSet,
    Provenance,
    RecordStatus,
    TextRevision,
    VersionContent,
    show_item,
)

__all__ = ["BankRepository", "Response", "fingerprint"]

# the database's string columns that hold a Literal, validated as they are read (an edge too)
_RECORD_STATUS: TypeAdapter[RecordStatus] = TypeAdapter(RecordStatus)
_LEVEL: TypeAdapter[Level] = TypeAdapter(Level)
_STATUS: TypeAdapter[Status] = TypeAdapter(Status)


def fingerprint(parameters: ParameterFile, blocks: ForcedChoiceParameters | None = None) -> str:
    """SHA-256 of the canonical JSON of a parameter file (sorted keys, exact floats).

    With forced-choice ``blocks``, of the two together (``{"items": …, "forced_choice": …}``);
    without, of the parameter file alone, as versions without blocks always were.
    """
    document: dict[str, Any] = parameters.model_dump(mode="json", exclude_none=True)
    if blocks is not None:
        document = {"items": document, "forced_choice": blocks.model_dump(
            mode="json", by_alias=True, exclude_none=True)}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Response:
    """One answer as calibration reads it back.

    Attributes
    ----------
    person_id, item_id : str
    bank_version : int
        The version the session was pinned to.
    language, level : str
        The session's.
    code : int
        The answer as given: the item's code of the option or scale point chosen (a bank
        version's ``categories`` map it to the model's 0-based category); −1 for a
        forced-choice block's answer, which is its ``ranking``.
    answered_at : datetime
        UTC.
    response_time_s : float, optional
        Seconds from showing the item to the answer.
    session_id : str, optional
    pretest : bool
        An answer to a pretest item: given for its calibration, never scored.
    ranking : str, optional
        A forced-choice block's answer: its statement ids from most to least like the
        candidate joined by ``>``, by ``=`` where the order was not asked (``S7>S5=S8>S6``),
        as the block-answer file has it (:mod:`qabilet.itembank.forced_choice_file`).
    """

    person_id: str
    item_id: str
    bank_version: int
    language: str
    level: str
    code: int
    answered_at: datetime
    response_time_s: float | None = None
    session_id: str | None = None
    pretest: bool = False
    ranking: str | None = None


class BankRepository:
    """The item bank on one database (SQLite or PostgreSQL).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From :func:`qabilet.itembank.database.connect` (migrated).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises.

        A constraint the database enforces (a number taken by a concurrent writer, a reference to
        a version that does not exist) becomes a :class:`ConflictError`.
        """
        try:
            with self._sessions.begin() as session:
                yield session
        except IntegrityError as exc:
            detail = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
            raise ConflictError(f"the database refused the write ({detail}); nothing was "
                                f"changed") from None

    # -- items ----------------------------------------------------------------------------------------
    def add_items(self, items: Iterable[Item], *, replace: bool = False, by: str | None = None,
                  source: str | None = None) -> BankVersion | None:
        """Store new items (``replace``: or overwrite stored ones with the same id).

        New texts of an item that a published version shows go into a draft version (see the
        module's notes); ``by`` and ``source`` are recorded with them.

        Returns
        -------
        BankVersion or None
            The draft version made for new texts of published items, if one was made.

        Raises
        ------
        ConflictError
            An id already stored (without ``replace``), or twice in ``items``; an unknown
            response scale; a calibrated item whose answer categories would change (its options
            reordered, added or removed, its format, scale or key), naming item and field.
        """
        items = list(items)
        with self.transaction() as s:
            before = self._head(s)
            problems = self._category_problems(s, before, items, (), frozenset())
            if problems:
                raise ConflictError("; ".join(f"{field}: {reason}" for _, field, reason in problems))
            self._put_items(s, items, replace=replace)
            return self._carry_text_changes(s, before, by=by, source=source)

    def _put_items(self, s: Session, items: list[Item], *, replace: bool) -> None:
        ids = [item.id for item in items]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ConflictError(f"items: each id once; {', '.join(twice)} more than once")
        scales = {row.id for row in s.scalars(select(ScaleRow))}
        stored = {row.id: row for row in s.scalars(select(ItemRow).where(ItemRow.id.in_(ids)))}
        now = _now()
        for item in items:
            if item.scale is not None and scales and item.scale not in scales:
                raise ConflictError(f"item {item.id!r}: unknown response scale {item.scale!r}; the "
                                    f"bank has {', '.join(sorted(scales))}")
            row = stored.get(item.id)
            if row is not None and not replace:
                raise ConflictError(f"item {item.id!r} is already in the bank")
            document = item.model_dump(mode="json", exclude_none=True)
            if row is None:
                s.add(ItemRow(id=item.id, dimension=item.dimension, format=item.format,
                              status=item.status, document=document, created_at=now,
                              updated_at=now))
            elif row.document != document:
                row.dimension, row.format, row.status = item.dimension, item.format, item.status
                row.document, row.updated_at = document, now

    def item(self, item_id: str, *, version: int | None = None) -> Item:
        """The item with ``item_id``: its current texts, or those bank version ``version`` shows.

        With ``version``, its status is the version's (``operational`` or ``pretest``).

        Raises
        ------
        NotFoundError
            No such item, or (with ``version``) an item the version does not hold.
        """
        with self.transaction() as s:
            row = s.get(ItemRow, item_id)
            if row is None:
                raise NotFoundError(f"item {item_id!r} is not in the bank")
            item = Item.model_validate(row.document)
            if version is None:
                return item
            held = self._held(s, version)
            if item_id not in held:
                raise NotFoundError(f"item {item_id!r} is not in bank version {version}")
            return self._as_held(s, version, [item], held)[0]

    def items(self, *, dimension: str | None = None, level: str | None = None,
              status: str | None = None, format: str | None = None,
              version: int | None = None) -> list[Item]:
        """The items, by id, filtered by what they measure, level, status and format.

        With ``version``: the items that bank version holds — calibrated (``operational``) or
        tried out (``pretest``) — with the texts and the status it gives them (``status`` then
        filters by the version's status).
        """
        query = select(ItemRow).order_by(ItemRow.id)
        if dimension is not None:
            query = query.where(ItemRow.dimension == dimension)
        if status is not None and version is None:
            query = query.where(ItemRow.status == status)
        if format is not None:
            query = query.where(ItemRow.format == format)
        with self.transaction() as s:
            out = [Item.model_validate(row.document) for row in s.scalars(query)]
            if version is not None:
                held = self._held(s, version)
                out = [i for i in self._as_held(s, version, [i for i in out if i.id in held], held)
                       if status is None or i.status == status]
        return [i for i in out if level is None or level in i.levels]

    def _held(self, s: Session, version: int) -> dict[str, str]:
        """Item id → its status in bank ``version`` (``operational`` or ``pretest``).

        Its forced-choice blocks are operational in it like its calibrated items.
        """
        row = self._version_row(s, version)
        held = dict.fromkeys(s.scalars(select(ItemParameterRow.item_id)
                                       .where(ItemParameterRow.version == version)), "operational")
        blocks = [b["id"] for b in (row.forced_choice or {}).get("blocks", [])]
        return held | dict.fromkeys(blocks, "operational") | dict.fromkeys(row.pretest or [], "pretest")

    def _as_held(self, s: Session, version: int, items: list[Item], held: dict[str, str]
                 ) -> list[Item]:
        """``items`` as bank ``version`` holds them: its texts and its status."""
        content = self._version_row(s, version).content
        shown = {} if content is None else content.get("items", {})
        return [_shown(i, shown.get(i.id), version).model_copy(update={"status": held[i.id]})
                for i in items]

    # -- review ---------------------------------------------------------------------------------------
    def review(self, item_id: str, to: str, *, by: str, reason: str,
               notes: Iterable[ReviewNote] = ()) -> ItemReview:
        """Move an item's working status (:data:`qabilet.itembank.review.MOVES`) and record it.

        Retiring an item that a published version scores or seeds also makes the new draft
        version without it (:meth:`retire_items`).

        Raises
        ------
        NotFoundError
            No such item.
        ConflictError
            A move the review rules do not allow, naming what the item can move to.
        """
        if to == "retired":
            return self.retire_items([item_id], by=by, reason=reason, notes=notes)[0]
        with self.transaction() as s:
            return self._move(s, item_id, to, by=by, reason=reason, notes=list(notes))

    def _move(self, s: Session, item_id: str, to: str, *, by: str, reason: str,
              notes: list[ReviewNote], version: int | None = None) -> ItemReview:
        row = s.get(ItemRow, item_id)
        if row is None:
            raise NotFoundError(f"item {item_id!r} is not in the bank")
        if to not in STATUSES:
            raise ConflictError(f"to: expected one of {', '.join(STATUSES)}; got {to!r}")
        old, new = _STATUS.validate_python(row.status), _STATUS.validate_python(to)
        problem = None if version is not None and new == "operational" else move_problem(
            item_id, old, new)
        if problem:
            raise ConflictError(problem)
        record = ItemReview(item_id=item_id, from_status=old, to_status=new, by=by, at=_now(),
                            reason=reason, notes=notes, version=version)
        item = Item.model_validate({**row.document, "status": new})
        row.status, row.document, row.updated_at = new, item.model_dump(
            mode="json", exclude_none=True), record.at
        s.add(ItemReviewRow(item_id=item_id, from_status=old, to_status=new, by=record.by,
                            at=record.at, reason=record.reason,
                            notes=[n.model_dump(mode="json", exclude_none=True) for n in notes],
                            version=version))
        return record

    def reviews(self, item_id: str | None = None) -> list[ItemReview]:
        """Every move of an item's status (of ``item_id``), oldest first."""
        query = select(ItemReviewRow).order_by(ItemReviewRow.id)
        if item_id is not None:
            query = query.where(ItemReviewRow.item_id == item_id)
        with self.transaction() as s:
            return [ItemReview(item_id=r.item_id, from_status=_STATUS.validate_python(r.from_status),
                               to_status=_STATUS.validate_python(r.to_status), by=r.by,
                               at=_utc(r.at), reason=r.reason, version=r.version,
                               notes=[ReviewNote.model_validate(n) for n in r.notes or []])
                    for r in s.scalars(query)]

    def add_flags(self, bank_version: int, flags: Iterable[tuple[str, str, dict[str, Any]]], *,
                  by: str) -> list[ItemFlag]:
        """Store a calibration's warnings ``(item id, kind, detail)`` about items of a version."""
        at = _now()
        made = [ItemFlag(item_id=i, bank_version=bank_version, kind=kind, detail=detail, by=by,
                         at=at) for i, kind, detail in flags]
        with self.transaction() as s:
            self._version_row(s, bank_version)
            s.add_all(ItemFlagRow(item_id=f.item_id, bank_version=f.bank_version, kind=f.kind,
                                  detail=f.detail, by=f.by, at=f.at) for f in made)
        return made

    def flags(self, *, item_id: str | None = None, bank_version: int | None = None
              ) -> list[ItemFlag]:
        """The calibrations' warnings (about ``item_id``, written with ``bank_version``)."""
        query = select(ItemFlagRow).order_by(ItemFlagRow.id)
        if item_id is not None:
            query = query.where(ItemFlagRow.item_id == item_id)
        if bank_version is not None:
            query = query.where(ItemFlagRow.bank_version == bank_version)
        with self.transaction() as s:
            return [ItemFlag(item_id=r.item_id, bank_version=r.bank_version, kind=r.kind,
                             detail=r.detail, by=r.by, at=_utc(r.at)) for r in s.scalars(query)]

    def seed_pretest(self, item_ids: Sequence[str], *, by: str, reason: str,
                     label: str | None = None) -> BankVersion:
        """A new draft version: the newest published one, trying out ``item_ids`` besides.

        The items must be approved for trying out (status ``pretest``), measure the version's
        dimensions and have no parameters in it. Publish the draft, then store a blueprint that
        seeds them (:class:`qabilet.itembank.blueprints.PretestSeeding`).

        Raises
        ------
        ConflictError
            An item not approved, or measuring another dimension, or calibrated already.
        """
        with self.transaction() as s:
            base = self._newest_published(s)
            rows = {r.id: Item.model_validate(r.document)
                    for r in s.scalars(select(ItemRow).where(ItemRow.id.in_(list(item_ids))))}
            for item_id in item_ids:
                item = rows.get(item_id)
                problem = (
                    "is not in the bank" if item is None
                    else f"is {item.status}: only items approved for trying out (pretest) are "
                         f"seeded" if item.status != "pretest"
                    else f"is calibrated in version {base.number} already"
                    if item_id in base.item_ids
                    else f"measures {item.dimension}, not one of version {base.number}'s "
                         f"dimensions ({', '.join(base.dimensions)})"
                    if item.dimension not in base.dimensions else None)
                if problem:
                    raise ConflictError(f"item {item_id!r} {problem}")
            pretest = [*base.pretest, *(i for i in item_ids if i not in base.pretest)]
            return self._derived_version(s, base, base.parameters, pretest, label or (
                f"version {base.number} trying out {len(item_ids)} new item(s)"), by, reason)

    def retire_items(self, item_ids: Sequence[str], *, by: str, reason: str,
                     notes: Iterable[ReviewNote] = ()) -> list[ItemReview]:
        """Retire items; those the newest published version holds leave it in a new draft.

        Nothing is deleted: the items stay in the bank (retired) and in every published version
        that held them, so sessions pinned to those versions are given and scored as before.
        The new draft (number in each review's ``version``) has the newest published version's
        parameters without theirs, and its pretest list without them. Drafts that hold them
        (a pretest calibration's, say) leave them out too: rejecting a calibrated new item is
        retiring it.
        """
        notes = list(notes)
        with self.transaction() as s:
            for row in s.scalars(select(BankVersionRow).where(BankVersionRow.status == "draft")):
                self._leave_out(s, row, set(item_ids))
            base = self._newest_published(s, required=False)
            held = set() if base is None else {*base.item_ids, *base.block_ids, *base.pretest}
            draft = None
            if held & set(item_ids):
                kept = base.parameters.model_copy(update={"items": [
                    rec for rec in base.parameters.items if rec.id not in item_ids]})
                draft = self._derived_version(
                    s, base, kept, [i for i in base.pretest if i not in item_ids],
                    f"version {base.number} without {len(held & set(item_ids))} retired item(s)",
                    by, reason, blocks=_without_blocks(base.forced_choice, set(item_ids)))
            return [self._move(s, i, "retired", by=by, reason=reason, notes=notes,
                               version=None if draft is None else draft.number) for i in item_ids]

    def _leave_out(self, s: Session, row: BankVersionRow, gone: set[str]) -> None:
        """Draft ``row`` without the parameters and the pretest entries of ``gone``."""
        version = self._version(s, row)
        if not gone & {*version.item_ids, *version.block_ids, *version.pretest}:
            return
        blocks = _without_blocks(version.forced_choice, gone)
        row.forced_choice = None if blocks is None else blocks.model_dump(
            mode="json", by_alias=True, exclude_none=True)
        kept = version.parameters.model_copy(update={"items": [
            r for r in version.parameters.items if r.id not in gone]})
        s.execute(delete(ItemParameterRow).where(ItemParameterRow.version == row.number,
                                                 ItemParameterRow.item_id.in_(list(gone))))
        row.pretest = [i for i in version.pretest if i not in gone]
        row.fingerprint = fingerprint(kept, blocks)  # in place: flags and blueprints refer to it

    def _newest_published(self, s: Session, *, required: bool = True) -> BankVersion:
        number = s.scalar(select(func.max(BankVersionRow.number))
                          .where(BankVersionRow.status == "published"))
        if number is None:
            if required:
                raise NotFoundError("the bank has no published version")
            return None  # type: ignore[return-value]
        return self._version(s, self._version_row(s, number))

    def _derived_version(self, s: Session, base: BankVersion, parameters: ParameterFile,
                         pretest: list[str], label: str, by: str, reason: str, *,
                         blocks: ForcedChoiceParameters | None | bool = True) -> BankVersion:
        """A new draft version from ``base`` with other parameters or pretest items.

        ``blocks``: its forced-choice blocks; True (the default): ``base``'s.
        """
        number = self.next_version_number(s)
        provenance = base.provenance.model_copy(update={
            "based_on": base.number, "software_version": installed_version(),
            "notes": f"{reason} ({by})"})
        draft = BankVersion(number=number, label=label, created_at=_now(), provenance=provenance,
                            parameters=parameters, pretest=pretest,
                            forced_choice=base.forced_choice if blocks is True else blocks or None)
        self._check_parameters(s, draft)
        self._put_version(s, draft)
        s.flush()
        return self._version(s, self._version_row(s, number))

    # -- scales, dimensions, recommendations ---------------------------------------------------------
    def put_scales(self, scales: Iterable[ResponseScale], *, by: str | None = None,
                   source: str | None = None) -> BankVersion | None:
        """Store or replace response scales.

        New labels of a scale that a published version shows go into a draft version, as item
        texts do (:meth:`add_items`); the draft is returned.

        Raises
        ------
        ConflictError
            Labels reordered, added or removed on a scale that calibrated items use.
        """
        scales = list(scales)
        with self.transaction() as s:
            before = self._head(s)
            problems = self._category_problems(s, before, (), scales, frozenset())
            if problems:
                raise ConflictError("; ".join(f"{field}: {reason}" for _, field, reason in problems))
            _merge_scales(s, scales)
            return self._carry_text_changes(s, before, by=by, source=source)

    def scales(self, *, version: int | None = None) -> dict[str, ResponseScale]:
        """The response scales by id (with the labels bank version ``version`` shows)."""
        with self.transaction() as s:
            current = _read_scales(s)
            shown = {} if version is None else self._shown_records(s, version, "scales")
            return {**current, **{k: ResponseScale.model_validate(v) for k, v in shown.items()}}

    def put_dimensions(self, dimensions: Iterable[Dimension], *, by: str | None = None,
                       source: str | None = None) -> BankVersion | None:
        """Store or replace what the bank measures, with names.

        New names of a dimension that a published version shows go into a draft version, as
        item texts do (:meth:`add_items`); the draft is returned.
        """
        with self.transaction() as s:
            before = self._head(s)
            _merge_dimensions(s, dimensions)
            return self._carry_text_changes(s, before, by=by, source=source)

    def dimensions(self, *, version: int | None = None) -> dict[str, Dimension]:
        """The dimensions by id (competencies first, then traits, each by id).

        With ``version``: the names and descriptions that bank version shows.
        """
        with self.transaction() as s:
            current = _read_dimensions(s)
            shown = {} if version is None else self._shown_records(s, version, "dimensions")
            return {**current, **{k: Dimension.model_validate(v) for k, v in shown.items()}}

    # -- what versions show ---------------------------------------------------------------------------
    def _shown_records(self, s: Session, version: int, part: str) -> dict[str, Any]:
        """The JSON of ``part`` (``dimensions``, ``scales``) that published ``version`` shows.

        Empty for a draft: it shows the bank's current records.
        """
        content = self._version_row(s, version).content
        return {} if content is None else dict(content.get(part, {}))

    def _head(self, s: Session) -> _Head:
        """The bank's current texts (what drafts show), read once."""
        return _Head(items={r.id: Item.model_validate(r.document) for r in s.scalars(select(ItemRow))},
                     dimensions=_read_dimensions(s), scales=_read_scales(s))

    def _category_problems(self, s: Session, before: _Head, items: Sequence[Item],
                           scales: Sequence[ResponseScale], reparametrised: frozenset[str]
                           ) -> list[tuple[int, str, str]]:
        """Changes to the answer categories of calibrated items: ``(row, field, reason)``.

        ``row`` is the 1-based position in ``items`` (or ``scales``); items in
        ``reparametrised`` get new parameters in the same write and may change.
        """
        calibrated = set(s.scalars(select(ItemParameterRow.item_id).distinct()))
        out: list[tuple[int, str, str]] = []
        for k, item in enumerate(items):
            old = before.items.get(item.id)
            if old is None or item.id not in calibrated or item.id in reparametrised:
                continue
            for field, what in choice_changes(old, item):
                out.append((k + 1, f"items[{k}] ({item.id!r}).{field}",
                            f"{what}; the item's calibrated parameters belong to its answer "
                            f"categories as they were: change them only together with new "
                            f"parameters for {item.id!r} (a new bank version in the same import)"))
        used = {i.scale for i_id, i in before.items.items() if i_id in calibrated and i.scale}
        for k, scale in enumerate(scales):
            old_scale = before.scales.get(scale.id)
            if old_scale is None or scale.id not in used:
                continue
            for field, what in label_changes(old_scale, scale):
                out.append((k + 1, f"scales[{k}] ({scale.id!r}).{field}",
                            f"{what}; calibrated Likert items use this scale's categories as "
                            f"they were: a scale with other categories is a new scale id"))
        return out

    def _carry_text_changes(self, s: Session, before: _Head, *, by: str | None,
                            source: str | None, fresh: frozenset[int] = frozenset()
                            ) -> BankVersion | None:
        """Give the texts just written to a version, leaving published ones as they were.

        For each record whose texts changed, the newest version showing it decides: a draft
        shows the new texts already (the change is added to its provenance, unless the draft is
        one of the ``fresh`` versions written with the texts); a published version keeps its
        own, and the newest such version gets a new draft with its parameters and the new texts.
        Returns the draft that carries the changes, if any (not a fresh one).
        """
        s.flush()
        head = self._head(s)
        old, new = _content_of(before), _content_of(head)
        changed = {key for key in old.keys() & new.keys()
                   if old.record(*key) != new.record(*key)}
        if not changed:
            return None
        pending, carrier, published = set(changed), None, []
        for row in s.scalars(select(BankVersionRow).order_by(BankVersionRow.number.desc())):
            version = self._version(s, row, head)
            shown = version.content or VersionContent()
            mine = {key for key in pending if shown.record(*key) is not None}
            if not mine:
                continue
            pending -= mine
            if row.status == "draft" and row.number not in fresh:
                carrier = carrier or row
                self._revise(row, old.changes(new, mine), by, source)
            elif row.status == "published":
                published.append((version, mine))
        if published:
            base, mine = max(published, key=lambda p: p[0].number)
            lines = (base.content or VersionContent()).changes(self._content(base, head), mine)
            if lines:
                return self._text_draft(s, base, lines, by, source)
        return None if carrier is None else self._version(s, carrier, head)

    def _revise(self, row: BankVersionRow, lines: list[str], by: str | None,
                source: str | None) -> None:
        """Record changes to the texts a draft shows in its provenance."""
        if not lines:
            return
        provenance = Provenance.model_validate(row.provenance)
        revision = TextRevision(at=_now(), by=by, source=source, changes=lines)
        row.provenance = provenance.model_copy(
            update={"revisions": [*provenance.revisions, revision]}).model_dump(
            mode="json", exclude_none=True)

    def _text_draft(self, s: Session, base: BankVersion, lines: list[str], by: str | None,
                    source: str | None) -> BankVersion:
        """A new draft with ``base``'s parameters, showing the bank's current texts."""
        number = self.next_version_number(s)
        revision = TextRevision(at=_now(), by=by, source=source, previous_version=base.number,
                                changes=lines)
        provenance = base.provenance.model_copy(update={
            "based_on": base.number, "software_version": installed_version(),
            "revisions": [*base.provenance.revisions, revision]})
        draft = BankVersion(number=number, label=f"new texts for version {base.number}",
                            created_at=_now(), provenance=provenance, parameters=base.parameters,
                            forced_choice=base.forced_choice)
        self._check_parameters(s, draft)
        self._put_version(s, draft)
        s.flush()
        return self._version(s, self._version_row(s, number))

    def _content(self, version: BankVersion, head: _Head) -> VersionContent:
        """What ``version`` would show with the bank's current texts ``head``."""
        return VersionContent.of((head.items[i] for i in (*version.item_ids, *version.block_ids,
                                                         *version.pretest) if i in head.items),
                                 (head.dimensions[d] for d in version.dimensions
                                  if d in head.dimensions), head.scales)

    def put_recommendations(self, recommendations: Iterable[Recommendation]) -> None:
        """Store or replace development recommendation texts (editable content)."""
        with self.transaction() as s:
            for r in recommendations:
                s.merge(_recommendation_row(r))

    def recommendations(self, target: str | None = None) -> list[Recommendation]:
        """The recommendation texts, by target, band and levels."""
        query = select(RecommendationRow).order_by(RecommendationRow.target, RecommendationRow.band,
                                                   RecommendationRow.scope)
        if target is not None:
            query = query.where(RecommendationRow.target == target)
        with self.transaction() as s:
            return [Recommendation.model_validate(r.document) for r in s.scalars(query)]

    # -- bank versions ----------------------------------------------------------------------------
    def create_version(self, parameters: ParameterFile, provenance: Provenance, *,
                       label: str | None = None, pretest: Sequence[str] = (),
                       forced_choice: ForcedChoiceParameters | None = None) -> BankVersion:
        """Store a new draft version (number: the next free one), trying out ``pretest``.

        ``forced_choice``: the forced-choice blocks it calibrates, each a block of the bank
        (:func:`qabilet.itembank.forced_choice_parameters.check_blocks`).

        Only approved items are calibrated into a new version: a draft, an item in review or a
        retired one is refused (a draft is never scored).

        Raises
        ------
        ConflictError
            A calibrated item that is not in the bank, not approved, or whose categories do not
            match its format (a Likert item's scale, a situational-judgement item's options).
        """
        with self.transaction() as s:
            number = self.next_version_number(s)
            version = BankVersion(number=number, label=label, created_at=_now(),
                                  provenance=provenance, parameters=parameters,
                                  pretest=list(pretest), forced_choice=forced_choice)
            self._check_parameters(s, version)
            unapproved = [(r.id, r.status) for r in s.scalars(select(ItemRow).where(
                ItemRow.id.in_([*version.item_ids, *version.block_ids]),
                ItemRow.status.in_(("draft", "in_review", "retired"))))]
            if unapproved:
                raise ConflictError("bank version: only approved items are calibrated into a new "
                                    "version; " + ", ".join(f"{i!r} is {st}" for i, st in
                                                            unapproved[:10]))
            self._put_version(s, version)
            s.flush()
            return self._version(s, self._version_row(s, number))

    def next_version_number(self, s: Session) -> int:
        """The number a new bank version gets in the transaction ``s``: one past the largest."""
        return (s.scalar(select(func.max(BankVersionRow.number))) or 0) + 1

    def _put_version(self, s: Session, version: BankVersion) -> None:
        """Add a version's rows; a published one must come with its content (drafts' is not kept)."""
        data = version.parameters.model_dump(mode="json", exclude_none=True)
        items = data.pop("items")
        published = version.status == "published"
        if published and version.content is None:
            raise ConflictError(f"bank version {version.number}: a published version needs the "
                                f"texts it shows")
        s.add(BankVersionRow(
            number=version.number, label=version.label, status=version.status,
            created_at=version.created_at, published_at=version.published_at,
            provenance=version.provenance.model_dump(mode="json", exclude_none=True), fit=data,
            fingerprint=fingerprint(version.parameters, version.forced_choice),
            content=version.content.model_dump(mode="json", exclude_none=True)
            if published and version.content is not None else None,
            pretest=list(version.pretest),
            forced_choice=None if version.forced_choice is None
            else version.forced_choice.model_dump(mode="json", by_alias=True, exclude_none=True)))
        s.flush()
        s.add_all(ItemParameterRow(version=version.number, position=k, item_id=rec["id"],
                                   record=rec) for k, rec in enumerate(items))

    def _check_parameters(self, s: Session, version: BankVersion) -> None:
        if version.forced_choice is not None:
            blocks = {r.id: Item.model_validate(r.document) for r in s.scalars(
                select(ItemRow).where(ItemRow.id.in_(list(version.block_ids))))}
            problems = check_blocks(version.forced_choice, blocks, version.dimensions)
            if problems:
                raise ConflictError("bank version: " + "; ".join(problems[:10]))
        ids = list(version.item_ids)
        rows = {r.id: Item.model_validate(r.document)
                for r in s.scalars(select(ItemRow).where(ItemRow.id.in_(ids)))}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise ConflictError(f"bank version: calibrated item(s) not in the bank: "
                                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
        try:
            bank = version.parameters.to_bank()
        except (DataFileError, InvalidParameterError) as exc:
            raise ConflictError(f"bank version: {exc}") from None
        scales = {r.id: ResponseScale.model_validate(r.document) for r in s.scalars(select(ScaleRow))}
        for k, item_id in enumerate(ids):
            want = _categories(rows[item_id], scales)
            got = int(bank.n_categories[k])
            if want is not None and want != got:
                raise ConflictError(f"bank version: item {item_id!r} is a {rows[item_id].format} "
                                    f"item with {want} categories; its parameters have {got}")

    def update_version(self, number: int, parameters: ParameterFile,
                       provenance: Provenance | None = None, *,
                       forced_choice: ForcedChoiceParameters | None | bool = True) -> BankVersion:
        """Replace the parameters of a draft version; a published one is refused.

        ``forced_choice``: its blocks' parameters; True (the default) keeps the draft's.
        """
        with self.transaction() as s:
            row = self._version_row(s, number)
            if row.status == "published":
                raise ImmutableRecordError(
                    f"bank version {number} is published and cannot change; a recalibration "
                    f"creates a new version")
            old = self._version(s, row)
            blocks = old.forced_choice if forced_choice is True else forced_choice or None
            version = BankVersion.model_validate({
                **dict(old), "parameters": parameters, "content": None,
                "provenance": provenance or old.provenance, "forced_choice": blocks})
            self._check_parameters(s, version)
            s.execute(delete(ItemParameterRow).where(ItemParameterRow.version == number))
            s.delete(row)
            s.flush()
            self._put_version(s, version)
            s.flush()
            return self._version(s, self._version_row(s, number))

    def publish_version(self, number: int, *, by: str = "publisher") -> BankVersion:
        """Make a draft version immutable, with the texts it shows now (its parameters and texts).

        The items it calibrates that were being tried out (``pretest``) become operational,
        each move recorded (:meth:`reviews`) with ``by``. Publishing a published one is refused.
        """
        with self.transaction() as s:
            row = self._version_row(s, number)
            if row.status == "published":
                raise ImmutableRecordError(f"bank version {number} is already published")
            version = self._version(s, row)
            content = version.content or VersionContent()
            row.status, row.published_at = "published", _now()
            row.content = content.model_dump(mode="json", exclude_none=True)
            promoted = s.scalars(select(ItemRow.id).where(ItemRow.id.in_([*version.item_ids,
                                                                          *version.block_ids]),
                                                          ItemRow.status == "pretest")).all()
            for item_id in promoted:
                self._move(s, item_id, "operational", by=by, version=number, notes=[],
                           reason=f"calibrated in bank version {number}, published")
            return self._version(s, row)

    def version(self, number: int | None = None) -> BankVersion:
        """Bank version ``number``; by default the newest published one."""
        with self.transaction() as s:
            if number is None:
                number = s.scalar(select(func.max(BankVersionRow.number))
                                  .where(BankVersionRow.status == "published"))
                if number is None:
                    raise NotFoundError("the bank has no published version")
            return self._version(s, self._version_row(s, number))

    def versions(self) -> list[BankVersion]:
        """Every bank version, oldest first."""
        with self.transaction() as s:
            head = self._head(s)
            return [self._version(s, r, head) for r in
                    s.scalars(select(BankVersionRow).order_by(BankVersionRow.number))]

    def _version_row(self, s: Session, number: int) -> BankVersionRow:
        row = s.get(BankVersionRow, number)
        if row is None:
            have = list(s.scalars(select(BankVersionRow.number).order_by(BankVersionRow.number)))
            raise NotFoundError(f"bank version {number} does not exist; the bank has "
                                f"{', '.join(map(str, have)) or 'none'}")
        return row

    def _version(self, s: Session, row: BankVersionRow, head: _Head | None = None) -> BankVersion:
        """The version of ``row`` with what it shows: its own texts, or a draft's ``head``."""
        records = [r.record for r in s.scalars(
            select(ItemParameterRow).where(ItemParameterRow.version == row.number)
            .order_by(ItemParameterRow.position))]
        try:
            version = BankVersion(
                number=row.number, label=row.label,
                status=_RECORD_STATUS.validate_python(row.status),
                created_at=_utc(row.created_at), published_at=_utc(row.published_at),
                provenance=Provenance.model_validate(row.provenance),
                parameters=ParameterFile.model_validate({**row.fit, "items": records}),
                content=None if row.content is None else VersionContent.model_validate(row.content),
                pretest=list(row.pretest or []),
                forced_choice=None if row.forced_choice is None
                else ForcedChoiceParameters.model_validate(row.forced_choice))
        except ValidationError as exc:  # the database is an edge too
            raise DataFileError(f"bank version {row.number} in the database: {exc}") from None
        if version.content is not None:
            return version
        return version.model_copy(update={"content": self._content(version, head or self._head(s))})

    # -- norm sets ----------------------------------------------------------------------------------
    def create_norm_set(self, bank_version: int, levels: Sequence[LevelNorms], *,
                        label: str | None = None, demonstration: bool = False) -> NormSet:
        """Store a new draft norm set for ``bank_version``; its dimensions must be the version's."""
        with self.transaction() as s:
            version = self._version(s, self._version_row(s, bank_version))
            number = (s.scalar(select(func.max(NormSetRow.number))) or 0) + 1
            norm_set = NormSet(number=number, bank_version=bank_version, label=label,
                               demonstration=demonstration, created_at=_now(), levels=list(levels))
            _check_norm_dimensions(norm_set, version)
            s.add(_norm_row(norm_set))
            return norm_set

    def update_norm_set(self, number: int, levels: Sequence[LevelNorms]) -> NormSet:
        """Replace the levels of a draft norm set; a published one is refused."""
        with self.transaction() as s:
            row = self._norm_row(s, number)
            if row.status == "published":
                raise ImmutableRecordError(f"norm set {number} is published and cannot change; "
                                           f"new norms make a new norm set")
            norm_set = _norm_set(row).model_copy(update={"levels": list(levels)})
            norm_set = NormSet.model_validate(norm_set.model_dump())
            _check_norm_dimensions(norm_set, self._version(s, self._version_row(s, row.bank_version)))
            row.levels = [n.model_dump(mode="json", exclude_none=True) for n in norm_set.levels]
            return norm_set

    def publish_norm_set(self, number: int) -> NormSet:
        """Make a draft norm set immutable; its bank version must be published."""
        with self.transaction() as s:
            row = self._norm_row(s, number)
            if row.status == "published":
                raise ImmutableRecordError(f"norm set {number} is already published")
            if self._version_row(s, row.bank_version).status != "published":
                raise ConflictError(f"norm set {number}: publish bank version {row.bank_version} "
                                    f"first")
            row.status, row.published_at = "published", _now()
            return _norm_set(row)

    def norm_set(self, number: int | None = None, *, bank_version: int | None = None) -> NormSet:
        """Norm set ``number``; by default the newest published one (of ``bank_version``)."""
        with self.transaction() as s:
            if number is None:
                query = select(func.max(NormSetRow.number)).where(NormSetRow.status == "published")
                if bank_version is not None:
                    query = query.where(NormSetRow.bank_version == bank_version)
                number = s.scalar(query)
                if number is None:
                    of = "" if bank_version is None else f" for bank version {bank_version}"
                    raise NotFoundError(f"the bank has no published norm set{of}")
            return _norm_set(self._norm_row(s, number))

    def norm_sets(self, bank_version: int | None = None) -> list[NormSet]:
        """Every norm set (of ``bank_version``), oldest first."""
        query = select(NormSetRow).order_by(NormSetRow.number)
        if bank_version is not None:
            query = query.where(NormSetRow.bank_version == bank_version)
        with self.transaction() as s:
            return [_norm_set(r) for r in s.scalars(query)]

    def _norm_row(self, s: Session, number: int) -> NormSetRow:
        row = s.get(NormSetRow, number)
        if row is None:
            raise NotFoundError(f"norm set {number} does not exist")
        return row

    # -- blueprints ---------------------------------------------------------------------------------
    def add_blueprint(self, level: str, bank_version: int, sections: Sequence[BlueprintSection], *,
                      label: str | None = None, pretest: PretestSeeding | None = None
                      ) -> StoredBlueprint:
        """Validate the blueprint of ``level`` against ``bank_version`` and store it as a new number.

        ``pretest``: the version's pretest items its sessions are given, unscored.

        Raises
        ------
        ValueError
            Naming the section and the problem (:func:`qabilet.itembank.blueprints.check_against`).
        """
        with self.transaction() as s:
            version = self._version(s, self._version_row(s, bank_version))
            number = (s.scalar(select(func.max(BlueprintRow.number))
                               .where(BlueprintRow.level == level)) or 0) + 1
            blueprint = StoredBlueprint(level=_LEVEL.validate_python(level), number=number,
                                        bank_version=bank_version, label=label, created_at=_now(),
                                        sections=list(sections), pretest=pretest)
            items = {r.id: Item.model_validate(r.document) for r in s.scalars(select(ItemRow))}
            check_against(blueprint, version, items)
            s.add(_blueprint_row(blueprint))
            return blueprint

    def blueprint(self, level: str, number: int | None = None) -> StoredBlueprint:
        """The blueprint of ``level``: number ``number``, by default the newest."""
        with self.transaction() as s:
            if number is None:
                number = s.scalar(select(func.max(BlueprintRow.number))
                                  .where(BlueprintRow.level == level))
            row = None if number is None else s.get(BlueprintRow, (level, number))
            if row is None:
                raise NotFoundError(f"no blueprint {number or ''} for level {level!r}".replace(
                    "  ", " "))
            return _blueprint(row)

    def blueprints(self, level: str | None = None) -> list[StoredBlueprint]:
        """Every stored blueprint (of ``level``), by level and number."""
        query = select(BlueprintRow).order_by(BlueprintRow.level, BlueprintRow.number)
        if level is not None:
            query = query.where(BlueprintRow.level == level)
        with self.transaction() as s:
            return [_blueprint(r) for r in s.scalars(query)]

    # -- responses ----------------------------------------------------------------------------------
    def record_responses(self, responses: Iterable[Response]) -> int:
        """Append answers (append-only: answers are never changed or deleted). Returns the count."""
        with self.transaction() as s:
            return _insert_responses(s, responses)

    def responses(self, *, bank_version: int | None = None, language: str | None = None,
                  level: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, pretest: bool | None = None,
                  blocks: bool = False) -> list[Response]:
        """Stored answers in the order given, filtered (``since`` inclusive, ``until`` exclusive).

        ``pretest``: only the answers to pretest items (True), or only the scored ones (False).
        ``blocks``: the forced-choice blocks' answers (their ``ranking``) instead of the items'.
        """
        query = select(ResponseRow).order_by(ResponseRow.id).where(
            ResponseRow.ranking.is_not(None) if blocks else ResponseRow.ranking.is_(None))
        for column, value in ((ResponseRow.bank_version, bank_version),
                              (ResponseRow.language, language), (ResponseRow.level, level),
                              (ResponseRow.pretest, pretest)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(ResponseRow.answered_at >= since)
        if until is not None:
            query = query.where(ResponseRow.answered_at < until)
        with self.transaction() as s:
            return [Response(person_id=r.person_id, item_id=r.item_id, bank_version=r.bank_version,
                             language=r.language, level=r.level, code=r.code,
                             answered_at=_utc(r.answered_at),
                             response_time_s=r.response_time_s, session_id=r.session_id,
                             pretest=bool(r.pretest), ranking=r.ranking)
                    for r in s.scalars(query)]

    # -- issued profiles ----------------------------------------------------------------------------
    def issue_profile(self, profile: Profile, responses: Iterable[Response] = ()) -> Profile:
        """Store an issued profile; its id must be new, and the profile it replaces must exist.

        ``responses`` (the session's answers, for calibration) are recorded in the same
        transaction: both are stored, or neither.

        Raises
        ------
        ImmutableRecordError
            A profile with this id is already issued (issued profiles never change).
        NotFoundError
            ``profile.replaces`` names no issued profile.
        """
        with self.transaction() as s:  # Core statements: nothing here reads an ORM object back
            if _profile_issued(s, profile.id):
                raise ImmutableRecordError(f"profile {profile.id!r} is issued and cannot change; "
                                           f"re-scoring issues a new profile that replaces it")
            if profile.replaces is not None and not _profile_issued(s, profile.replaces):
                raise NotFoundError(f"profile {profile.replaces!r} (replaced by {profile.id!r}) "
                                    f"was never issued")
            if s.scalar(_NORM_SET_NUMBER, {"number": profile.norm_set}) is None:
                raise NotFoundError(f"norm set {profile.norm_set} does not exist")
            s.execute(insert(ProfileRow).values(
                id=profile.id, candidate_id=profile.candidate_id, issued_at=profile.issued_at,
                bank_version=profile.bank_version, norm_set=profile.norm_set,
                replaces=profile.replaces, document=profile.model_dump(mode="json")))
            _insert_responses(s, responses)
            return profile

    def profile(self, profile_id: str) -> Profile:
        """The issued profile ``profile_id``."""
        with self.transaction() as s:
            row = s.get(ProfileRow, profile_id)
            if row is None:
                raise NotFoundError(f"profile {profile_id!r} was never issued")
            return Profile.model_validate(row.document)

    def has_profile(self, profile_id: str) -> bool:
        """True when the profile ``profile_id`` is issued (without reading it)."""
        with self.transaction() as s:
            return _profile_issued(s, profile_id)

    def profiles(self, candidate_id: str | None = None) -> list[Profile]:
        """Issued profiles (of ``candidate_id``), oldest first."""
        query = select(ProfileRow).order_by(ProfileRow.issued_at, ProfileRow.id)
        if candidate_id is not None:
            query = query.where(ProfileRow.candidate_id == candidate_id)
        with self.transaction() as s:
            return [Profile.model_validate(r.document) for r in s.scalars(query)]

    # -- the whole bank -----------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """True when the bank holds no item and no version."""
        with self.transaction() as s:
            return not (s.scalar(select(func.count()).select_from(ItemRow))
                        or s.scalar(select(func.count()).select_from(BankVersionRow)))

    def load(self, s: Session, *, dimensions: Sequence[Dimension], scales: Sequence[ResponseScale],
             items: Sequence[Item], recommendations: Sequence[Recommendation],
             versions: Sequence[BankVersion], norm_sets: Sequence[NormSet],
             blueprints: Sequence[StoredBlueprint], by: str | None = None,
             source: str | None = None) -> BankVersion | None:
        """Write a whole bank's records inside the caller's transaction ``s`` (an import).

        Content (dimensions, scales, items, recommendations) is added or replaced; new texts of
        what a published version shows go into a draft version, which is returned (see the
        module's notes; ``by`` and ``source`` are recorded with them). A version, norm set or
        blueprint whose number is stored already must equal the stored one (an import of the
        same bank again changes nothing); one that differs is refused. A draft's texts are the
        bank's (a document's ``content`` of a draft is not read); a new published version
        without ``content`` shows the texts imported with it.

        Raises
        ------
        ImportRejectedError
            Calibrated items whose answer categories change without new parameters in
            ``versions`` (``row``: the item's position in ``items``; ``field``:
            ``items[3] ('ACC-S1').text.en.options``), and scales likewise.
        ConflictError
            A record that contradicts a stored one.
        """
        before = self._head(s)
        stored = set(s.scalars(select(BankVersionRow.number)))
        reparametrised = frozenset(i for v in versions if v.number not in stored for i in v.item_ids)
        problems = self._category_problems(s, before, items, scales, reparametrised)
        if problems:
            raise ImportRejectedError(problems)
        _merge_dimensions(s, dimensions)
        _merge_scales(s, scales)
        s.flush()
        self._put_items(s, list(items), replace=True)
        for r in recommendations:
            s.merge(_recommendation_row(r))
        s.flush()
        head = self._head(s)
        for v in versions:
            row = s.get(BankVersionRow, v.number)
            if row is None:
                self._check_parameters(s, v)
                if v.status == "published" and v.content is None:
                    v = v.model_copy(update={"content": self._content(v, head)})
                self._put_version(s, v if v.status == "published" else
                                  v.model_copy(update={"content": None}))
            elif not _same_version(self._version(s, row, head), v):
                raise ConflictError(f"bank version {v.number} is stored already with other "
                                    f"contents; a new calibration is a new version, new texts "
                                    f"go into a new draft")
        s.flush()
        for n in norm_sets:
            norm_row = s.get(NormSetRow, n.number)
            if norm_row is None:
                _check_norm_dimensions(n, self._version(s, self._version_row(s, n.bank_version)))
                s.add(_norm_row(n))
            elif _norm_set(norm_row) != n:
                raise ConflictError(f"norm set {n.number} is stored already with other contents")
        s.flush()
        stored_items = {r.id: Item.model_validate(r.document) for r in s.scalars(select(ItemRow))}
        for b in blueprints:
            blueprint_row = s.get(BlueprintRow, (b.level, b.number))
            if blueprint_row is None:
                check_against(b, self._version(s, self._version_row(s, b.bank_version)),
                              stored_items)
                s.add(_blueprint_row(b))
            elif _blueprint(blueprint_row) != b:
                raise ConflictError(f"blueprint {b.number} of level {b.level!r} is stored already "
                                    f"with other contents")
        return self._carry_text_changes(s, before, by=by, source=source,
                                        fresh=frozenset(v.number for v in versions
                                                        if v.number not in stored))


# -- what versions show ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Head:
    """The bank's current texts, what drafts show: items, dimensions and scales by id."""

    items: dict[str, Item]
    dimensions: dict[str, Dimension]
    scales: dict[str, ResponseScale]


def _content_of(head: _Head) -> VersionContent:
    """Everything the bank's current texts would show."""
    return VersionContent.of(head.items.values(), head.dimensions.values(), head.scales)


def _same_version(stored: BankVersion, given: BankVersion) -> bool:
    """True when ``given`` (from a document) is the stored version.

    What a draft shows is not part of its record; a document without ``content`` (written before
    versions held their texts) is compared without it.
    """
    if given.content is None or stored.status == "draft":
        return stored.model_copy(update={"content": None}) == given.model_copy(
            update={"content": None})
    return stored == given


def _shown(item: Item, shown: dict[str, Any] | None, version: int) -> Item:
    """``item`` with the texts (JSON of an :class:`ItemContent`) that ``version`` shows."""
    if shown is None:
        return item
    try:
        return show_item(item, ItemContent.model_validate(shown))
    except ValidationError as exc:  # the database is an edge too
        raise DataFileError(f"item {item.id!r} as bank version {version} shows it: {exc}") from None


def _read_scales(s: Session) -> dict[str, ResponseScale]:
    return {r.id: ResponseScale.model_validate(r.document)
            for r in s.scalars(select(ScaleRow).order_by(ScaleRow.id))}


def _read_dimensions(s: Session) -> dict[str, Dimension]:
    rows = s.scalars(select(DimensionRow).order_by(DimensionRow.kind, DimensionRow.id))
    return {r.id: Dimension.model_validate(r.document) for r in rows}


def _merge_scales(s: Session, scales: Iterable[ResponseScale]) -> None:
    for scale in scales:
        s.merge(ScaleRow(id=scale.id, document=scale.model_dump(mode="json")))


def _recommendation_row(r: Recommendation) -> RecommendationRow:
    """The row of a recommendation text: keyed by target, band and the levels it is for."""
    return RecommendationRow(target=r.target, band=r.band, scope=r.scope, updated_at=_now(),
                             document=r.model_dump(mode="json"))


def _merge_dimensions(s: Session, dimensions: Iterable[Dimension]) -> None:
    for d in dimensions:
        s.merge(DimensionRow(id=d.id, kind=d.kind, document=d.model_dump(mode="json")))


# -- rows and schemas ---------------------------------------------------------------------------------
def _categories(item: Item, scales: dict[str, ResponseScale]) -> int | None:
    """How many categories the item's format gives it (None: not known here)."""
    if item.format == "likert":
        scale = scales.get(item.scale or "")
        return None if scale is None else scale.n_categories
    if item.format in ("sjt", "dichotomous"):
        return 2 if item.format == "dichotomous" else len(next(iter(item.text.values())).options or [])
    return None


def _check_norm_dimensions(norm_set: NormSet, version: BankVersion) -> None:
    for k, level in enumerate(norm_set.levels):
        unknown = sorted(set(level.dimensions) - set(version.dimensions))
        if unknown:
            raise ConflictError(f"norm set levels[{k}] ({level.level}): bank version "
                                f"{version.number} has no dimension {', '.join(unknown)}")


def _norm_row(n: NormSet) -> NormSetRow:
    return NormSetRow(number=n.number, bank_version=n.bank_version, label=n.label, status=n.status,
                      demonstration=n.demonstration, created_at=n.created_at,
                      published_at=n.published_at,
                      levels=[lv.model_dump(mode="json", exclude_none=True) for lv in n.levels])


def _norm_set(row: NormSetRow) -> NormSet:
    try:
        return NormSet(number=row.number, bank_version=row.bank_version, label=row.label,
                       status=_RECORD_STATUS.validate_python(row.status),
                       demonstration=row.demonstration,
                       created_at=_utc(row.created_at), published_at=_utc(row.published_at),
                       levels=row.levels)
    except ValidationError as exc:  # the database is an edge too
        raise DataFileError(f"norm set {row.number} in the database: {exc}") from None


#: the checks of issuing a profile, built once (a profile is issued per session)
_PROFILE_ID = select(ProfileRow.id).where(ProfileRow.id == bindparam("id"))
_NORM_SET_NUMBER = select(NormSetRow.number).where(NormSetRow.number == bindparam("number"))


def _profile_issued(s: Session, profile_id: str) -> bool:
    """True when the profile ``profile_id`` is stored (its id read, not its document)."""
    return s.scalar(_PROFILE_ID, {"id": profile_id}) is not None


def _without_blocks(blocks: ForcedChoiceParameters | None, gone: set[str]
                    ) -> ForcedChoiceParameters | None:
    """``blocks`` without the blocks ``gone`` (None when none is left)."""
    if blocks is None or not gone & set(blocks.block_ids):
        return blocks
    kept = [b for b in blocks.blocks if b.id not in gone]
    return blocks.model_copy(update={"blocks": kept}) if kept else None


def _insert_responses(s: Session, responses: Iterable[Response]) -> int:
    """One executemany of the responses' rows (no ORM objects: nothing reads them back)."""
    rows = [{"person_id": r.person_id, "session_id": r.session_id, "item_id": r.item_id,
             "bank_version": r.bank_version, "language": r.language, "level": r.level,
             "code": int(r.code), "response_time_s": r.response_time_s,
             "answered_at": r.answered_at, "pretest": bool(r.pretest), "ranking": r.ranking}
            for r in responses]
    if rows:
        s.execute(insert(ResponseRow), rows)
    return len(rows)


def _blueprint_row(b: StoredBlueprint) -> BlueprintRow:
    return BlueprintRow(level=b.level, number=b.number, bank_version=b.bank_version, label=b.label,
                        created_at=b.created_at,
                        sections=[sec.model_dump(mode="json") for sec in b.sections],
                        pretest=None if b.pretest is None else b.pretest.model_dump(mode="json"))


def _blueprint(row: BlueprintRow) -> StoredBlueprint:
    return StoredBlueprint(level=_LEVEL.validate_python(row.level), number=row.number,
                           bank_version=row.bank_version, label=row.label,
                           created_at=_utc(row.created_at),
                           sections=row.sections,
                           pretest=None if row.pretest is None
                           else PretestSeeding.model_validate(row.pretest))
