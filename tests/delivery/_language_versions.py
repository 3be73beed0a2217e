"""A demonstration bank with language versions: version 2, whose Russian integrity items differ.

Version 1's parameters with groups ``kk`` (the reference), ``ru`` and ``en``. The groups' own
latent distributions stand far apart (a scorer that took a group's prior would show it); only
the integrity items have parameters of their own, in Russian: slopes 1.5 times and intercepts
shifted by 1; and :data:`BOOSTED`, which the reference parameters do not choose first, is made
the most informative item at θ = 0 in Russian (slope 6, thresholds within ±1), so an adaptive
section that chooses with the Russian parameters, opening with the best item at the middle
level's start (its norm mean, 0), starts with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from qabilet.itembank.parameter_file import ParameterFile
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import BankVersion
from tests.delivery._by_hand import grm_answer, posterior_moments

__all__ = ["BOOSTED", "INTEGRITY", "integrity_by_hand", "publish_language_versions"]

INTEGRITY = 6  # the integrity factor's index in the demonstration version
BOOSTED = "PQ-INT-05"


def _russian(item: dict) -> dict:
    a = list(item["a"])
    if item["id"] == BOOSTED:
        a[INTEGRITY] = 6.0 * (1 if a[INTEGRITY] > 0 else -1)
        return {"a": a, "d": [6.0, 2.0, -2.0, -6.0] if a[INTEGRITY] > 0 else [-6.0, -2.0, 2.0, 6.0]}
    a[INTEGRITY] *= 1.5
    return {"a": a, "d": [d + 1.0 for d in item["d"]]}


def publish_language_versions(repo: BankRepository) -> int:
    """Publish version 2 (above) with version 1's norms and blueprints; its number."""
    v1 = repo.version(1)
    data = v1.parameters.model_dump(mode="json", exclude_none=True)
    latent = data["latent"]
    n = len(latent["mean"])
    data["reference_group"] = "kk"
    data["groups"] = {"kk": latent, "ru": {**latent, "mean": [0.8] * n},
                      "en": {**latent, "mean": [-0.7] * n}}
    for item in data["items"]:
        if item["id"].startswith("PQ-INT"):
            item["groups"] = {"ru": _russian(item)}
    v2 = repo.create_version(ParameterFile.model_validate(data), v1.provenance,
                             label="language versions")
    repo.publish_version(v2.number)
    norms = repo.norm_set(bank_version=1)
    repo.publish_norm_set(repo.create_norm_set(v2.number, norms.levels, label=norms.label,
                                               demonstration=True).number)
    for level in ("high", "middle", "low"):
        # the demonstration design draws the opening item among the five best, keeps exposure
        # under a lottery and asks for reverse-keyed statements early; here the integrity
        # section opens with the single most informative item, so that which parameters chose
        # it shows
        plain = {"start_candidates": 1, "exposure": "none", "sh_parameters": None,
                 "content": {}, "quotas": {}}
        sections = [s.model_copy(update={"rules": {**s.rules, **plain}})
                    if s.dimensions == ["integrity"] else s for s in repo.blueprint(level).sections]
        repo.add_blueprint(level, v2.number, sections, label=f"language versions, {level}")
    return v2.number


def integrity_by_hand(version: BankVersion, given: Sequence[tuple[str, int, str | None]]
                      ) -> tuple[float, float]:
    """Posterior mean and SD of integrity answers ``(item, code, language)`` integrated by hand.

    Each item with the parameters of its answer's language where it has them, the reference's
    otherwise; the prior is the version's latent distribution, whatever the languages.
    """
    pf = version.parameters
    answers = []
    for item_id, code, language in given:
        record = next(i for i in pf.items if i.id == item_id)
        own = (record.groups or {}).get(language or "")
        a, d = (record.a, record.d) if own is None else (own.a, own.d)
        one = ParameterFile.model_validate({"latent": pf.latent.model_dump(), "items": [
            {"id": item_id, "model": "grm", "a": a, "d": d, "categories": record.categories}]})
        answers.append(grm_answer(one, item_id, INTEGRITY, code))
    return posterior_moments(answers, pf.latent.mean[INTEGRITY], pf.latent.cov[INTEGRITY][INTEGRITY])
