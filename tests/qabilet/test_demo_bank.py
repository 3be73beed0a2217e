"""The demonstration bank: complete texts, parameters that recover the simulated truth, norms and
blueprints that a session can run."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.demo_bank import (
    build_demo_bank,
    disagreeing_items,
    expert_disagreements,
    sjt_order,
    true_parameters,
)
from qabilet.demo_session import run_session
from qabilet.engine.exceptions import ConflictError
from qabilet.itembank.content import COMPETENCIES, LANGUAGES, LEVELS
from qabilet.itembank.demo_texts import load_demo_content

runner = CliRunner()


def test_every_item_has_all_three_languages_and_enough_per_competency():
    content = load_demo_content()
    for item in content.items:
        assert set(item.text) == set(LANGUAGES), item.id
        if item.format == "sjt":
            assert all(len(t.options) == 4 for t in item.text.values()), item.id
    for comp in COMPETENCIES:
        mine = [i for i in content.items if i.competency == comp]
        assert len(mine) >= 30 and {i.format for i in mine} == {"likert", "sjt"}
        for level in LEVELS:
            assert sum(level in i.levels for i in mine) >= 20, (comp, level)
    traits = {i.trait for i in content.items if i.trait}
    assert len(traits) == 5
    for scale in content.scales:
        assert set(scale.labels) == set(LANGUAGES) and scale.n_categories == 5
    recs = {(r.target, r.band) for r in content.recommendations}
    assert len(recs) == 27 and all(set(r.text) == set(LANGUAGES) for r in content.recommendations)
    assert all(set(r.direction) == set(LANGUAGES) for r in content.recommendations
               if r.band == "development")
    for d in content.dimensions:
        assert set(d.name) == set(LANGUAGES) and set(d.description) == set(LANGUAGES)


def test_every_item_has_valid_parameters_in_the_published_version(demo_repo):
    version = demo_repo.version()
    assert version.status == "published" and version.provenance.demonstration
    items = {i.id: i for i in demo_repo.items() if i.format != "forced_choice"}
    # 62 per competency + 130 personal qualities (26 each); and 30 forced-choice blocks
    assert set(version.item_ids) == set(items) and len(items) == 378
    blocks = {i.id for i in demo_repo.items(format="forced_choice")}
    assert set(version.block_ids) == blocks and len(blocks) == 30
    bank = version.parameters.to_bank()  # the engine accepts every item
    dims = list(version.dimensions)
    for k, item_id in enumerate(bank.item_ids):
        item = items[item_id]
        slopes = bank.slopes[k]
        own = dims.index(item.dimension)
        assert slopes[own] > 0 and np.count_nonzero(slopes) == 1, item_id
        assert bank.n_categories[k] == (5 if item.format == "likert" else 4)
    codes = version.parameters.recodings()
    assert all(codes[i.id] == (4, 3, 2, 1, 0) for i in items.values() if i.direction == -1)
    assert np.all(np.linalg.eigvalsh(np.array(version.parameters.latent.cov)) > 0)


def test_the_calibration_recovers_the_simulated_truth(demo_repo):
    content = load_demo_content()
    truth = {r["id"]: r for r in true_parameters(list(content.items), np.random.default_rng(2017))}
    version = demo_repo.version()
    dims = list(version.dimensions)
    items = {i.id: i for i in content.items}
    a_true, a_fit, b_true, b_fit, hits, n_sjt = [], [], [], [], 0, 0
    for rec in version.parameters.items:
        item, t = items[rec.id], truth[rec.id]
        a = rec.a[dims.index(item.dimension)]
        if item.format == "likert":
            a_true.append(t["a"])
            a_fit.append(a)
            b_true += t["b"]
            b_fit += (-np.asarray(rec.d) / a).tolist()
        else:  # category slopes in model order (least indicative first), relative to category 0
            order = sjt_order(item)
            slopes_true = np.asarray(t["a"]) * np.asarray(t["ak"])[order]
            slopes_fit = a * np.asarray(rec.ak)
            n_sjt += 1
            hits += int(np.argmax(slopes_fit) == np.argmax(slopes_true))
            assert np.corrcoef(slopes_true - slopes_true[0], slopes_fit)[0, 1] > 0.8, rec.id
    assert np.corrcoef(a_true, a_fit)[0, 1] > 0.97
    assert np.max(np.abs(np.subtract(a_fit, a_true)) / a_true) < 0.25
    assert np.max(np.abs(np.subtract(b_fit, b_true))) < 0.35
    assert hits >= 0.8 * n_sjt  # the truly steepest option has the steepest estimated slope


def test_one_or_two_situational_items_per_competency_disagree_with_their_experts():
    content = load_demo_content()
    items = list(content.items)
    truth = true_parameters(items, np.random.default_rng(2017))
    made = disagreeing_items(items, np.random.default_rng(2017).spawn(1)[0])
    assert expert_disagreements(items, truth).keys() == made.keys()
    dimension = {i.id: i.dimension for i in items}
    per = [sum(dimension[i] == d.id for i in made) for d in content.dimensions if d.kind == "competency"]
    assert all(n in (1, 2) for n in per), per
    by_id = {i.id: i for i in items}
    for item_id, how in made.items():
        o = by_id[item_id].orientation
        rec = next(r for r in truth if r["id"] == item_id)
        rank = np.argsort(-np.asarray(rec["ak"]), kind="stable").tolist()  # steepest first
        if how == "most_second":
            assert rank.index(o.most_indicative) == 1
        else:
            assert rank.index(o.least_indicative) == len(rank) - 2


def test_norms_are_the_levels_distributions_and_cuts_their_quartiles(demo_repo):
    norm_set = demo_repo.norm_set()
    assert norm_set.demonstration and norm_set.status == "published"
    high, middle, low = (norm_set.for_level(lv) for lv in ("high", "middle", "low"))
    for dim in COMPETENCIES:  # simulated level means +0.3, 0, -0.3 (SE about 0.04)
        assert middle.dimensions[dim].mean == 0.0 and middle.dimensions[dim].sd == 1.0
        assert abs(high.dimensions[dim].mean - 0.3) < 0.15
        assert abs(low.dimensions[dim].mean + 0.3) < 0.15
        cuts = middle.dimensions[dim].cuts
        assert cuts == pytest.approx((-0.6744897501960817, 0.6744897501960817), abs=1e-12)
    assert high.sample.size == 1500 and high.cut_method.method == "percentile"


def test_every_level_runs_its_blueprint_in_every_language(demo_repo):
    dims = list(demo_repo.version().dimensions)
    for level in LEVELS:
        stored = demo_repo.blueprint(level)
        assert [s.dimensions for s in stored.sections] == [[d] for d in dims]
        for language in LANGUAGES:
            results = run_session(demo_repo, level, language, seed=3)
            assert len(results) == len(dims)
            for r, section in zip(results, stored.sections, strict=True):
                assert section.rules["min_items"] <= len(r.items) <= section.rules["max_items"]
                assert 4 <= len(r.items) <= 12
                assert all(shown.language == language for shown in r.items)
                assert len({shown.item_id for shown in r.items}) == len(r.items)
                assert 0 < r.percentile < 100


def test_building_into_a_bank_that_is_there_is_refused(demo_repo):
    before = demo_repo.versions()
    with pytest.raises(ConflictError, match="already holds a bank"):
        build_demo_bank(demo_repo)
    assert demo_repo.versions() == before


def test_init_demo_if_empty_and_the_demo_command(demo_db):
    result = runner.invoke(app, ["bank", "init-demo", "--if-empty", "--database", demo_db])
    assert result.exit_code == 0 and "nothing to do" in result.output
    result = runner.invoke(app, ["demo", "--database", demo_db, "--language", "kk",
                                 "--persons", "50", "--level", "high"])
    assert result.exit_code == 0, result.output
    assert "Халыққа қызмет ету" in result.output and "percentile" in result.output
    assert "service_to_public" in result.output  # the summary table
    for word in ("correct", "wrong", "дұрыс", "правильн"):
        assert word not in result.output.lower()


def test_the_blocks_are_calibrated_on_the_simulees_and_given_by_blueprint_1(demo_build, demo_repo):
    assert demo_build["n_blocks"] == 30 and demo_build["loading_correlation"] > 0.95
    assert demo_build["block_blueprints"] == {"high": 1, "middle": 1, "low": 1}
    assert demo_build["blueprints"] == {"high": 2, "middle": 2, "low": 2}  # the default: items
    section = demo_repo.blueprint("low", 1).sections[0]
    assert section.blocks.length == 20 and len(section.dimensions) == 9
    fc = demo_repo.version().forced_choice
    assert fc.estimation["method"] == "dwls" and fc.estimation["converged"]
    assert set(fc.traits) == set(demo_repo.version().dimensions)
