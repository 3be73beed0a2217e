"""The demonstration design's shipped exposure parameters: used exactly where they were derived.

The parameters' quality (every adaptive section's largest exposure at or below 0.3 over 3,000
simulated candidates per level) is asserted by ``notebooks/profiles.ipynb``, which the suite
runs; here, that the default build takes them and that nothing else does.
"""

from __future__ import annotations

import pytest

from qabilet.demo_bank import demo_blueprints
from qabilet.demo_design import TARGET_EXPOSURE
from qabilet.demo_exposure import CUT_TOLERANCE, ExposureFile, load_exposure
from qabilet.itembank.blueprints import section_items
from qabilet.itembank.content import LEVELS

#: the build the shipped file must have been derived for (build_demo_bank's defaults)
SEED, N_PER_LEVEL = 2017, 1500


@pytest.fixture(scope="module")
def shipped() -> ExposureFile:
    found = load_exposure()
    assert found is not None, "the shipped exposure parameters are missing: run make demo-exposure"
    return found


def test_the_default_build_takes_every_adaptive_section_s_shipped_parameters(demo_build, demo_repo,
                                                                            shipped):
    adaptive = [s for lv in LEVELS for s in demo_repo.blueprint(lv).sections
                if s.rules.get("sh_classes")]
    assert demo_build["shipped_exposure"] == len(adaptive), (
        "the demonstration content or design changed since the exposure parameters were "
        "derived: run make demo-exposure")
    version, items = demo_repo.version(), {i.id: i for i in demo_repo.items()}
    for lv in LEVELS:
        for s in demo_repo.blueprint(lv).sections:
            if s.rules.get("sh_classes"):
                assert set(s.rules["sh_parameters"]) == set(section_items(s, lv, items, version))
                assert s.rules["sh_parameters"] == shipped.levels[lv][s.name].parameters
    assert (shipped.seed, shipped.n_per_level, shipped.target) == (SEED, N_PER_LEVEL,
                                                                   TARGET_EXPOSURE)
    assert shipped.derivation["simulees"] >= 1000 and shipped.derivation["tolerance"] == 0


def test_shipped_parameters_fit_only_the_section_they_were_derived_for(shipped):
    name, mine = next(iter(shipped.levels["middle"].items()))
    ids, cuts = list(mine.parameters), list(mine.classes)
    same = {"seed": SEED, "n_per_level": N_PER_LEVEL, "target": TARGET_EXPOSURE,
            "level": "middle", "name": name, "classes": cuts, "eligible": ids}
    assert shipped.section(**same) == {i: mine.parameters[i] for i in ids}
    assert shipped.section(**{**same, "eligible": ids[::-1]}) is not None  # order is immaterial
    assert shipped.section(**{**same, "classes": [c + CUT_TOLERANCE / 10 for c in cuts]})
    for other in ({"seed": SEED + 1}, {"n_per_level": 600}, {"target": 0.25}, {"level": "low2"},
                  {"name": "elsewhere"}, {"eligible": ids[1:]}, {"eligible": [*ids, "NEW-1"]},
                  {"classes": [cuts[0] + 0.01, *cuts[1:]]}, {"classes": cuts[:1]}):
        assert shipped.section(**{**same, **other}) is None, other


def test_an_unreadable_file_means_a_build_derives_its_own(tmp_path):
    bad = tmp_path / "exposure.json"
    assert load_exposure(bad) is None  # absent
    bad.write_text('{"seed": 1}')
    assert load_exposure(bad) is None  # incomplete
    bad.write_text("{not json")
    assert load_exposure(bad) is None


def test_another_build_derives_its_own_parameters_among_the_level_s_candidates(demo_repo, shipped):
    version, norms = demo_repo.version(), demo_repo.norm_set().for_level("middle")
    items = list(demo_repo.items())
    dims = list(version.dimensions)
    competencies = {d for d, v in demo_repo.dimensions().items() if v.kind == "competency"}
    said: list[str] = []
    kept = demo_blueprints(items, dims[:1] + dims[-1:], competencies, version, [norms],
                           seed=SEED, n_per_level=N_PER_LEVEL, progress=said.append)
    other = demo_blueprints(items, dims[:1] + dims[-1:], competencies, version, [norms],
                            seed=SEED + 1, n_per_level=N_PER_LEVEL, progress=said.append)
    (sections, _, from_file), = kept.values()
    assert from_file == 2
    (derived, _, none), = other.values()
    assert none == 0 and "0 shipped, 2 derived now" in said[-1]
    for a, b in zip(sections, derived, strict=True):
        assert b.rules["exposure"] == f"sh:{TARGET_EXPOSURE:g}"
        assert set(b.rules["sh_parameters"]) == set(a.rules["sh_parameters"])
        assert b.rules["sh_parameters"] != a.rules["sh_parameters"]
