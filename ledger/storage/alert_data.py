"""Reading what the alert detectors (`ledger.alerts`) need from the projections."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from ledger import alerts
from ledger.storage.schema import (
    assets,
    conflicts,
    licences,
    objections,
    parties,
    payments,
    refusals,
    right_transfers,
    usage_reports,
    valuation_quotes,
)


def trades(conn: Connection) -> list[alerts.Trade]:
    rows = conn.execute(
        select(
            payments.c.payment_id,
            payments.c.licence_id,
            licences.c.asset_id,
            assets.c.category,
            licences.c.seller_id,
            licences.c.buyer_id,
            payments.c.confirmed_at,
            payments.c.amount_minor,
            licences.c.max_units,
            payments.c.confirmed_index,
            licences.c.requested_index,
            payments.c.currency,
        )
        .join(licences, licences.c.licence_id == payments.c.licence_id)
        .join(assets, assets.c.asset_id == licences.c.asset_id)
        .where(payments.c.status == "confirmed")
        .order_by(payments.c.confirmed_index)
    )
    return [alerts.Trade(*r) for r in rows]


def registrations(conn: Connection) -> dict[str, alerts.Registration]:
    rows = conn.execute(
        select(parties.c.party_id, parties.c.registered_at, parties.c.registered_index)
    )
    return {r[0]: alerts.Registration(r[0], r[1], int(r[2])) for r in rows}


def usage(conn: Connection) -> list[alerts.Usage]:
    rows = conn.execute(
        select(
            usage_reports.c.asset_id,
            usage_reports.c.period_end,
            usage_reports.c.units,
            usage_reports.c.entry_index,
        ).order_by(usage_reports.c.entry_index)
    )
    return [alerts.Usage(*r) for r in rows]


def refused(conn: Connection) -> list[alerts.Refusal]:
    rows = conn.execute(
        select(
            refusals.c.refusal_id,
            refusals.c.kind,
            refusals.c.code,
            refusals.c.licence_id,
            refusals.c.asset_id,
            refusals.c.at,
            refusals.c.detail,
        ).order_by(refusals.c.refusal_id)
    )
    return [alerts.Refusal(*r) for r in rows]


def licence_index(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(licences.c.licence_id, licences.c.requested_index))
    return {r[0]: int(r[1]) for r in rows}


def personal_licences(conn: Connection) -> list[alerts.PersonalLicence]:
    rows = conn.execute(
        select(
            licences.c.licence_id,
            licences.c.asset_id,
            licences.c.buyer_id,
            assets.c.personal_info,
            licences.c.lawful_basis,
            licences.c.purpose,
            licences.c.status,
            licences.c.requested_index,
        )
        .join(assets, assets.c.asset_id == licences.c.asset_id)
        .where(assets.c.personal_info.in_(("personal", "sensitive_personal")))
        .order_by(licences.c.requested_index)
    )
    return [alerts.PersonalLicence(*r) for r in rows]


def open_conflicts(conn: Connection) -> list[alerts.OpenConflict]:
    found = []
    for fingerprint, ids_json in conn.execute(
        select(conflicts.c.fingerprint, conflicts.c.asset_ids_json).where(
            conflicts.c.status == "open"
        )
    ):
        ids = tuple(json.loads(ids_json))
        indices = tuple(
            int(r[0])
            for r in conn.execute(
                select(assets.c.registered_index)
                .where(assets.c.asset_id.in_(ids))
                .order_by(assets.c.registered_index)
            )
        )
        found.append(alerts.OpenConflict(fingerprint, ids, indices))
    return found


def related_pairs(conn: Connection) -> list[tuple[str, str]]:
    """Parties that moved rights between them: related for the inflated-price check."""
    rows = conn.execute(
        select(right_transfers.c.from_party, right_transfers.c.to_party).where(
            right_transfers.c.status == "accepted"
        )
    )
    return [(r[0], r[1]) for r in rows]


def quotes(conn: Connection) -> list[alerts.Quote]:
    rows = conn.execute(
        select(
            valuation_quotes.c.asset_id,
            valuation_quotes.c.quoted_at,
            valuation_quotes.c.units,
            valuation_quotes.c.price_minor,
            valuation_quotes.c.low_minor,
            valuation_quotes.c.high_minor,
            valuation_quotes.c.entry_index,
            valuation_quotes.c.currency,
        ).order_by(valuation_quotes.c.entry_index)
    )
    return [alerts.Quote(*r) for r in rows]


def standing_objections(conn: Connection) -> list[alerts.StandingObjection]:
    rows = conn.execute(
        select(
            objections.c.objection_id,
            objections.c.asset_id,
            assets.c.notice_ends_at,
            objections.c.filed_index,
        )
        .join(assets, assets.c.asset_id == objections.c.asset_id)
        .where(objections.c.status == "open")
        .order_by(objections.c.filed_index)
    )
    return [alerts.StandingObjection(r[0], r[1], r[2], int(r[3])) for r in rows]


def compute(conn: Connection, now: datetime | None = None) -> list[alerts.Alert]:
    """Every alert the detectors find as of `now` (default: the clock), newest evidence last."""
    found_trades = trades(conn)
    found_refusals = refused(conn)
    return [
        *alerts.price_outside_interval(found_trades, quotes(conn)),
        *alerts.wash_cycles(found_trades),
        *alerts.related_party_inflated(found_trades, related_pairs(conn)),
        *alerts.sybil_rings(found_trades, registrations(conn)),
        *alerts.usage_burst_before_sale(found_trades, usage(conn)),
        *alerts.repeated_refused_usage(found_refusals, licence_index(conn)),
        *alerts.personal_data_licences(personal_licences(conn)),
        *alerts.conflicting_claims(open_conflicts(conn)),
        *alerts.objections_overdue(standing_objections(conn), now or datetime.now(UTC)),
        *alerts.frozen_asset_activity(found_refusals),
    ]
