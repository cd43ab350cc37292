"""Key files on disk: written with mode 0600, created atomically so concurrent starters agree;
read back with a plain reason when a file is something else (a verifier key, empty, other JSON)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nacl.signing

from ledger import keys
from ledger.errors import EncodingError, LedgerError
from ledger.note import parse_vkey


class KeyFileError(EncodingError):
    """A file given as a key file is not one; the message says what it is instead."""

    code = "key-file"


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
    """The signing key in the key file `path`. OSError (FileNotFoundError, ...) if it cannot be
    read; KeyFileError naming what the file is if it is not a dataledger key file."""
    data = path.read_bytes()
    try:
        return keys.decode_key_file(data)
    except LedgerError as exc:
        raise KeyFileError(f"{path} {not_a_key_file(data, exc.message)}") from exc


MAKE_ONE = "make a key file with `dataledger keygen --out FILE`"


def not_a_key_file(data: bytes, reason: str) -> str:
    """What `data` is, when it is not a key file: `is a verifier key ..., not a key file`."""
    text = data.decode("utf-8", "replace").strip()
    if not text:
        return f"is empty, not a key file: {MAKE_ONE}"
    if "\n" not in text and text.count("+") >= 2:
        try:
            parse_vkey(text)
        except LedgerError:
            pass
        else:
            return (
                "is a verifier key (a log's public key, as `dataledger log key` prints), not a "
                "key file (the JSON signing key `dataledger keygen` writes)"
            )
    if text.startswith("-----BEGIN"):
        return f"is a PEM or OpenSSH key, not a dataledger key file: {MAKE_ONE}"
    try:
        body = json.loads(text)
    except ValueError:
        return f"is not a dataledger key file (that is JSON, from `dataledger keygen`): {MAKE_ONE}"
    if isinstance(body, dict) and body.get("type") == keys.KEY_FILE_TYPE:
        return f"is a damaged dataledger key file: {reason}"
    if isinstance(body, dict) and "type" in body and "private_key" in body:
        return f"is a key file of an unsupported type {body['type']!r}, not {keys.KEY_FILE_TYPE}"
    return (
        f'is JSON but not a key file (no "type": "{keys.KEY_FILE_TYPE}" with a '
        f"private_key): {MAKE_ONE}"
    )


def load_or_create_key(path: Path) -> tuple[nacl.signing.SigningKey, bool]:
    """The key at `path`, generating it on first use. Returns (key, created)."""
    try:
        return write_new_key(path), True
    except FileExistsError:
        return read_key(path), False
