"""Witness cosignatures: C2SP tlog-cosignature, Ed25519 "cosignature/v1".

A cosignature is a note signature on a checkpoint by a witness, saying: as of `timestamp`, this
is the largest tree I have seen for this origin, and it is consistent with everything I saw
before. Its signed message is ``cosignature/v1\\ntime <timestamp>\\n`` followed by the
checkpoint body; the signature bytes are ``u64 timestamp (big endian) || 64-byte signature``;
the key id is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from ledger.errors import NoteError
from ledger.note import NoteSignature, check_key_name, parse_note, signature_line

COSIGNATURE_TYPE = 0x04
_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_TYPE]) + public_key).digest()[
        :4
    ]


def format_cosigner_vkey(name: str, public_key: bytes) -> str:
    """A witness's verifier key in the signed-note vkey format (signature type 0x04)."""
    encoded = base64.b64encode(bytes([COSIGNATURE_TYPE]) + public_key).decode()
    return f"{name}+{cosigner_key_id(name, public_key).hex()}+{encoded}"


def signed_message(checkpoint_body: str, timestamp: int) -> bytes:
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is out of range")
    return f"{_HEADER}time {timestamp}\n{checkpoint_body}".encode()


def cosign(checkpoint_body: str, name: str, key: nacl.signing.SigningKey, timestamp: int) -> str:
    """The cosignature line (with its newline) for a checkpoint body (the note's text)."""
    signature = key.sign(signed_message(checkpoint_body, timestamp)).signature
    key_id = cosigner_key_id(name, bytes(key.verify_key))
    return signature_line(name, key_id, struct.pack(">Q", timestamp) + signature)


@dataclass(frozen=True)
class Cosignature:
    name: str
    key_id: bytes
    timestamp: int
    line: str


def verify_cosignature(
    checkpoint_body: str, signature: NoteSignature, name: str, public_key: bytes
) -> Cosignature:
    """Check one signature line of a checkpoint as a cosignature by (name, public_key)."""
    if signature.name != name or signature.key_id != cosigner_key_id(name, public_key):
        raise NoteError(f"signature is not by cosigner {name!r} with this key")
    if len(signature.signature) != 8 + 64:
        raise NoteError("a cosignature is an 8-byte timestamp and a 64-byte signature")
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    message = signed_message(checkpoint_body, timestamp)
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature.signature[8:])
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise NoteError(f"cosignature by {name!r} does not verify") from exc
    line = signature_line(signature.name, signature.key_id, signature.signature)
    return Cosignature(name, signature.key_id, timestamp, line)


def parse_cosignature_line(checkpoint_note: str, line: str) -> NoteSignature:
    """Parse one `— name base64` line as a signature on `checkpoint_note` (strictly)."""
    note = parse_note(checkpoint_note.rstrip("\n") + "\n" + line.rstrip("\n") + "\n")
    return note.signatures[-1]
