"""Statements: the signed payloads of DSSE envelopes, one msgspec Struct per kind.

Decoding is strict: the `kind` tag selects the Struct, unknown fields are rejected, and no field
of any kind accepts a float (money and quantities are integers, times are RFC 3339 strings).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, TypeAlias

import msgspec

from ledger.encoding import b64decode, parse_rfc3339_utc
from ledger.errors import EncodingError, StatementError, StatementRejected

RFC3339_UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
NONCE_PATTERN = r"^[0-9a-f]{32,128}$"  # 16 to 64 random bytes, lowercase hex

Timestamp = Annotated[str, msgspec.Meta(pattern=RFC3339_UTC_PATTERN)]
Nonce = Annotated[str, msgspec.Meta(pattern=NONCE_PATTERN)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Base64Key = Annotated[str, msgspec.Meta(min_length=44, max_length=44)]


class Statement(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", kw_only=True
):
    """Fields every statement has. `kind` is the msgspec tag, so it is not a field here."""

    issued_at: Timestamp
    nonce: Nonce

    @property
    def kind(self) -> str:
        tag = type(self).__struct_config__.tag
        assert isinstance(tag, str)
        return tag

    def issued_at_datetime(self) -> datetime:
        return parse_rfc3339_utc(self.issued_at, what="issued_at")


class PartyRegister(Statement, frozen=True, tag="party.register"):
    """A new party, self-signed by the key it registers; its id is that key's keyid."""

    name: Name
    public_key: Base64Key

    def public_key_bytes(self) -> bytes:
        raw = b64decode(self.public_key, what="public_key")
        if len(raw) != 32:
            raise StatementError("public_key must be a raw 32-byte Ed25519 key")
        return raw


AnyStatement: TypeAlias = PartyRegister
STATEMENT_KINDS: tuple[type[Statement], ...] = (PartyRegister,)

KNOWN_KINDS = frozenset(str(t.__struct_config__.tag) for t in STATEMENT_KINDS)


class _Head(msgspec.Struct):
    """Just the kind, read first so that a missing or unknown kind gets a clear error."""

    kind: str


_head_decoder = msgspec.json.Decoder(_Head)
_decoder = msgspec.json.Decoder(AnyStatement)


def decode_statement(payload: bytes) -> AnyStatement:
    """Decode a statement payload strictly; `StatementError` says what is wrong."""
    try:
        head = _head_decoder.decode(payload)
        if head.kind not in KNOWN_KINDS:
            raise StatementError(
                f"unknown statement kind {head.kind!r}; "
                f"known kinds: {', '.join(sorted(KNOWN_KINDS))}"
            )
        statement = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise StatementError(f"invalid statement: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise StatementError(f"statement payload is not JSON: {exc}") from exc
    try:
        statement.issued_at_datetime()
    except EncodingError as exc:
        raise StatementError(exc.message) from exc
    return statement


def check_fresh(statement: Statement, now: datetime, max_skew: timedelta) -> None:
    """Refuse statements issued too long ago or too far in the future (replay window)."""
    issued = statement.issued_at_datetime()
    if issued < now - max_skew:
        raise StatementRejected(
            "stale-statement",
            f"issued_at {statement.issued_at} is more than {int(max_skew.total_seconds())} s "
            "in the past",
            status=422,
        )
    if issued > now + max_skew:
        raise StatementRejected(
            "future-statement",
            f"issued_at {statement.issued_at} is more than {int(max_skew.total_seconds())} s "
            "in the future",
            status=422,
        )
