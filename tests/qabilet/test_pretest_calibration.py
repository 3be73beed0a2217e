"""Online calibration of pretest items against known truth (issue 19).

Version 2 of the demonstration bank tries out six new transparency statements. Answers are
simulated as live sessions would give them: 1,000 Kazakh and 1,000 Russian candidates (the Russian
group 0.3 SD higher), each answering 12 of the version's transparency items and 3 of the new ones,
from the version's published parameters and the new items' true ones — except that the Russian
version of one new item is 0.8 logits harder (DIF) and one anchor's answers come from a curve
one logit harder than published (drift). The calibration must recover the new items' parameters
within their standard errors, flag exactly the injected DIF and the injected drift, and write a
draft version that scores with the new items once published.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from qabilet.engine.models import GradedResponse
from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.repository import Response
from qabilet.itembank.versions import scale_bank
from qabilet.pretest_calibration import calibrate_pretest
from tests.delivery._pretest import NEW, publish_pretest_version

TRUE_A = np.array([1.4, 1.0, 1.8, 1.2, 0.9, 1.6])
TRUE_B = np.array([[-2.0, -0.8, 0.3, 1.5], [-1.6, -0.5, 0.6, 1.9], [-2.2, -1.0, 0.0, 1.2],
                   [-1.4, -0.2, 0.8, 2.0], [-2.4, -1.2, 0.2, 1.4], [-1.8, -0.6, 0.4, 1.6]])
DIF_ITEM, DIF_SHIFT = NEW[2], 0.8
N_PER_LANGUAGE, N_ANCHORS, N_NEW = 1000, 12, 3


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, demo_db_file):
    import shutil

    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    path = tmp_path_factory.mktemp("pretest") / "bank.db"
    shutil.copy(demo_db_file, path)
    engine = connect(f"sqlite:///{path}")
    repo = BankRepository(engine)
    version = publish_pretest_version(repo)
    v = repo.version(version)
    anchors = [i.id for i in repo.items(version=version) if i.dimension == "transparency"
               and i.status == "operational"]
    drifted = anchors[5]
    rng = np.random.default_rng(19)
    recodings = v.parameters.recodings()
    anchor_bank = scale_bank(v.parameters, ["transparency"], anchors)
    shifted = scale_bank(v.parameters, ["transparency"], [drifted])
    moved = shifted.models[0]
    drift_bank = GradedResponse(moved.a, moved.b + 1.0) if hasattr(moved, "b") else moved
    at = datetime(2027, 3, 1, 9, tzinfo=UTC)
    responses = []
    for lang, mean in (("kk", 0.0), ("ru", 0.3)):
        theta = rng.normal(mean, 1.0, N_PER_LANGUAGE)
        b = TRUE_B + (DIF_SHIFT * (np.array(NEW) == DIF_ITEM)[:, None] if lang == "ru" else 0)
        new_x = simulate_responses(GradedResponse(TRUE_A, b), theta, rng)
        old_x = simulate_responses(anchor_bank, theta, rng)
        old_x[:, 5] = simulate_responses(drift_bank, theta, rng)[:, 0]
        for p in range(N_PER_LANGUAGE):
            sid = f"{lang}-{p}"
            for j in rng.choice(len(anchors), N_ANCHORS, replace=False):
                codes = recodings.get(anchors[j])
                code = codes[old_x[p, j]] if codes else int(old_x[p, j])
                responses.append(Response(sid, anchors[j], version, lang, "middle", int(code), at,
                                          session_id=sid))
            for j in rng.choice(len(NEW), N_NEW, replace=False):
                responses.append(Response(sid, NEW[j], version, lang, "middle",
                                          int(new_x[p, j]), at, session_id=sid, pretest=True))
    repo.record_responses(responses)
    result = calibrate_pretest(repo, version, min_answers=300)
    yield repo, result, drifted, version
    engine.dispose()


def test_the_new_items_parameters_are_recovered_within_their_standard_errors(calibrated):
    repo, result, _, _ = calibrated
    assert set(result.calibrated) == set(NEW)
    by_id = {i.item_id: i for i in result.items}
    z = []
    for k, item_id in enumerate(NEW):
        if item_id == DIF_ITEM:
            continue  # its true location differs between the groups
        item = by_id[item_id]
        assert min(item.answers.values()) >= 300
        z.append((item.a - TRUE_A[k]) / item.se_a)
        assert np.abs(np.subtract(item.b, TRUE_B[k])).max() < 0.35, item_id
    assert np.all(np.abs(z) < 3), z  # the slopes within three standard errors of the truth
    for dim, groups in result.latent.items():
        assert groups["kk"] == pytest.approx((0.0, 1.0), abs=0.1), dim
        assert groups["ru"][0] == pytest.approx(0.3, abs=0.1), dim


def test_the_injected_dif_and_drift_are_flagged_and_stored(calibrated):
    repo, result, drifted, _ = calibrated
    by_id = {i.item_id: i for i in result.items}
    assert by_id[DIF_ITEM].dif.ets_class == "C" and "dif" in by_id[DIF_ITEM].flags
    assert all(by_id[i].dif.ets_class == "A" for i in NEW if i != DIF_ITEM)
    assert drifted in result.drifted and len(result.drifted) <= 2
    stored = repo.flags(bank_version=result.draft.number)
    assert ("dif", DIF_ITEM) in {(f.kind, f.item_id) for f in stored}
    assert ("drift", drifted) in {(f.kind, f.item_id) for f in stored}
    assert not [f for f in stored if f.kind.startswith("misfit") and f.item_id in NEW]
    # the anchors were tested too (score tests); none has DIF, the drifted one (drifted in both
    # languages alike) neither, so none left class A and none is flagged
    anchors = result.anchor_dif["transparency"]
    assert drifted in {d.item for d in anchors}
    assert {d.ets_class for d in anchors} <= {"A", ""}
    assert not [f for f in stored if f.kind == "dif" and f.item_id not in NEW]


def test_the_draft_holds_the_new_items_and_once_published_scores_with_them(calibrated):
    from qabilet.delivery.profiles import Answer, build_profile

    repo, result, _, base = calibrated
    draft = result.draft
    assert draft.status == "draft" and draft.pretest == [] and draft.provenance.based_on == base
    assert set(draft.item_ids) == set(repo.version(base).item_ids) | set(NEW)
    record = {r.id: r for r in draft.parameters.items}[NEW[0]]
    factor = list(draft.dimensions).index("transparency")
    found = {i.item_id: i for i in result.items}[NEW[0]]
    assert record.a[factor] == pytest.approx(found.a) and sum(a != 0 for a in record.a) == 1
    assert record.se is not None and record.se["a"][factor] == pytest.approx(found.se_a)
    repo.publish_version(draft.number, by="chief psychometrician")
    assert {repo.item(i).status for i in NEW} == {"operational"}
    published = repo.version(draft.number)
    norms = repo.norm_set(bank_version=base)
    norm_set = repo.create_norm_set(published.number, norms.levels, demonstration=True)
    repo.publish_norm_set(norm_set.number)
    profile = build_profile(version=published, norm_set=repo.norm_set(), level="middle",
                            items={i.id: i for i in repo.items(version=published.number)},
                            dimensions=repo.dimensions(), recommendations=[], language="en",
                            answers=[Answer(i, 4, None, "en") for i in NEW],
                            candidate_id="next", software_version="test")
    (transparency,) = [d for d in profile.professional if d.dimension == "transparency"]
    assert transparency.n_items == len(NEW) and transparency.theta > 0.5  # all "agree fully"



def test_the_response_matrix_places_and_recodes_every_answer():
    """Answers by session (or person) and item, codes through the item's categories; answers to
    other items or from other sessions left out; a code outside an item's categories refused."""
    from datetime import UTC, datetime

    from qabilet.itembank.repository import Response
    from qabilet.pretest_calibration import response_matrix

    at = datetime.now(UTC)

    def answer(person, item, code, session=None):
        return Response(person, item, 1, "kk", "middle", code, at, session_id=session)

    answers = [answer("p1", "L", 5, "s1"), answer("p1", "B", 1, "s1"), answer("p2", "L", 1),
               answer("p3", "B", 0, "s3"), answer("p1", "Z", 2, "s1"), answer("p9", "L", 3, "s9")]
    x = response_matrix(answers, ["s1", "p2", "s3"], ["B", "L"], {"L": (1, 3, 5)})
    np.testing.assert_array_equal(x, [[1, 2], [np.nan, 0], [0, np.nan]])
    with pytest.raises(ValueError, match="'L'.*code 4"):
        response_matrix([answer("p2", "L", 4)], ["p2"], ["L"], {"L": (1, 3, 5)})
    assert response_matrix([], ["s1"], ["L"], {}).shape == (1, 1)
