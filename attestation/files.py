"""Uploaded documents: checked by their content, stored once by their SHA-256.

An exemption's document or a signature file arrives from a browser; its declared type and name
are not trusted. :func:`check_upload` reads the first bytes: a PDF (``%PDF-``), a PNG, a JPEG
or, for signatures, a CMS/PKCS#7 file (DER, ``0x30 0x82``) — anything else is refused, as is an
empty file or one over :data:`MAX_BYTES`. The file is stored under its SHA-256 (the same file
uploaded twice is stored once) in the database, so that every server sees it; who may read it is
the caller's to decide (an exemption's file: the employee, their units' HR and administrators —
never another employee).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from qabilet.attestation.tables import FileRow
from qabilet.itembank._runtime import now

__all__ = ["MAX_BYTES", "Upload", "check_upload", "store_file"]

#: the largest file taken (10 MiB: a scanned certificate)
MAX_BYTES = 10 * 1024 * 1024
#: what the first bytes of each accepted type are
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
          (b"\xff\xd8\xff", "image/jpeg"))
_SIGNATURE = (b"\x30\x82", "application/pkcs7-signature")


@dataclass(frozen=True, slots=True)
class Upload:
    """A checked file: its digest, type, size and bytes."""

    sha256: str
    media_type: str
    size: int
    content: bytes


def check_upload(content: bytes, *, field: str = "file", signature: bool = False) -> Upload:
    """The file, checked: a ValueError naming ``field`` for an empty, too large or unknown one.

    Parameters
    ----------
    signature : bool
        Accept a CMS/PKCS#7 signature file (DER) too.
    """
    if not content:
        raise ValueError(f"{field}: the file is empty")
    if len(content) > MAX_BYTES:
        raise ValueError(f"{field}: {len(content)} bytes; at most {MAX_BYTES} are taken")
    kinds = (*_MAGIC, _SIGNATURE) if signature else _MAGIC
    media = next((kind for magic, kind in kinds if content.startswith(magic)), None)
    if media is None:
        names = "a PDF, PNG or JPEG file" + (" or a CMS signature (.p7s)" if signature else "")
        raise ValueError(f"{field}: expected {names}; its content is none of these")
    return Upload(hashlib.sha256(content).hexdigest(), media, len(content), content)


def store_file(s: Session, upload: Upload, *, by: str) -> str:
    """Store the file in the session's transaction (once per content); its digest."""
    if s.get(FileRow, upload.sha256) is None:
        s.add(FileRow(sha256=upload.sha256, media_type=upload.media_type, size=upload.size,
                      content=upload.content, stored_at=now(), stored_by=by))
        s.flush()  # before the rows that refer to it (no relationship orders the inserts)
    return upload.sha256
