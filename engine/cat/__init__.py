"""Computerized adaptive testing: blueprints, the session as a pure value, rules, simulation.

A live test is :func:`start` → :func:`next_item` → :func:`record` → … until :func:`next_item`
returns a :class:`Stop`; :func:`simulate_cat` runs the same rules for many simulees in lock-step.
"""

from qabilet.engine.cat.blueprint import (
    CLASSIFICATIONS,
    ESTIMATORS,
    EXPOSURES,
    SELECTIONS,
    Blueprint,
)
from qabilet.engine.cat.exposure import (
    AStratified,
    NoExposureControl,
    Randomesque,
    SympsonHetter,
    exposure_rule,
)
from qabilet.engine.cat.selection import (
    KullbackLeibler,
    MaximumInformation,
    MinimumExpectedPosteriorVariance,
    PosteriorWeightedInformation,
    PosteriorWeightedKullbackLeibler,
    RandomSelection,
    selection_rule,
)
from qabilet.engine.cat.session import (
    Answer,
    NextItem,
    SessionState,
    Stop,
    next_item,
    rebind,
    record,
    replay,
    start,
)
from qabilet.engine.cat.simulate import CatSimulation, CatSummary, simulate_cat
from qabilet.engine.cat.snapshot import CatContext, Snapshot
from qabilet.engine.cat.stopping import STOP_REASONS
from qabilet.engine.cat.sympson_hetter import (
    SympsonHetterDerivation,
    derive_sympson_hetter,
    draw_per_class,
)

__all__ = [
    "CLASSIFICATIONS",
    "ESTIMATORS",
    "EXPOSURES",
    "SELECTIONS",
    "STOP_REASONS",
    "AStratified",
    "Answer",
    "Blueprint",
    "CatContext",
    "CatSimulation",
    "CatSummary",
    "KullbackLeibler",
    "MaximumInformation",
    "MinimumExpectedPosteriorVariance",
    "NextItem",
    "NoExposureControl",
    "PosteriorWeightedInformation",
    "PosteriorWeightedKullbackLeibler",
    "RandomSelection",
    "Randomesque",
    "SessionState",
    "Snapshot",
    "Stop",
    "SympsonHetter",
    "SympsonHetterDerivation",
    "derive_sympson_hetter",
    "draw_per_class",
    "exposure_rule",
    "next_item",
    "rebind",
    "record",
    "replay",
    "selection_rule",
    "simulate_cat",
    "start",
]
