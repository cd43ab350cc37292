"""Strict statement decoding and the freshness window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ledger.errors import StatementError, StatementRejected
from ledger.statements import PartyRegister, check_fresh, decode_statement

KEY = "A" * 43 + "="
GOOD = {
    "kind": "party.register",
    "issued_at": "2026-11-26T12:00:00Z",
    "nonce": "ab" * 16,
    "origin": "example.com/log",
    "name": "Acme",
    "public_key": KEY,
}


def enc(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_valid_statement_decodes() -> None:
    st = decode_statement(enc(GOOD))
    assert isinstance(st, PartyRegister)
    assert st.kind == "party.register" and st.name == "Acme"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"extra": 1}, "unknown field"),
        ({"kind": "party.unknown"}, "unknown statement kind"),
        ({"name": 1.5}, "float"),
        ({"name": ""}, "length"),
        ({"nonce": "ab" * 8}, "matching regex"),  # 8 bytes: too short
        ({"nonce": "AB" * 16}, "matching regex"),  # upper case
        ({"issued_at": "2026-11-26T12:00:00+00:00"}, "matching regex"),  # must end in Z
        ({"issued_at": "2026-13-26T12:00:00Z"}, "valid date"),
        ({"public_key": 5}, "Expected `str`"),
    ],
    ids=[
        "unknown-field",
        "unknown-kind",
        "float",
        "empty-name",
        "short-nonce",
        "uppercase-nonce",
        "offset-not-z",
        "month-13",
        "key-not-string",
    ],
)
def test_invalid_statements_are_refused_with_reason(change: dict, fragment: str) -> None:
    with pytest.raises(StatementError, match=fragment):
        decode_statement(enc({**GOOD, **change}))


@pytest.mark.parametrize("missing", ["kind", "issued_at", "nonce", "name", "public_key"])
def test_missing_fields_are_refused(missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(StatementError):
        decode_statement(enc(body))


@pytest.mark.parametrize("payload", [b"", b"not json", b"[]", b"null", b'{"kind": 1}'])
def test_garbage_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(StatementError):
        decode_statement(payload)


def test_freshness_window() -> None:
    st = decode_statement(enc(GOOD))
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    skew = timedelta(seconds=300)
    check_fresh(st, at + timedelta(seconds=299), skew)
    check_fresh(st, at - timedelta(seconds=299), skew)
    with pytest.raises(StatementRejected) as stale:
        check_fresh(st, at + timedelta(seconds=301), skew)
    assert stale.value.code == "stale-statement"
    with pytest.raises(StatementRejected) as future:
        check_fresh(st, at - timedelta(seconds=301), skew)
    assert future.value.code == "future-statement"
