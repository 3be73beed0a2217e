"""Routes for the items' review (``/v1/admin/items``) and their try-out (``/v1/admin/pretest``).

A psychometrician's key moves an item along :data:`qabilet.itembank.review.MOVES` with a reason
and the reviewers' notes; every move is recorded with the key that made it and audited. Seeding
approved items makes a draft bank version that tries them out; retiring an item that the newest
published version holds makes a draft version without it.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from qabilet.api.auth import Caller, psychometrician
from qabilet.api.dependencies import Bank, Store
from qabilet.api.schemas import ERRORS, PretestCreate, PretestCreated, ReviewCreate
from qabilet.itembank.review import ItemReview

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", responses=ERRORS)

Psychometrician = Annotated[Caller, Depends(psychometrician)]
ItemId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                             description="The item's id.")]


@router.post("/items/{item_id}/reviews", status_code=201, response_model=ItemReview)
def review_item(repo: Bank, store: Store, item_id: ItemId, body: ReviewCreate,
                who: Psychometrician) -> ItemReview:
    """Move the item's status (``in_review``, ``draft``, ``pretest``, ``retired``), with why.

    A move the rules do not allow is refused (409) naming what the item can move to; retiring
    an item the newest published version holds makes a draft version without it (``version``).
    """
    done = repo.review(item_id, body.to, by=who.actor, reason=body.reason, notes=body.notes)
    store.audit(who.actor, "item.review", f"item:{item_id}",
                {"from": done.from_status, "to": done.to_status, "version": done.version})
    return done


@router.get("/items/{item_id}/reviews", response_model=list[ItemReview])
def item_reviews(repo: Bank, item_id: ItemId, who: Psychometrician) -> list[ItemReview]:
    """Every move of the item's status, oldest first (404 for an item not in the bank)."""
    repo.item(item_id)
    return repo.reviews(item_id)


@router.post("/pretest", status_code=201, response_model=PretestCreated)
def seed_pretest(repo: Bank, store: Store, body: PretestCreate,
                 who: Psychometrician) -> PretestCreated:
    """A draft version trying out approved items besides the newest published version's.

    Publish it, then import blueprints whose ``pretest`` seeds them in sessions.
    """
    draft = repo.seed_pretest(body.items, by=who.actor, reason=body.reason)
    store.audit(who.actor, "version.pretest", f"version:{draft.number}", {"items": body.items})
    return PretestCreated(number=draft.number, status=draft.status, pretest=draft.pretest,
                          based_on=draft.provenance.based_on)
