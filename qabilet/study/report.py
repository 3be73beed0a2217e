"""A study's summary files and its report: one self-contained HTML page with figures.

:func:`write_report` reads the tidy table, computes the statistics of every cell
(:func:`qabilet.study.summary.summarise`), writes ``summary.csv`` and ``conditional.csv`` and
``report.html``: the study's settings, a table of the cells (bias, RMSE, mean SE, mean length,
largest exposure, overlap), the conditional RMSE of every cell by true θ (a heat map), and for
each factor the study varies, its levels' conditional RMSE (pooled over the other factors) and
their statistics (the mean over their cells). The figures are :mod:`qabilet.plot`'s, inline
SVG: the page loads nothing and can be mailed as one file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet._version import __version__
from qabilet.itembank._files import write_text_atomic
from qabilet.study.cells import FACTORS
from qabilet.study.summary import (
    CONDITIONAL_COLUMNS,
    SUMMARY_COLUMNS,
    StudySummary,
    summarise,
)
from qabilet.study.table import csv_text, read_table

__all__ = ["REPORT_FILES", "write_report"]

#: what :func:`write_report` writes into the results folder
REPORT_FILES = ("summary.csv", "conditional.csv", "report.html")
#: the statistics of a cell, with their headings
STATISTICS = {"bias": "bias", "rmse": "RMSE", "mean_se": "mean SE", "mean_length": "mean length",
              "max_exposure": "max exposure", "overlap": "overlap"}
_FACTOR_NAMES = {"bank": "bank", "blueprint": "blueprint", "selection": "selection rule",
                 "exposure": "exposure rule", "stopping": "stopping rule",
                 "theta_distribution": "true-θ distribution"}
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 80rem; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { padding: .2rem .5rem; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(26rem, 1fr)); gap: 1rem;
          align-items: start; }
.wide { max-width: 52rem; }
figure { margin: 0; } svg.figure { max-width: 100%; height: auto; }
dl dt { font-weight: 600; } dl dd { margin: 0 0 .4rem 1rem; }
"""


def _number(value: Any, digits: int = 4) -> str:
    x = float(value)
    return "—" if not np.isfinite(x) else f"{x:.{digits}f}"


def _svg(fig: Any, title: str) -> str:
    from qabilet.plot import to_svg

    return f'<figure class="chart">{to_svg(fig, title=title)}</figure>'


def _edges(conditional: Mapping[str, NDArray[Any]], width: float) -> NDArray[np.float64]:
    low = np.unique(conditional["theta_low"])
    k = np.round(low / width).astype(np.int64)
    return np.arange(k.min(), k.max() + 2) * width


def _grid(conditional: Mapping[str, NDArray[Any]], rows: NDArray[np.intp], n_rows: int,
          edges: NDArray[np.float64], width: float
          ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Squared-error sums and counts per (row, bin): RMSE pools as √(Σ n·RMSE² / Σ n)."""
    col = np.round(conditional["theta_low"] / width - edges[0] / width).astype(np.intp)
    n = conditional["n"].astype(np.float64)
    sse = np.zeros((n_rows, edges.size - 1))
    count = np.zeros_like(sse)
    np.add.at(sse, (rows, col), n * conditional["rmse"] ** 2)
    np.add.at(count, (rows, col), n)
    return sse, count


def _pooled_rmse(sse: NDArray[np.float64], count: NDArray[np.float64], min_n: int
                 ) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= min_n, np.sqrt(sse / count), np.nan)


def _cells_table(cells: Mapping[str, NDArray[Any]], varying: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(_FACTOR_NAMES[f])}</th>" for f in varying)
    stats = "".join(f"<th>{escape(label)}</th>" for label in STATISTICS.values())
    lines = [f'<div class="scroll"><table class="cells"><thead><tr><th>cell</th>{head}'
             f'<th>n</th>{stats}</tr></thead><tbody>']
    for k in range(cells["cell"].size):  # one row per cell of the page's table
        number = int(cells["cell"][k])
        levels = "".join(f"<td>{escape(str(cells[f][k]))}</td>" for f in varying)
        values = "".join(f'<td class="n" data-cell="{number}" data-statistic="{key}">'
                         f'{_number(cells[key][k])}</td>' for key in STATISTICS)
        lines.append(f'<tr><td class="n">{number}</td>{levels}<td class="n">'
                     f'{int(cells["n"][k])}</td>{values}</tr>')
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _factor_section(factor: str, summary: StudySummary, edges: NDArray[np.float64],
                    min_n: int) -> str:
    from qabilet.plot import study_by_theta, study_levels

    cells, conditional, width = summary.cells, summary.conditional, summary.bin_width
    levels = list(dict.fromkeys(cells[factor].tolist()))  # in the study's order
    where = {name: k for k, name in enumerate(levels)}
    rows = np.asarray([where[v] for v in conditional[factor].tolist()], dtype=np.intp)
    sse, count = _grid(conditional, rows, len(levels), edges, width)
    rmse = _pooled_rmse(sse, count, min_n)
    name = _FACTOR_NAMES[factor]
    lines = _svg(study_by_theta(edges, {lv: rmse[k] for k, lv in enumerate(levels)},
                                title=f"RMSE by true θ, per {name}"),
                 f"RMSE by true θ per {name}")
    of = np.asarray([where[v] for v in cells[factor].tolist()], dtype=np.intp)
    n_of = np.bincount(of, minlength=len(levels)).astype(np.float64)
    means = {label: np.bincount(of, weights=cells[key], minlength=len(levels)) / n_of
             for key, label in STATISTICS.items()}
    dots = _svg(study_levels(levels, means, title=f"Mean over the cells of each {name}"),
                f"Statistics per {name}")
    return (f'<h2>By {escape(name)}</h2>\n<div class="charts">{lines}{dots}</div>')


def render_report(summary: StudySummary, settings: Mapping[str, Any], *, min_n: int = 30) -> str:
    """The report page (HTML text) of a study's summary.

    Parameters
    ----------
    summary : StudySummary
    settings : mapping
        Shown at the top: the study's name, seed, simulees, replications, …
    min_n : int
        Bins with fewer simulees are left blank in the figures.
    """
    from qabilet.plot import study_cells

    cells, conditional, width = summary.cells, summary.conditional, summary.bin_width
    varying = [f for f in FACTORS if np.unique(cells[f]).size > 1]
    edges = _edges(conditional, width)
    numbers = cells["cell"]
    rows = np.searchsorted(numbers, conditional["cell"])
    sse, count = _grid(conditional, rows, numbers.size, edges, width)
    heat = _svg(study_cells([str(int(c)) for c in numbers], edges,
                            _pooled_rmse(sse, count, min_n)), "RMSE by cell and true θ")
    title = escape(str(settings.get("name", "study")))
    facts = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>"
                    for k, v in settings.items())
    fixed = [f for f in FACTORS if f not in varying]
    same = "".join(f"<dt>{escape(_FACTOR_NAMES[f])}</dt><dd>{escape(str(cells[f][0]))}</dd>"
                   for f in fixed)
    sections = "\n".join(_factor_section(f, summary, edges, min_n) for f in varying)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulation study: {title}</title><style>{_CSS}</style></head>
<body>
<h1>Simulation study: {title}</h1>
<dl>{facts}{same}</dl>
<h2>Cells</h2>
<p>Statistics over each cell's simulees of every replication: bias and RMSE of the final
estimate against the true θ, the mean of its standard error and of the test's length, the
largest item exposure rate and the overlap rate (the expected share of its items a test has in
common with another simulee's). Every row of <code>summary.csv</code>; by θ bin in
<code>conditional.csv</code>.</p>
{_cells_table(cells, varying)}
<h2>RMSE by true θ</h2>
<p>Bins of width {width:g}; a bin with fewer than {min_n} simulees is left blank.</p>
<div class="wide">{heat}</div>
{sections}
<p><small>qabilet {escape(__version__)}</small></p>
</body></html>
"""


def write_report(out: str | os.PathLike[str], settings: Mapping[str, Any], *,
                 bin_width: float = 0.5, min_n: int = 30) -> Path:
    """Read ``out/results.csv``; write ``summary.csv``, ``conditional.csv`` and ``report.html``.

    Returns
    -------
    Path
        The report page.
    """
    folder = Path(out)
    summary = summarise(read_table(folder / "results.csv"), bin_width)
    write_text_atomic(folder / "summary.csv",
                      csv_text({k: summary.cells[k] for k in SUMMARY_COLUMNS}))
    write_text_atomic(folder / "conditional.csv",
                      csv_text({k: summary.conditional[k] for k in CONDITIONAL_COLUMNS}))
    page = folder / "report.html"
    write_text_atomic(page, render_report(summary, settings, min_n=min_n))
    return page
