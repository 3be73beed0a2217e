"""Doctests of the installed modules, collected from the repository's folders.

The folders ``engine/``, ``calibration/``, ``itembank/`` and ``api/`` install as
``qabilet.engine``, ``qabilet.calibration``, ``qabilet.itembank`` and ``qabilet.api``
(pyproject's ``package-dir``). Pytest would import ``engine/bank.py`` by its path as a second,
bare module ``engine.bank``; here each file's doctests run on the installed module itself
(``qabilet.engine.bank``), the one every other module and test imports.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).parent
#: repository folder -> the installed package it holds
INSTALLED = {
    "qabilet": "qabilet",
    "engine": "qabilet.engine",
    "calibration": "qabilet.calibration",
    "itembank": "qabilet.itembank",
    "api": "qabilet.api",
    "attestation": "qabilet.attestation",
}


def installed_name(path: Path) -> str | None:
    """The installed module name of a source file of the repository, or None for other files."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if len(parts) < 2 or parts[0] not in INSTALLED or "migrations" in parts:
        return None
    names = [INSTALLED[parts[0]], *parts[1:]]
    if names[-1] == "__init__":
        names.pop()
    if names[-1] == "__main__":
        return None
    return ".".join(names)


class InstalledDoctestModule(DoctestModule):
    """A source file's doctests, run on the module imported by its installed name."""

    def _getobj(self) -> ModuleType:
        name = installed_name(self.path)
        assert name is not None
        return importlib.import_module(name)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect the doctests of every installed source file."""
    if file_path.suffix != ".py":
        return None
    try:
        name = installed_name(file_path)
    except ValueError:  # outside the repository
        return None
    if name is None:
        return None
    return InstalledDoctestModule.from_parent(parent, path=file_path)
