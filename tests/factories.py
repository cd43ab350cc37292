"""Builders for keys, statements and envelopes used across tests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import nacl.signing

from api.client import party_register_statement, sign_statement
from ledger.dsse import Envelope
from ledger.encoding import canonical_json, format_rfc3339_utc
from ledger.statements import decode_statement, open_statement
from ledger.storage.sequencer import Submission

# The origin of every log the tests build in-process (Settings and LogSigners use it).
TEST_ORIGIN = "test.dataledger.local/log"


def register_envelope(
    key: nacl.signing.SigningKey | None = None,
    name: str = "Acme Data",
    *,
    origin: str = TEST_ORIGIN,
    **overrides: Any,
) -> tuple[nacl.signing.SigningKey, Envelope]:
    key = key or nacl.signing.SigningKey.generate()
    statement = party_register_statement(key, name, origin=origin)
    statement.update(overrides)
    return key, sign_statement(key, statement)


def issued(delta: timedelta = timedelta(0)) -> str:
    return format_rfc3339_utc(datetime.now(UTC) + delta)


def nonce() -> str:
    return secrets.token_hex(16)


def submission(envelope: Envelope) -> Submission:
    """A Submission as the service would build it after verifying the envelope (one with no
    private fields: `open_statement` refuses anything committed without its opening)."""
    import base64

    statement = open_statement(decode_statement(base64.b64decode(envelope.payload)), {})
    return Submission.of(envelope, statement, envelope.signatures[0].keyid)


def envelope_json(envelope: Envelope) -> bytes:
    return canonical_json(envelope)
