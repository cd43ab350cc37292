"""C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): a signed note over a tree head.

Body: ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` then optional non-empty extension lines.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import nacl.signing

from ledger.encoding import b64decode, is_canonical_decimal
from ledger.errors import CheckpointError
from ledger.merkle import HASH_SIZE
from ledger.note import NoteVerifier, SignedNote, sign_note, verify_note

# Sizes are uint64 on the wire; this also keeps int() far from its digit limit.
_MAX_SIZE_DIGITS = 20


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size and root hash (plus rarely used extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("origin must be one non-empty line")
        if self.size < 0:
            raise CheckpointError(f"negative tree size {self.size}")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes, not {len(self.root_hash)}")
        if any(not line or "\n" in line for line in self.extensions):
            raise CheckpointError("extension lines must be single non-empty lines")

    def body(self) -> str:
        """The note text that the log signs."""
        root = base64.b64encode(self.root_hash).decode()
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(f"{line}\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly; raise ``CheckpointError`` if it is malformed."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint body must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint body needs origin, size and root hash lines")
    origin, size, root, *extensions = lines
    # Only plain ASCII digits, no sign, no leading zero: one tree size has one spelling.
    if not is_canonical_decimal(size, _MAX_SIZE_DIGITS):
        raise CheckpointError(f"tree size {size!r} is not a canonical decimal number")
    root_hash = b64decode(root, what="checkpoint root hash", error=CheckpointError)
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, name: str, signing_key: nacl.signing.SigningKey) -> str:
    """Sign a checkpoint as key ``name``; returns the signed note."""
    return sign_note(cp.body(), name, signing_key)


def open_checkpoint(
    note: str, verifier: NoteVerifier, *, origin: str | None = None
) -> tuple[Checkpoint, SignedNote]:
    """Verify the log's signature on a checkpoint note, then parse it (and check its origin)."""
    signed = verify_note(note, [verifier])
    cp = parse_checkpoint_body(signed.text)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(
            f"checkpoint is for origin {cp.origin!r}", expected=origin, computed=cp.origin
        )
    return cp, signed
