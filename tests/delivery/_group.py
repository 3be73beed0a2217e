"""Issued profiles made to order for the group report's tests: percentiles, bands, sessions, words.

A profile here is a valid :class:`~qabilet.itembank.profiles.Profile` record whose results are
given by their percentiles against a N(0, 1) norm with cuts at the 25th and 75th percentiles;
θ is the percentile's normal quantile, and the band is the percentile's unless ``withheld``.
Each dimension has a name per language (Latin in English, Cyrillic in Russian and Kazakh).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scipy.stats import norm

from qabilet.delivery.profiles import band_words, load_texts
from qabilet.itembank.profiles import (
    DimensionResult,
    NormReference,
    Profile,
    ResultTexts,
    ValidityFlag,
)
from qabilet.itembank.versions import CutMethod

__all__ = ["NAMES", "T0", "later", "make_profile"]

#: each dimension's name per language
NAMES = {
    "service_to_public": {"en": "Service to the public", "ru": "Служение обществу",
                          "kk": "Қоғамға қызмет ету"},
    "transparency": {"en": "Transparency", "ru": "Прозрачность", "kk": "Ашықтық"},
    "stress_tolerance": {"en": "Stress tolerance", "ru": "Стрессоустойчивость",
                         "kk": "Күйзеліске төзімділік"},
}
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_CUT = CutMethod(method="percentile", percentiles=(25.0, 75.0),
                 description="25th and 75th percentiles of the level's norm group")
_TEXTS = load_texts()


def _result(dimension: str, percentile: float, withheld: bool, words: bool) -> DimensionResult:
    theta = float(norm.ppf(percentile / 100))
    band = None if withheld else ("development" if percentile < 25 else
                                  "strength" if percentile >= 75 else "meets")
    names = NAMES[dimension]
    return DimensionResult(
        dimension=dimension, kind="trait" if dimension == "stress_tolerance" else "competency",
        name=names["ru"], n_items=8, theta=theta, sd=0.4, reliability=0.84,
        percentile=percentile, percentile_interval=(max(percentile - 20, 0), min(percentile + 20, 100)),
        sten=5, sten_interval=(4, 6), t_score=50 + 10 * theta, t_interval=(40.0, 60.0),
        band=band, band_probability=0.95 if band else 0.6,
        band_probabilities={"development": 0.02, "meets": 0.95, "strength": 0.03},
        band_edges=(25.0, 75.0), withheld="uncertain" if withheld else None,
        neighbours=("development", "meets") if withheld else None,
        texts={lang: ResultTexts(name=names[lang]) for lang in ("kk", "ru", "en")} if words else None)


def make_profile(percentiles: dict[str, float], *, session: str, issued: datetime = T0,
                 level: str = "middle", bank_version: int = 1, norm_set: int = 1,
                 language: str = "ru", replaces: str | None = None, withheld: tuple[str, ...] = (),
                 flags: tuple[tuple[str, str | None], ...] = (), words: bool = True,
                 profile_id: str | None = None, tested: datetime | None = None) -> Profile:
    """A profile of ``session`` with the given percentile per dimension.

    ``withheld``: dimensions whose band is not stated; ``flags``: ``(code, dimension or None)``;
    ``words=False``: a profile as stored before its words were kept in every language (its names
    are Russian only).
    """
    results = [_result(d, p, d in withheld, words) for d, p in percentiles.items()]
    return Profile(
        id=profile_id or f"p-{session}-{issued:%Y%m%d%H%M%S%f}", candidate_id=f"K-{session}",
        session_id=session, level=level, language=language, tested_at=tested or issued,
        issued_at=issued, bank_version=bank_version, norm_set=norm_set, software_version="test",
        replaces=replaces, interval_level=0.9,
        norms=NormReference(norm_set=norm_set, label=f"Norms {norm_set}", level=level,
                            sample_size=500, collected_from=date(2026, 1, 1),
                            collected_to=date(2026, 6, 30), cut_method=_CUT.description,
                            demonstration=False, method="percentile", percentiles=(25.0, 75.0)),
        professional=[r for r in results if r.kind == "competency"],
        personal=[r for r in results if r.kind == "trait"],
        validity=[ValidityFlag(code=code, dimension=dim, value=1.0, message="flag")  # type: ignore[arg-type]
                  for code, dim in flags],
        band_words={lang: band_words(_CUT, _TEXTS[lang], lang) for lang in ("kk", "ru", "en")}
        if words else None)


def later(minutes: int) -> datetime:
    """``T0`` plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)
