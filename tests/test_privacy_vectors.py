"""Known-answer vectors for private-field commitments (docs/protocol.md), the public/private
table in the protocol document, and properties of sealing and opening."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.encoding import canonical_json
from ledger.privacy import (
    PRIVATE_FIELDS,
    Opening,
    OpeningError,
    commit,
    seal,
    verify_openings,
)
from ledger.statements import (
    STATEMENT_KINDS,
    Statement,
    decode_statement,
    open_statement,
)

# (kind, field, salt, value, commitment): fixed inputs, answers computed once and pinned here.
VECTORS = [
    (
        "licence.approve",
        "price",
        bytes(range(32)),
        {"amount_minor": 35000, "currency": "CNY"},
        "4434d01dfff132de2072e4cc3e957b08cce8f544cff72ae66949c86dd6024a6e",
    ),
    (
        "dispute.open",
        "grounds",
        b"\xff" * 32,
        "the delivered file does not match its fingerprint",
        "a6d315b697910365f3148f9268759f89285e641653f0ddfbda93973b0e62eb3f",
    ),
    (
        "usage.report",
        "units",
        bytes(32),
        413,
        "4430f66a13e87feaaa5a831be41fa76ec4cd7268d6e43fc48e323eb775a54200",
    ),
]


@pytest.mark.parametrize(("kind", "field", "salt", "value", "expected"), VECTORS)
def test_known_answers(kind: str, field: str, salt: bytes, value: Any, expected: str) -> None:
    assert commit(kind, field, salt, value) == expected
    # The construction as docs/protocol.md spells it, independently of the code.
    spelled = b"dataledger/commitment/v1\n" + f"{kind}\n{field}\n".encode() + salt
    assert hashlib.sha256(spelled + canonical_json(value)).hexdigest() == expected


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_a_salt_is_exactly_32_bytes(length: int) -> None:
    with pytest.raises(OpeningError) as refused:
        commit("usage.report", "units", bytes(length), 1)
    assert refused.value.code == "salt-invalid"
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"salt": "ab" * length, "value": 1}, Opening)


def _protocol_rows() -> dict[str, tuple[set[str], set[str]]]:
    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for kind, public, private in re.findall(
        r"^\| `([a-z_.]+)` \| ([^|]*) \| ([^|]*) \| [^|]* \|$", text, re.M
    ):
        rows[kind] = (set(re.findall(r"`(\w+)`", public)), set(re.findall(r"`(\w+)`", private)))
    return rows


def test_the_protocol_table_lists_every_field_of_every_kind_as_the_code_does() -> None:
    rows = _protocol_rows()
    base = {f.name for f in msgspec.structs.fields(Statement)}
    for kind_type in STATEMENT_KINDS:
        kind = str(kind_type.__struct_config__.tag)
        names = {f.name for f in msgspec.structs.fields(kind_type)} - base
        private = set(PRIVATE_FIELDS[kind].fields) if kind in PRIVATE_FIELDS else set()
        assert kind in rows, f"{kind} is missing from the table in docs/protocol.md"
        assert rows[kind] == (names - private, private), kind


def test_every_private_field_names_a_real_field() -> None:
    kinds = {str(t.__struct_config__.tag): t for t in STATEMENT_KINDS}
    for kind, private in PRIVATE_FIELDS.items():
        assert set(private.fields) <= set(kinds[kind].__struct_fields__), kind


_texts = st.text(min_size=1, max_size=40)
_units = st.integers(min_value=1, max_value=2**62)


@given(units=_units, words=_texts)
def test_sealing_then_opening_gives_back_the_statement(units: int, words: str) -> None:
    marker = "MK5e1f0c" + words  # nothing else in the statement holds this prefix
    full = {
        "kind": "payment.record",
        "issued_at": "2026-12-01T00:00:00Z",
        "nonce": "ab" * 16,
        "origin": "example.com/log",
        "licence_id": "c" * 32,
        "amount": {"amount_minor": units, "currency": "CNY"},
        "reference": marker,
    }
    sealed = seal(full)
    payload = canonical_json(sealed.statement)
    assert b"MK5e1f0c" not in payload and b"amount_minor" not in payload
    opened = open_statement(decode_statement(payload), sealed.openings)
    assert msgspec.to_builtins(opened) == full
    verify_openings(payload, 0, sealed.openings)


@given(units=_units, other=_units)
def test_an_opening_for_another_value_never_verifies(units: int, other: int) -> None:
    full = {
        "kind": "usage.report",
        "issued_at": "2026-12-01T00:00:00Z",
        "nonce": "ab" * 16,
        "origin": "example.com/log",
        "licence_id": "c" * 32,
        "units": units,
        "period_start": "2026-12-01T00:00:00Z",
        "period_end": "2026-12-01T00:00:00Z",
    }
    sealed = seal(full)
    payload = canonical_json(sealed.statement)
    salt = sealed.openings["units"].salt
    if other != units:
        with pytest.raises(OpeningError):
            verify_openings(payload, 0, {"units": Opening(salt, other)})
