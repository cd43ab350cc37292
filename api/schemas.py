"""Response bodies of the registry endpoints (msgspec Structs, so they appear in the OpenAPI)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from ledger.receipts import Receipt


class LoginResult(msgspec.Struct, frozen=True):
    token: str
    party_id: str
    roles: list[str]
    is_operator: bool
    expires_at: str


class KeyInfo(msgspec.Struct, frozen=True):
    keyid: str
    added_index: int
    revoked_index: int | None


class Contact(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Contact details: personal information, kept off the ledger and erasable."""

    salt: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None


class Party(msgspec.Struct, frozen=True):
    party_id: str
    name: str
    registered_index: int
    registered_at: str
    contact_commitment: str | None
    keys: list[KeyInfo]
    roles: list[str]
    contact: Contact | None = None  # only for the party itself, regulators and the operator


class AssetSummary(msgspec.Struct, frozen=True):
    asset_id: str
    owner_id: str
    title: str
    description: str
    category: str
    classification: str
    personal_info: str
    fingerprint: str
    size_bytes: int
    record_count: int
    status: str
    conflict: bool
    frozen: bool
    version: int
    registered_index: int
    registered_at: str
    notice_ends_at: str
    certified_index: int | None
    status_reason: str | None


class CatalogPage(msgspec.Struct, frozen=True):
    assets: list[AssetSummary]
    next_cursor: int | None


class AssetDetail(AssetSummary, frozen=True):
    derived_from: list[str] = []
    derived_into: list[str] = []
    open_objections: int = 0
    # Private: only the owner, regulators and the operator see these.
    declared_cost_minor: int | None = None
    declared_cost_currency: str | None = None
    quality: dict[str, int] | None = None
    quality_score: int | None = None
    schema: list[dict[str, str]] | None = None


class Version(msgspec.Struct, frozen=True):
    version: int
    fingerprint: str
    size_bytes: int
    record_count: int
    note: str
    entry_index: int
    recorded_at: str


class History(msgspec.Struct, frozen=True):
    asset_id: str
    entries: list[Receipt]


class Holder(msgspec.Struct, frozen=True):
    right: str
    holder_id: str
    since_index: int


class Transfer(msgspec.Struct, frozen=True):
    transfer_id: str
    asset_id: str
    right: str
    from_party: str
    to_party: str
    status: str
    offered_index: int
    accepted_index: int | None
    receipts: list[Receipt] = []


class Rights(msgspec.Struct, frozen=True):
    asset_id: str
    holders: list[Holder]
    transfers: list[Transfer]


class Objection(msgspec.Struct, frozen=True):
    objection_id: str
    asset_id: str
    objector_id: str
    grounds: str
    evidence_fingerprint: str | None
    status: str
    reason: str | None
    filed_index: int
    filed_at: str
    resolved_index: int | None


class Conflict(msgspec.Struct, frozen=True):
    fingerprint: str
    status: str
    asset_ids: list[str]
    opened_index: int
    resolved_index: int | None
    rightful_asset_id: str | None
    reason: str | None


class Certificate(msgspec.Struct, frozen=True):
    """Proof of certification: the certify entry's receipt, plus a readable summary."""

    asset_id: str
    title: str
    owner_id: str
    owner_name: str
    fingerprint: str
    version: int
    classification: str
    category: str
    registered_at: str
    registered_index: int
    certified_index: int
    holders: list[Holder]
    receipt: Receipt
    log_key: str


T = TypeVar("T")


def convert(data: Any, type_: type[T]) -> T:
    """Shape rows from the catalog queries into a response type (validated)."""
    return msgspec.convert(data, type_)
