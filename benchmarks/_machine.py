"""What the benchmarks record about the machine and the source they measured, and how they
publish their results (shared).

Imported by the ``bench_*.py`` scripts (run from the repository root; ``benchmarks/`` is on
``sys.path`` as the script's own folder).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import timeit
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["blas_lines", "cpu_name", "env_line", "load", "peer_versions", "publish", "python_speed",
           "run_lines", "source_state", "table"]


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    # --no-optional-locks: read only, not even the index's stat cache is refreshed
    proc = subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True,
                          text=True)
    return proc.stdout.rstrip() if proc.returncode == 0 else ""


def source_state(packages: tuple[str, ...]) -> str:
    """The commit measured, and any uncommitted change to the packages the benchmark runs."""
    try:
        head = _git("rev-parse", "--short", "HEAD") or "unknown"
        status = _git("status", "--porcelain", "--", *packages)
    except OSError:
        return "unknown (no git)"
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    folders = ", ".join(f"{p}/" for p in packages)
    if not changed:
        return f"{head} ({folders} clean)"
    return f"{head} with uncommitted or untracked files: {', '.join(changed)}"


def run_lines(packages: tuple[str, ...]) -> list[str]:
    """A results page's first environment lines: the date, the source measured (``packages``:
    the folders whose uncommitted changes count) and the machine."""
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- qabilet source: commit {source_state(packages)}",
        f"- machine: {cpu_name()}, {os.cpu_count()} logical cores, {platform.platform()}",
    ]


def blas_lines(label: str) -> list[str]:
    """One line per BLAS library loaded in this process (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [f"- BLAS ({label}): unknown (threadpoolctl is not installed)"]
    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [f"- BLAS ({label}): " + "; ".join(f"{k}: {lib[k]}" for k in keys if k in lib)
            for lib in threadpool_info()]


def peer_versions(python: Path, packages: tuple[str, ...]) -> str:
    """Versions of ``packages`` in the peer environment whose interpreter is ``python``."""
    if not python.exists():
        return "not installed"
    code = ("import importlib.metadata as m, platform\n"
            "def v(p):\n"
            "    try:\n"
            "        return m.version(p)\n"
            "    except m.PackageNotFoundError:\n"
            "        return 'not installed'\n"
            f"print(', '.join(f'{{p}} ' + v(p) for p in {packages!r}) + ', python ' "
            "+ platform.python_version())")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or f"unknown ({out.stderr.strip()[-200:]})"


def env_line(names: tuple[str, ...], note: str = "") -> str:
    """The thread and BLAS variables, set or unset."""
    text = ", ".join(f"{v}={os.environ[v]!r}" if v in os.environ else f"{v} unset" for v in names)
    return f"- environment: {text}" + (f" ({note})" if note else "")


def load() -> str:
    """The load average (1, 5, 15 minutes)."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def python_speed() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 5): how fast this machine is now.

    A shared machine's speed drifts (twofold here, between and within sessions), and what the
    benchmarks measure drifts with it; recorded before and after a run, it tells which runs are
    comparable. The loop is ``sum(i * i for i in range(10**6))``.
    """
    return 1e3 * min(timeit.repeat("sum(i * i for i in range(10**6))", number=1, repeat=5))


def publish(results: Path, title: str, script: str, argv: list[str] | None,
            sections: list[tuple[str | None, str | list[str]]], env: list[str], write: bool
            ) -> None:
    """Print a benchmark's sections, and write them to ``results`` (when ``write``).

    The page is the title, the command that ran (``script`` with ``argv``, by default the
    command line's arguments), each section (its heading, if any, and a table, or a list of
    findings written as a Markdown list) and the environment; the terminal gets the sections.
    """
    given = argv if argv is not None else sys.argv[1:]
    cmd = " ".join([f".venv/bin/python benchmarks/{script}", *given])
    page = [f"# {title}", "", f"`{cmd}`", ""]
    bodies = [[body] if isinstance(body, str) else [f"- {x}" for x in body] for _, body in sections]
    for (heading, _), lines in zip(sections, bodies):
        page += [*([heading, ""] if heading else []), *lines, ""]
    text = "\n".join([*page, "Environment:", "", *env, ""])
    for lines in bodies:
        print()
        print("\n".join(lines))
    if write:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(text, encoding="utf-8")
        print(f"\nwritten to {results.relative_to(ROOT)}")


def table(header: list[str], rows: Iterable[list[str]]) -> str:
    """A Markdown table: the header, its rule, the rows (lists of cells)."""
    rule = "|" + "|".join("---" for _ in header) + "|"
    return "\n".join([_row(header), rule, *(_row(cells) for cells in rows)])


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
