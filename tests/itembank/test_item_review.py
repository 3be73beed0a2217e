"""Review of items: the moves allowed, who made them and why, and what a bank version holds.

An item's working status moves draft → in_review → pretest (approved for trying out); it
becomes operational only when a version that calibrates it is published, and a retired item
leaves the newest version in a new one. What a version scores and seeds is its own record.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qabilet.engine.exceptions import ConflictError, NotFoundError
from qabilet.itembank.blueprints import PretestSeeding
from qabilet.itembank.review import MOVES, ReviewNote
from tests.itembank import _bank

NOTE_KK = ReviewNote(aspect="translation", language="kk", text="«Азамат» орнына «тұрғын» жөн.")
NOTE_ALL = ReviewNote(aspect="sensitivity", text="Neutral for every region.")


def _new(repo, *ids, status="draft"):
    repo.add_items([_bank.likert(i, "transparency", status=status) for i in ids])


def _approve(repo, item_id):
    repo.review(item_id, "in_review", by="author", reason="ready")
    repo.review(item_id, "pretest", by="reviewer", reason="approved for trying out")


def test_an_item_moves_through_review_and_every_move_is_recorded(repo):
    _bank.fill(repo)
    _new(repo, "NEW-1")
    repo.review("NEW-1", "in_review", by="Aigerim (author)", reason="first draft done")
    back = repo.review("NEW-1", "draft", by="Ruslan (reviewer)", reason="wording",
                       notes=[NOTE_KK, NOTE_ALL])
    assert (back.from_status, back.to_status) == ("in_review", "draft")
    repo.review("NEW-1", "in_review", by="Aigerim (author)", reason="Kazakh text revised")
    repo.review("NEW-1", "pretest", by="Ruslan (reviewer)", reason="approved for trying out")
    assert repo.item("NEW-1").status == "pretest"
    history = repo.reviews("NEW-1")
    assert [(r.from_status, r.to_status) for r in history] == [
        ("draft", "in_review"), ("in_review", "draft"), ("draft", "in_review"),
        ("in_review", "pretest")]
    assert history[1].notes == [NOTE_KK, NOTE_ALL] and history[1].by == "Ruslan (reviewer)"
    assert all(a.at <= b.at for a, b in zip(history, history[1:], strict=False))
    assert repo.reviews("TRN-L1") == []


@pytest.mark.parametrize(("start", "to", "says"), [
    ("draft", "pretest", "approval for trying out comes from in_review"),
    ("draft", "operational", "when a bank version that calibrates it is published"),
    ("in_review", "operational", "when a bank version that calibrates it is published"),
    ("pretest", "draft", "only an item in review is sent back"),
    ("operational", "pretest", "can move to retired, not to pretest"),
])
def test_a_move_the_rules_do_not_allow_is_refused_and_changes_nothing(repo, start, to, says):
    repo.put_scales([_bank.SCALE])
    _new(repo, "X-1", status=start)
    with pytest.raises(ConflictError, match=says):
        repo.review("X-1", to, by="someone", reason="trying")
    assert repo.item("X-1").status == start and repo.reviews("X-1") == []
    assert to not in MOVES[start]


def test_bad_review_requests_are_refused(repo):
    repo.put_scales([_bank.SCALE])
    _new(repo, "X-1")
    with pytest.raises(NotFoundError, match="'NOPE' is not in the bank"):
        repo.review("NOPE", "in_review", by="a", reason="b")
    with pytest.raises(ConflictError, match="to: expected one of draft, in_review"):
        repo.review("X-1", "approved", by="a", reason="b")
    with pytest.raises(ValidationError, match="reason"):
        repo.review("X-1", "in_review", by="a", reason="  ")
    with pytest.raises(ValidationError, match="aspect"):
        ReviewNote(aspect="spelling", text="x")
    assert repo.item("X-1").status == "draft" and repo.reviews() == []


def test_a_draft_is_never_calibrated_into_a_version(repo):
    _bank.fill(repo)
    _new(repo, "NEW-1")
    params = repo.version(1).parameters.model_dump(mode="json", exclude_none=True)
    params["items"].append({"id": "NEW-1", "model": "grm", "a": [1.0, 0.0],
                            "d": [2.0, 1.0, -1.0, -2.0]})
    with pytest.raises(ConflictError, match="only approved items .* 'NEW-1' is draft"):
        repo.create_version(_bank.ParameterFile.model_validate(params), _bank.provenance())
    assert [v.number for v in repo.versions()] == [1]


def test_only_approved_items_are_seeded_and_a_seeded_version_holds_them_unscored(repo):
    _bank.fill(repo)
    _new(repo, "NEW-1", "NEW-2", "NEW-3")
    _approve(repo, "NEW-1")
    repo.review("NEW-3", "in_review", by="author", reason="ready")
    for unapproved, status in (("NEW-2", "draft"), ("NEW-3", "in_review")):
        with pytest.raises(ConflictError, match=f"'{unapproved}' is {status}: only items "
                                                f"approved for trying out"):
            repo.seed_pretest(["NEW-1", unapproved], by="psychometrician", reason="try out")
    with pytest.raises(ConflictError, match="'TRN-L1' is .*operational"):
        repo.seed_pretest(["TRN-L1"], by="p", reason="r")
    assert [v.number for v in repo.versions()] == [1]

    draft = repo.seed_pretest(["NEW-1"], by="psychometrician", reason="spring try-out")
    assert draft.number == 2 and draft.pretest == ["NEW-1"] and draft.status == "draft"
    assert draft.parameters == repo.version(1).parameters
    assert draft.provenance.based_on == 1
    repo.publish_version(2)
    held = {i.id: i.status for i in repo.items(version=2)}
    assert held["NEW-1"] == "pretest" and held["TRN-L1"] == "operational"
    assert "NEW-1" not in {i.id for i in repo.items(version=1)}
    assert repo.version(2).content.items["NEW-1"].text["en"].stem == "Statement NEW-1."
    assert repo.item("NEW-1").status == "pretest"  # publishing a try-out promotes nothing


def test_a_blueprint_seeds_only_the_version_s_pretest_items(repo):
    _bank.fill(repo)
    seeded = [f"NEW-{k}" for k in range(1, 6)]
    _new(repo, *seeded, "NEW-6")
    for item_id in [*seeded, "NEW-6"]:
        _approve(repo, item_id)
    repo.publish_version(repo.seed_pretest(seeded, by="p", reason="r").number)
    with pytest.raises(ValueError, match="'NEW-6' is not tried out in bank version 2"):
        repo.add_blueprint("middle", 2, _bank.SECTIONS,
                           pretest=PretestSeeding(items=["NEW-1", "NEW-6"], per_session=1))
    with pytest.raises(ValueError, match="'NEW-1' is not tried out in bank version 1"):
        repo.add_blueprint("middle", 1, _bank.SECTIONS,
                           pretest=PretestSeeding(items=["NEW-1"], per_session=1))
    with pytest.raises(ValueError, match="'TRN-L1' is in section 'professional'"):
        repo.add_blueprint("middle", 2, _bank.SECTIONS,
                           pretest=PretestSeeding(items=["TRN-L1"], per_session=1))
    with pytest.raises(ValueError, match="5 pretest items cannot stand apart in a test of at "
                                         "least 4"):
        repo.add_blueprint("middle", 2, _bank.SECTIONS,
                           pretest=PretestSeeding(items=seeded, per_session=5))
    stored = repo.add_blueprint("middle", 2, _bank.SECTIONS,
                                pretest=PretestSeeding(items=seeded, per_session=2))
    assert repo.blueprint("middle") == stored and stored.pretest.items == seeded


def test_publishing_a_version_that_calibrates_a_pretest_item_makes_it_operational(repo):
    _bank.fill(repo)
    _new(repo, "NEW-1")
    _approve(repo, "NEW-1")
    params = repo.version(1).parameters.model_dump(mode="json", exclude_none=True)
    params["items"].append({"id": "NEW-1", "model": "grm", "a": [1.0, 0.0],
                            "d": [2.0, 1.0, -1.0, -2.0]})
    v = repo.create_version(_bank.ParameterFile.model_validate(params), _bank.provenance())
    assert repo.item("NEW-1").status == "pretest"
    repo.publish_version(v.number, by="chief psychometrician")
    assert repo.item("NEW-1").status == "operational"
    last = repo.reviews("NEW-1")[-1]
    assert (last.to_status, last.version, last.by) == ("operational", v.number,
                                                       "chief psychometrician")


def test_retiring_makes_a_new_version_and_the_old_one_still_holds_the_item(repo):
    _bank.fill(repo)
    retired = repo.retire_items(["TRN-L1", "TRN-L2"], by="psychometrician",
                                reason="drifted in spring 2027")
    assert {r.version for r in retired} == {2} and repo.item("TRN-L1").status == "retired"
    draft = repo.version(2)
    assert draft.status == "draft" and draft.provenance.based_on == 1
    assert set(repo.version(1).item_ids) - set(draft.item_ids) == {"TRN-L1", "TRN-L2"}
    assert {i.id: i.status for i in repo.items(version=1)}["TRN-L1"] == "operational"
    assert repo.item("TRN-L1", version=1).status == "operational"
    with pytest.raises(ConflictError, match="retired: it can move to nothing"):
        repo.review("TRN-L1", "in_review", by="a", reason="b")
    # an item no published version holds retires without a version
    _new(repo, "NEW-1")
    (r,) = repo.retire_items(["NEW-1"], by="author", reason="withdrawn")
    assert r.version is None and [v.number for v in repo.versions()] == [1, 2]


def test_rejecting_a_calibrated_new_item_leaves_it_out_of_the_draft(repo):
    _bank.fill(repo)
    _new(repo, "NEW-1", "NEW-2")
    for item_id in ("NEW-1", "NEW-2"):
        _approve(repo, item_id)
    params = repo.version(1).parameters.model_dump(mode="json", exclude_none=True)
    params["items"] += [{"id": i, "model": "grm", "a": [1.0, 0.0], "d": [2.0, 1.0, -1.0, -2.0]}
                        for i in ("NEW-1", "NEW-2")]
    draft = repo.create_version(_bank.ParameterFile.model_validate(params), _bank.provenance(),
                                pretest=[])
    (rejected,) = repo.retire_items(["NEW-1"], by="psychometrician", reason="DIF class C")
    assert rejected.version is None  # no published version held it: no new version
    kept = repo.version(draft.number)
    assert "NEW-1" not in kept.item_ids and "NEW-2" in kept.item_ids
    repo.publish_version(draft.number)
    assert repo.item("NEW-1").status == "retired" and repo.item("NEW-2").status == "operational"
    assert {i.id for i in repo.items(version=draft.number)} >= {"NEW-2"}
