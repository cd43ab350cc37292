"""DSSE envelopes (https://github.com/secure-systems-lab/dsse): PAE, signing, verification.

Only the Ed25519 signature scheme is used by the ledger; signatures are base64 over
PAE(payloadType, payload bytes).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import nacl.exceptions
import nacl.signing

from ledger.encoding import MAX_JSON_DEPTH, b64decode, b64encode, canonical_json, json_too_deep
from ledger.errors import EncodingError, SignatureError
from ledger.keys import keyid_of, verify_key

STATEMENT_PAYLOAD_TYPE = "application/vnd.dataledger.statement+json"
SIGNATURE_SIZE = 64


class Signature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sig: str
    keyid: str = ""  # optional in DSSE; the ledger requires it (see verify_envelope)


class Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    payload: str
    payloadType: str
    signatures: list[Signature]

    def canonical(self) -> bytes:
        """Compact JSON with sorted keys: the form stored inside a ledger entry."""
        return canonical_json(self)


_envelope_decoder = msgspec.json.Decoder(Envelope)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding; lengths are byte lengths."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def decode_envelope(data: bytes) -> Envelope:
    """Parse an envelope strictly (unknown fields, wrong types: `EncodingError`)."""
    if json_too_deep(data):
        raise EncodingError(f"not a DSSE envelope: nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return _envelope_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EncodingError(f"not a DSSE envelope: {exc}") from exc


def sign_envelope(
    payload: bytes,
    key: nacl.signing.SigningKey,
    payload_type: str = STATEMENT_PAYLOAD_TYPE,
) -> Envelope:
    """Wrap `payload` in an envelope signed by `key`."""
    sig = key.sign(pae(payload_type, payload)).signature
    return Envelope(
        payload=b64encode(payload),
        payloadType=payload_type,
        signatures=[Signature(sig=b64encode(sig), keyid=keyid_of(key))],
    )


def payload_bytes(envelope: Envelope) -> bytes:
    return b64decode(envelope.payload, what="payload")


def verify_signature(envelope: Envelope, signature: Signature, public_key: bytes) -> None:
    """Check one signature of `envelope` against `public_key`; raise `SignatureError` if bad."""
    raw_sig = b64decode(signature.sig, what="signature")
    if len(raw_sig) != SIGNATURE_SIZE:
        raise SignatureError(
            f"signature by {signature.keyid} is {len(raw_sig)} bytes, not {SIGNATURE_SIZE}"
        )
    message = pae(envelope.payloadType, payload_bytes(envelope))
    try:
        verify_key(public_key).verify(message, raw_sig)
    except nacl.exceptions.BadSignatureError as exc:
        raise SignatureError(f"signature by {signature.keyid} does not verify") from exc


def verify_envelope(envelope: Envelope, keys: Mapping[str, bytes]) -> bytes:
    """Verify that every signature is by a known key and valid; return the payload bytes.

    `keys` maps keyid to raw public key. An envelope with no signature, or a signature by a key
    not in `keys`, fails: the ledger never accepts an unattributable statement.
    """
    if not envelope.signatures:
        raise SignatureError("envelope has no signature")
    for signature in envelope.signatures:
        public_key = keys.get(signature.keyid)
        if public_key is None:
            raise SignatureError(f"signature by unknown key {signature.keyid}")
        verify_signature(envelope, signature, public_key)
    return payload_bytes(envelope)
