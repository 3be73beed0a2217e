"""A demonstration bank trying out new items: version 2 seeds six new transparency statements.

The new items enter as drafts, go through review to ``pretest``, are added to a new version's
pretest list (:meth:`BankRepository.seed_pretest`), which is published with version 1's norms;
each level's blueprint is version 1's sections with :data:`PER_SESSION` of them seeded.
"""

from __future__ import annotations

from qabilet.itembank.blueprints import PretestSeeding
from qabilet.itembank.content import Item
from qabilet.itembank.repository import BankRepository

__all__ = ["NEW", "PER_SESSION", "new_items", "publish_pretest_version"]

NEW = [f"TRN-N{k:02d}" for k in range(1, 7)]
PER_SESSION = 3

_STEMS = {
    "en": "Before a decision that concerns citizens is final, I publish the draft for comment ({k}).",
    "ru": "Прежде чем решение, касающееся граждан, станет окончательным, я публикую проект для "
          "обсуждения ({k}).",
    "kk": "Азаматтарға қатысты шешім түпкілікті болғанға дейін мен оның жобасын талқылауға "
          "жариялаймын ({k}).",
}


def new_items(ids: list[str] = NEW) -> list[Item]:
    """New Likert statements (drafts, no parameters), in kk/ru/en: six by default."""
    return [Item(id=i, competency="transparency", levels=["high", "middle", "low"],
                 format="likert", scale="agreement5", direction=1, model="grm",
                 text={lang: {"stem": stem.format(k=k)} for lang, stem in _STEMS.items()})
            for k, i in enumerate(ids, start=1)]


def publish_pretest_version(repo: BankRepository, ids: list[str] = NEW,
                            per_session: int = PER_SESSION,
                            sections: dict[str, list] | None = None) -> int:
    """Review, seed and publish new items (version 2, with norms and blueprints); its number.

    ``sections``: level → the sections of its new blueprint (default: version 1's).
    """
    repo.add_items(new_items(ids))
    for item_id in ids:
        repo.review(item_id, "in_review", by="author", reason="written")
        repo.review(item_id, "pretest", by="reviewer", reason="approved for trying out")
    version = repo.seed_pretest(ids, by="psychometrician", reason="spring try-out").number
    repo.publish_version(version)
    norms = repo.norm_set(bank_version=1)
    repo.publish_norm_set(repo.create_norm_set(version, norms.levels, label=norms.label,
                                               demonstration=True).number)
    for level in ("high", "middle", "low"):
        old = repo.blueprint(level)
        repo.add_blueprint(level, version, (sections or {}).get(level, old.sections),
                           label=f"{old.label}; trying out",
                           pretest=PretestSeeding(items=ids, per_session=per_session))
    return version
