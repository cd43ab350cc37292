"""Statements: the signed payloads of DSSE envelopes, one msgspec Struct per kind.

Decoding is strict: the `kind` tag selects the Struct, unknown fields are rejected, and no field
of any kind accepts a float (money and quantities are integers, times are RFC 3339 strings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeAlias, Union, get_args, get_origin

import msgspec

from ledger.encoding import MAX_JSON_DEPTH, b64decode, json_too_deep, parse_rfc3339_utc
from ledger.errors import EncodingError, StatementError, StatementRejected
from ledger.privacy import Commitment, Opening, OpeningError, check_openings, private_fields

RFC3339_UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
NONCE_PATTERN = r"^[0-9a-f]{32,128}$"  # 16 to 64 random bytes, lowercase hex

Timestamp = Annotated[str, msgspec.Meta(pattern=RFC3339_UTC_PATTERN)]
Nonce = Annotated[str, msgspec.Meta(pattern=NONCE_PATTERN)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Grounds = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
Base64Key = Annotated[str, msgspec.Meta(min_length=44, max_length=44)]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]  # keyids, party ids, digests
Id = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]  # ids of assets, objections, ...
Category = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
Origin = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\s+]+$")]

Classification = Literal["general", "important", "core"]
PersonalInfo = Literal["none", "anonymized", "personal", "sensitive_personal"]
Right = Literal["holding", "processing", "operation"]
Role = Literal["regulator", "witness"]
ObjectionOutcome = Literal["upheld", "dismissed"]

RIGHTS: tuple[Right, ...] = ("holding", "processing", "operation")


class Statement(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", kw_only=True
):
    """Fields every statement has. `kind` is the msgspec tag, so it is not a field here.

    `origin` names the one log the statement is meant for (the checkpoint origin): another log
    refuses it (`wrong-log`), so entries copied from one ledger cannot be replayed on another.
    """

    issued_at: Timestamp
    nonce: Nonce
    origin: Origin

    @property
    def kind(self) -> str:
        tag = type(self).__struct_config__.tag
        assert isinstance(tag, str)
        return tag

    def issued_at_datetime(self) -> datetime:
        return parse_rfc3339_utc(self.issued_at, what="issued_at")


class _Value(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A nested value inside a statement: strict like statements, but untagged."""


class Money(_Value, frozen=True):
    amount_minor: Count
    currency: Currency = "CNY"


class SchemaField(_Value, frozen=True):
    name: Name
    type: Name
    description: Text = ""


class Quality(_Value, frozen=True):
    """The owner's self-assessment, each dimension 0..100 (GB/T 36344 style dimensions)."""

    completeness: Percent
    accuracy: Percent
    consistency: Percent
    timeliness: Percent

    def score(self) -> int:
        """The mean of the dimensions, 0..100."""
        return (self.completeness + self.accuracy + self.consistency + self.timeliness) // 4


# --- parties ----------------------------------------------------------------------------------


class PartyRegister(Statement, frozen=True, tag="party.register"):
    """A new party, self-signed by the key it registers; its id is that key's keyid.

    Contact details never go on the ledger: `contact_commitment` is SHA-256 over a random salt
    and the canonical contact JSON, so the details can later be erased while this entry verifies.
    """

    name: Name
    public_key: Base64Key
    contact_commitment: Sha256Hex | None = None

    def public_key_bytes(self) -> bytes:
        return _raw_key(self.public_key)


class PartySetContact(Statement, frozen=True, tag="party.set_contact"):
    """Commit to new contact details (or to none: null)."""

    contact_commitment: Sha256Hex | None


class PartyRotateKey(Statement, frozen=True, tag="party.rotate_key"):
    """Replace the signing key: signed by the current key; the old key stops being valid."""

    new_public_key: Base64Key

    def new_public_key_bytes(self) -> bytes:
        return _raw_key(self.new_public_key)


class PartyRevokeKey(Statement, frozen=True, tag="party.revoke_key"):
    """Revoke one of the party's keys (e.g. compromised). Earlier signatures stay valid."""

    keyid: Sha256Hex
    reason: Text = ""


class RoleGrant(Statement, frozen=True, tag="role.grant"):
    """The operator (log key) grants a role."""

    party_id: Sha256Hex
    role: Role


class RoleRevoke(Statement, frozen=True, tag="role.revoke"):
    """The operator (log key) withdraws a role."""

    party_id: Sha256Hex
    role: Role


# --- assets -----------------------------------------------------------------------------------


class AssetRegister(Statement, frozen=True, tag="asset.register"):
    """A data asset, registered by fingerprint: the data stays with its owner."""

    title: Name
    description: Text
    category: Category
    classification: Classification
    personal_info: PersonalInfo
    fingerprint: Sha256Hex
    size_bytes: Count
    record_count: Count
    schema: list[SchemaField] | None = None
    derived_from: list[Id] = msgspec.field(default_factory=list)
    declared_cost: Money | None = None
    quality: Quality | None = None


class AssetVersion(Statement, frozen=True, tag="asset.version"):
    """A new version (new content fingerprint) of an existing asset: same id, same history."""

    asset_id: Id
    fingerprint: Sha256Hex
    size_bytes: Count
    record_count: Count
    schema: list[SchemaField] | None = None
    note: Text = ""


class AssetObject(Statement, frozen=True, tag="asset.object"):
    """An objection to a registration while it is on public notice."""

    asset_id: Id
    grounds: Grounds
    evidence_fingerprint: Sha256Hex | None = None


class ObjectionResolve(Statement, frozen=True, tag="objection.resolve"):
    """A regulator decides an objection: upheld rejects the registration."""

    objection_id: Id
    outcome: ObjectionOutcome
    reason: Grounds


class ObjectionsDismiss(Statement, frozen=True, tag="objections.dismiss"):
    """A regulator dismisses a run of open objections at once (a flood of baseless ones)."""

    objection_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=500)]
    reason: Grounds


class ConflictResolve(Statement, frozen=True, tag="conflict.resolve"):
    """A regulator decides which claim on a fingerprint stands (none: all are rejected)."""

    fingerprint: Sha256Hex
    rightful_asset_id: Id | None
    reason: Grounds


class AssetCertify(Statement, frozen=True, tag="asset.certify"):
    """Signed by the ledger itself when the notice period ended with no open objection."""

    asset_id: Id


class AssetFreeze(Statement, frozen=True, tag="asset.freeze"):
    """A regulator stops all trading in an asset: no new offers, licences or usage."""

    asset_id: Id
    reason: Grounds


class AssetUnfreeze(Statement, frozen=True, tag="asset.unfreeze"):
    asset_id: Id
    reason: Grounds


class LineageConfirm(Statement, frozen=True, tag="lineage.confirm"):
    """The owner of a parent asset (holder of its holding right) accepts that `asset_id` was
    declared `derived_from` it: until then a link to another owner's asset is unconfirmed."""

    asset_id: Id  # the derived asset
    parent_id: Id  # the asset it names in `derived_from`


# --- rights -----------------------------------------------------------------------------------


class RightsOffer(Statement, frozen=True, tag="rights.offer"):
    """The holder of a right offers it to another party; it moves when they accept."""

    asset_id: Id
    right: Right
    to_party: Sha256Hex


class RightsAccept(Statement, frozen=True, tag="rights.accept"):
    """The party a right was offered to accepts it."""

    transfer_id: Id


# --- offers and licences (an ODRL 2.2 subset) ---------------------------------------------------

Action = Literal["use", "process", "train", "distribute", "display", "aggregate"]
LawfulBasis = Literal["consent", "anonymized", "contract", "statutory"]
Purpose = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
Days = Annotated[int, msgspec.Meta(ge=1, le=36_500)]
Units = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
UsageKind = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class Tier(_Value, frozen=True):
    """Units up to `up_to` (cumulative; null = no bound) cost `unit_price_minor` each."""

    up_to: Units | None
    unit_price_minor: Count


class Pricing(_Value, frozen=True):
    """fixed: `fixed_minor` for the licence; per_unit: plus `unit_price_minor` per unit;
    tiered: plus units priced by `tiers` (ascending bounds)."""

    model: Literal["fixed", "per_unit", "tiered"]
    currency: Currency = "CNY"
    fixed_minor: Count = 0
    unit_price_minor: Count | None = None
    tiers: list[Tier] = msgspec.field(default_factory=list)


class Policy(_Value, frozen=True):
    """The machine-readable terms of an offer."""

    actions: Annotated[list[Action], msgspec.Meta(min_length=1, max_length=16)]
    purposes: Annotated[list[Purpose], msgspec.Meta(min_length=1, max_length=32)]
    term_days: Days
    territory: Annotated[list[Country], msgspec.Meta(min_length=1, max_length=250)]
    pricing: Pricing
    max_units: Units | None = None  # null: unlimited
    exclusive: bool = False
    sublicensable: bool = False


class OfferPublish(Statement, frozen=True, tag="offer.publish"):
    """The holder of the operation right offers licences on an asset."""

    asset_id: Id
    policy: Policy


class OfferWithdraw(Statement, frozen=True, tag="offer.withdraw"):
    offer_id: Id
    reason: Text = ""


class LicenceRequest(Statement, frozen=True, tag="licence.request"):
    """A buyer asks for a licence under an offer (personal data needs a lawful basis)."""

    offer_id: Id
    purpose: Purpose
    term_days: Days
    territory: Annotated[list[Country], msgspec.Meta(min_length=1, max_length=250)]
    units: Units | None = None
    lawful_basis: LawfulBasis | None = None


class LicenceApprove(Statement, frozen=True, tag="licence.approve"):
    """The operation-right holder approves at an agreed price; the term starts now."""

    licence_id: Id
    price: Money


class LicenceReject(Statement, frozen=True, tag="licence.reject"):
    licence_id: Id
    reason: Grounds


class LicenceRegulatorApprove(Statement, frozen=True, tag="licence.regulator_approve"):
    """A regulator's approval, which important data needs before a licence is active."""

    licence_id: Id


class LicenceRevoke(Statement, frozen=True, tag="licence.revoke"):
    """By the seller (with a reason) or a regulator."""

    licence_id: Id
    reason: Grounds


class LicenceTerminate(Statement, frozen=True, tag="licence.terminate"):
    """By the buyer."""

    licence_id: Id
    reason: Text = ""


class LicenceExpire(Statement, frozen=True, tag="licence.expire"):
    """Signed by the ledger itself when a licence's term has ended."""

    licence_id: Id


class GatewaySet(Statement, frozen=True, tag="gateway.set"):
    """The operation-right holder lets a metering gateway (a party) report usage, or stops it."""

    asset_id: Id
    gateway_party: Sha256Hex
    enabled: bool


class UsageReport(Statement, frozen=True, tag="usage.report"):
    """Units used under a licence during [period_start, period_end]."""

    licence_id: Id
    units: Units
    period_start: Timestamp
    period_end: Timestamp
    usage_kind: UsageKind = "records"  # what a unit is: records, api_calls, rows_trained...


class PaymentRecord(Statement, frozen=True, tag="payment.record"):
    """The buyer records a payment against a licence."""

    licence_id: Id
    amount: Money
    reference: Text = ""


class PaymentConfirm(Statement, frozen=True, tag="payment.confirm"):
    """The seller confirms it: a confirmed payment is a transaction."""

    payment_id: Id


class ValuationQuote(Statement, frozen=True, tag="valuation.quote"):
    """Signed by the ledger when it quotes a price, so auditors can compare deals with quotes."""

    asset_id: Id
    units: Units | None
    term_days: Days
    exclusive: bool
    purpose: Purpose
    price: Money
    low_minor: Count
    high_minor: Count
    model_as_of: Timestamp


# --- disputes -------------------------------------------------------------------------------------


class DisputeOpen(Statement, frozen=True, tag="dispute.open"):
    """Either party to a licence says something went wrong (e.g. data not matching its
    fingerprint, usage beyond the licence)."""

    licence_id: Id
    grounds: Grounds
    evidence_fingerprint: Sha256Hex | None = None


class DisputeAnswer(Statement, frozen=True, tag="dispute.answer"):
    """The other party's answer."""

    dispute_id: Id
    answer: Grounds


class DisputeResolve(Statement, frozen=True, tag="dispute.resolve"):
    """A regulator's decision and remedy: a refund, revoking the licence, and/or taking units
    off the licence's metered usage."""

    dispute_id: Id
    decision: Grounds
    refund: Money | None = None
    revoke_licence: bool = False
    usage_correction: Count = 0


AnyStatement: TypeAlias = (
    PartyRegister
    | PartySetContact
    | PartyRotateKey
    | PartyRevokeKey
    | RoleGrant
    | RoleRevoke
    | AssetRegister
    | AssetVersion
    | AssetObject
    | ObjectionResolve
    | ObjectionsDismiss
    | ConflictResolve
    | AssetCertify
    | AssetFreeze
    | AssetUnfreeze
    | LineageConfirm
    | RightsOffer
    | RightsAccept
    | OfferPublish
    | OfferWithdraw
    | LicenceRequest
    | LicenceApprove
    | LicenceReject
    | LicenceRegulatorApprove
    | LicenceRevoke
    | LicenceTerminate
    | LicenceExpire
    | GatewaySet
    | UsageReport
    | PaymentRecord
    | PaymentConfirm
    | DisputeOpen
    | DisputeAnswer
    | DisputeResolve
    | ValuationQuote
)
STATEMENT_KINDS: tuple[type[Statement], ...] = (
    PartyRegister,
    PartySetContact,
    PartyRotateKey,
    PartyRevokeKey,
    RoleGrant,
    RoleRevoke,
    AssetRegister,
    AssetVersion,
    AssetObject,
    ObjectionResolve,
    ObjectionsDismiss,
    ConflictResolve,
    AssetCertify,
    AssetFreeze,
    AssetUnfreeze,
    LineageConfirm,
    RightsOffer,
    RightsAccept,
    OfferPublish,
    OfferWithdraw,
    LicenceRequest,
    LicenceApprove,
    LicenceReject,
    LicenceRegulatorApprove,
    LicenceRevoke,
    LicenceTerminate,
    LicenceExpire,
    GatewaySet,
    UsageReport,
    PaymentRecord,
    PaymentConfirm,
    DisputeOpen,
    DisputeAnswer,
    DisputeResolve,
    ValuationQuote,
)

KNOWN_KINDS = frozenset(str(t.__struct_config__.tag) for t in STATEMENT_KINDS)


def _sealed_kind(full: type[Statement]) -> type[Statement]:
    """The logged form of a kind: its private fields replaced by a `commitments` object
    (`ledger.privacy`). A kind with no private field is logged as it is."""
    private = private_fields(str(full.__struct_config__.tag))
    if not private:
        return full
    fields = msgspec.structs.fields(full)
    base = {f.name for f in msgspec.structs.fields(Statement)}

    def spec(f: msgspec.structs.FieldInfo, typ: Any) -> tuple[Any, ...]:
        if f.required:
            return (f.name, typ)
        if f.default_factory is not msgspec.NODEFAULT:
            return (f.name, typ, msgspec.field(default_factory=f.default_factory))
        return (f.name, typ, f.default)

    commitments = msgspec.defstruct(
        f"{full.__name__}Commitments",
        [
            (f.name, Commitment) if f.required else (f.name, Commitment | None, None)
            for f in fields
            if f.name in private
        ],
        frozen=True,
        forbid_unknown_fields=True,
        kw_only=True,
        module=__name__,
    )
    public = [spec(f, f.type) for f in fields if f.name not in private and f.name not in base]
    return msgspec.defstruct(  # type: ignore[return-value]  # its base is Statement
        f"Sealed{full.__name__}",
        [*public, ("commitments", commitments)],
        bases=(Statement,),
        tag=full.__struct_config__.tag,
        frozen=True,
        forbid_unknown_fields=True,
        kw_only=True,
        module=__name__,
    )


# The logged form of every kind, and the full (opened) kind each one opens to.
SEALED_KINDS: dict[str, type[Statement]] = {
    str(t.__struct_config__.tag): _sealed_kind(t) for t in STATEMENT_KINDS
}
_FULL_KINDS: dict[str, type[Statement]] = {str(t.__struct_config__.tag): t for t in STATEMENT_KINDS}
_PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f for f in t.__struct_fields__ if f != "commitments")
    for kind, t in SEALED_KINDS.items()
}
_FIELD_TYPES: dict[str, dict[str, Any]] = {
    kind: {f.name: f.type for f in msgspec.structs.fields(t)} for kind, t in _FULL_KINDS.items()
}


class _Head(msgspec.Struct):
    """Just the kind, read first so that a missing or unknown kind gets a clear error."""

    kind: str


_head_decoder = msgspec.json.Decoder(_Head)
_decoder: msgspec.json.Decoder[Statement] = msgspec.json.Decoder(
    Union[tuple(SEALED_KINDS.values())]  # noqa: UP007
)


def decode_statement(payload: bytes) -> Statement:
    """Decode a logged statement payload strictly; `StatementError` says what is wrong.

    The result is the sealed form: private fields are commitments (`open_statement` opens it).
    """
    if json_too_deep(payload):
        raise StatementError(
            f"statement payload nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
        )
    head = _Head("")
    try:
        head = _head_decoder.decode(payload)
        if head.kind not in KNOWN_KINDS:
            raise StatementError(
                f"unknown statement kind {head.kind!r}; "
                f"known kinds: {', '.join(sorted(KNOWN_KINDS))}"
            )
        statement = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise StatementError(_explain(head.kind, str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise StatementError(f"statement payload is not JSON: {exc}") from exc
    try:
        statement.issued_at_datetime()
    except EncodingError as exc:
        raise StatementError(exc.message) from exc
    return statement


def _explain(kind: str, message: str) -> str:
    """Say so when a private field was written in clear instead of committed to."""
    for name in private_fields(kind):
        if f"unknown field `{name}`" in message:
            return (
                f"`{name}` is private in {kind}: put its commitment in `commitments` and send "
                "its opening beside the envelope, never the value itself (docs/protocol.md)"
            )
    return f"invalid statement: {message}"


ERASED = "[erased]"  # what an erased text field reads as, once its opening is gone


def is_text_field(kind: str, name: str) -> bool:
    """Whether field `name` of `kind` holds text (a reason, grounds, a note): erasable."""
    typ = _FIELD_TYPES[kind].get(name)
    while get_origin(typ) is Annotated:
        typ = get_args(typ)[0]
    return typ is str


def commitments_of(sealed: Statement) -> dict[str, str]:
    """The commitments a logged statement makes, by field (none, for a kind with nothing
    private or an optional private field left out)."""
    commitments = getattr(sealed, "commitments", None)
    if commitments is None:
        return {}
    return {k: v for k, v in msgspec.structs.asdict(commitments).items() if v is not None}


def open_statement(
    sealed: Statement,
    openings: Mapping[str, Opening],
    *,
    erased: frozenset[str] = frozenset(),
) -> AnyStatement:
    """The full statement the rules decide on: every commitment checked against its opening.

    `erased` names text fields whose openings were erased (replay): they read as `ERASED`.
    Raises `OpeningError` (missing, unexpected or mismatching opening, or an opened value that
    is not valid for its field).
    """
    kind = sealed.kind
    full = _FULL_KINDS[kind]
    if not private_fields(kind):
        if openings:
            raise OpeningError(
                "opening-unexpected", f"{kind} has no private fields, yet openings were sent"
            )
        return sealed  # type: ignore[return-value]  # the sealed kind is the full kind
    committed = commitments_of(sealed)
    check_openings(kind, {k: v for k, v in committed.items() if k not in erased}, openings)
    values = {f: getattr(sealed, f) for f in _PUBLIC_FIELDS[kind]}
    values.update({name: ERASED for name in erased if is_text_field(kind, name)})
    types = _FIELD_TYPES[kind]
    for name, opening in openings.items():
        try:
            values[name] = msgspec.convert(opening.value, types[name])
        except msgspec.ValidationError as exc:
            raise OpeningError(
                "opening-invalid", f"the opened value of `{name}` is not valid: {exc}"
            ) from exc
    return full(**values)  # type: ignore[return-value]


def check_origin(statement: Statement, origin: str) -> None:
    """Refuse a statement meant for another log."""
    if statement.origin != origin:
        raise StatementRejected(
            "wrong-log",
            f"this statement is for the log {statement.origin!r}; this log is {origin!r}",
            status=422,
        )


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


def statement_id(payload: bytes) -> str:
    """The id a statement gives what it creates (an asset, objection, transfer): 32 hex chars of
    SHA-256 over the payload bytes, so the submitter knows it before the server answers."""
    return hashlib.sha256(payload).hexdigest()[:32]


def _raw_key(text: str) -> bytes:
    raw = b64decode(text, what="public key", error=StatementError)
    if len(raw) != 32:
        raise StatementError("a public key must be a raw 32-byte Ed25519 key")
    return raw


class AuthLogin(Statement, frozen=True, tag="auth.login"):
    """A signed login: verified by the server, never appended. Bounded lifetime."""

    expires_at: Timestamp


_login_decoder = msgspec.json.Decoder(AuthLogin)


def decode_login(payload: bytes) -> AuthLogin:
    try:
        return _login_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise StatementError(f"invalid login statement: {exc}") from exc
