"""Plots for psychometricians and notebooks, and the charts of the reports (matplotlib).

Each function takes the library's own objects — an :class:`~qabilet.engine.bank.ItemBank`, a
session's :class:`~qabilet.engine.cat.SessionState` or a
:class:`~qabilet.engine.cat.CatSimulation`, norms, candidates' profiles, a group's profile
results — and returns a :class:`matplotlib.figure.Figure`, drawn on a new figure or on the axes
given (``ax=``):

- items (:mod:`qabilet.plot.items`): :func:`item_curves` (characteristic curves),
  :func:`category_curves`, :func:`information` (the test's, or each item's),
  :func:`conditional_se`, and :func:`compare_curves` (one item's expected score or category
  curves under several banks: estimated and true, one group's and another's);
- estimates against the truth (:mod:`qabilet.plot.recovery`): :func:`parameter_recovery`
  (with the identity line, ±z·SE intervals and how many cover the truth; the numbers are
  :func:`recovery_summary`'s);
- situational items (:mod:`qabilet.plot.options`): :func:`option_slopes` (each item's option
  slopes in the experts' order, the items an expert-order check flags in colour);
- adaptive tests (:mod:`qabilet.plot.cat`): :func:`cat_trace` (the estimate and its interval
  after each answer; the numbers are :func:`session_trace`'s), :func:`cat_conditional` (RMSE,
  bias, SE or length by true θ), :func:`exposure`;
- norms (:mod:`qabilet.plot.norms`): :func:`norm_conversions` (θ → percentile, T-score, sten);
- a group against its norm (:mod:`qabilet.plot.group`): :func:`group_distributions` (a box per
  dimension over the bands) and :func:`group_bands` (the bands' shares with Wilson intervals);
- faking (:mod:`qabilet.plot.faking`): :func:`honest_faked` (the same persons' faked scores
  against their honest ones, with the band cuts; the numbers — recovery, rank preservation,
  inflation, band changes, fakers on top — are :func:`faking_summary`'s);
- simulation studies (:mod:`qabilet.plot.study`): :func:`study_by_theta` (a statistic by true θ,
  a line per level of a factor), :func:`study_cells` (a statistic per cell and θ bin as a heat
  map), :func:`study_levels` (statistics per level of a factor, a dot chart each);
- profiles (:mod:`qabilet.plot.profile`): :func:`profile_percentiles` (each dimension's
  percentile with its interval over the bands, for one candidate or several);
- :func:`to_svg`: a figure as an inline ``<svg>`` for a self-contained HTML page.

Figures are made without pyplot, on the non-interactive Agg canvas: nothing here chooses a
backend, registers a figure with pyplot or sets an rcParam of the session that calls it. In a
notebook, ``%matplotlib inline`` (or importing pyplot) shows a figure a cell returns. Only what
imports this package loads matplotlib: not ``import qabilet``, not the engine, not the server
until a group report is asked for.
"""

from qabilet.plot._figure import to_svg
from qabilet.plot.cat import Trace, cat_conditional, cat_trace, exposure, session_trace
from qabilet.plot.faking import FakingEffect, faking_summary, honest_faked
from qabilet.plot.group import group_bands, group_distributions
from qabilet.plot.items import (
    category_curves,
    compare_curves,
    conditional_se,
    information,
    item_curves,
)
from qabilet.plot.norms import norm_conversions
from qabilet.plot.options import option_slopes
from qabilet.plot.profile import profile_percentiles
from qabilet.plot.recovery import Recovery, parameter_recovery, recovery_summary
from qabilet.plot.study import study_by_theta, study_cells, study_levels

__all__ = ["FakingEffect", "Recovery", "Trace", "cat_conditional", "cat_trace", "category_curves",
           "compare_curves", "conditional_se", "exposure", "faking_summary", "group_bands",
           "group_distributions", "honest_faked", "information", "item_curves", "norm_conversions",
           "option_slopes", "parameter_recovery", "profile_percentiles", "recovery_summary",
           "session_trace", "study_by_theta", "study_cells", "study_levels", "to_svg"]
