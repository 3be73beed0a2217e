"""The demonstration bank's default test design: exposure, keying, start, interleaving, profiles.

The blueprints are read from the demonstration bank as built (``demo_repo``); the figures are
checked against the rules' intent and the level's norms, never against numbers the design code
printed.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from qabilet.delivery.profiles import build_profile
from qabilet.delivery.session_state import derive, plan_for
from qabilet.demo_design import keying, measure_design, reverse_minimum
from qabilet.itembank.blueprints import (
    BlueprintSection,
    StoredBlueprint,
    check_against,
    section_items,
)
from qabilet.itembank.content import COMPETENCIES, LEVELS
from qabilet.itembank.versions import scale_bank

#: Simulees per level in the exposure check. An exposure rate near r = 0.3 estimated from n = 600
#: simulees has a sampling SD of sqrt(0.3 · 0.7 / 600) = 0.019; the largest of some fifty items
#: that sit near the target exceeds it by about 2.5 SD = 0.047 by chance alone, so "at most 0.3"
#: is checked here as <= 0.35 (notebooks/profiles.ipynb asserts <= 0.3 over 3,000 per level).
N_SIMULEES, EXPOSURE_CAP = 600, 0.35


@pytest.fixture(scope="module")
def design(demo_db_file):
    """The bank version, items, norms, stored blueprints and a 600-per-level measurement."""
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    engine = connect(f"sqlite:///{demo_db_file}")
    repo = BankRepository(engine)
    version, norm_set = repo.version(), repo.norm_set()
    items = {i.id: i for i in repo.items()}
    stored = {lv: repo.blueprint(lv) for lv in LEVELS}
    measured = {lv: measure_design(stored[lv].sections, lv, items, version, norm_set.for_level(lv),
                                   n=N_SIMULEES, rng=[7, k])[0] for k, lv in enumerate(LEVELS)}
    engine.dispose()
    return SimpleNamespace(version=version, norm_set=norm_set, items=items, stored=stored,
                           measured=measured, dimensions=repo.dimensions())


def test_every_level_has_a_valid_blueprint_with_every_dimension_once(design):
    for lv in LEVELS:
        bp = design.stored[lv]
        check_against(bp, design.version, design.items)  # raises on anything the bank cannot serve
        assert sorted(d for s in bp.sections for d in s.dimensions) == sorted(design.version.dimensions)
        kinds = [design.dimensions[s.dimensions[0]].kind for s in bp.sections]
        assert [s.interleave for s in bp.sections] == [
            "professional" if k == "competency" else "personal" for k in kinds]
        assert kinds == sorted(kinds)  # the competencies' group first, the qualities' after


def test_adaptive_sections_are_conditional_sympson_hetter_at_the_level_s_cuts(design):
    for lv in LEVELS:
        norms = design.norm_set.for_level(lv)
        for section in design.stored[lv].sections:
            rules = section.blueprint(section_items(section, lv, design.items, design.version))
            (dim,) = section.dimensions
            if section.name.endswith("_fixed"):
                assert rules.se_target is None and rules.min_items == rules.max_items
                continue
            assert rules.exposure == "sh:0.3"
            assert rules.sh_classes == pytest.approx(norms.dimensions[dim].cuts)
            k = rules.sh_parameter_array(scale_bank(design.version.parameters, [dim]))
            assert k.shape[0] == 3 and (k < 1).any()  # some items are held back in some class
    # with the enlarged pools (>= 45 items a competency and 26 a quality per level) none is fixed
    pools = {(lv, s.dimensions[0]): len(section_items(s, lv, design.items, design.version))
             for lv in LEVELS for s in design.stored[lv].sections}
    if min(pools.values()) >= 26:
        assert not [s.name for bp in design.stored.values() for s in bp.sections
                    if s.name.endswith("_fixed")]


def test_simulated_exposure_and_overlap_stay_near_the_target(design):
    for lv, rows in design.measured.items():
        for row in rows:
            if row.design == "fixed form":
                continue
            assert row.max_exposure <= EXPOSURE_CAP, (lv, row.section, row.max_exposure)
            # the mean overlap is bounded by the largest rate and carries far less noise
            assert row.overlap <= 0.30, (lv, row.section, row.overlap)
            assert row.mean_length >= row.min_length >= 4


def test_every_simulated_test_meets_the_keying_and_sjt_quotas(design):
    for lv, rows in design.measured.items():
        for row in rows:
            pool = [i for i in design.items.values()
                    if i.dimension == row.dimension and lv in i.levels]
            wanted = reverse_minimum(sum(keying(i) == "likert_reverse" for i in pool))
            assert row.quotas_met == 1.0 and row.reverse_min >= wanted >= 1, (lv, row.section)
            if row.dimension in COMPETENCIES:
                assert row.sjt_min >= 2, (lv, row.section)


def _item_information(design, lv, section, theta):
    eligible = section_items(section, lv, design.items, design.version)
    bank = scale_bank(design.version.parameters, section.dimensions, eligible)
    info = bank.information(np.array([theta]))[0]
    return dict(zip(bank.item_ids, info.tolist(), strict=True))


def test_the_first_item_is_chosen_at_the_level_s_norm_mean(demo_repo, design):
    firsts = {}
    for lv in LEVELS:
        bp = design.stored[lv]
        plan = plan_for(demo_repo, design.version.number, lv, bp.number)
        norms = design.norm_set.for_level(lv)
        for section in bp.sections:
            assert section.rules["start_theta"] == pytest.approx(
                norms.dimensions[section.dimensions[0]].mean, abs=1e-4)
        seen = set()
        for seed in range(40):
            view = derive(plan, SimpleNamespace(id=f"first-{lv}-{seed}", seed=seed,
                                                language="en"), [])
            section = next(s for s in bp.sections if s.name == view.section)
            mean = norms.dimensions[section.dimensions[0]].mean
            info = _item_information(design, lv, section, mean)
            best = sorted(info, key=info.get, reverse=True)[:5]
            assert view.item_id in best and view.position == 1
            seen.add(view.item_id)
        firsts[lv] = seen
    # the levels start at different points of the scale, so their opening items differ
    assert firsts["high"] != firsts["low"]


def _whole_session(plan, seed):
    """Every item of a session through ``derive``, answered at random; (item, section) in order."""
    rng = np.random.default_rng(seed)
    session = SimpleNamespace(id=f"whole-{seed}", seed=seed, language="ru")
    events, shown = [], []
    while not (view := derive(plan, session, events)).finished:
        code = int(rng.integers(plan.n_choices(view.item_id)))
        events.append(SimpleNamespace(kind="answer", payload={
            "item_id": view.item_id, "code": code, "language": "ru"}))
        shown.append((view.item_id, view.section, view.section_index, view.n_sections, code))
    return shown


def test_sections_are_interleaved_in_an_order_that_differs_between_candidates(demo_repo, design):
    bp = design.stored["middle"]
    plan = plan_for(demo_repo, design.version.number, "middle", bp.number)
    groups = {s.name: s.interleave for s in bp.sections}
    openings = set()
    for seed in range(6):
        shown = _whole_session(plan, seed)
        sections = [s for _, s, _, _, _ in shown]
        professional = [s for s in sections if groups[s] == "professional"]
        personal = [s for s in sections if groups[s] == "personal"]
        assert sections == professional + personal  # the two parts one after the other
        assert len(set(professional[:4])) == 4 and len(set(personal[:5])) == 5
        # in turn: no section runs ahead of another of its group by more than one item until
        # that one has stopped
        for part in (professional, personal):
            counts = {s: part.count(s) for s in set(part)}
            for k in range(len(part)):
                done = {s: part[:k + 1].count(s) for s in counts}
                live = [done[s] for s in counts if done[s] < counts[s]]
                assert not live or max(done.values()) - min(live) <= 1
        assert {(i, n) for _, _, i, n, _ in shown} == {(0, 2), (1, 2)}  # parts, not sections
        openings.add(tuple(professional[:4]))
    assert len(openings) > 1


def test_an_interleaved_session_gives_a_profile_of_all_nine_dimensions(demo_repo, design):
    bp = design.stored["high"]
    plan = plan_for(demo_repo, design.version.number, "high", bp.number)
    shown = _whole_session(plan, 11)
    from qabilet.delivery.profiles import Answer

    profile = build_profile(
        version=design.version, norm_set=design.norm_set, items=design.items,
        dimensions=design.dimensions, recommendations=demo_repo.recommendations(),
        level="high", language="ru", answers=[Answer(i, c) for i, _, _, _, c in shown],
        candidate_id="interleaved", software_version="test")
    results = profile.professional + profile.personal
    assert sorted(r.dimension for r in results) == sorted(design.version.dimensions)
    per_dimension = {}
    for item_id, *_ in shown:
        dim = design.items[item_id].dimension
        per_dimension[dim] = per_dimension.get(dim, 0) + 1
    assert {r.dimension: r.n_items for r in results} == per_dimension


def test_interleaved_sections_must_be_consecutive(design):
    sections = [BlueprintSection.model_validate(s.model_dump()) for s in design.stored["low"].sections]
    moved = [sections[0], sections[5], *sections[1:5], *sections[6:]]
    with pytest.raises(ValueError, match="must be consecutive"):
        StoredBlueprint.model_validate({**design.stored["low"].model_dump(), "sections": moved})


def test_a_pool_too_small_for_adaptivity_at_0_3_becomes_a_named_fixed_form(design):
    from qabilet.demo_design import demo_sections, mean_information

    norms = design.norm_set.for_level("middle")
    pool = [i for i in design.items.values() if i.dimension == "integrity" and "middle" in i.levels]
    small = [i for i in pool if keying(i) == "likert_forward"][:7] + [
        i for i in pool if keying(i) == "likert_reverse"][:3]  # 10 items: 10 × 0.3 < 7
    norm = norms.dimensions["integrity"]
    info = mean_information(scale_bank(design.version.parameters, ["integrity"]), norm.mean, norm.sd)
    (raw,) = demo_sections("middle", small, ["integrity"], set(), norms, information=info)
    section = BlueprintSection.model_validate(raw)
    rules = section.blueprint([i.id for i in small])
    assert section.name == "integrity_fixed" and section.interleave == "personal"
    assert rules.items is not None and len(rules.items) == rules.min_items == rules.max_items == 7
    assert rules.se_target is None and rules.exposure == "none"
    form = set(rules.items)
    assert sum(design.items[i].direction == -1 for i in form) >= reverse_minimum(3) == 1
    ranked = sorted((i.id for i in small), key=info.get)
    assert ranked[-1] in form and ranked[0] not in form  # the most informative in, the least out
    with pytest.raises(ValueError, match="fixed form"):
        demo_sections("middle", small, ["integrity"], set(), norms)  # no information to rank by
