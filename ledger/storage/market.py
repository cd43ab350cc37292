"""Read queries over offers, licences, usage and payments."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, or_, select

from ledger.storage.catalog import row_dict
from ledger.storage.schema import disputes, licences, offers, payments, usage_reports

MAX_PAGE = 200


def offer(conn: Connection, offer_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(offers).where(offers.c.offer_id == offer_id)).first()
    return None if row is None else _offer(row_dict(row))


def offers_of(
    conn: Connection, asset_id: str | None, *, open_only: bool, limit: int
) -> list[dict[str, Any]]:
    query = select(offers).order_by(offers.c.published_index.desc()).limit(min(limit, MAX_PAGE))
    if asset_id:
        query = query.where(offers.c.asset_id == asset_id)
    if open_only:
        query = query.where(offers.c.status == "open")
    return [_offer(row_dict(r)) for r in conn.execute(query)]


def _offer(row: dict[str, Any]) -> dict[str, Any]:
    row["policy"] = json.loads(row.pop("policy_json"))
    return row


def licence(conn: Connection, licence_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(licences).where(licences.c.licence_id == licence_id)).first()
    if row is None:
        return None
    found = _licence(row_dict(row))
    totals = conn.execute(
        select(payments.c.status, func.sum(payments.c.amount_minor), func.count())
        .where(payments.c.licence_id == licence_id)
        .group_by(payments.c.status)
    ).all()
    by_status = {status: int(total or 0) for status, total, _ in totals}
    found["paid_minor"] = sum(by_status.values())
    found["confirmed_minor"] = by_status.get("confirmed", 0)
    found["disputes"] = disputes_of(conn, licence_id=licence_id)
    found["payments"] = [
        row_dict(r)
        for r in conn.execute(
            select(payments)
            .where(payments.c.licence_id == licence_id)
            .order_by(payments.c.recorded_index)
        )
    ]
    return found


def licences_for(
    conn: Connection,
    *,
    party_id: str | None,
    asset_id: str | None,
    status: str | None,
    limit: int,
    before: int | None,
) -> list[dict[str, Any]]:
    """Licences where `party_id` is buyer or seller (None: all, for regulators), newest first."""
    query = select(licences).order_by(licences.c.requested_index.desc()).limit(min(limit, MAX_PAGE))
    if party_id:
        query = query.where(or_(licences.c.buyer_id == party_id, licences.c.seller_id == party_id))
    if asset_id:
        query = query.where(licences.c.asset_id == asset_id)
    if status:
        query = query.where(licences.c.status == status)
    if before is not None:
        query = query.where(licences.c.requested_index < before)
    return [_licence(row_dict(r)) for r in conn.execute(query)]


def _licence(row: dict[str, Any]) -> dict[str, Any]:
    row["territory"] = json.loads(row.pop("territory_json"))
    return row


def payment(conn: Connection, payment_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(payments).where(payments.c.payment_id == payment_id)).first()
    return None if row is None else row_dict(row)


def daily_usage(
    conn: Connection, *, licence_id: str | None = None, asset_id: str | None = None
) -> list[dict[str, Any]]:
    """Units per UTC day (by the end of each reported period), oldest first."""
    day = func.substr(usage_reports.c.period_end, 1, 10)
    query = select(
        day.label("day"),
        func.sum(usage_reports.c.units).label("units"),
        func.count().label("reports"),
    )
    if licence_id:
        query = query.where(usage_reports.c.licence_id == licence_id)
    if asset_id:
        query = query.where(usage_reports.c.asset_id == asset_id)
    rows = conn.execute(query.group_by(day).order_by(day))
    return [{"day": r.day, "units": int(r.units), "reports": int(r.reports)} for r in rows]


def due_for_expiry(conn: Connection, now: str, limit: int = 100) -> list[str]:
    rows = conn.execute(
        select(licences.c.licence_id)
        .where(licences.c.status.in_(("active", "awaiting_regulator")), licences.c.ends_at <= now)
        .order_by(licences.c.ends_at)
        .limit(limit)
    )
    return [r[0] for r in rows]


def disputes_of(
    conn: Connection, *, licence_id: str | None = None, asset_id: str | None = None
) -> list[dict[str, Any]]:
    query = select(disputes).order_by(disputes.c.opened_index)
    if licence_id:
        query = query.where(disputes.c.licence_id == licence_id)
    if asset_id:
        query = query.where(disputes.c.asset_id == asset_id)
    return [row_dict(r) for r in conn.execute(query)]


def dispute(conn: Connection, dispute_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(disputes).where(disputes.c.dispute_id == dispute_id)).first()
    return None if row is None else row_dict(row)
