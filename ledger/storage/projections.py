"""Projections: the SQL side of `ledger.state` — the view the rules read, and the one function
that writes the events they decide. The sequencer and replay both use `apply`; nothing else
writes these tables.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import (
    Connection,
    Insert,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger import events as ev
from ledger.encoding import format_rfc3339_utc, parse_rfc3339_utc
from ledger.names import name_key
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
from ledger.statements import ERASED, Policy, SchemaField
from ledger.storage.schema import (
    asset_entries,
    asset_lineage,
    asset_versions,
    assets,
    assets_search,
    conflicts,
    disputes,
    gateways,
    licences,
    objections,
    offers,
    parties,
    party_keys,
    party_roles,
    payments,
    right_transfers,
    rights,
    usage_reports,
    valuation_quotes,
)


@dataclass(frozen=True, slots=True)
class EntryMeta:
    """The entry an event came from."""

    index: int
    integrated_at: str


class SqlView:
    """`ledger.state.LedgerView` over the projection tables, inside the caller's transaction."""

    def __init__(self, conn: Connection, operator: KeyRecord) -> None:
        self._conn = conn
        self._operator = operator

    @property
    def operator(self) -> KeyRecord:
        return self._operator

    def key(self, keyid: str) -> KeyRecord | None:
        row = self._conn.execute(_KEY, {"keyid": keyid}).first()
        return None if row is None else KeyRecord(keyid, row[0], bytes(row[1]), row[2])

    def party_exists(self, party_id: str) -> bool:
        return self._conn.execute(_PARTY, {"party_id": party_id}).first() is not None

    def roles(self, party_id: str) -> frozenset[str]:
        return frozenset(r[0] for r in self._conn.execute(_ROLES, {"party_id": party_id}))

    def asset(self, asset_id: str) -> AssetRecord | None:
        row = self._conn.execute(_ASSET, {"asset_id": asset_id}).first()
        return None if row is None else AssetRecord(*row)

    def claims(self, fingerprint: str) -> list[AssetRecord]:
        rows = self._conn.execute(
            _asset_record_query()
            .where(assets.c.fingerprint == fingerprint, assets.c.status != "rejected")
            .order_by(assets.c.registered_index)  # as MemoryState: in registration order
        )
        return [AssetRecord(*row) for row in rows]

    def conflict(self, fingerprint: str) -> ConflictRecord | None:
        row = self._conn.execute(
            select(conflicts.c.status, conflicts.c.asset_ids_json).where(
                conflicts.c.fingerprint == fingerprint
            )
        ).first()
        if row is None:
            return None
        return ConflictRecord(fingerprint, row[0], tuple(json.loads(row[1])))

    def objection(self, objection_id: str) -> ObjectionRecord | None:
        row = self._conn.execute(
            select(objections.c.asset_id, objections.c.status, objections.c.objector_id).where(
                objections.c.objection_id == objection_id
            )
        ).first()
        return None if row is None else ObjectionRecord(objection_id, row[0], row[1], row[2])

    def open_objections(self, asset_id: str) -> int:
        return int(
            self._conn.execute(
                select(func.count())
                .select_from(objections)
                .where(objections.c.asset_id == asset_id, objections.c.status == "open")
            ).scalar_one()
        )

    def holder(self, asset_id: str, right: str) -> str | None:
        row = self._conn.execute(_HOLDER, {"asset_id": asset_id, "right": right}).first()
        return None if row is None else str(row[0])

    def lineage(self, asset_id: str, parent_id: str) -> LineageRecord | None:
        row = self._conn.execute(
            select(asset_lineage.c.confirmed_index).where(
                asset_lineage.c.asset_id == asset_id, asset_lineage.c.parent_id == parent_id
            )
        ).first()
        return None if row is None else LineageRecord(asset_id, parent_id, row[0])

    def transfer(self, transfer_id: str) -> TransferRecord | None:
        row = self._conn.execute(
            select(
                right_transfers.c.asset_id,
                right_transfers.c.right_kind,
                right_transfers.c.from_party,
                right_transfers.c.to_party,
                right_transfers.c.status,
            ).where(right_transfers.c.transfer_id == transfer_id)
        ).first()
        return None if row is None else TransferRecord(transfer_id, *row)

    def offer(self, offer_id: str) -> OfferRecord | None:
        row = self._conn.execute(
            select(
                offers.c.asset_id, offers.c.publisher_id, offers.c.status, offers.c.policy_json
            ).where(offers.c.offer_id == offer_id)
        ).first()
        if row is None:
            return None
        return OfferRecord(offer_id, row[0], row[1], row[2], _policy_decoder.decode(row[3]))

    def licence(self, licence_id: str) -> LicenceRecord | None:
        row = self._conn.execute(_LICENCE, {"licence_id": licence_id}).first()
        return None if row is None else LicenceRecord(*row)

    def conflicting_licence(
        self, asset_id: str, starts_at: str, ends_at: str, other_than: str, exclusive_only: bool
    ) -> LicenceRecord | None:
        # One row at most: the rule needs to know whether a conflict exists, and an asset may
        # have thousands of non-exclusive licences that must not be fetched on every approval.
        query = _licence_record_query().where(
            licences.c.asset_id == asset_id,
            licences.c.status.in_(("active", "awaiting_regulator")),
            licences.c.starts_at < ends_at,
            licences.c.ends_at > starts_at,
            licences.c.licence_id != other_than,
        )
        if exclusive_only:
            query = query.where(licences.c.exclusive.is_(True))
        # as MemoryState: the first by request order, so both views name the same licence
        row = self._conn.execute(query.order_by(licences.c.requested_index).limit(1)).first()
        return None if row is None else LicenceRecord(*row)

    def is_gateway(self, asset_id: str, party_id: str) -> bool:
        found = self._conn.execute(_GATEWAY, {"asset_id": asset_id, "party_id": party_id})
        return found.first() is not None

    def payment(self, payment_id: str) -> PaymentRecord | None:
        row = self._conn.execute(
            select(payments.c.licence_id, payments.c.status).where(
                payments.c.payment_id == payment_id
            )
        ).first()
        return None if row is None else PaymentRecord(payment_id, row[0], row[1])

    def dispute(self, dispute_id: str) -> DisputeRecord | None:
        row = self._conn.execute(
            select(
                disputes.c.licence_id,
                disputes.c.opened_by,
                disputes.c.respondent,
                disputes.c.status,
            ).where(disputes.c.dispute_id == dispute_id)
        ).first()
        return None if row is None else DisputeRecord(dispute_id, *row)


_policy_decoder = msgspec.json.Decoder(Policy)


def _asset_record_query() -> Any:
    return select(
        assets.c.asset_id,
        assets.c.owner_id,
        assets.c.status,
        assets.c.fingerprint,
        assets.c.version,
        assets.c.notice_ends_at,
        assets.c.conflict,
        assets.c.classification,
        assets.c.personal_info,
        assets.c.frozen,
    )


def _licence_record_query() -> Any:
    return select(
        licences.c.licence_id,
        licences.c.offer_id,
        licences.c.asset_id,
        licences.c.buyer_id,
        licences.c.seller_id,
        licences.c.status,
        licences.c.term_days,
        licences.c.max_units,
        licences.c.units_used,
        licences.c.exclusive,
        licences.c.starts_at,
        licences.c.ends_at,
        licences.c.price_currency,
        licences.c.price_minor,
        select(func.coalesce(func.sum(payments.c.amount_minor), 0))
        .where(payments.c.licence_id == licences.c.licence_id)
        .scalar_subquery(),
    )


# The queries the rules run for nearly every statement, built once (see `_insert`).
_KEY = select(party_keys.c.party_id, party_keys.c.public_key, party_keys.c.revoked_index).where(
    party_keys.c.keyid == bindparam("keyid")
)
_PARTY = select(parties.c.party_id).where(parties.c.party_id == bindparam("party_id"))
_ROLES = select(party_roles.c.role).where(party_roles.c.party_id == bindparam("party_id"))
_ASSET = _asset_record_query().where(assets.c.asset_id == bindparam("asset_id"))
_HOLDER = select(rights.c.holder_id).where(
    rights.c.asset_id == bindparam("asset_id"), rights.c.right_kind == bindparam("right")
)
_LICENCE = _licence_record_query().where(licences.c.licence_id == bindparam("licence_id"))
_GATEWAY = select(gateways.c.party_id).where(
    gateways.c.asset_id == bindparam("asset_id"), gateways.c.party_id == bindparam("party_id")
)


def _schema_json(schema: list[SchemaField] | None) -> str | None:
    return None if schema is None else msgspec.json.encode(schema).decode()


# --- apply ------------------------------------------------------------------------------------


@functools.cache
def _insert(table: Table) -> Insert:
    """One INSERT statement per table, built once: building statements costs more than running
    them on SQLite (the values go in as parameters)."""
    return insert(table)


def apply(conn: Writer, event: ev.Event, meta: EntryMeta) -> None:
    """Write one event decided by `ledger.rules.decide` into the projections."""
    _APPLY[type(event)](conn, event, meta)


class BatchWriter:
    """The projection writes of one batch, sent set-based.

    INSERTs (upserts included) and unit increments are held, and sent as one executemany per
    statement. Anything else (an UPDATE, a DELETE, a SELECT) first sends what is held, in order,
    so every statement still sees the rows written before it. Held INSERTs of different tables
    may run in another order than they were made: each adds a distinct row, and the schema has
    no foreign keys, so their order does not matter. Nothing may read the projections through
    the connection while writes are held: the sequencer decides against its in-memory state.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._held: dict[int, tuple[Any, list[dict[str, Any]]]] = {}

    @property
    def dialect(self) -> Any:
        return self._conn.dialect

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        if isinstance(parameters, dict) and (
            isinstance(statement, Insert) or statement is _ADD_UNITS
        ):
            held = self._held.setdefault(id(statement), (statement, []))
            held[1].append(parameters)
            return None
        self.flush()
        if parameters is None:
            return self._conn.execute(statement)
        return self._conn.execute(statement, parameters)

    def flush(self) -> None:
        held, self._held = self._held, {}
        for statement, rows in held.values():
            self._conn.execute(statement, rows)


Writer = Connection | BatchWriter


def _party_registered(conn: Writer, e: ev.PartyRegistered, m: EntryMeta) -> None:
    conn.execute(
        _insert(parties),
        dict(
            party_id=e.party_id,
            name=e.name,
            name_key=name_key(e.name),
            registered_index=m.index,
            registered_at=m.integrated_at,
            contact_commitment=e.contact_commitment,
        ),
    )


def _contact_committed(conn: Writer, e: ev.ContactCommitted, m: EntryMeta) -> None:
    conn.execute(
        update(parties)
        .where(parties.c.party_id == e.party_id)
        .values(contact_commitment=e.contact_commitment)
    )


def _key_added(conn: Writer, e: ev.KeyAdded, m: EntryMeta) -> None:
    conn.execute(
        _insert(party_keys),
        dict(keyid=e.keyid, party_id=e.party_id, public_key=e.public_key, added_index=m.index),
    )


def _key_revoked(conn: Writer, e: ev.KeyRevoked, m: EntryMeta) -> None:
    conn.execute(
        update(party_keys).where(party_keys.c.keyid == e.keyid).values(revoked_index=m.index)
    )


def _role_granted(conn: Writer, e: ev.RoleGranted, m: EntryMeta) -> None:
    conn.execute(
        _insert(party_roles), dict(party_id=e.party_id, role=e.role, granted_index=m.index)
    )


def _role_revoked(conn: Writer, e: ev.RoleRevoked, m: EntryMeta) -> None:
    conn.execute(
        delete(party_roles).where(
            party_roles.c.party_id == e.party_id, party_roles.c.role == e.role
        )
    )


def _asset_registered(conn: Writer, e: ev.AssetRegistered, m: EntryMeta) -> None:
    st = e.statement
    conn.execute(
        _insert(assets),
        dict(
            asset_id=e.asset_id,
            owner_id=e.owner_id,
            title=st.title,
            description=st.description,
            category=st.category,
            classification=st.classification,
            personal_info=st.personal_info,
            fingerprint=st.fingerprint,
            size_bytes=st.size_bytes,
            record_count=st.record_count,
            schema_json=_schema_json(st.schema),
            derived_from_json=json.dumps(st.derived_from),
            declared_cost_minor=st.declared_cost.amount_minor if st.declared_cost else None,
            declared_cost_currency=st.declared_cost.currency if st.declared_cost else None,
            quality_json=msgspec.json.encode(st.quality).decode() if st.quality else None,
            quality_score=st.quality.score() if st.quality else None,
            status="on_notice",
            conflict=e.conflict,
            frozen=False,
            version=1,
            registered_index=m.index,
            registered_at=m.integrated_at,
            notice_ends_at=e.notice_ends_at,
            updated_index=m.index,
        ),
    )
    conn.execute(
        _insert(asset_versions),
        dict(
            asset_id=e.asset_id,
            version=1,
            fingerprint=st.fingerprint,
            size_bytes=st.size_bytes,
            record_count=st.record_count,
            schema_json=_schema_json(st.schema),
            note="",
            entry_index=m.index,
            recorded_at=m.integrated_at,
        ),
    )
    if st.derived_from:
        confirmed = set(e.confirmed_parents)
        conn.execute(
            _insert(asset_lineage),
            [
                {
                    "asset_id": e.asset_id,
                    "parent_id": p,
                    "confirmed_index": m.index if p in confirmed else None,
                }
                for p in st.derived_from
            ],
        )
    if conn.dialect.name == "sqlite":
        conn.execute(
            _insert(assets_search),
            dict(rowid=m.index, asset_id=e.asset_id, title=st.title, description=st.description),
        )


def _lineage_confirmed(conn: Writer, e: ev.LineageConfirmed, m: EntryMeta) -> None:
    conn.execute(
        update(asset_lineage)
        .where(asset_lineage.c.asset_id == e.asset_id, asset_lineage.c.parent_id == e.parent_id)
        .values(confirmed_index=m.index)
    )


def _asset_versioned(conn: Writer, e: ev.AssetVersioned, m: EntryMeta) -> None:
    st = e.statement
    conn.execute(
        _insert(asset_versions),
        dict(
            asset_id=e.asset_id,
            version=e.version,
            fingerprint=st.fingerprint,
            size_bytes=st.size_bytes,
            record_count=st.record_count,
            schema_json=_schema_json(st.schema),
            note=st.note,
            entry_index=m.index,
            recorded_at=m.integrated_at,
        ),
    )
    values: dict[str, Any] = {
        "fingerprint": st.fingerprint,
        "size_bytes": st.size_bytes,
        "record_count": st.record_count,
        "version": e.version,
        "updated_index": m.index,
    }
    if st.schema is not None:
        values["schema_json"] = _schema_json(st.schema)
    if e.conflict:
        values["conflict"] = True
    conn.execute(update(assets).where(assets.c.asset_id == e.asset_id).values(**values))


def _conflict_opened(conn: Writer, e: ev.ConflictOpened, m: EntryMeta) -> None:
    ids = json.dumps(list(e.asset_ids))
    exists = conn.execute(
        select(conflicts.c.fingerprint).where(conflicts.c.fingerprint == e.fingerprint)
    ).first()
    if exists is None:
        conn.execute(
            _insert(conflicts),
            dict(
                fingerprint=e.fingerprint, status="open", asset_ids_json=ids, opened_index=m.index
            ),
        )
    else:  # a further claimant, or a new claim after an earlier resolution: (re)open it
        conn.execute(
            update(conflicts)
            .where(conflicts.c.fingerprint == e.fingerprint)
            .values(
                status="open",
                asset_ids_json=ids,
                opened_index=m.index,
                resolved_index=None,
                rightful_asset_id=None,
                reason=None,
            )
        )
    conn.execute(
        update(assets)
        .where(assets.c.asset_id.in_(e.asset_ids))
        .values(conflict=True, updated_index=m.index)
    )


def _conflict_resolved(conn: Writer, e: ev.ConflictResolved, m: EntryMeta) -> None:
    conn.execute(
        update(conflicts)
        .where(conflicts.c.fingerprint == e.fingerprint)
        .values(
            status="resolved",
            resolved_index=m.index,
            rightful_asset_id=e.rightful_asset_id,
            reason=e.reason,
        )
    )
    if e.rightful_asset_id is not None:
        conn.execute(
            update(assets)
            .where(assets.c.asset_id == e.rightful_asset_id)
            .values(conflict=False, updated_index=m.index)
        )


def _asset_certified(conn: Writer, e: ev.AssetCertified, m: EntryMeta) -> None:
    conn.execute(
        update(assets)
        .where(assets.c.asset_id == e.asset_id)
        .values(status="certified", certified_index=m.index, updated_index=m.index)
    )


def _asset_rejected(conn: Writer, e: ev.AssetRejected, m: EntryMeta) -> None:
    conn.execute(
        update(assets)
        .where(assets.c.asset_id == e.asset_id)
        .values(status="rejected", status_reason=e.reason, updated_index=m.index)
    )


def _asset_freeze_changed(conn: Writer, e: ev.AssetFreezeChanged, m: EntryMeta) -> None:
    conn.execute(
        update(assets)
        .where(assets.c.asset_id == e.asset_id)
        .values(frozen=e.frozen, freeze_reason=e.reason, updated_index=m.index)
    )


def _objection_filed(conn: Writer, e: ev.ObjectionFiled, m: EntryMeta) -> None:
    conn.execute(
        _insert(objections),
        dict(
            objection_id=e.objection_id,
            asset_id=e.asset_id,
            objector_id=e.objector_id,
            grounds=e.grounds,
            evidence_fingerprint=e.evidence_fingerprint,
            status="open",
            filed_index=m.index,
            filed_at=m.integrated_at,
        ),
    )


def _objection_resolved(conn: Writer, e: ev.ObjectionResolved, m: EntryMeta) -> None:
    conn.execute(
        update(objections)
        .where(objections.c.objection_id == e.objection_id)
        .values(status=e.outcome, reason=e.reason, resolved_index=m.index)
    )


def _right_held(conn: Writer, e: ev.RightHeld, m: EntryMeta) -> None:
    row = dict(asset_id=e.asset_id, right_kind=e.right, holder_id=e.holder_id, since_index=m.index)
    conn.execute(_upsert_right(conn.dialect.name), row)


@functools.cache
def _upsert_right(dialect: str) -> Insert:
    """INSERT a holder, or move the right to it: one statement, no read first."""
    upsert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    statement = upsert(rights)
    return statement.on_conflict_do_update(
        index_elements=[rights.c.asset_id, rights.c.right_kind],
        set_={
            "holder_id": statement.excluded.holder_id,
            "since_index": statement.excluded.since_index,
        },
    )


def _transfer_offered(conn: Writer, e: ev.TransferOffered, m: EntryMeta) -> None:
    conn.execute(
        _insert(right_transfers),
        dict(
            transfer_id=e.transfer_id,
            asset_id=e.asset_id,
            right_kind=e.right,
            from_party=e.from_party,
            to_party=e.to_party,
            status="offered",
            offered_index=m.index,
        ),
    )


def _transfer_accepted(conn: Writer, e: ev.TransferAccepted, m: EntryMeta) -> None:
    conn.execute(
        update(right_transfers)
        .where(right_transfers.c.transfer_id == e.transfer_id)
        .values(status="accepted", accepted_index=m.index)
    )


def _asset_touched(conn: Writer, e: ev.AssetTouched, m: EntryMeta) -> None:
    conn.execute(_insert(asset_entries), dict(asset_id=e.asset_id, entry_index=m.index))


def _offer_published(conn: Writer, e: ev.OfferPublished, m: EntryMeta) -> None:
    conn.execute(
        _insert(offers),
        dict(
            offer_id=e.offer_id,
            asset_id=e.asset_id,
            publisher_id=e.publisher_id,
            status="open",
            policy_json=msgspec.json.encode(e.policy).decode(),
            exclusive=e.policy.exclusive,
            published_index=m.index,
            published_at=m.integrated_at,
        ),
    )


def _offer_withdrawn(conn: Writer, e: ev.OfferWithdrawn, m: EntryMeta) -> None:
    conn.execute(
        update(offers)
        .where(offers.c.offer_id == e.offer_id)
        .values(status="withdrawn", withdrawn_index=m.index, withdraw_reason=e.reason)
    )


def _licence_requested(conn: Writer, e: ev.LicenceRequested, m: EntryMeta) -> None:
    r = e.request
    conn.execute(
        _insert(licences),
        dict(
            licence_id=e.licence_id,
            offer_id=e.offer_id,
            asset_id=e.asset_id,
            buyer_id=e.buyer_id,
            seller_id=e.seller_id,
            status="requested",
            purpose=r.purpose,
            term_days=r.term_days,
            territory_json=json.dumps(r.territory),
            max_units=e.max_units,
            units_used=0,
            lawful_basis=r.lawful_basis,
            exclusive=e.exclusive,
            sublicensable=e.sublicensable,
            requested_index=m.index,
            requested_at=m.integrated_at,
            updated_index=m.index,
        ),
    )


def _licence_approved(conn: Writer, e: ev.LicenceApproved, m: EntryMeta) -> None:
    conn.execute(
        update(licences)
        .where(licences.c.licence_id == e.licence_id)
        .values(
            status=e.status,
            price_minor=e.price.amount_minor,
            price_currency=e.price.currency,
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            approved_index=m.index,
            updated_index=m.index,
        )
    )


def _licence_status(conn: Writer, e: ev.LicenceStatusChanged, m: EntryMeta) -> None:
    conn.execute(
        update(licences)
        .where(licences.c.licence_id == e.licence_id)
        .values(status=e.status, status_reason=e.reason, updated_index=m.index)
    )


def _gateway_changed(conn: Writer, e: ev.GatewayChanged, m: EntryMeta) -> None:
    conn.execute(
        delete(gateways).where(
            gateways.c.asset_id == e.asset_id, gateways.c.party_id == e.gateway_party
        )
    )
    if e.enabled:
        conn.execute(
            _insert(gateways),
            dict(asset_id=e.asset_id, party_id=e.gateway_party, since_index=m.index),
        )


def _usage_recorded(conn: Writer, e: ev.UsageRecorded, m: EntryMeta) -> None:
    conn.execute(
        _insert(usage_reports),
        dict(
            usage_id=e.usage_id,
            licence_id=e.licence_id,
            asset_id=e.asset_id,
            licensee_id=e.licensee_id,
            reporter_id=e.reporter_id,
            units=e.units,
            usage_kind=e.usage_kind,
            # One fixed format (microseconds, Z), so exports parse it fast and sort it as text.
            period_start=format_rfc3339_utc(parse_rfc3339_utc(e.period_start)),
            period_end=format_rfc3339_utc(parse_rfc3339_utc(e.period_end)),
            entry_index=m.index,
            reported_at=m.integrated_at,
        ),
    )
    conn.execute(_ADD_UNITS, {"lid": e.licence_id, "units": e.units, "at_index": m.index})


_ADD_UNITS = (
    update(licences)
    .where(licences.c.licence_id == bindparam("lid"))
    .values(
        units_used=licences.c.units_used + bindparam("units"),
        updated_index=bindparam("at_index"),
    )
)


def _payment_recorded(conn: Writer, e: ev.PaymentRecorded, m: EntryMeta) -> None:
    conn.execute(
        _insert(payments),
        dict(
            payment_id=e.payment_id,
            licence_id=e.licence_id,
            payer_id=e.payer_id,
            amount_minor=e.amount.amount_minor,
            currency=e.amount.currency,
            reference=e.reference,
            status="recorded",
            recorded_index=m.index,
            recorded_at=m.integrated_at,
        ),
    )


def _payment_confirmed(conn: Writer, e: ev.PaymentConfirmed, m: EntryMeta) -> None:
    conn.execute(
        update(payments)
        .where(payments.c.payment_id == e.payment_id)
        .values(status="confirmed", confirmed_index=m.index, confirmed_at=m.integrated_at)
    )


def _dispute_opened(conn: Writer, e: ev.DisputeOpened, m: EntryMeta) -> None:
    conn.execute(
        _insert(disputes),
        dict(
            dispute_id=e.dispute_id,
            licence_id=e.licence_id,
            asset_id=e.asset_id,
            opened_by=e.opened_by,
            respondent=e.respondent,
            grounds=e.grounds,
            evidence_fingerprint=e.evidence_fingerprint,
            status="open",
            opened_index=m.index,
            opened_at=m.integrated_at,
        ),
    )


def _dispute_answered(conn: Writer, e: ev.DisputeAnswered, m: EntryMeta) -> None:
    conn.execute(
        update(disputes)
        .where(disputes.c.dispute_id == e.dispute_id)
        .values(status="answered", answer=e.answer, answered_index=m.index)
    )


def _dispute_resolved(conn: Writer, e: ev.DisputeResolved, m: EntryMeta) -> None:
    conn.execute(
        update(disputes)
        .where(disputes.c.dispute_id == e.dispute_id)
        .values(
            status="resolved",
            decision=e.decision,
            refund_minor=e.refund.amount_minor if e.refund else None,
            refund_currency=e.refund.currency if e.refund else None,
            revoked_licence=e.revoke_licence,
            usage_correction=e.usage_correction,
            resolved_index=m.index,
        )
    )


def _usage_corrected(conn: Writer, e: ev.UsageCorrected, m: EntryMeta) -> None:
    conn.execute(
        update(licences)
        .where(licences.c.licence_id == e.licence_id)
        .values(units_used=licences.c.units_used - e.units, updated_index=m.index)
    )


def _quote_recorded(conn: Writer, e: ev.QuoteRecorded, m: EntryMeta) -> None:
    conn.execute(
        _insert(valuation_quotes),
        dict(
            entry_index=m.index,
            asset_id=e.asset_id,
            units=e.units,
            term_days=e.term_days,
            exclusive=e.exclusive,
            purpose=e.purpose,
            price_minor=e.price.amount_minor,
            currency=e.price.currency,
            low_minor=e.low_minor,
            high_minor=e.high_minor,
            quoted_at=m.integrated_at,
        ),
    )


_APPLY: dict[type[Any], Callable[[Writer, Any, EntryMeta], None]] = {
    ev.PartyRegistered: _party_registered,
    ev.ContactCommitted: _contact_committed,
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
    ev.AssetTouched: _asset_touched,
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
    ev.DisputeAnswered: _dispute_answered,
    ev.DisputeResolved: _dispute_resolved,
    ev.UsageCorrected: _usage_corrected,
    ev.QuoteRecorded: _quote_recorded,
}


# --- erasure of private text ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Copy:
    """Where a private text field of a statement was projected: `table.column`, in the row
    whose `key` column equals the statement's id (`by` = "id") or one of its public fields; with
    `latest`, only while that row was last changed by this very entry."""

    table: Table
    column: str
    key: str
    by: str = "id"
    latest: bool = False


_TEXT_COPIES: dict[tuple[str, str], tuple[_Copy, ...]] = {
    ("asset.version", "note"): (_Copy(asset_versions, "note", "entry_index", "index"),),
    ("asset.object", "grounds"): (_Copy(objections, "grounds", "objection_id"),),
    ("objection.resolve", "reason"): (
        _Copy(objections, "reason", "objection_id", "objection_id"),
        _Copy(assets, "status_reason", "updated_index", "index"),  # if it was upheld
    ),
    ("objections.dismiss", "reason"): (
        _Copy(objections, "reason", "objection_id", "objection_ids"),
    ),
    ("conflict.resolve", "reason"): (
        _Copy(conflicts, "reason", "fingerprint", "fingerprint"),
        _Copy(assets, "status_reason", "updated_index", "index"),  # the claims it rejected
    ),
    ("asset.freeze", "reason"): (
        _Copy(assets, "freeze_reason", "asset_id", "asset_id", latest=True),
    ),
    ("asset.unfreeze", "reason"): (
        _Copy(assets, "freeze_reason", "asset_id", "asset_id", latest=True),
    ),
    ("offer.withdraw", "reason"): (_Copy(offers, "withdraw_reason", "offer_id", "offer_id"),),
    ("licence.reject", "reason"): (
        _Copy(licences, "status_reason", "licence_id", "licence_id", latest=True),
    ),
    ("licence.revoke", "reason"): (
        _Copy(licences, "status_reason", "licence_id", "licence_id", latest=True),
    ),
    ("licence.terminate", "reason"): (
        _Copy(licences, "status_reason", "licence_id", "licence_id", latest=True),
    ),
    ("payment.record", "reference"): (_Copy(payments, "reference", "payment_id"),),
    ("dispute.open", "grounds"): (_Copy(disputes, "grounds", "dispute_id"),),
    ("dispute.answer", "answer"): (_Copy(disputes, "answer", "dispute_id", "dispute_id"),),
    ("dispute.resolve", "decision"): (_Copy(disputes, "decision", "dispute_id", "dispute_id"),),
}


def erasable(kind: str, field: str) -> bool:
    """Whether the opening of `field` in `kind` may be erased: private text that no rule needs
    (a reason, grounds, a note, a reference) and whose projected copies are known here."""
    return (kind, field) in _TEXT_COPIES


def erase_text(
    conn: Connection, kind: str, field: str, public: dict[str, Any], statement_id: str, index: int
) -> None:
    """Overwrite the projected copies of an erased private text with `ERASED`, as replay
    rebuilds them once the opening is gone (so `replay --check` still agrees)."""
    for copy in _TEXT_COPIES[(kind, field)]:
        table = copy.table
        key = {"id": statement_id, "index": index}.get(copy.by, public.get(copy.by))
        column = table.c[copy.key]
        where = [column.in_(key) if isinstance(key, list) else column == key]
        if copy.latest:
            where.append(table.c.updated_index == index)
        conn.execute(update(table).where(*where).values({copy.column: ERASED}))


def copy_tables() -> list[Table]:
    """Every table that holds a copy of some erasable private text."""
    return list(
        {c.table.name: c.table for copies in _TEXT_COPIES.values() for c in copies}.values()
    )
