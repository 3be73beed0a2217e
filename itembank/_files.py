"""Writing files so that a reader never sees half of one; reading JSON text with a named error."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["parse_json", "write_bytes_atomic", "write_text_atomic"]


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` all at once, or not at all.

    :func:`write_bytes_atomic` of its UTF-8 encoding.
    """
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` all at once, or not at all.

    The text goes to a temporary file in the same directory, is flushed to disk and then renamed
    over ``path`` with :func:`os.replace` (atomic on POSIX and Windows). If anything fails, the
    temporary file is removed and an existing ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The destination.
    data : bytes
        The complete contents.

    Raises
    ------
    OSError
        When the directory is missing or not writable.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open applies the umask, so the file gets the permissions an ordinary open() would give
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, str(target)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def parse_json(text: str, *, path: str | None = None) -> Any:
    """``text`` as JSON, or a :class:`~qabilet.engine.exceptions.DataFileError` saying where it is not."""
    import json

    from qabilet.engine.exceptions import DataFileError

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                            path=path) from None
