"""Simulation studies: the conditions a researcher crosses, run as cells on a Dask cluster.

A study file (TOML; :mod:`qabilet.study.spec`) crosses banks, blueprints, selection, exposure
and stopping rules and true-θ distributions, with replications; each combination is a cell
(:mod:`qabilet.study.cells`) that the engine's lock-step simulation runs. :func:`run_study`
(:mod:`qabilet.study.run`) runs the unfinished cells on Dask — one task per cell, the banks sent
once — writing each cell's results as it finishes, so an interrupted study resumes where it
stopped; then the tidy table (:mod:`qabilet.study.table`), the per-cell statistics
(:mod:`qabilet.study.summary`) and an HTML report with figures (:mod:`qabilet.study.report`).
``qabilet study STUDY.toml --out DIR`` is the same from the command line (docs/studies.md).

Importing this package does not import Dask: running a study does.
"""

from qabilet.study.cells import Cell, StudyPlan, plan_study
from qabilet.study.run import StudyError, StudyProgress, StudyRun, run_study, study_status
from qabilet.study.spec import StudySpec, load_spec, parse_spec
from qabilet.study.summary import StudySummary, summarise
from qabilet.study.table import read_table

__all__ = ["Cell", "StudyError", "StudyPlan", "StudyProgress", "StudyRun", "StudySpec",
           "StudySummary", "load_spec", "parse_spec", "plan_study", "read_table", "run_study",
           "study_status", "summarise"]
