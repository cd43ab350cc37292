"""Events: what an accepted statement changes, as decided by `ledger.rules`.

Events are plain records. The storage adapter turns each into rows of the projection tables
(`ledger.storage.projections.apply`); replay produces the same events from the same entries, so
the projections can always be rebuilt from the ledger.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from ledger.statements import AssetRegister, AssetVersion, ObjectionOutcome, Right


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


Event: TypeAlias = (
    PartyRegistered
    | ContactCommitted
    | KeyAdded
    | KeyRevoked
    | RoleGranted
    | RoleRevoked
    | AssetRegistered
    | AssetVersioned
    | ConflictOpened
    | ConflictResolved
    | AssetCertified
    | AssetRejected
    | ObjectionFiled
    | ObjectionResolved
    | RightHeld
    | TransferOffered
    | TransferAccepted
    | AssetTouched
)
