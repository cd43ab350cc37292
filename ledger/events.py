"""Events: what an accepted statement changes, as decided by `ledger.rules`.

Events are plain records. The storage adapter turns each into rows of the projection tables
(`ledger.storage.projections.apply`); replay produces the same events from the same entries, so
the projections can always be rebuilt from the ledger.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from ledger.statements import (
    AssetRegister,
    AssetVersion,
    LicenceRequest,
    Money,
    ObjectionOutcome,
    Policy,
    Right,
)


class _Event(msgspec.Struct, frozen=True, kw_only=True):
    pass


class PartyRegistered(_Event, frozen=True):
    party_id: str
    name: str
    contact_commitment: str | None


class ContactCommitted(_Event, frozen=True):
    party_id: str
    contact_commitment: str | None


class KeyAdded(_Event, frozen=True):
    party_id: str
    keyid: str
    public_key: bytes


class KeyRevoked(_Event, frozen=True):
    keyid: str
    reason: str


class RoleGranted(_Event, frozen=True):
    party_id: str
    role: str


class RoleRevoked(_Event, frozen=True):
    party_id: str
    role: str


class AssetRegistered(_Event, frozen=True):
    asset_id: str
    owner_id: str
    statement: AssetRegister
    notice_ends_at: str
    conflict: bool
    # the parents in `derived_from` the registrant owns (holds the holding right of): those
    # links are confirmed at once; the others wait for `LineageConfirmed`
    confirmed_parents: tuple[str, ...] = ()


class LineageConfirmed(_Event, frozen=True):
    """The parent's owner accepted the declared link `asset_id` derived_from `parent_id`."""

    asset_id: str
    parent_id: str


class AssetVersioned(_Event, frozen=True):
    asset_id: str
    version: int
    statement: AssetVersion
    conflict: bool


class ConflictOpened(_Event, frozen=True):
    """A fingerprint is claimed by more than one party: every claim waits for a regulator."""

    fingerprint: str
    asset_ids: tuple[str, ...]


class ConflictResolved(_Event, frozen=True):
    fingerprint: str
    rightful_asset_id: str | None
    rejected_asset_ids: tuple[str, ...]
    reason: str


class AssetCertified(_Event, frozen=True):
    asset_id: str


class AssetRejected(_Event, frozen=True):
    asset_id: str
    reason: str


class AssetFreezeChanged(_Event, frozen=True):
    asset_id: str
    frozen: bool
    reason: str


class ObjectionFiled(_Event, frozen=True):
    objection_id: str
    asset_id: str
    objector_id: str
    grounds: str
    evidence_fingerprint: str | None


class ObjectionResolved(_Event, frozen=True):
    objection_id: str
    outcome: ObjectionOutcome
    reason: str


class RightHeld(_Event, frozen=True):
    """`holder_id` now holds `right` on the asset (on registration, or after a transfer)."""

    asset_id: str
    right: Right
    holder_id: str


class TransferOffered(_Event, frozen=True):
    transfer_id: str
    asset_id: str
    right: Right
    from_party: str
    to_party: str


class TransferAccepted(_Event, frozen=True):
    transfer_id: str


class AssetTouched(_Event, frozen=True):
    """The entry concerns this asset: it belongs in the asset's history."""

    asset_id: str


class OfferPublished(_Event, frozen=True):
    offer_id: str
    asset_id: str
    publisher_id: str
    policy: Policy


class OfferWithdrawn(_Event, frozen=True):
    offer_id: str
    reason: str


class LicenceRequested(_Event, frozen=True):
    licence_id: str
    offer_id: str
    asset_id: str
    buyer_id: str
    seller_id: str
    request: LicenceRequest
    max_units: int | None  # the request's units, else the offer's quota; None = unlimited
    exclusive: bool
    sublicensable: bool


class LicenceApproved(_Event, frozen=True):
    """Agreed at `price`; the term runs [starts_at, ends_at). Active, or awaiting a regulator."""

    licence_id: str
    price: Money
    starts_at: str
    ends_at: str
    status: str


class LicenceStatusChanged(_Event, frozen=True):
    """active, rejected, revoked, terminated, expired or exhausted, with the reason."""

    licence_id: str
    status: str
    reason: str


class GatewayChanged(_Event, frozen=True):
    asset_id: str
    gateway_party: str
    enabled: bool


class UsageRecorded(_Event, frozen=True):
    usage_id: str
    licence_id: str
    asset_id: str
    licensee_id: str
    reporter_id: str
    units: int
    usage_kind: str
    period_start: str
    period_end: str


class PaymentRecorded(_Event, frozen=True):
    payment_id: str
    licence_id: str
    payer_id: str
    amount: Money
    reference: str


class PaymentConfirmed(_Event, frozen=True):
    payment_id: str


class DisputeOpened(_Event, frozen=True):
    dispute_id: str
    licence_id: str
    asset_id: str
    opened_by: str
    respondent: str
    grounds: str
    evidence_fingerprint: str | None


class DisputeAnswered(_Event, frozen=True):
    dispute_id: str
    answer: str


class DisputeResolved(_Event, frozen=True):
    dispute_id: str
    decision: str
    refund: Money | None
    revoke_licence: bool
    usage_correction: int


class UsageCorrected(_Event, frozen=True):
    """A remedy: `units` taken off a licence's metered usage."""

    licence_id: str
    units: int


class QuoteRecorded(_Event, frozen=True):
    asset_id: str
    units: int | None
    term_days: int
    exclusive: bool
    purpose: str
    price: Money
    low_minor: int
    high_minor: int


Event: TypeAlias = (
    PartyRegistered
    | ContactCommitted
    | KeyAdded
    | KeyRevoked
    | RoleGranted
    | RoleRevoked
    | AssetRegistered
    | AssetVersioned
    | LineageConfirmed
    | ConflictOpened
    | ConflictResolved
    | AssetCertified
    | AssetRejected
    | AssetFreezeChanged
    | ObjectionFiled
    | ObjectionResolved
    | RightHeld
    | TransferOffered
    | TransferAccepted
    | AssetTouched
    | OfferPublished
    | OfferWithdrawn
    | LicenceRequested
    | LicenceApproved
    | LicenceStatusChanged
    | GatewayChanged
    | UsageRecorded
    | PaymentRecorded
    | PaymentConfirmed
    | DisputeOpened
    | DisputeAnswered
    | DisputeResolved
    | UsageCorrected
    | QuoteRecorded
)
