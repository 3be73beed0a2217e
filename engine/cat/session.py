"""A live adaptive test as a pure value: ``start``, ``next_item``, ``record``, ``replay``.

A :class:`SessionState` holds the fixed context (bank, blueprint, grid), the seed of its random
choices and the answers so far; everything else — the posterior, the estimate, the next item,
the stop decision — is derived from those by pure functions. So the same state always gives the
same next item, a state rebuilt from its answers (:func:`replay`) equals the one built answer by
answer, and a server that keeps only the answers (the event log, docs/design.md §3a) loses nothing.

The random choices of step ``t`` (randomesque, random selection) come from
``numpy.random.default_rng([seed, t])``, and the session's Sympson–Hetter draws from a stream
of their own: a state needs no generator state to be reproducible.

Examples
--------
>>> from qabilet.engine.bank import ItemBank
>>> from qabilet.engine.models import TwoPL
>>> bank = ItemBank([TwoPL([1.0, 1.5, 0.8], [-1.0, 0.0, 1.0])], ["A", "B", "C"])
>>> state = start(bank, Blueprint(max_items=2, se_target=None), rng=7)
>>> step = next_item(state)
>>> step.item_id
'B'
>>> state = record(state, step.item_id, 1)
>>> state = record(state, next_item(state).item_id, 0)
>>> next_item(state).reason
'max_items'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat.blueprint import Blueprint
from qabilet.engine.cat.estimation import snapshot
from qabilet.engine.cat.policy import next_items
from qabilet.engine.cat.snapshot import CatContext, Snapshot
from qabilet.engine.cat.stopping import STOP_REASONS
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.models._base import Array, Codes
from qabilet.engine.simulation import as_rng

__all__ = ["Answer", "NextItem", "SessionState", "Stop", "next_item", "rebind", "record", "replay",
           "start"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One answered item: its id, the model's category (0 … K−1), whether it was pretest.

    ``category`` is the answer as the model counts it, not the item's code (the vocabulary of
    docs/architecture.md).
    """

    item_id: str
    category: int
    pretest: bool = False


@dataclass(frozen=True, slots=True)
class NextItem:
    """The item to give next."""

    item_id: str
    index: int  # bank position; −1 for a pretest item
    position: int  # 1-based position in the test
    pretest: bool = False  # unscored: seeded for calibration, never in the estimate


@dataclass(frozen=True, slots=True)
class Stop:
    """The test is over; ``reason`` is one of :data:`~qabilet.engine.cat.stopping.STOP_REASONS`."""

    reason: str

    @property
    def explanation(self) -> str:
        """The reason in words."""
        return STOP_REASONS[self.reason]


@dataclass(frozen=True, slots=True, eq=False)
class SessionState:
    """An adaptive test in progress (immutable).

    Attributes
    ----------
    context : CatContext
        Bank, blueprint, grid and tables; shared by every state of the session.
    seed : int
        Seed of the session's random choices.
    answers : tuple of Answer
        In the order given.
    snap : Snapshot
        The derived estimate (one row), posterior log-likelihood and administered items.
    responses : ndarray of int, shape (n_items,)
        The answers by bank position (0 where not given).
    """

    context: CatContext
    seed: int
    answers: tuple[Answer, ...]
    snap: Snapshot
    responses: Codes

    @property
    def theta(self) -> float | NDArray[np.float64]:
        """The current estimate (``start_theta`` before the first answer); one per factor."""
        value = self.snap.theta[0]
        return float(value) if np.ndim(value) == 0 else value.copy()

    @property
    def se(self) -> float | NDArray[np.float64]:
        """Its standard error, per factor for several."""
        value = self.snap.se[0]
        return float(value) if np.ndim(value) == 0 else value.copy()

    @property
    def n_answered(self) -> int:
        """Number of answers."""
        return len(self.answers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionState):
            return NotImplemented
        return (self.context.bank is other.context.bank or
                self.context.bank.to_records() == other.context.bank.to_records()) and (
            self.context.blueprint == other.context.blueprint
            and self.seed == other.seed
            and self.answers == other.answers
            and np.array_equal(self.snap.log_lik, other.snap.log_lik)
            and np.array_equal(self.snap.theta, other.snap.theta)
            and np.array_equal(self.snap.se, other.snap.se)
        )

    __hash__ = None  # type: ignore[assignment]

    # -- serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data: blueprint, seed and answers (the rest is derived)."""
        return {
            "blueprint": self.context.blueprint.to_dict(),
            "seed": self.seed,
            "answers": [{"item_id": a.item_id, "category": a.category, "pretest": a.pretest}
                        for a in self.answers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], bank: ItemBank) -> SessionState:
        """Rebuild a state from :meth:`to_dict`'s data and the bank it ran on.

        An answer's category may also be given as ``response``, its name before version 0.2.
        """
        try:
            blueprint = Blueprint.from_dict(data["blueprint"])
            answers = [Answer(str(a["item_id"]),
                              int(a["category"] if "category" in a else a["response"]),
                              bool(a.get("pretest", False)))
                       for a in data["answers"]]
            seed = int(data["seed"])
        except (KeyError, TypeError) as exc:
            raise InvalidParameterError(
                f"session state: expected 'blueprint', 'seed' and 'answers' with 'item_id' and "
                f"'category' each; {type(exc).__name__}: {exc}"
            ) from None
        return replay(bank, blueprint, seed, answers)


#: stream of the session's Sympson–Hetter draws, apart from the per-step streams [seed, t]
_LOTTERY_STREAM = 2**32


def _derive(context: CatContext, seed: int, log_lik: Array, responses: Codes,
            administered: NDArray[np.bool_]) -> Snapshot:
    lottery = None
    if context.blueprint.exposure.startswith("sh:"):
        lottery = np.random.default_rng([seed, _LOTTERY_STREAM]).random((1, responses.size))
    return snapshot(context, log_lik[None, :], responses[None, :], administered[None, :],
                    administered[None, :], lottery)


def start(bank: ItemBank, blueprint: Blueprint,
          rng: np.random.Generator | int | None = None, *,
          context: CatContext | None = None) -> SessionState:
    """A new session on ``bank`` under ``blueprint``.

    Parameters
    ----------
    bank : ItemBank
    blueprint : Blueprint
    rng : numpy.random.Generator or int or None
        An int is used as the session's seed; a generator (or None) draws one.
    context : CatContext, optional
        The tables of an earlier session on the same bank and blueprint (``state.context``),
        reused instead of rebuilt: a server starting many sessions of one design builds them once.

    Raises
    ------
    InvalidParameterError
        The blueprint cannot be served from this bank (see :meth:`Blueprint.check_bank`), or
        ``context`` is of another bank or blueprint.
    """
    if context is None:
        context = CatContext.build(bank, blueprint)
    elif context.bank is not bank or context.blueprint != blueprint:
        raise InvalidParameterError("context: built for another bank or blueprint than the "
                                    "session's")
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        seed = int(rng)
    else:
        seed = int(as_rng(rng).integers(2**63 - 1))
    n_items, n_quad = bank.n_items, context.grid.n_quad
    log_lik = np.zeros(n_quad)
    responses = np.zeros(n_items, dtype=np.intp)
    administered = np.zeros(n_items, dtype=bool)
    return SessionState(context, seed, (), _derive(context, seed, log_lik, responses, administered),
                        responses)


def next_item(state: SessionState, elapsed_s: float | None = None) -> NextItem | Stop:
    """The next item of the session, or the decision to stop with its reason (pure).

    ``elapsed_s`` is the time the candidate has used, for the blueprint's ``time_limit_s``
    (the engine keeps no clock; the caller's event log does).
    """
    rng = np.random.default_rng([state.seed, state.n_answered])
    elapsed = None if elapsed_s is None else np.array([float(elapsed_s)])
    reasons, items = next_items(state.context, state.snap, rng, elapsed)
    if reasons[0]:
        return Stop(str(reasons[0]))
    position = state.n_answered + 1
    bp = state.context.blueprint
    if position in bp.pretest_positions:
        given = {a.item_id for a in state.answers if a.pretest}
        left = [i for i in bp.pretest_items if i not in given]
        if left:  # spread the calibration sample over the pretest items at random
            return NextItem(left[int(rng.integers(len(left)))], -1, position, pretest=True)
    index = int(items[0])
    return NextItem(state.context.bank.item_ids[index], index, position)


def record(state: SessionState, item_id: str, category: int) -> SessionState:
    """The state after an answer in ``category`` (0 … K−1) to ``item_id``.

    Raises
    ------
    InvalidResponseError
        An item not in the bank or not eligible, an item already answered, or a category
        outside ``0 … K−1``.
    """
    context = state.context
    bank = context.bank
    if str(item_id) in context.blueprint.pretest_items:
        return _record_pretest(state, str(item_id), category)
    try:
        (index,) = bank.index_of([item_id])
    except InvalidParameterError:
        raise InvalidResponseError(f"item_id: {item_id!r} is not in the bank") from None
    if not context.eligible[index]:
        raise InvalidResponseError(f"item_id: {item_id!r} is not eligible under this blueprint")
    if state.snap.administered[0, index]:
        raise InvalidResponseError(f"item_id: {item_id!r} was already answered in this session")
    k = int(bank.n_categories[index])
    if isinstance(category, bool) or not isinstance(category, int | np.integer) or not (
        0 <= int(category) < k
    ):
        raise InvalidResponseError(
            f"answer to {item_id!r}: expected an integer category in 0..{k - 1}; got "
            f"{category!r}"
        )
    log_lik = state.snap.log_lik[0] + context.answer_log_lik(
        np.array([index]), np.array([int(category)]))[0]
    responses = state.responses.copy()
    responses[index] = int(category)
    administered = state.snap.administered[0].copy()
    administered[index] = True
    return SessionState(context, state.seed, (*state.answers, Answer(str(item_id), int(category))),
                        _derive(context, state.seed, log_lik, responses, administered),
                        responses)


def rebind(state: SessionState, context: CatContext) -> SessionState:
    """The session read on another parameter set of the same items, its answers kept.

    A bank with language versions gives some items other parameters in another language, under
    the same prior (docs/design.md §5). A session goes on in another language by rebinding its
    state to that language's context: the log-likelihood of the answers so far,
    :math:`\\ell_q = \\sum_j \\log P_{i_j}(x_j \\mid \\theta_q)`, is kept — each answer stays
    counted with the parameters of the context it was recorded on — while the next answers
    (:func:`record`) and the selection (:func:`next_item`) read the new context's. The EAP
    estimate, derived from :math:`\\ell_q` and the prior on the grid, is unchanged by a rebind; a
    MAP or ML interim estimate (which reads the answers, not :math:`\\ell_q`) reads every answer
    with the new context's parameters.

    Parameters
    ----------
    state : SessionState
    context : CatContext
        Built on a bank of the same items in the same order, with the state's blueprint and
        grid (the same nodes and prior weights); only the items' parameters may differ.

    Raises
    ------
    InvalidParameterError
        ``context`` has other items, another blueprint or another grid.
    """
    old = state.context
    if context is old:
        return state
    if (context.bank.item_ids != old.bank.item_ids or context.blueprint != old.blueprint
            or not np.array_equal(context.grid.nodes, old.grid.nodes)
            or not np.array_equal(context.grid.log_weights, old.grid.log_weights)):
        raise InvalidParameterError("context: expected the session's items, blueprint and grid "
                                    "(the same prior), with other parameters at most")
    snap = state.snap
    return SessionState(context, state.seed, state.answers,
                        _derive(context, state.seed, snap.log_lik[0], state.responses,
                                snap.administered[0]),
                        state.responses)


def _record_pretest(state: SessionState, item_id: str, category: int) -> SessionState:
    """A pretest answer is kept in the log and nowhere else: the estimate does not move."""
    if any(a.item_id == item_id for a in state.answers):
        raise InvalidResponseError(f"item_id: {item_id!r} was already answered in this session")
    if isinstance(category, bool) or not isinstance(category, int | np.integer) or category < 0:
        raise InvalidResponseError(
            f"answer to pretest item {item_id!r}: expected a non-negative integer category; "
            f"got {category!r}"
        )
    answer = Answer(item_id, int(category), pretest=True)
    return SessionState(state.context, state.seed, (*state.answers, answer), state.snap,
                        state.responses)


def replay(bank: ItemBank, blueprint: Blueprint, seed: int,
           answers: Iterable[Answer] | Sequence[tuple[str, int]]) -> SessionState:
    """Rebuild a session from its answers: :func:`start`, then :func:`record` for each."""
    state = start(bank, blueprint, int(seed))
    for answer in answers:  # one session's answers, in order
        item_id, category = (
            (answer.item_id, answer.category) if isinstance(answer, Answer) else answer[:2]
        )
        state = record(state, item_id, category)
    return state
