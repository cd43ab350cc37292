"""The log's identity: its origin and Ed25519 key, which sign checkpoints and statements."""

from __future__ import annotations

from dataclasses import dataclass

import nacl.signing

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.keys import keyid_of, public_key_bytes
from ledger.note import NoteVerifier, format_vkey, parse_vkey


@dataclass(frozen=True)
class LogSigner:
    """Signs checkpoints as `origin` (the key name is the origin, as C2SP logs do)."""

    origin: str
    key: nacl.signing.SigningKey

    @property
    def keyid(self) -> str:
        """The DSSE keyid of the log key (hex SHA-256 of the public key)."""
        return keyid_of(self.key)

    @property
    def public_key(self) -> bytes:
        return public_key_bytes(self.key)

    @property
    def vkey(self) -> str:
        """The signed-note verifier key line that clients pin."""
        return format_vkey(self.origin, self.public_key)

    @property
    def verifier(self) -> NoteVerifier:
        return parse_vkey(self.vkey)

    def sign_checkpoint(self, size: int, root_hash: bytes) -> str:
        return sign_checkpoint(Checkpoint(self.origin, size, root_hash), self.origin, self.key)


def default_origin(key: nacl.signing.SigningKey) -> str:
    """A unique origin for a log whose operator named none: tied to the log key."""
    return f"dataledger.local/{keyid_of(key)[:16]}"
