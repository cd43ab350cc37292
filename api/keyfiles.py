"""Key files on disk: written with mode 0600, created atomically so concurrent starters agree."""

from __future__ import annotations

import os
from pathlib import Path

import nacl.signing

from ledger import keys


def write_new_key(
    path: Path, key: nacl.signing.SigningKey | None = None
) -> nacl.signing.SigningKey:
    """Write a new key file; fail if `path` exists (never overwrite a key)."""
    key = key or keys.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(keys.encode_key_file(key))
        handle.flush()
        os.fsync(handle.fileno())
    return key


def read_key(path: Path) -> nacl.signing.SigningKey:
    return keys.decode_key_file(path.read_bytes())


def load_or_create_key(path: Path) -> tuple[nacl.signing.SigningKey, bool]:
    """The key at `path`, generating it on first use. Returns (key, created)."""
    try:
        return write_new_key(path), True
    except FileExistsError:
        return read_key(path), False
