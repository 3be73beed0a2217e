"""A forced-choice section replayed from its answers: the same blocks, with exposure control too.

Sessions are derived from their logs (docs/design.md §3a), so the next block after a run of
answers must not depend on whether the process held the section's memo: a fresh process replays
Sympson–Hetter's passes from the answers alone. The demonstration bank's 30 triplets, answered by
a simulee from their generating parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from qabilet.delivery.block_sections import BlockPlan, next_block, ranking_of
from qabilet.engine.forced_choice import RANKINGS, simulate_blocks
from qabilet.itembank.forced_choice_content import demo_forced_choice_form

FORM = demo_forced_choice_form()
D = FORM.design
CORR = 0.7 * np.eye(D.n_traits) + 0.3


def _plan(admit=None, randomesque=1, length=10) -> BlockPlan:
    return BlockPlan(D.block_ids, FORM.model(), CORR, False, length, "D", randomesque,
                     tuple(tuple(D.statement_ids[i] for i in m) for m in D.blocks),
                     ("rank",) * D.n_blocks, None if admit is None else np.asarray(admit))


def _take(plan: BlockPlan, session: str, seed: int, eta: np.ndarray) -> list[tuple[str, str]]:
    """A whole section: each next block answered from the simulee's utilities."""
    answers = simulate_blocks(FORM.model(), eta[None], np.random.default_rng(seed))
    given: list[tuple[str, str]] = []
    while (block := next_block(plan, session, seed, 0, tuple(given), frozenset())) is not None:
        b = D.block_ids.index(block)
        order = RANKINGS[3][int(np.flatnonzero(answers.tables[b][answers.codes[0, b]])[0])]
        given.append((block, ranking_of([D.statement_ids[i] for i in D.blocks[b]],
                                        [D.statement_ids[D.blocks[b][i]] for i in order])))
    return given


@pytest.mark.parametrize("admit, randomesque", [(None, 3), (np.full(30, 0.35), 1)])
def test_a_replay_without_the_memo_chooses_the_same_blocks(admit, randomesque):
    plan = _plan(admit, randomesque)
    eta = np.array([1.0, -0.5, 0.3, 0.8, -1.2, 0.0, 0.6, -0.4, 0.2])
    name = f"{randomesque}-{admit is None}"  # the memo is per session: each its own plan
    given = _take(plan, f"live-{name}", 41, eta)
    assert len(given) == 10 and len({b for b, _ in given}) == 10
    for t in range(len(given)):  # another process: no memo for these sessions
        again = next_block(plan, f"replay-{name}-{t}", 41, 0, tuple(given[:t]), frozenset())
        assert again == given[t][0]
    assert next_block(plan, f"replay-{name}-end", 41, 0, tuple(given), frozenset()) is None


def test_blocks_admitted_rarely_are_passed_over_and_others_given_instead():
    first = {next_block(_plan(), f"s{k}", k, 0, (), frozenset()) for k in range(3)}
    assert len(first) == 1  # without exposure control every test opens with the same block
    best = first.pop()
    admit = np.ones(30)
    admit[D.block_ids.index(best)] = 1e-9
    opened = {next_block(_plan(admit), f"t{k}", k, 0, (), frozenset()) for k in range(25)}
    assert best not in opened
    # half admitted: the best opens about half of the tests
    admit[D.block_ids.index(best)] = 0.5
    share = np.mean([next_block(_plan(admit), f"u{k}", k, 0, (), frozenset()) == best
                     for k in range(200)])
    assert 0.38 < share < 0.62
