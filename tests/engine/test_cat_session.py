"""The session as a pure value: start, next_item, record, replay, serialisation."""

import json
import pickle

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import (
    Blueprint,
    CatContext,
    NextItem,
    SessionState,
    Stop,
    next_item,
    rebind,
    record,
    replay,
    start,
)
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.simulation import simulate_responses


@pytest.fixture
def bank():
    rng = np.random.default_rng(0)
    return ItemBank([TwoPL(rng.uniform(0.7, 2, 30), rng.normal(0, 1, 30)),
                     GradedResponse(rng.uniform(0.7, 2, 10), np.sort(rng.normal(0, 1, (10, 3)),
                                                                    axis=1))],
                    [f"K{i:02d}" for i in range(40)])


def run(state, answers):
    """Answer until the stop; ``answers`` maps item index to category."""
    while isinstance(step := next_item(state), NextItem):
        state = record(state, step.item_id, int(answers[step.index]))
    return state, step


BLUEPRINT = Blueprint(exposure="randomesque:3", max_items=12, se_target=0.35)


def test_replay_equals_the_state_built_answer_by_answer(bank):
    x = simulate_responses(bank, np.array([0.4]), 5)[0]
    state, stop = run(start(bank, BLUEPRINT, rng=42), x)
    assert isinstance(stop, Stop) and stop.reason in ("max_items", "se_target")
    again = replay(bank, BLUEPRINT, 42, state.answers)
    assert again == state
    assert np.array_equal(again.snap.log_lik, state.snap.log_lik)
    assert next_item(again) == next_item(state)


def test_next_item_is_pure_and_seeded(bank):
    state = start(bank, BLUEPRINT, rng=7)
    assert next_item(state) == next_item(state)  # same state, same item, however often
    firsts = {next_item(start(bank, BLUEPRINT, rng=s)).item_id for s in range(60)}
    assert len(firsts) == 3  # randomesque:3 draws among three items across seeds


def test_record_does_not_change_the_old_state(bank):
    state = start(bank, BLUEPRINT, rng=1)
    step = next_item(state)
    before = (state.theta, state.se, state.snap.log_lik.copy(), state.answers)
    new = record(state, step.item_id, 1)
    assert (state.theta, state.se, state.answers) == (before[0], before[1], before[3])
    assert np.array_equal(state.snap.log_lik, before[2])
    assert new.n_answered == 1 and state.n_answered == 0
    assert new.theta > state.theta  # a correct answer raises the estimate


def test_record_refuses_bad_answers_and_changes_nothing(bank):
    state = start(bank, BLUEPRINT, rng=1)
    step = next_item(state)
    state1 = record(state, step.item_id, 0)
    with pytest.raises(InvalidResponseError, match="already answered"):
        record(state1, step.item_id, 1)
    with pytest.raises(InvalidResponseError, match="not in the bank"):
        record(state1, "ZZ", 1)
    with pytest.raises(InvalidResponseError, match=r"category in 0\.\.3"):
        record(state1, "K35", 4)
    with pytest.raises(InvalidResponseError, match="category in 0..1"):
        record(state1, "K01", True)
    narrow = start(bank, Blueprint(items=("K00", "K01")), rng=0)
    with pytest.raises(InvalidResponseError, match="not eligible"):
        record(narrow, "K05", 1)
    assert state1.n_answered == 1


def test_state_round_trips_through_json_and_pickle(bank):
    x = simulate_responses(bank, np.array([-0.8]), 3)[0]
    state, _ = run(start(bank, BLUEPRINT, rng=99), x)
    text = json.dumps(state.to_dict())
    back = SessionState.from_dict(json.loads(text), bank)
    assert back == state
    assert pickle.loads(pickle.dumps(state)) == state
    with pytest.raises(InvalidParameterError, match="session state"):
        SessionState.from_dict({"seed": 1}, bank)
    data = state.to_dict()
    assert [a["category"] for a in data["answers"]] == [int(x[state.context.bank.index_of(
        [a["item_id"]])[0]]) for a in data["answers"]]
    for a in data["answers"]:  # a state written before 0.2 named the category 'response'
        a["response"] = a.pop("category")
    assert SessionState.from_dict(data, bank) == state


def test_estimate_is_the_eap_of_the_answers(bank):
    """The state's estimate equals the core's EAP on the same answers and grid."""
    from qabilet.engine.scoring import eap

    x = simulate_responses(bank, np.array([1.1]), 8)[0]
    state, _ = run(start(bank, Blueprint(max_items=10, se_target=None, n_points=61), rng=0), x)
    given = bank.index_of([a.item_id for a in state.answers])
    obs = np.zeros((1, bank.n_items), bool)
    obs[0, given] = True
    ref = eap(bank, x[None, :], obs, n_points=61, bounds=(-6, 6))
    assert state.theta == pytest.approx(float(ref.theta[0]), abs=1e-12)
    assert state.se == pytest.approx(float(ref.se[0]), abs=1e-12)


def test_pretest_items_are_seeded_at_their_positions_and_never_scored(bank):
    bp = Blueprint(max_items=8, se_target=None, pretest_items=("P1", "P2", "P3"),
                   pretest_positions=(2, 5))
    x = simulate_responses(bank, np.array([0.3]), 1)[0]
    state = start(bank, bp, rng=5)
    log = []
    while isinstance(step := next_item(state), NextItem):
        log.append(step)
        answer = 3 if step.pretest else int(x[step.index])
        state = record(state, step.item_id, answer)
    assert [s.position for s in log if s.pretest] == [2, 5]
    assert all(s.item_id.startswith("P") for s in log if s.pretest)
    assert sum(not s.pretest for s in log) == 8  # pretest items do not count towards the length
    scored = replay(bank, Blueprint(max_items=8, se_target=None), 5,
                    [(a.item_id, a.category) for a in state.answers if not a.pretest])
    assert state.theta == scored.theta and state.se == scored.se
    back = SessionState.from_dict(json.loads(json.dumps(state.to_dict())), bank)
    assert back == state and [a.pretest for a in back.answers] == [a.pretest for a in state.answers]
    with pytest.raises(InvalidResponseError, match="already answered"):
        record(state, log[1].item_id, 0)


def test_pretest_blueprint_errors(bank):
    with pytest.raises(InvalidParameterError, match="no pretest_items"):
        Blueprint(pretest_positions=(3,))
    with pytest.raises(InvalidParameterError, match="increasing positions"):
        Blueprint(pretest_items=("P1",), pretest_positions=(4, 2))
    with pytest.raises(InvalidParameterError, match="eligible operational item"):
        start(bank, Blueprint(pretest_items=("K03",), pretest_positions=(2,)))


def test_start_candidates_spread_the_opening_item_only(bank):
    bp = Blueprint(start_candidates=4)
    firsts = {next_item(start(bank, bp, rng=s)).item_id for s in range(80)}
    assert len(firsts) == 4
    state = start(bank, bp, rng=0)
    state = record(state, next_item(state).item_id, 1)
    seconds = {next_item(replay(bank, bp, s, state.answers)).item_id for s in range(40)}
    assert len(seconds) == 1  # from the second item on, the selection rule alone


def test_rebind_keeps_each_answer_s_likelihood_and_chooses_with_the_new_parameters(bank):
    """Two parameter sets of the same items (a language version: the first ten 2PL items moved
    by 1.5, one made very informative); answers recorded on either, in turn. The estimate is the
    EAP of the product of each answer's own likelihood with the common prior, integrated by
    hand on a fine grid, and the next item is the most informative at that estimate by the
    parameters rebound to."""
    records = bank.to_records()
    moved = [{**r, "b": r["b"] + 1.5} if k < 10 else r for k, r in enumerate(records)]
    moved[5] = {**moved[5], "a": 4.0, "b": 0.5}  # by far the most informative near the estimate
    other = ItemBank.from_records(moved)
    rules = Blueprint(max_items=6, se_target=None, exposure="none")
    here, there = CatContext.build(bank, rules), CatContext.build(other, rules)
    state = start(bank, rules, rng=1, context=here)
    given = [("K00", 1, there), ("K01", 0, here), ("K02", 1, there), ("K03", 1, here)]
    for item_id, category, context in given:
        state = record(rebind(state, context), item_id, category)
    theta = np.linspace(-8, 8, 16001)
    weight = np.exp(-theta**2 / 2)
    for item_id, category, context in given:
        p = context.bank.subset(context.bank.index_of([item_id])).prob(theta[:, None])[:, 0, category]
        weight = weight * p
    want = float(np.sum(theta * weight) / np.sum(weight))
    assert rebind(state, there).theta == state.theta == pytest.approx(want, abs=2e-3)
    info = other.information(np.array([state.theta]))[0]  # maximum information, other set's
    info[other.index_of([i for i, _, _ in given])] = -np.inf
    assert next_item(rebind(state, there)).item_id == other.item_ids[int(np.argmax(info))] == "K05"
    assert next_item(state).item_id != "K05"  # on the first set's parameters
    assert rebind(state, state.context) is state


def test_rebind_refuses_a_context_of_other_items_or_another_prior(bank):
    from qabilet.engine.latent import LatentDistribution

    rules = Blueprint(max_items=6, se_target=None)
    state = start(bank, rules, rng=1)
    with pytest.raises(InvalidParameterError, match="context"):
        rebind(state, CatContext.build(bank.subset(np.arange(39)), rules))
    wider = bank.with_latent(LatentDistribution([0.0], [[2.0]]))
    with pytest.raises(InvalidParameterError, match="context"):
        rebind(state, CatContext.build(wider, rules))
