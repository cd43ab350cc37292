"""Private facts on a public log: which fields are private, salted commitments, openings.

The log is public, so a statement carries each private value only as a commitment

    SHA-256("dataledger/commitment/v1" LF kind LF field LF salt || canonical JSON of the value)

with a fresh 32-byte salt per field. The submitter sends the *opening* (salt and value) beside
the envelope; the sequencer checks it against the signed commitment and the rules decide on the
opened value. Openings are kept off the log, readable by the parties entitled to them, and
erasable: without its opening a commitment reveals nothing (the salt defeats dictionary search).

`PRIVATE_FIELDS` is the one table of what is private; `docs/protocol.md` renders it. The logged
("sealed") form of each kind is derived from its Struct here: the private fields are removed and a
`commitments` object names one commitment per private field.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from ledger.dsse import Envelope, Signature
from ledger.encoding import canonical_json
from ledger.errors import EncodingError, VerificationError

COMMITMENT_DOMAIN = b"dataledger/commitment/v1"
SALT_BYTES = 32

Commitment = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
SaltHex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class OpeningError(VerificationError):
    """An opening is missing, unexpected, malformed, or does not open its commitment."""

    def __init__(self, code: str, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.code = code


@dataclass(frozen=True, slots=True)
class PrivateFields:
    """The private fields of one statement kind and who, besides regulators and the operator,
    may read them (the words of `docs/protocol.md`; `audience` computes the parties)."""

    fields: tuple[str, ...]
    readers: str


_OWNER = "the signer and the asset's owner"
_DEAL = "the signer, the buyer and the seller of the licence"

# The one table of private fields. Everything not named here is public. Free text that can carry
# personal data is private; what a market must see (catalog entries, offers, rights) is public.
PRIVATE_FIELDS: dict[str, PrivateFields] = {
    "party.revoke_key": PrivateFields(("reason",), "the party"),
    "asset.register": PrivateFields(("schema", "declared_cost", "quality"), "the owner"),
    "asset.version": PrivateFields(("schema", "note"), _OWNER),
    "asset.object": PrivateFields(("grounds", "evidence_fingerprint"), _OWNER),
    "objection.resolve": PrivateFields(("reason",), "the objector and the asset's owner"),
    "objections.dismiss": PrivateFields(("reason",), "the objectors and the assets' owners"),
    "conflict.resolve": PrivateFields(("reason",), "the owners of the claims"),
    "asset.freeze": PrivateFields(("reason",), "the asset's owner"),
    "asset.unfreeze": PrivateFields(("reason",), "the asset's owner"),
    "offer.withdraw": PrivateFields(("reason",), "the signer and the offer's publisher"),
    "licence.request": PrivateFields(
        ("purpose", "term_days", "territory", "units", "lawful_basis"),
        "the buyer and the seller (the offer's publisher)",
    ),
    "licence.approve": PrivateFields(("price",), _DEAL),
    "licence.reject": PrivateFields(("reason",), _DEAL),
    "licence.revoke": PrivateFields(("reason",), _DEAL),
    "licence.terminate": PrivateFields(("reason",), _DEAL),
    "usage.report": PrivateFields(("units", "period_start", "period_end", "usage_kind"), _DEAL),
    "payment.record": PrivateFields(("amount", "reference"), _DEAL),
    "dispute.open": PrivateFields(("grounds", "evidence_fingerprint"), _DEAL),
    "dispute.answer": PrivateFields(("answer",), _DEAL),
    "dispute.resolve": PrivateFields(("decision", "refund", "usage_correction"), _DEAL),
    "valuation.quote": PrivateFields(
        ("units", "term_days", "exclusive", "purpose", "price", "low_minor", "high_minor"),
        "regulators only",
    ),
}


def private_fields(kind: str) -> tuple[str, ...]:
    entry = PRIVATE_FIELDS.get(kind)
    return entry.fields if entry is not None else ()


# --- commitments ----------------------------------------------------------------------------


def commit(kind: str, field: str, salt: bytes, value: Any) -> str:
    """The commitment to `value` as field `field` of a `kind` statement (lowercase hex)."""
    if len(salt) != SALT_BYTES:
        raise OpeningError(
            "salt-invalid", f"a salt is exactly {SALT_BYTES} random bytes, got {len(salt)}"
        )
    return hashlib.sha256(_head(kind, field) + salt + canonical_json(value)).hexdigest()


@functools.cache
def _head(kind: str, field: str) -> bytes:
    return b"\n".join((COMMITMENT_DOMAIN, kind.encode(), field.encode(), b""))


class Opening(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What opens one commitment: the salt (64 hex) and the value (any JSON, no floats)."""

    salt: SaltHex
    value: Any

    def commitment(self, kind: str, field: str) -> str:
        return commit(kind, field, bytes.fromhex(self.salt), self.value)


class Sealed(msgspec.Struct, frozen=True):
    """A statement in its logged form and the openings that go beside it (client side)."""

    statement: dict[str, Any]
    openings: dict[str, Opening]


def seal(statement: Mapping[str, Any]) -> Sealed:
    """Replace the private fields of a full statement (a JSON-like dict) by commitments.

    Every private field present is committed with its own fresh salt; an absent optional field
    keeps its default and gets no commitment. Fields already committed are left as they are.
    """
    kind = str(statement["kind"])
    names = private_fields(kind)
    public = {k: v for k, v in statement.items() if k not in names}
    present = [name for name in names if name in statement]
    if not names:
        return Sealed(public, {})
    openings: dict[str, Opening] = {}
    commitments: dict[str, str] = dict(public.pop("commitments", None) or {})
    for name in present:
        value = msgspec.to_builtins(statement[name])
        opening = Opening(secrets.token_hex(SALT_BYTES), value)
        openings[name] = opening
        commitments[name] = opening.commitment(kind, name)
    public["commitments"] = commitments
    return Sealed(public, openings)


def check_openings(
    kind: str, commitments: Mapping[str, str | None], openings: Mapping[str, Opening]
) -> None:
    """Every commitment opened, nothing else, each opening matching; `OpeningError` otherwise."""
    committed = {name for name, value in commitments.items() if value is not None}
    for name in sorted(committed - openings.keys()):
        raise OpeningError(
            "opening-missing",
            f"{kind} commits to `{name}` but no opening for it was sent beside the envelope",
        )
    for name in sorted(openings.keys() - committed):
        raise OpeningError(
            "opening-unexpected",
            f"an opening for `{name}` was sent, but the statement commits to no such field"
            + ("" if name in private_fields(kind) else f" (`{name}` is not private in {kind})"),
        )
    for name in sorted(committed):
        computed = openings[name].commitment(kind, name)
        if computed != commitments[name]:
            raise OpeningError(
                "opening-mismatch",
                f"the opening of `{name}` does not match its commitment",
                expected=commitments[name],
                computed=computed,
            )


class SignedStatement(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The body of a write: `{"envelope": <DSSE envelope>, "openings": {field: opening}}`.

    A bare DSSE envelope (`payload`, `payloadType`, `signatures` at the top level) is accepted
    too, for statements with nothing private, so that plain DSSE tools can submit them.
    """

    envelope: Envelope | None = None
    openings: dict[str, Opening] = msgspec.field(default_factory=dict)
    payload: str | None = None
    payloadType: str | None = None
    signatures: list[Signature] | None = None

    def parts(self) -> tuple[Envelope, dict[str, Opening]]:
        bare = (self.payload, self.payloadType, self.signatures)
        if self.envelope is not None:
            if any(part is not None for part in bare):
                raise EncodingError(
                    'send either {"envelope", "openings"} or a bare envelope, not both'
                )
            return self.envelope, self.openings
        if self.payload is None or self.payloadType is None or self.signatures is None:
            raise EncodingError(
                'a write carries {"envelope": <DSSE envelope>, "openings": {...}} '
                "or a bare DSSE envelope (payload, payloadType, signatures)"
            )
        return Envelope(self.payload, self.payloadType, self.signatures), self.openings


def verify_openings(payload: bytes, index: int, openings: Mapping[str, Opening]) -> None:
    """Check openings against the commitments of the statement logged at entry `index` (its
    payload bytes); raise `OpeningError` naming the first that does not open."""
    try:
        statement = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise OpeningError("opening-mismatch", f"the statement is not JSON: {exc}") from exc
    kind = str(statement.get("kind", ""))
    commitments = statement.get("commitments") or {}
    for field, opening in openings.items():
        expected = commitments.get(field)
        if expected is None:
            raise OpeningError("opening-mismatch", f"entry {index} commits to no field `{field}`")
        computed = opening.commitment(kind, field)
        if computed != expected:
            raise OpeningError(
                "opening-mismatch",
                f"the opening of `{field}` does not match entry {index}'s commitment",
                expected=expected,
                computed=computed,
            )
