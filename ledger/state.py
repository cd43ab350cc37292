"""What the rules can see of the ledger's state: records, the read-only view, the context.

Pure: `ledger.rules.decide` reads the state through `LedgerView` and returns events; the storage
adapter (`ledger.storage.projections`) implements the view over SQL and applies the events. The
sequencer and `replay` both go through `decide` + apply, so projections are written one way only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from ledger.errors import SignatureError
from ledger.keys import keyid
from ledger.statements import PartyRegister, Policy, Right, Statement


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as the ledger knows it: whose it is and whether it is still usable."""

    keyid: str
    party_id: str
    public_key: bytes
    revoked_at: int | None = None  # index of the revoking entry


@dataclass(frozen=True, slots=True)
class AssetRecord:
    asset_id: str
    owner_id: str
    status: str  # on_notice | certified | rejected
    fingerprint: str
    version: int
    notice_ends_at: str
    conflict: bool
    classification: str = "general"
    personal_info: str = "none"
    frozen: bool = False


@dataclass(frozen=True, slots=True)
class LineageRecord:
    """`asset_id` declared `derived_from` `parent_id`; confirmed (by the parent's owner, or at
    once when the registrant owned the parent) at entry `confirmed_index`, else None."""

    asset_id: str
    parent_id: str
    confirmed_index: int | None = None


@dataclass(frozen=True, slots=True)
class OfferRecord:
    offer_id: str
    asset_id: str
    publisher_id: str
    status: str  # open | withdrawn
    policy: Policy


@dataclass(frozen=True, slots=True)
class LicenceRecord:
    licence_id: str
    offer_id: str
    asset_id: str
    buyer_id: str
    seller_id: str
    status: str  # requested | awaiting_regulator | active | rejected | revoked | ...
    term_days: int
    max_units: int | None
    units_used: int
    exclusive: bool
    starts_at: str | None
    ends_at: str | None
    price_currency: str | None
    price_minor: int | None = None  # the agreed price, once approved
    paid_minor: int = 0  # what the buyer has recorded as paid so far


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    payment_id: str
    licence_id: str
    status: str  # recorded | confirmed


@dataclass(frozen=True, slots=True)
class ObjectionRecord:
    objection_id: str
    asset_id: str
    status: str  # open | upheld | dismissed
    objector_id: str = ""


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    fingerprint: str
    status: str  # open | resolved
    asset_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TransferRecord:
    transfer_id: str
    asset_id: str
    right: Right
    from_party: str
    to_party: str
    status: str  # offered | accepted


class KeyView(Protocol):
    """The keys the ledger knows: enough to check who signed a statement."""

    @property
    def operator(self) -> KeyRecord:
        """The log key, which signs the ledger's own statements and grants roles."""
        ...

    def key(self, keyid: str) -> KeyRecord | None: ...


@dataclass(frozen=True, slots=True)
class DisputeRecord:
    dispute_id: str
    licence_id: str
    opened_by: str
    respondent: str
    status: str  # open | answered | resolved


class LedgerView(KeyView, Protocol):
    """Read access to the projected state that decisions need."""

    def party_exists(self, party_id: str) -> bool: ...

    def roles(self, party_id: str) -> frozenset[str]: ...

    def asset(self, asset_id: str) -> AssetRecord | None: ...

    def claims(self, fingerprint: str) -> list[AssetRecord]:
        """Assets (not rejected) whose current fingerprint is `fingerprint`."""
        ...

    def conflict(self, fingerprint: str) -> ConflictRecord | None: ...

    def objection(self, objection_id: str) -> ObjectionRecord | None: ...

    def open_objections(self, asset_id: str) -> int: ...

    def holder(self, asset_id: str, right: str) -> str | None: ...

    def lineage(self, asset_id: str, parent_id: str) -> LineageRecord | None:
        """The link `asset_id` derived_from `parent_id`, if it was declared."""
        ...

    def transfer(self, transfer_id: str) -> TransferRecord | None: ...

    def offer(self, offer_id: str) -> OfferRecord | None: ...

    def licence(self, licence_id: str) -> LicenceRecord | None: ...

    def conflicting_licence(
        self, asset_id: str, starts_at: str, ends_at: str, other_than: str, exclusive_only: bool
    ) -> LicenceRecord | None:
        """A licence of the asset, other than `other_than`, active or awaiting a regulator, whose
        term overlaps (only exclusive ones if `exclusive_only`); None if there is none."""
        ...

    def is_gateway(self, asset_id: str, party_id: str) -> bool: ...

    def payment(self, payment_id: str) -> PaymentRecord | None: ...

    def dispute(self, dispute_id: str) -> DisputeRecord | None: ...


@dataclass(frozen=True, slots=True)
class Context:
    """Where a statement lands: who signed it, its entry index and time, its id."""

    signer_keyid: str
    index: int
    integrated_at: str
    statement_id: str = ""
    notice_period: timedelta = timedelta(days=10)
    origin: str = ""  # the log's origin: a statement naming another is refused (`wrong-log`)


def signer_public_key(view: KeyView, signer_keyid: str, statement: Statement) -> bytes:
    """The public key an envelope's signature must verify against.

    A `party.register` brings its own key (self-signed); every other statement must be signed
    by a key the ledger knows (or the log key). Raises `SignatureError` otherwise. Whether the
    key may still sign is a rule (`key-revoked`), decided with the statement.
    """
    if isinstance(statement, PartyRegister):
        public_key = statement.public_key_bytes()
        if keyid(public_key) != signer_keyid:
            raise SignatureError(
                "party.register must be signed by the key it registers",
                expected=keyid(public_key),
                computed=signer_keyid,
            )
        return public_key
    if signer_keyid == view.operator.keyid:
        return view.operator.public_key
    record = view.key(signer_keyid)
    if record is None:
        raise SignatureError(f"signed by unknown key {signer_keyid}")
    return record.public_key
