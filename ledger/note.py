"""C2SP signed notes (https://c2sp.org/signed-note), Ed25519 only.

A signed note is a text ending in a newline, a blank line, then one or more lines
``— <name> <base64(4-byte key id || signature)>``. Parsers and verifiers raise ``NoteError`` for
any malformed input; nothing else escapes them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from ledger.encoding import b64decode
from ledger.errors import NoteError

ED25519_TYPE = 0x01
KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100
_EM_DASH = "\u2014"


def _is_clean(s: str) -> bool:
    """Encodable as UTF-8 and free of ASCII control characters other than newline."""
    try:
        s.encode()
    except UnicodeEncodeError:  # lone surrogates
        return False
    return not any(c < " " and c != "\n" for c in s)


def _is_valid_name(name: str) -> bool:
    return bool(name) and _is_clean(name) and not any(c == "+" or c.isspace() for c in name)


def check_key_name(name: str) -> None:
    if not _is_valid_name(name):
        raise NoteError(f"invalid key name {name!r}: must be non-empty, without spaces or '+'")


def note_key_id(name: str, public_key: bytes) -> bytes:
    """Ed25519 key id: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_TYPE]) + public_key).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 note verifier key; construction checks that the key id fits name and key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_SIZE:
            raise NoteError(f"Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes")
        computed = note_key_id(self.name, self.public_key)
        if self.key_id != computed:
            raise NoteError(
                f"key id does not match name {self.name!r} and public key",
                expected=self.key_id.hex(),
                computed=computed.hex(),
            )

    @property
    def vkey(self) -> str:
        """The verifier key string ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        encoded = base64.b64encode(bytes([ED25519_TYPE]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """A parsed note: its text (ending in a newline) and every signature line on it."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _parse_key_id(s: str) -> bytes:
    if len(s) != 2 * KEY_ID_SIZE or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise NoteError(f"key id {s!r} is not {2 * KEY_ID_SIZE} hex digits")
    return bytes.fromhex(s)


def _parse_typed_key(s: str, what: str) -> bytes:
    raw = b64decode(s, what=what, error=NoteError)
    if len(raw) != 1 + PUBLIC_KEY_SIZE or raw[0] != ED25519_TYPE:
        raise NoteError(f"{what} is not an Ed25519 key (0x01 followed by 32 bytes)")
    return raw[1:]


def parse_vkey(s: str) -> NoteVerifier:
    """Parse ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
    # The base64 part may itself contain '+': split at the first two only.
    parts = s.split("+", 2)
    if len(parts) != 3:
        raise NoteError("verifier key must be <name>+<key id>+<key>")
    name, key_id, key = parts
    check_key_name(name)
    return NoteVerifier(name, _parse_key_id(key_id), _parse_typed_key(key, "verifier key"))


def format_vkey(name: str, public_key: bytes) -> str:
    """The verifier key string for an Ed25519 public key."""
    return NoteVerifier(name, note_key_id(name, public_key), public_key).vkey


def parse_skey(s: str) -> tuple[str, bytes]:
    """Parse ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`` into (name, seed)."""
    parts = s.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("signer key must be PRIVATE+KEY+<name>+<key id>+<key>")
    name, key_id, key = parts[2:]
    check_key_name(name)
    expected = _parse_key_id(key_id)
    seed = _parse_typed_key(key, "signer key")
    computed = note_key_id(name, nacl.signing.SigningKey(seed).verify_key.encode())
    if computed != expected:
        raise NoteError(
            "signer key id does not match its name and key",
            expected=expected.hex(),
            computed=computed.hex(),
        )
    return name, seed


def signature_line(name: str, key_id: bytes, signature: bytes) -> str:
    """One signature line ``— <name> <base64(key id || signature)>`` with its newline."""
    check_key_name(name)
    if len(key_id) != KEY_ID_SIZE or not signature:
        raise NoteError(f"a signature needs a {KEY_ID_SIZE}-byte key id and non-empty bytes")
    return f"{_EM_DASH} {name} {base64.b64encode(key_id + signature).decode()}\n"


def sign_note(text: str, name: str, signing_key: nacl.signing.SigningKey) -> str:
    """Sign ``text`` (which must end in a newline) and return the signed note."""
    if not text.endswith("\n") or not _is_clean(text):
        raise NoteError("note text must end in a newline and hold no control characters")
    key_id = note_key_id(name, signing_key.verify_key.encode())
    signature = signing_key.sign(text.encode()).signature
    return text + "\n" + signature_line(name, key_id, signature)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_EM_DASH + " "):
        raise NoteError(f"signature line does not start with an em dash and a space: {line!r}")
    name, space, encoded = line[2:].partition(" ")
    if not space or not _is_valid_name(name):
        raise NoteError(f"signature line has no valid key name: {line!r}")
    raw = b64decode(encoded, what=f"signature by {name!r}", error=NoteError)
    if len(raw) <= KEY_ID_SIZE:
        raise NoteError(f"signature by {name!r} is shorter than a key id and one byte")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def parse_note(s: str) -> SignedNote:
    """Parse a signed note strictly, without checking any signature."""
    if not _is_clean(s):
        raise NoteError("note is not UTF-8 or holds control characters other than newline")
    # The text runs to the last blank line (it may hold blank lines of its own).
    split = s.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line between text and signatures")
    text, block = s[: split + 1], s[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteError("last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
    return SignedNote(text, tuple(_parse_signature_line(line) for line in lines))


def add_signature_lines(note: str, lines: Sequence[str]) -> str:
    """Append signature lines (e.g. cosignatures) to a signed note; the result must parse."""
    parse_note(note)
    for line in lines:
        if not line.endswith("\n") or "\n" in line[:-1]:
            raise NoteError(f"not a single signature line: {line!r}")
        _parse_signature_line(line[:-1])
    result = note + "".join(lines)
    parse_note(result)
    return result


def verify_note(s: str, verifiers: Sequence[NoteVerifier]) -> SignedNote:
    """Parse a signed note and check it is signed by at least one of ``verifiers``.

    As in Go's sumdb/note ``Open``: signatures by unknown keys are ignored (they stay in the
    result, e.g. witness cosignatures), but one by a known (name, key id) that fails is an error.
    """
    note = parse_note(s)
    known = {(v.name, v.key_id): v for v in verifiers}
    message = note.text.encode()
    verified: set[tuple[str, bytes]] = set()
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            continue
        if ident in verified:
            raise NoteError(f"key {sig.name}+{sig.key_id.hex()} signed the note twice")
        if len(sig.signature) != SIGNATURE_SIZE:
            raise NoteError(f"signature by {sig.name} is not {SIGNATURE_SIZE} bytes")
        try:
            nacl.signing.VerifyKey(verifier.public_key).verify(message, sig.signature)
        except nacl.exceptions.BadSignatureError:
            raise NoteError(f"signature by {sig.name}+{sig.key_id.hex()} does not verify") from None
        verified.add(ident)
    if not verified:
        raise NoteError("no trusted signature on the note")
    return note
