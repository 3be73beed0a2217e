"""The demonstration design's shipped exposure parameters: the file, its fit to a build, its making.

Keeping every item's exposure at or below 0.3 takes conditional Sympson–Hetter parameters derived
from about 1,000 simulees per class and up to 20 rounds (:data:`qabilet.demo_design.THOROUGH`):
three minutes for the three levels, too long for every build of the demonstration bank (each
test session, each notebook and ``make run`` on a new database build one). The default build's
parameters are therefore derived once and shipped in ``exposure.json`` beside the demonstration
content. A build uses a section's shipped parameters only when they were derived for exactly
that section — the same seed and simulation size, the same target, the same eligible items and
class cuts equal to within :data:`CUT_TOLERANCE` — and derives its own
(:data:`qabilet.demo_design.QUICK`) otherwise, saying so.

Regenerate the file after changing the demonstration content, its truth or its design::

    make demo-exposure        # .venv/bin/python -m qabilet.demo_exposure
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qabilet.itembank.demo_texts import CONTENT_DIR

if TYPE_CHECKING:
    from qabilet.demo_bank import DemoBuild

__all__ = ["CUT_TOLERANCE", "EXPOSURE_FILE", "ExposureFile", "SectionExposure", "load_exposure",
           "write_exposure"]

#: where the shipped parameters live (package data of ``qabilet.itembank.demo_content``)
EXPOSURE_FILE = CONTENT_DIR / "exposure.json"
#: class cuts that differ by less than this are the same cuts (a calibration repeated on another
#: machine differs in the last digits; a changed truth or content moves them by far more)
CUT_TOLERANCE = 1e-3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SectionExposure(_Strict):
    """One adaptive section's parameters: its class cuts and, per eligible item, one per class."""

    classes: list[float] = Field(min_length=1)
    parameters: dict[str, list[float]] = Field(min_length=1)


class ExposureFile(_Strict):
    """The shipped file: what the parameters were derived for, and the parameters.

    Attributes
    ----------
    seed, n_per_level : int
        The :func:`qabilet.demo_bank.build_demo_bank` arguments of the build they were derived on.
    target : float
        The largest exposure rate they aim at.
    derivation : dict
        :class:`qabilet.demo_design.Derivation` fields.
    levels : dict
        Level → section name → :class:`SectionExposure`.
    """

    about: str
    seed: int
    n_per_level: int
    target: float = Field(gt=0, le=1)
    derivation: dict[str, int | float]
    levels: dict[str, dict[str, SectionExposure]]

    def section(self, *, seed: int, n_per_level: int, target: float, level: str, name: str,
                classes: Sequence[float], eligible: Sequence[str]) -> dict[str, list[float]] | None:
        """The shipped parameters of one section, or None when they were derived for another.

        They fit when the build's seed, size and target are the file's, the section's eligible
        items are exactly the file's, and every class cut is within :data:`CUT_TOLERANCE`.
        """
        if (seed, n_per_level, target) != (self.seed, self.n_per_level, self.target):
            return None
        mine = self.levels.get(level, {}).get(name)
        if mine is None or set(mine.parameters) != set(eligible) or len(mine.classes) != len(
                classes) or any(abs(a - b) > CUT_TOLERANCE for a, b in zip(mine.classes, classes,
                                                                           strict=True)):
            return None
        return {i: list(mine.parameters[i]) for i in eligible}


def load_exposure(path: Path = EXPOSURE_FILE) -> ExposureFile | None:
    """The shipped parameters, or None when the file is absent or unreadable (a build derives)."""
    try:
        return ExposureFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def write_exposure(path: Path = EXPOSURE_FILE, *, seed: int = 2017, n_per_level: int = 1500,
                   progress: Callable[[str], None] | None = None) -> DemoBuild:
    """Build the demonstration bank with the thorough derivation and write its parameters.

    The bank is built into a temporary SQLite file (:func:`qabilet.demo_bank.build_demo_bank`
    with ``derive=THOROUGH``); every adaptive section's classes and parameters are written to
    ``path`` (atomically), with the seed, size, target and derivation they belong to.
    """
    from dataclasses import asdict

    from qabilet.demo_bank import build_demo_bank
    from qabilet.demo_design import TARGET_EXPOSURE, THOROUGH
    from qabilet.itembank._files import write_bytes_atomic
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    with tempfile.TemporaryDirectory() as tmp:
        engine = connect(f"sqlite:///{Path(tmp) / 'demo.db'}")
        try:
            repo = BankRepository(engine)
            build = build_demo_bank(repo, seed=seed, n_per_level=n_per_level, derive=THOROUGH,
                                    progress=progress)
            levels = {}
            for level in build.blueprints:
                levels[level] = {
                    s.name: {"classes": s.rules["sh_classes"], "parameters": s.rules["sh_parameters"]}
                    for s in repo.blueprint(level).sections if s.rules.get("sh_parameters")}
        finally:
            engine.dispose()
    document = ExposureFile.model_validate({
        "about": "Conditional Sympson-Hetter parameters of the demonstration blueprints, derived "
                 "by `make demo-exposure` (qabilet.demo_exposure); a build uses a section's "
                 "parameters only when they were derived for it.",
        "seed": seed, "n_per_level": n_per_level, "target": TARGET_EXPOSURE,
        "derivation": asdict(THOROUGH), "levels": levels})
    write_bytes_atomic(path, (json.dumps(document.model_dump(), indent=1, ensure_ascii=False)
                              + "\n").encode())
    return build


def main() -> None:
    """``python -m qabilet.demo_exposure [PATH]``: regenerate the shipped parameters."""
    def say(message: str) -> None:
        sys.stdout.write(message + "\n")

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else EXPOSURE_FILE
    write_exposure(path, progress=say)
    written = load_exposure(path)
    assert written is not None
    say(f"wrote {path}: the exposure parameters of "
        f"{sum(len(v) for v in written.levels.values())} sections in {len(written.levels)} levels")


if __name__ == "__main__":
    main()
