"""The repository on SQLite and on a real PostgreSQL server: one suite, both backends."""

from __future__ import annotations

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import qabilet.attestation.tables  # noqa: F401  (the attestation's tables: on the bank's metadata)
from qabilet.engine.exceptions import ConflictError, ImmutableRecordError, NotFoundError
from qabilet.itembank.bank_file import export_document
from qabilet.itembank.blueprints import BlueprintSection
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.tables import Base
from qabilet.itembank.versions import scale_bank
from tests.itembank import _bank


def test_upgrade_head_on_an_empty_database_matches_the_models(db_url):
    engine = connect(db_url)
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}),
                                Base.metadata)
        assert diff == []
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0017"
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    connect(db_url)  # a second upgrade on a migrated database is a no-op
    engine.dispose()


def test_items_are_stored_whole_and_filtered(repo):
    _bank.fill(repo)
    assert [i.id for i in repo.items(dimension="accountability", format="sjt")] == ["ACC-S1", "ACC-S2"]
    assert len(repo.items(level="high")) == 12  # the situational items are middle and low only
    assert repo.item("TRN-S1") == _bank.sjt("TRN-S1", "transparency")
    assert repo.item("TRN-L1").text_in("kk").language == "ru"  # explicit fallback, stated
    with pytest.raises(NotFoundError, match="'NOPE' is not in the bank"):
        repo.item("NOPE")


def test_adding_an_existing_item_is_refused_and_changes_nothing(repo):
    _bank.fill(repo)
    before = repo.items()
    new = _bank.likert("NEW-1", "transparency")
    with pytest.raises(ConflictError, match="'TRN-L1' is already in the bank"):
        repo.add_items([new, _bank.likert("TRN-L1", "accountability")])
    assert repo.items() == before  # NEW-1 was not written either


def test_parameters_survive_the_database_to_the_last_bit(repo):
    _bank.fill(repo)
    v = repo.version(1)
    assert v.parameters == _bank.parameters()
    assert v.status == "published" and v.published_at is not None
    assert v.dimensions == tuple(_bank.DIMS)
    bank = v.parameters.to_bank()
    assert bank.slopes[0, 0] == 0.8 + 1 / 3  # a non-terminating binary fraction, exactly


def test_a_published_version_cannot_change(repo):
    _bank.fill(repo)
    before = repo.version(1)
    with pytest.raises(ImmutableRecordError, match="bank version 1 is published and cannot change"):
        repo.update_version(1, _bank.parameters(shift=0.5))
    with pytest.raises(ImmutableRecordError, match="already published"):
        repo.publish_version(1)
    assert repo.version(1) == before


def test_a_draft_version_changes_until_it_is_published(repo):
    _bank.fill(repo)
    draft = repo.create_version(_bank.parameters(shift=0.25), _bank.provenance(), label="recal")
    assert draft.number == 2 and draft.status == "draft"
    assert repo.version().number == 1  # the newest *published* one
    updated = repo.update_version(2, _bank.parameters(shift=0.5))
    assert repo.version(2).parameters == updated.parameters == _bank.parameters(shift=0.5)
    repo.publish_version(2)
    assert repo.version().number == 2
    assert repo.version(1).parameters == _bank.parameters()  # the old one stays as it was


def test_a_version_of_unknown_items_or_wrong_categories_is_refused(repo):
    _bank.fill(repo)
    data = _bank.parameters().model_dump(mode="json", exclude_none=True)
    data["items"][0]["id"] = "GHOST"
    with pytest.raises(ConflictError, match="not in the bank: GHOST"):
        repo.create_version(type(_bank.parameters()).model_validate(data), _bank.provenance())
    data = _bank.parameters().model_dump(mode="json", exclude_none=True)
    data["items"][0]["d"] = [1.0, 0.0, -1.0]  # 4 categories on a 5-point scale
    with pytest.raises(ConflictError, match="'TRN-L1' is a likert item with 5 categories"):
        repo.create_version(type(_bank.parameters()).model_validate(data), _bank.provenance())
    assert [v.number for v in repo.versions()] == [1]


def test_a_published_norm_set_cannot_change(repo):
    _bank.fill(repo)
    draft = repo.norm_set(1)
    assert draft.status == "draft" and draft.demonstration
    changed = repo.update_norm_set(1, [_bank.level_norms("high", 0.4)])
    assert repo.norm_set(1).levels == changed.levels
    published = repo.publish_norm_set(1)
    assert repo.norm_set(bank_version=1) == published
    with pytest.raises(ImmutableRecordError, match="norm set 1 is published and cannot change"):
        repo.update_norm_set(1, [_bank.level_norms("middle", 0.9)])
    assert repo.norm_set(1) == published
    # a bank version gains a newer norm set without changing
    second = repo.create_norm_set(1, [_bank.level_norms("middle", 0.3)])
    repo.publish_norm_set(second.number)
    assert repo.norm_set(bank_version=1).number == 2
    assert repo.version(1).status == "published"


def test_norms_need_a_published_version_and_its_dimensions(repo):
    _bank.fill(repo, publish=False)
    with pytest.raises(ConflictError, match="publish bank version 1 first"):
        repo.publish_norm_set(1)
    bad = _bank.level_norms().model_copy(update={"dimensions": {"integrity": _bank.level_norms()
                                                                .dimensions["transparency"]}})
    with pytest.raises(ConflictError, match="has no dimension integrity"):
        repo.create_norm_set(1, [bad])


def test_blueprints_are_validated_against_the_version(repo):
    _bank.fill(repo)
    stored = repo.blueprint("middle")
    assert stored.number == 1 and stored.sections[0].dimensions == _bank.DIMS
    second = repo.add_blueprint("middle", 1, [{"name": "trn", "dimensions": ["transparency"],
                                              "rules": {"max_items": 5, "exposure": "randomesque:2"}}])
    assert second.number == 2 and repo.blueprint("middle").number == 2
    assert repo.blueprint("middle", 1) == stored
    too_long = {"name": "trn", "dimensions": ["transparency"], "rules": {"min_items": 20, "max_items": 30}}
    with pytest.raises(ValueError, match=r"sections\[0\] \('trn'\).rules: .*20"):
        repo.add_blueprint("high", 1, [too_long])
    with pytest.raises(ValueError, match="measures transparency, accountability; not integrity"):
        repo.add_blueprint("high", 1, [{"name": "pq", "dimensions": ["integrity"]}])
    with pytest.raises(ValueError, match="'ACC-S1' is not meant for level 'high'"):
        repo.add_blueprint("high", 1, [{"name": "acc", "dimensions": ["accountability"],
                                         "rules": {"items": ["ACC-L1", "ACC-S1"], "max_items": 2}}])
    with pytest.raises(ValueError, match="rules: unknown field"):
        BlueprintSection(name="x", dimensions=["transparency"], rules={"sleection": "mfi"})
    assert [b.level for b in repo.blueprints()] == ["low", "middle", "middle"]


def test_a_section_bank_is_the_marginal_on_its_dimensions(repo):
    _bank.fill(repo)
    v = repo.version(1)
    full = v.parameters.to_bank()
    acc = scale_bank(v.parameters, ["accountability"])
    assert acc.item_ids == tuple(i for i in full.item_ids if i.startswith("ACC"))
    theta = np.linspace(-3, 3, 7)[:, None]
    # the item's probabilities on its own dimension equal the full bank's with the other at any value
    grid = np.column_stack([np.full(7, 1.7), theta[:, 0]])
    idx = full.index_of(acc.item_ids)
    np.testing.assert_allclose(acc.prob(theta), full.prob(grid)[:, idx], rtol=1e-12)
    assert acc.latent.cov.tolist() == [[1.0]]


def test_a_missing_version_names_the_ones_there_are(repo):
    _bank.fill(repo)
    with pytest.raises(NotFoundError, match="bank version 7 does not exist; the bank has 1"):
        repo.version(7)


def test_the_repository_returns_schemas_not_rows(repo):
    _bank.fill(repo)
    doc = export_document(repo)
    for section in ("items", "versions", "norm_sets", "blueprints", "scales", "dimensions"):
        for record in getattr(doc, section):
            module = type(record).__module__
            assert module.startswith("qabilet.itembank.") and "tables" not in module


def test_two_repositories_on_one_database_see_each_other(db_url):
    a, b = BankRepository(connect(db_url)), BankRepository(connect(db_url))
    _bank.fill(a)
    assert b.version(1) == a.version(1) and b.items() == a.items()


def test_what_the_database_refuses_is_a_conflict_and_writes_nothing(repo):
    from datetime import UTC, datetime

    from qabilet.itembank.repository import Response

    _bank.fill(repo)
    ok = Response("P1", "TRN-L1", 1, "en", "low", 2, datetime(2026, 1, 1, tzinfo=UTC))
    ghost = Response("P1", "TRN-L2", 99, "en", "low", 2, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ConflictError, match="the database refused the write"):
        repo.record_responses([ok, ghost])  # bank version 99 does not exist
    assert repo.responses() == []


def test_a_language_form_with_its_own_parameters_is_kept_per_group(repo):
    """Calibration freed TRN-L2 for the Russian form: the version keeps both parameter sets."""
    from qabilet.itembank.parameter_file import ParameterFile

    _bank.fill(repo)
    data = _bank.parameters().model_dump(mode="json", exclude_none=True)
    data["reference_group"] = "kk"
    data["groups"] = {"kk": data["latent"], "ru": {**data["latent"], "mean": [0.2, -0.1]}}
    freed = {k: v for k, v in data["items"][1].items() if k in ("a", "d")}
    data["items"][1]["groups"] = {"ru": {**freed, "d": [2.5, 1.0, 0.0, -1.5]}}
    version = repo.create_version(ParameterFile.model_validate(data), _bank.provenance())
    stored = repo.version(version.number).parameters
    assert stored.group_specific_items() == ("TRN-L2",)
    ru = scale_bank(stored, ["transparency"], group="ru")
    kk = scale_bank(stored, ["transparency"], group="kk")
    k = ru.index_of(["TRN-L2"])[0]
    theta = np.array([[0.3]])
    assert not np.allclose(ru.prob(theta)[0, k], kk.prob(theta)[0, k])
    others = [i for i in range(ru.n_items) if i != k]
    np.testing.assert_array_equal(ru.prob(theta)[0, others], kk.prob(theta)[0, others])
    assert ru.latent.mean.tolist() == [0.2] and kk.latent.mean.tolist() == [0.0]
