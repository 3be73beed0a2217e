"""mypy on the whole package, as installed: ``qabilet`` with ``qabilet.engine`` … inside it.

The repository's folders install as ``qabilet.engine``, ``qabilet.calibration``,
``qabilet.itembank`` and ``qabilet.api`` (pyproject's package-dir), a mapping mypy cannot follow
from the source tree. So the test builds that layout from symlinks in a temporary folder, runs
``mypy -p qabilet`` there with the ``[tool.mypy]`` section of the repository's pyproject.toml, and
reports any error at its path in the repository (``qabilet/engine/x.py`` → ``engine/x.py``).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the folders that install inside the qabilet package
FOLDERS = ("engine", "calibration", "itembank", "api", "attestation")
_INSTALLED = re.compile(rf"^qabilet/({'|'.join(FOLDERS)})/", re.MULTILINE)


def installed_layout(into: Path) -> Path:
    """Symlinks ``into/qabilet``: every entry of ``qabilet/``, and the four folders inside it."""
    package = into / "qabilet"
    package.mkdir(parents=True)
    for entry in (ROOT / "qabilet").iterdir():
        (package / entry.name).symlink_to(entry)
    for folder in FOLDERS:
        (package / folder).symlink_to(ROOT / folder, target_is_directory=True)
    return into


def repository_paths(report: str) -> str:
    """mypy's report with the installed paths as the repository's (``qabilet/api/x.py`` → ``api/x.py``)."""
    return _INSTALLED.sub(r"\1/", report)


def test_mypy_reports_no_error(tmp_path):
    where = installed_layout(tmp_path / "layout")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy_cache"), "--no-error-summary", "--hide-error-context",
         "-p", "qabilet"],
        cwd=where, capture_output=True, text=True, timeout=900,
    )
    report = repository_paths(run.stdout + run.stderr).strip()
    errors = [line for line in report.splitlines() if ": error:" in line]
    if run.returncode != 0 or errors:
        pytest.fail(f"mypy (exit {run.returncode}) reports {len(errors)} error(s):\n{report}",
                    pytrace=False)


def test_repository_paths():
    report = ("qabilet/engine/cat/x.py:3: error: bad  [misc]\n"
              "qabilet/cli.py:1: error: worse  [misc]\nqabilet/api/y.py:2: note: see")
    assert repository_paths(report) == ("engine/cat/x.py:3: error: bad  [misc]\n"
                                         "qabilet/cli.py:1: error: worse  [misc]\napi/y.py:2: note: see")
