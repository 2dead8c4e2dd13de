"""Content fingerprints: how a file is recognised after a move or a rename."""

from __future__ import annotations

import hashlib
import os

_BLOCK = 1 << 20


def content_hash(path: str | os.PathLike[str]) -> str:
    """Fingerprint a file's full content, to recognise it after a move or rename.

    Args:
        path: the file.

    Returns:
        The hex BLAKE2b digest (16 bytes, 32 hex characters).

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()
