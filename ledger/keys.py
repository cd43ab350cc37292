"""Ed25519 keys and keyids, and the JSON key-file format the CLI and SDK use.

A party's keyid is the lowercase hex SHA-256 of its raw 32-byte public key (DESIGN §2).
"""

from __future__ import annotations

import hashlib

import msgspec
import nacl.exceptions
import nacl.signing

from ledger.encoding import b64decode, b64encode
from ledger.errors import EncodingError

PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32


def keyid(public_key: bytes) -> str:
    """The keyid of a raw Ed25519 public key: hex SHA-256."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise EncodingError(
            f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}"
        )
    return hashlib.sha256(public_key).hexdigest()


def generate() -> nacl.signing.SigningKey:
    """A fresh random signing key."""
    return nacl.signing.SigningKey.generate()


def public_key_bytes(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def keyid_of(key: nacl.signing.SigningKey) -> str:
    return keyid(public_key_bytes(key))


def verify_key(public_key: bytes) -> nacl.signing.VerifyKey:
    """A PyNaCl verify key from raw bytes, with a typed error for the wrong length."""
    keyid(public_key)  # length check with a clear message
    try:
        return nacl.signing.VerifyKey(public_key)
    except (nacl.exceptions.ValueError, nacl.exceptions.TypeError) as exc:
        raise EncodingError("not an Ed25519 public key") from exc


class KeyFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `dataledger keygen` writes: the seed is secret, the rest is derived and checked."""

    type: str
    keyid: str
    public_key: str
    private_key: str


KEY_FILE_TYPE = "dataledger-ed25519-v1"
_key_file_decoder = msgspec.json.Decoder(KeyFile)


def encode_key_file(key: nacl.signing.SigningKey) -> bytes:
    pub = public_key_bytes(key)
    body = KeyFile(
        type=KEY_FILE_TYPE,
        keyid=keyid(pub),
        public_key=b64encode(pub),
        private_key=b64encode(bytes(key)),
    )
    return msgspec.json.format(msgspec.json.encode(body), indent=2) + b"\n"


def decode_key_file(data: bytes) -> nacl.signing.SigningKey:
    """Load a key file, checking that its public half and keyid match the seed."""
    try:
        body = _key_file_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EncodingError(f"not a dataledger key file: {exc}") from exc
    if body.type != KEY_FILE_TYPE:
        raise EncodingError(f"unsupported key file type {body.type!r}")
    seed = b64decode(body.private_key, what="private_key")
    if len(seed) != SEED_SIZE:
        raise EncodingError("private_key must be a 32-byte Ed25519 seed")
    key = nacl.signing.SigningKey(seed)
    if b64encode(public_key_bytes(key)) != body.public_key or keyid_of(key) != body.keyid:
        raise EncodingError("key file is inconsistent: public_key or keyid does not match the seed")
    return key
