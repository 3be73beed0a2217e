"""QTI packages for the tests: the hand-written ones zipped from their folders, edits, a small bank."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.itembank import _bank

DATA = Path(__file__).resolve().parents[1] / "data" / "qti"
#: the hand-written package of choice items without qabilet's metadata
FOREIGN = DATA / "foreign"
Edit = Callable[[str], str]


def zipped(folder: Path, edits: dict[str, Edit] | None = None,
           extra: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> bytes:
    """The package in ``folder`` as a zip: members edited (name → text → text), added, dropped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_file() and name not in drop:
                text = path.read_bytes()
                if edits and name in edits:
                    text = edits[name](text.decode("utf-8")).encode("utf-8")
                z.writestr(name, text)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buffer.getvalue()


def rezipped(package: bytes, edits: dict[str, Edit]) -> bytes:
    """``package`` with members edited (name → text → text)."""
    source = zipfile.ZipFile(io.BytesIO(package))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name in source.namelist():
            data = source.read(name)
            if name in edits:
                data = edits[name](data.decode("utf-8")).encode("utf-8")
            z.writestr(name, data)
    return buffer.getvalue()


def small_bank(path: Path, *, fill: bool = True) -> Path:
    """A SQLite file at ``path`` holding the small test bank (:mod:`tests.itembank._bank`), or
    migrated and empty; copy it for each test."""
    engine = connect(f"sqlite:///{path}")
    if fill:
        _bank.fill(BankRepository(engine))
    engine.dispose()
    return path
