"""An in-memory `LedgerView`: exactly the state the rules read, folded from their events.

`MemoryState` answers every method of `ledger.state.LedgerView` as `SqlView` does over the
projection tables, and `apply` folds each event of `ledger.events` into it as
`ledger.storage.projections.apply` changes the columns that view reads. Pure: no I/O, no clock.
Rows the rules never read (titles, usage reports, quotes, asset history) are not kept.

`copy` is cheap: each table is a copy-on-write map in buckets, so a copy shares every bucket
until one side writes to it, and a snapshot before a batch costs a few hundred pointers per
table whatever the size of the ledger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from ledger import events as ev
from ledger.state import (
    AssetRecord,
    ConflictRecord,
    DisputeRecord,
    KeyRecord,
    LicenceRecord,
    LineageRecord,
    ObjectionRecord,
    OfferRecord,
    PaymentRecord,
    TransferRecord,
)

K = TypeVar("K")
V = TypeVar("V")

_BUCKETS = 256  # a power of two
_LIVE = frozenset({"active", "awaiting_regulator"})  # the statuses `conflicting_licence` sees


class DuplicateRow(LookupError):
    """An event would insert a row whose key exists (the SQL side raises IntegrityError)."""


class _CowMap(Generic[K, V]):
    """A dict in buckets, copied on write: `copy` shares the buckets until either side writes."""

    __slots__ = ("_buckets", "_len", "_owned")

    def __init__(self) -> None:
        self._buckets: list[dict[K, V] | None] = [None] * _BUCKETS
        self._owned = bytearray(_BUCKETS)
        self._len = 0

    def copy(self) -> _CowMap[K, V]:
        other: _CowMap[K, V] = _CowMap.__new__(_CowMap)
        other._buckets = list(self._buckets)
        other._owned = bytearray(_BUCKETS)
        other._len = self._len
        self._owned = bytearray(_BUCKETS)  # shared now: this side copies on its next write too
        return other

    def get(self, key: K) -> V | None:
        bucket = self._buckets[hash(key) & (_BUCKETS - 1)]
        return None if bucket is None else bucket.get(key)

    def __contains__(self, key: K) -> bool:
        bucket = self._buckets[hash(key) & (_BUCKETS - 1)]
        return bucket is not None and key in bucket

    def __len__(self) -> int:
        return self._len

    def _writable(self, key: K) -> dict[K, V]:
        i = hash(key) & (_BUCKETS - 1)
        bucket = self._buckets[i]
        if not self._owned[i]:
            bucket = {} if bucket is None else dict(bucket)
            self._buckets[i] = bucket
            self._owned[i] = 1
        assert bucket is not None
        return bucket

    def set(self, key: K, value: V) -> None:
        bucket = self._writable(key)
        if key not in bucket:
            self._len += 1
        bucket[key] = value

    def pop(self, key: K) -> None:
        if key in self:
            del self._writable(key)[key]
            self._len -= 1

    def items(self) -> Iterator[tuple[K, V]]:
        for bucket in self._buckets:
            if bucket:
                yield from bucket.items()


_TABLES = (
    "parties",
    "keys",
    "roles",
    "assets",
    "asset_seq",
    "by_fingerprint",
    "conflicts",
    "objections",
    "open_objections",
    "rights",
    "lineage",
    "transfers",
    "offers",
    "licences",
    "licence_seq",
    "live",
    "live_exclusive",
    "gateways",
    "payments",
    "disputes",
)


class MemoryState:
    """`ledger.state.LedgerView` held in memory, kept up to date by `apply`."""

    def __init__(self, operator: KeyRecord) -> None:
        self._operator = operator
        self._seq = 0  # insertion order of assets and licences (SQL's rowid order)
        self._parties: _CowMap[str, bool] = _CowMap()
        self._keys: _CowMap[str, KeyRecord] = _CowMap()
        self._roles: _CowMap[str, frozenset[str]] = _CowMap()
        self._assets: _CowMap[str, AssetRecord] = _CowMap()
        self._asset_seq: _CowMap[str, int] = _CowMap()
        # fingerprint -> ids of the assets whose current fingerprint it is (rejected ones too)
        self._by_fingerprint: _CowMap[str, frozenset[str]] = _CowMap()
        self._conflicts: _CowMap[str, ConflictRecord] = _CowMap()
        self._objections: _CowMap[str, ObjectionRecord] = _CowMap()
        self._open_objections: _CowMap[str, int] = _CowMap()
        self._rights: _CowMap[tuple[str, str], str] = _CowMap()
        # (asset, parent) -> the declared lineage link, confirmed or not
        self._lineage: _CowMap[tuple[str, str], LineageRecord] = _CowMap()
        self._transfers: _CowMap[str, TransferRecord] = _CowMap()
        self._offers: _CowMap[str, OfferRecord] = _CowMap()
        self._licences: _CowMap[str, LicenceRecord] = _CowMap()
        self._licence_seq: _CowMap[str, int] = _CowMap()
        # asset -> ids of its licences that are active or awaiting a regulator (and exclusive)
        self._live: _CowMap[str, frozenset[str]] = _CowMap()
        self._live_exclusive: _CowMap[str, frozenset[str]] = _CowMap()
        self._gateways: _CowMap[tuple[str, str], bool] = _CowMap()
        self._payments: _CowMap[str, PaymentRecord] = _CowMap()
        self._disputes: _CowMap[str, DisputeRecord] = _CowMap()

    def copy(self) -> MemoryState:
        """An independent state equal to this one; cheap (the tables are copied on write)."""
        other = MemoryState.__new__(MemoryState)
        other._operator = self._operator
        other._seq = self._seq
        for name in _TABLES:
            table: _CowMap[Any, Any] = getattr(self, f"_{name}")
            setattr(other, f"_{name}", table.copy())
        return other

    def tables(self) -> dict[str, dict[Any, Any]]:
        """Every table as a plain dict (for tests and debugging)."""
        tables = {name: dict(getattr(self, f"_{name}").items()) for name in _TABLES}
        return {**tables, "seq": {"seq": self._seq}}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MemoryState):
            return NotImplemented
        return self._operator == other._operator and self.tables() == other.tables()

    __hash__ = None  # type: ignore[assignment]  # mutable

    # --- LedgerView ---------------------------------------------------------------------------

    @property
    def operator(self) -> KeyRecord:
        return self._operator

    def key(self, keyid: str) -> KeyRecord | None:
        return self._keys.get(keyid)

    def party_exists(self, party_id: str) -> bool:
        return party_id in self._parties

    def roles(self, party_id: str) -> frozenset[str]:
        return self._roles.get(party_id) or frozenset()

    def asset(self, asset_id: str) -> AssetRecord | None:
        return self._assets.get(asset_id)

    def claims(self, fingerprint: str) -> list[AssetRecord]:
        found = [self._assets.get(a) for a in self._by_fingerprint.get(fingerprint) or ()]
        live = [a for a in found if a is not None and a.status != "rejected"]
        return sorted(live, key=lambda a: self._asset_seq.get(a.asset_id) or 0)

    def conflict(self, fingerprint: str) -> ConflictRecord | None:
        return self._conflicts.get(fingerprint)

    def objection(self, objection_id: str) -> ObjectionRecord | None:
        return self._objections.get(objection_id)

    def open_objections(self, asset_id: str) -> int:
        return self._open_objections.get(asset_id) or 0

    def holder(self, asset_id: str, right: str) -> str | None:
        return self._rights.get((asset_id, right))

    def lineage(self, asset_id: str, parent_id: str) -> LineageRecord | None:
        return self._lineage.get((asset_id, parent_id))

    def transfer(self, transfer_id: str) -> TransferRecord | None:
        return self._transfers.get(transfer_id)

    def offer(self, offer_id: str) -> OfferRecord | None:
        return self._offers.get(offer_id)

    def licence(self, licence_id: str) -> LicenceRecord | None:
        return self._licences.get(licence_id)

    def conflicting_licence(
        self, asset_id: str, starts_at: str, ends_at: str, other_than: str, exclusive_only: bool
    ) -> LicenceRecord | None:
        # As the SQL: status active or awaiting_regulator, starts_at < ends_at and
        # ends_at > starts_at compared as text, never `other_than`; the first by request order.
        index = self._live_exclusive if exclusive_only else self._live
        best: tuple[int, LicenceRecord] | None = None
        for licence_id in index.get(asset_id) or ():
            licence = self._licences.get(licence_id)
            if (
                licence is None
                or licence_id == other_than
                or licence.starts_at is None
                or licence.ends_at is None
                or not (licence.starts_at < ends_at and licence.ends_at > starts_at)
            ):
                continue
            seq = self._licence_seq.get(licence_id) or 0
            if best is None or seq < best[0]:
                best = (seq, licence)
        return None if best is None else best[1]

    def is_gateway(self, asset_id: str, party_id: str) -> bool:
        return (asset_id, party_id) in self._gateways

    def payment(self, payment_id: str) -> PaymentRecord | None:
        return self._payments.get(payment_id)

    def dispute(self, dispute_id: str) -> DisputeRecord | None:
        return self._disputes.get(dispute_id)

    # --- apply --------------------------------------------------------------------------------

    def apply(self, event: ev.Event, index: int, integrated_at: str) -> None:
        """Fold one event decided by `ledger.rules.decide` at entry `index` into the state.

        Like the SQL it mirrors, a change to a row that does not exist changes nothing, and an
        insert of a key that exists raises (`DuplicateRow`), before anything is changed.
        """
        _APPLY[type(event)](self, event, index, integrated_at)

    def _insert(self, table: _CowMap[K, V], key: K, value: V) -> None:
        if key in table:
            raise DuplicateRow(f"{key!r} exists")
        table.set(key, value)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _put_asset(self, asset: AssetRecord) -> None:
        old = self._assets.get(asset.asset_id)
        if old is not None and old.fingerprint != asset.fingerprint:
            self._claim(old.fingerprint, asset.asset_id, add=False)
        if old is None or old.fingerprint != asset.fingerprint:
            self._claim(asset.fingerprint, asset.asset_id, add=True)
        self._assets.set(asset.asset_id, asset)

    def _claim(self, fingerprint: str, asset_id: str, *, add: bool) -> None:
        ids = self._by_fingerprint.get(fingerprint) or frozenset()
        ids = ids | {asset_id} if add else ids - {asset_id}
        if ids:
            self._by_fingerprint.set(fingerprint, ids)
        else:
            self._by_fingerprint.pop(fingerprint)

    def _change_asset(self, asset_id: str, **changes: Any) -> None:
        asset = self._assets.get(asset_id)
        if asset is not None:
            self._put_asset(dataclasses.replace(asset, **changes))

    def _put_licence(self, licence: LicenceRecord) -> None:
        old = self._licences.get(licence.licence_id)
        self._licences.set(licence.licence_id, licence)
        for index, exclusive_only in ((self._live, False), (self._live_exclusive, True)):
            was = old is not None and old.status in _LIVE and (old.exclusive or not exclusive_only)
            now = licence.status in _LIVE and (licence.exclusive or not exclusive_only)
            if was == now:
                continue
            ids = index.get(licence.asset_id) or frozenset()
            ids = ids | {licence.licence_id} if now else ids - {licence.licence_id}
            if ids:
                index.set(licence.asset_id, ids)
            else:
                index.pop(licence.asset_id)

    def _change_licence(self, licence_id: str, **changes: Any) -> None:
        licence = self._licences.get(licence_id)
        if licence is not None:
            self._put_licence(dataclasses.replace(licence, **changes))


def _party_registered(s: MemoryState, e: ev.PartyRegistered, index: int, at: str) -> None:
    s._insert(s._parties, e.party_id, True)


def _key_added(s: MemoryState, e: ev.KeyAdded, index: int, at: str) -> None:
    s._insert(s._keys, e.keyid, KeyRecord(e.keyid, e.party_id, bytes(e.public_key)))


def _key_revoked(s: MemoryState, e: ev.KeyRevoked, index: int, at: str) -> None:
    record = s._keys.get(e.keyid)
    if record is not None:
        s._keys.set(e.keyid, dataclasses.replace(record, revoked_at=index))


def _role_granted(s: MemoryState, e: ev.RoleGranted, index: int, at: str) -> None:
    held = s.roles(e.party_id)
    if e.role in held:
        raise DuplicateRow(f"party {e.party_id} has role {e.role}")
    s._roles.set(e.party_id, held | {e.role})


def _role_revoked(s: MemoryState, e: ev.RoleRevoked, index: int, at: str) -> None:
    held = s.roles(e.party_id) - {e.role}
    if held:
        s._roles.set(e.party_id, held)
    else:
        s._roles.pop(e.party_id)


def _asset_registered(s: MemoryState, e: ev.AssetRegistered, index: int, at: str) -> None:
    if e.asset_id in s._assets:
        raise DuplicateRow(f"asset {e.asset_id} exists")
    st = e.statement
    s._put_asset(
        AssetRecord(
            asset_id=e.asset_id,
            owner_id=e.owner_id,
            status="on_notice",
            fingerprint=st.fingerprint,
            version=1,
            notice_ends_at=e.notice_ends_at,
            conflict=e.conflict,
            classification=st.classification,
            personal_info=st.personal_info,
            frozen=False,
        )
    )
    s._asset_seq.set(e.asset_id, s._next_seq())
    confirmed = set(e.confirmed_parents)
    for parent in st.derived_from:
        link = LineageRecord(e.asset_id, parent, index if parent in confirmed else None)
        s._insert(s._lineage, (e.asset_id, parent), link)


def _lineage_confirmed(s: MemoryState, e: ev.LineageConfirmed, index: int, at: str) -> None:
    link = s._lineage.get((e.asset_id, e.parent_id))
    if link is not None:
        s._lineage.set((e.asset_id, e.parent_id), dataclasses.replace(link, confirmed_index=index))


def _asset_versioned(s: MemoryState, e: ev.AssetVersioned, index: int, at: str) -> None:
    asset = s._assets.get(e.asset_id)
    if asset is not None:
        s._put_asset(
            dataclasses.replace(
                asset,
                fingerprint=e.statement.fingerprint,
                version=e.version,
                conflict=True if e.conflict else asset.conflict,
            )
        )


def _conflict_opened(s: MemoryState, e: ev.ConflictOpened, index: int, at: str) -> None:
    # A further claimant, or a new claim after an earlier resolution: (re)open it.
    s._conflicts.set(e.fingerprint, ConflictRecord(e.fingerprint, "open", tuple(e.asset_ids)))
    for asset_id in e.asset_ids:
        s._change_asset(asset_id, conflict=True)


def _conflict_resolved(s: MemoryState, e: ev.ConflictResolved, index: int, at: str) -> None:
    conflict = s._conflicts.get(e.fingerprint)
    if conflict is not None:
        s._conflicts.set(e.fingerprint, dataclasses.replace(conflict, status="resolved"))
    if e.rightful_asset_id is not None:
        s._change_asset(e.rightful_asset_id, conflict=False)


def _asset_certified(s: MemoryState, e: ev.AssetCertified, index: int, at: str) -> None:
    s._change_asset(e.asset_id, status="certified")


def _asset_rejected(s: MemoryState, e: ev.AssetRejected, index: int, at: str) -> None:
    s._change_asset(e.asset_id, status="rejected")


def _asset_freeze_changed(s: MemoryState, e: ev.AssetFreezeChanged, index: int, at: str) -> None:
    s._change_asset(e.asset_id, frozen=e.frozen)


def _objection_filed(s: MemoryState, e: ev.ObjectionFiled, index: int, at: str) -> None:
    record = ObjectionRecord(e.objection_id, e.asset_id, "open", e.objector_id)
    s._insert(s._objections, e.objection_id, record)
    s._open_objections.set(e.asset_id, s.open_objections(e.asset_id) + 1)


def _objection_resolved(s: MemoryState, e: ev.ObjectionResolved, index: int, at: str) -> None:
    objection = s._objections.get(e.objection_id)
    if objection is None:
        return
    s._objections.set(e.objection_id, dataclasses.replace(objection, status=e.outcome))
    if objection.status == "open":  # resolved: upheld or dismissed
        left = s.open_objections(objection.asset_id) - 1
        if left:
            s._open_objections.set(objection.asset_id, left)
        else:
            s._open_objections.pop(objection.asset_id)


def _right_held(s: MemoryState, e: ev.RightHeld, index: int, at: str) -> None:
    s._rights.set((e.asset_id, e.right), e.holder_id)


def _transfer_offered(s: MemoryState, e: ev.TransferOffered, index: int, at: str) -> None:
    record = TransferRecord(e.transfer_id, e.asset_id, e.right, e.from_party, e.to_party, "offered")
    s._insert(s._transfers, e.transfer_id, record)


def _transfer_accepted(s: MemoryState, e: ev.TransferAccepted, index: int, at: str) -> None:
    transfer = s._transfers.get(e.transfer_id)
    if transfer is not None:
        s._transfers.set(e.transfer_id, dataclasses.replace(transfer, status="accepted"))


def _offer_published(s: MemoryState, e: ev.OfferPublished, index: int, at: str) -> None:
    record = OfferRecord(e.offer_id, e.asset_id, e.publisher_id, "open", e.policy)
    s._insert(s._offers, e.offer_id, record)


def _offer_withdrawn(s: MemoryState, e: ev.OfferWithdrawn, index: int, at: str) -> None:
    offer = s._offers.get(e.offer_id)
    if offer is not None:
        s._offers.set(e.offer_id, dataclasses.replace(offer, status="withdrawn"))


def _licence_requested(s: MemoryState, e: ev.LicenceRequested, index: int, at: str) -> None:
    if e.licence_id in s._licences:
        raise DuplicateRow(f"licence {e.licence_id} exists")
    s._put_licence(
        LicenceRecord(
            licence_id=e.licence_id,
            offer_id=e.offer_id,
            asset_id=e.asset_id,
            buyer_id=e.buyer_id,
            seller_id=e.seller_id,
            status="requested",
            term_days=e.request.term_days,
            max_units=e.max_units,
            units_used=0,
            exclusive=e.exclusive,
            starts_at=None,
            ends_at=None,
            price_currency=None,
        )
    )
    s._licence_seq.set(e.licence_id, s._next_seq())


def _licence_approved(s: MemoryState, e: ev.LicenceApproved, index: int, at: str) -> None:
    s._change_licence(
        e.licence_id,
        status=e.status,
        price_currency=e.price.currency,
        price_minor=e.price.amount_minor,
        starts_at=e.starts_at,
        ends_at=e.ends_at,
    )


def _licence_status(s: MemoryState, e: ev.LicenceStatusChanged, index: int, at: str) -> None:
    s._change_licence(e.licence_id, status=e.status)


def _gateway_changed(s: MemoryState, e: ev.GatewayChanged, index: int, at: str) -> None:
    if e.enabled:
        s._gateways.set((e.asset_id, e.gateway_party), True)
    else:
        s._gateways.pop((e.asset_id, e.gateway_party))


def _usage_recorded(s: MemoryState, e: ev.UsageRecorded, index: int, at: str) -> None:
    licence = s._licences.get(e.licence_id)
    if licence is not None:
        s._put_licence(dataclasses.replace(licence, units_used=licence.units_used + e.units))


def _usage_corrected(s: MemoryState, e: ev.UsageCorrected, index: int, at: str) -> None:
    licence = s._licences.get(e.licence_id)
    if licence is not None:
        s._put_licence(dataclasses.replace(licence, units_used=licence.units_used - e.units))


def _payment_recorded(s: MemoryState, e: ev.PaymentRecorded, index: int, at: str) -> None:
    s._insert(s._payments, e.payment_id, PaymentRecord(e.payment_id, e.licence_id, "recorded"))
    licence = s._licences.get(e.licence_id)
    if licence is not None:
        s._change_licence(e.licence_id, paid_minor=licence.paid_minor + e.amount.amount_minor)


def _payment_confirmed(s: MemoryState, e: ev.PaymentConfirmed, index: int, at: str) -> None:
    payment = s._payments.get(e.payment_id)
    if payment is not None:
        s._payments.set(e.payment_id, dataclasses.replace(payment, status="confirmed"))


def _dispute_opened(s: MemoryState, e: ev.DisputeOpened, index: int, at: str) -> None:
    record = DisputeRecord(e.dispute_id, e.licence_id, e.opened_by, e.respondent, "open")
    s._insert(s._disputes, e.dispute_id, record)


def _dispute_status(status: str) -> Callable[[MemoryState, Any, int, str], None]:
    def change(s: MemoryState, e: Any, index: int, at: str) -> None:
        dispute = s._disputes.get(e.dispute_id)
        if dispute is not None:
            s._disputes.set(e.dispute_id, dataclasses.replace(dispute, status=status))

    return change


def _not_read(s: MemoryState, e: Any, index: int, at: str) -> None:
    """The event changes only columns no rule reads (contact, history, quotes)."""


_APPLY: dict[type[Any], Callable[[MemoryState, Any, int, str], None]] = {
    ev.PartyRegistered: _party_registered,
    ev.ContactCommitted: _not_read,
    ev.KeyAdded: _key_added,
    ev.KeyRevoked: _key_revoked,
    ev.RoleGranted: _role_granted,
    ev.RoleRevoked: _role_revoked,
    ev.AssetRegistered: _asset_registered,
    ev.AssetVersioned: _asset_versioned,
    ev.LineageConfirmed: _lineage_confirmed,
    ev.ConflictOpened: _conflict_opened,
    ev.ConflictResolved: _conflict_resolved,
    ev.AssetCertified: _asset_certified,
    ev.AssetRejected: _asset_rejected,
    ev.AssetFreezeChanged: _asset_freeze_changed,
    ev.ObjectionFiled: _objection_filed,
    ev.ObjectionResolved: _objection_resolved,
    ev.RightHeld: _right_held,
    ev.TransferOffered: _transfer_offered,
    ev.TransferAccepted: _transfer_accepted,
    ev.AssetTouched: _not_read,
    ev.OfferPublished: _offer_published,
    ev.OfferWithdrawn: _offer_withdrawn,
    ev.LicenceRequested: _licence_requested,
    ev.LicenceApproved: _licence_approved,
    ev.LicenceStatusChanged: _licence_status,
    ev.GatewayChanged: _gateway_changed,
    ev.UsageRecorded: _usage_recorded,
    ev.PaymentRecorded: _payment_recorded,
    ev.PaymentConfirmed: _payment_confirmed,
    ev.DisputeOpened: _dispute_opened,
    ev.DisputeAnswered: _dispute_status("answered"),
    ev.DisputeResolved: _dispute_status("resolved"),
    ev.UsageCorrected: _usage_corrected,
    ev.QuoteRecorded: _not_read,
}

__all__ = ["DuplicateRow", "MemoryState"]
