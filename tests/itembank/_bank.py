"""A small bank for the repository tests: two competencies, Likert and situational-judgement items."""

from __future__ import annotations

from qabilet.itembank.content import Dimension, Item, Recommendation, ResponseScale
from qabilet.itembank.parameter_file import ParameterFile
from qabilet.itembank.versions import CutMethod, DimensionNorm, LevelNorms, NormSample, Provenance

DIMS = ["transparency", "accountability"]
SCALE = ResponseScale(id="agreement5", labels={
    "en": ["Strongly disagree", "Disagree", "Neither", "Agree", "Strongly agree"],
    "ru": ["Совсем не согласен", "Не согласен", "Затрудняюсь", "Согласен", "Полностью согласен"]})


def likert(item_id: str, dim: str, *, levels=("high", "middle", "low"), status="operational") -> Item:
    return Item(id=item_id, competency=dim, levels=list(levels), format="likert",
                scale="agreement5", direction=1, status=status,
                text={"en": {"stem": f"Statement {item_id}."}, "ru": {"stem": f"Утверждение {item_id}."}})


def sjt(item_id: str, dim: str, *, status="operational") -> Item:
    return Item(id=item_id, competency=dim, levels=["middle", "low"], format="sjt", status=status,
                orientation={"most_indicative": 2, "least_indicative": 0},
                text={"en": {"stem": f"Scenario {item_id}?", "options": ["A", "B", "C"]},
                      "kk": {"stem": f"Жағдай {item_id}?", "options": ["А", "Ә", "Б"]}})


def items() -> list[Item]:
    out = []
    for dim, code in zip(DIMS, ("TRN", "ACC"), strict=True):
        out += [likert(f"{code}-L{k}", dim) for k in range(1, 7)]
        out += [sjt(f"{code}-S{k}", dim) for k in range(1, 3)]
    return out


def parameters(shift: float = 0.0) -> ParameterFile:
    records = []
    for k, item in enumerate(items()):
        slopes = [0.0, 0.0]
        slopes[DIMS.index(item.competency)] = 0.8 + 0.1 * k + 1 / 3
        if item.format == "likert":
            records.append({"id": item.id, "model": "grm", "a": slopes,
                            "d": [2.0 + shift, 0.7, -0.1 * k, -1.9],
                            "se": {"a": [0.1, None], "d": [0.2, 0.1, 0.1, 0.3]}})
        else:
            records.append({"id": item.id, "model": "nominal", "a": slopes,
                            "ak": [0.0, 1.1, 2.0], "d": [0.0, 0.4 + shift, -0.3]})
    return ParameterFile.model_validate({
        "latent": {"factor_names": DIMS, "mean": [0.0, 0.0], "cov": [[1.0, 0.45], [0.45, 1.0]]},
        "method": "test", "items": records})


def provenance() -> Provenance:
    return Provenance(method="MML-EM (test)", software_version="0.0-test", n_persons=1000,
                      calibrated_on="2026-11-30", demonstration=True)


def level_norms(level: str = "middle", mean: float = 0.1) -> LevelNorms:
    return LevelNorms(
        level=level, sample=NormSample(size=400, collected_from="2026-01-10",
                                       collected_to="2026-03-01"),
        cut_method=CutMethod(method="expert", description="panel of five, 2026-03"),
        dimensions={d: DimensionNorm(mean=mean, sd=0.9, cuts=(-0.8, 0.9)) for d in DIMS})


def dimensions() -> list[Dimension]:
    return [Dimension(id=d, kind="competency", name={"en": d.title()}) for d in DIMS]


def recommendations() -> list[Recommendation]:
    return [Recommendation(target=d, band=b, text={"en": f"{d} {b}."},
                           direction={"en": "Onwards."} if b == "development" else {})
            for d in DIMS for b in ("development", "meets", "strength")]


def fill(repo, *, publish: bool = True) -> None:
    """Content, version 1 (published), norm set 1, and a blueprint per level."""
    repo.put_scales([SCALE])
    repo.put_dimensions(dimensions())
    repo.add_items(items())
    repo.put_recommendations(recommendations())
    v = repo.create_version(parameters(), provenance(), label="first")
    if publish:
        repo.publish_version(v.number)
    repo.create_norm_set(v.number, [level_norms("middle"), level_norms("low", -0.2)],
                         label="demo norms", demonstration=True)
    for level in ("middle", "low"):
        repo.add_blueprint(level, v.number, SECTIONS)


SECTIONS = [
    {"name": "professional", "dimensions": DIMS,
     "rules": {"selection": "dopt", "min_items": 4, "max_items": 8, "se_target": 0.5}},
]
