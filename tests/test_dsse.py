"""DSSE: the published vectors, and tampering with each part of an envelope."""

from __future__ import annotations

import base64
import json

import nacl.signing
import pytest

from ledger import dsse
from ledger.dsse import Envelope, Signature
from ledger.errors import EncodingError, SignatureError
from ledger.keys import keyid

from .conftest import VECTORS

DSSE = VECTORS / "dsse"
pytestmark = pytest.mark.skipif(not DSSE.is_dir(), reason=f"test vectors not found at {DSSE}")


def _pae_examples() -> list[dict[str, str]]:
    if not DSSE.is_dir():
        return []
    return json.loads((DSSE / "pae.json").read_text())["examples"]


@pytest.mark.parametrize("example", _pae_examples(), ids=lambda e: e["desc"][:40])
def test_pae_vectors(example: dict[str, str]) -> None:
    body = base64.b64decode(example["payload_b64"])
    assert dsse.pae(example["payloadType"], body) == base64.b64decode(example["pae_b64"])


@pytest.fixture
def vector() -> dict:
    return json.loads((DSSE / "envelope-ed25519.json").read_text())


def _seed(vector: dict) -> bytes:
    return bytes.fromhex(vector["key"]["ed25519_seed_hex"])


def test_envelope_vector_verifies(vector: dict) -> None:
    envelope = dsse.decode_envelope(json.dumps(vector["envelope"]).encode())
    public_key = bytes(nacl.signing.SigningKey(_seed(vector)).verify_key)
    assert envelope.signatures[0].keyid == keyid(public_key)
    payload = dsse.verify_envelope(envelope, {keyid(public_key): public_key})
    assert json.loads(payload) == vector["payload_object"]


def test_envelope_vector_signs_identically(vector: dict) -> None:
    key = nacl.signing.SigningKey(_seed(vector))
    payload = base64.b64decode(vector["envelope"]["payload"])
    assert (
        dsse.sign_envelope(payload, key).signatures[0].sig
        == vector["envelope"]["signatures"][0]["sig"]
    )


@pytest.mark.parametrize("part", ["payloadType", "payload", "sig"])
def test_envelope_vector_tampered_fails(vector: dict, part: str) -> None:
    key = nacl.signing.SigningKey(_seed(vector))
    pub = bytes(key.verify_key)
    env = dsse.decode_envelope(json.dumps(vector["envelope"]).encode())
    if part == "payloadType":
        env = Envelope(env.payload, env.payloadType + "x", env.signatures)
    elif part == "payload":
        raw = bytearray(base64.b64decode(env.payload))
        raw[10] ^= 1
        env = Envelope(base64.b64encode(bytes(raw)).decode(), env.payloadType, env.signatures)
    else:
        sig = bytearray(base64.b64decode(env.signatures[0].sig))
        sig[0] ^= 1
        env = Envelope(
            env.payload,
            env.payloadType,
            [Signature(base64.b64encode(bytes(sig)).decode(), env.signatures[0].keyid)],
        )
    with pytest.raises(SignatureError):
        dsse.verify_envelope(env, {keyid(pub): pub})


def test_ecdsa_protocol_example_parses_and_pae_matches() -> None:
    example = json.loads((DSSE / "protocol-example-ecdsa-p256.json").read_text())
    envelope = dsse.decode_envelope(json.dumps(example["envelope"]).encode())
    body = dsse.payload_bytes(envelope)
    assert dsse.pae(envelope.payloadType, body) == example["pae"].encode()
    # An Ed25519 verifier must refuse it (it is an ECDSA signature), with the typed error.
    key = nacl.signing.SigningKey.generate()
    with pytest.raises(SignatureError):
        dsse.verify_envelope(envelope, {envelope.signatures[0].keyid: bytes(key.verify_key)})


def test_unknown_key_and_empty_signatures_are_refused() -> None:
    key = nacl.signing.SigningKey.generate()
    env = dsse.sign_envelope(b"{}", key)
    with pytest.raises(SignatureError, match="unknown key"):
        dsse.verify_envelope(env, {})
    with pytest.raises(SignatureError, match="no signature"):
        dsse.verify_envelope(Envelope(env.payload, env.payloadType, []), {})


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"payload":"","payloadType":"x"}',
        b'{"payload":1,"payloadType":"x","signatures":[]}',
        b'{"payload":"","payloadType":"x","signatures":[],"extra":1}',
    ],
    ids=["truncated", "array", "missing-signatures", "payload-not-string", "unknown-field"],
)
def test_malformed_envelopes_raise_encoding_error(body: bytes) -> None:
    with pytest.raises(EncodingError):
        dsse.decode_envelope(body)


def test_non_canonical_base64_payload_is_refused() -> None:
    key = nacl.signing.SigningKey.generate()
    env = dsse.sign_envelope(b"ab", key)  # "YWI=": last char carries padding bits
    mangled = Envelope("YWJ=", env.payloadType, env.signatures)
    with pytest.raises(EncodingError, match="canonical"):
        dsse.payload_bytes(mangled)
