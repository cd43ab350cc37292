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


class Quota(msgspec.Struct, frozen=True):
    """One daily quota of a party: what it may append per day, and how much is used."""

    limit: int
    used: int
    remaining: int
    resets_at: str | None  # when the window renews; None while nothing is counted


class Quotas(msgspec.Struct, frozen=True):
    entries: Quota  # entries appended (statements signed by the party)
    bytes: Quota  # bytes of their payloads, as submitted (base64)


class Party(msgspec.Struct, frozen=True):
    party_id: str
    name: str
    registered_index: int
    registered_at: str
    contact_commitment: str | None
    keys: list[KeyInfo]
    roles: list[str]
    # Another party bears the same name (NFKC, case and white space aside): tell them apart by
    # roles and party_id, never by name.
    name_shared: bool
    contact: Contact | None = None  # only for the party itself, regulators and the operator
    quotas: Quotas | None = None  # only for the party itself, and while limits are on


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
    status_reason: str | None = None  # private, like cost, quality and schema
    freeze_reason: str | None = None


class CatalogPage(msgspec.Struct, frozen=True):
    assets: list[AssetSummary]
    next_cursor: int | None


class AssetDetail(AssetSummary, frozen=True):
    # Lineage: `derived_from` / `derived_into` list confirmed links only (to one's own asset, or
    # accepted by the parent's owner with lineage.confirm); the `unconfirmed_` lists hold links
    # declared by a registrant that the parent's owner has not accepted.
    derived_from: list[str] = []
    derived_into: list[str] = []
    unconfirmed_derived_from: list[str] = []
    unconfirmed_derived_into: list[str] = []
    open_objections: int = 0
    open_disputes: int = 0
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
    note: str | None  # private: null unless you may read it (docs/protocol.md)
    entry_index: int
    recorded_at: str


class History(msgspec.Struct, frozen=True):
    """One page of an asset's entries. `next_cursor` is set (and `truncated` true) when more
    follow: ask again with `after=<next_cursor>`."""

    asset_id: str
    entries: list[Receipt]
    next_cursor: int | None = None
    truncated: bool = False


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
    grounds: str | None  # private, with the evidence: null unless you may read them
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
    # The registrant's roles, and whether another party bears its name: a certificate shows
    # owner_id beside owner_name, and says so when the name alone would mislead.
    owner_roles: list[str] = []
    owner_name_shared: bool = False


T = TypeVar("T")


def convert(data: Any, type_: type[T]) -> T:
    """Shape rows from the catalog queries into a response type (validated)."""
    return msgspec.convert(data, type_)


class Offer(msgspec.Struct, frozen=True):
    offer_id: str
    asset_id: str
    publisher_id: str
    status: str
    policy: dict[str, Any]
    exclusive: bool
    published_index: int
    published_at: str
    withdrawn_index: int | None
    withdraw_reason: str | None


class Payment(msgspec.Struct, frozen=True):
    payment_id: str
    licence_id: str
    payer_id: str
    amount_minor: int
    currency: str
    reference: str
    status: str
    recorded_index: int
    recorded_at: str
    confirmed_index: int | None
    confirmed_at: str | None


class Dispute(msgspec.Struct, frozen=True):
    dispute_id: str
    licence_id: str
    asset_id: str
    opened_by: str
    respondent: str
    grounds: str
    evidence_fingerprint: str | None
    status: str
    answer: str | None
    decision: str | None
    refund_minor: int | None
    refund_currency: str | None
    revoked_licence: bool | None
    usage_correction: int | None
    opened_index: int
    opened_at: str
    answered_index: int | None
    resolved_index: int | None
    receipts: list[Receipt] = []


class Licence(msgspec.Struct, frozen=True):
    licence_id: str
    offer_id: str
    asset_id: str
    buyer_id: str
    seller_id: str
    status: str
    purpose: str
    term_days: int
    territory: list[str]
    max_units: int | None
    units_used: int
    lawful_basis: str | None
    exclusive: bool
    sublicensable: bool
    price_minor: int | None
    price_currency: str | None
    starts_at: str | None
    ends_at: str | None
    status_reason: str | None
    requested_index: int
    requested_at: str
    approved_index: int | None
    updated_index: int
    paid_minor: int = 0  # recorded by the buyer, confirmed or not
    confirmed_minor: int = 0  # confirmed by the seller
    payments: list[Payment] = []
    disputes: list[Dispute] = []


class UsageDay(msgspec.Struct, frozen=True):
    day: str
    units: int
    reports: int


class UsageSummary(msgspec.Struct, frozen=True):
    licence_id: str | None
    asset_id: str | None
    total_units: int
    max_units: int | None
    daily: list[UsageDay]
