"""Computerized adaptive testing: blueprints, the session as a pure value, rules, simulation.

A live test is :func:`start` → :func:`next_item` → :func:`record` → … until :func:`next_item`
returns a :class:`Stop`; :func:`simulate_cat` runs the same rules for many simulees in lock-step.
"""

from engine.cat.blueprint import ESTIMATORS, EXPOSURES, SELECTIONS, Blueprint
from engine.cat.exposure import NoExposureControl, Randomesque, exposure_rule
from engine.cat.selection import MaximumInformation, RandomSelection, selection_rule
from engine.cat.session import (
    Answer,
    NextItem,
    SessionState,
    Stop,
    next_item,
    record,
    replay,
    start,
)
from engine.cat.simulate import CatSimulation, CatSummary, simulate_cat
from engine.cat.snapshot import CatContext, Snapshot
from engine.cat.stopping import STOP_REASONS

__all__ = [
    "ESTIMATORS",
    "EXPOSURES",
    "SELECTIONS",
    "STOP_REASONS",
    "Answer",
    "Blueprint",
    "CatContext",
    "CatSimulation",
    "CatSummary",
    "MaximumInformation",
    "NextItem",
    "NoExposureControl",
    "RandomSelection",
    "Randomesque",
    "SessionState",
    "Snapshot",
    "Stop",
    "exposure_rule",
    "next_item",
    "record",
    "replay",
    "selection_rule",
    "simulate_cat",
    "start",
]
