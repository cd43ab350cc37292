"""Regulators' queries: search across the market, timelines of assets and parties."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select

from ledger.storage.catalog import row_dict
from ledger.storage.schema import (
    asset_entries,
    assets,
    ledger_entries,
    licences,
    party_keys,
    payments,
    usage_reports,
)

MAX_PAGE = 500
KINDS = ("transactions", "licences", "usage", "registrations")


@dataclass(frozen=True)
class AuditQuery:
    kind: str
    party: str | None = None
    asset: str | None = None
    since: str | None = None  # RFC 3339, inclusive
    until: str | None = None  # RFC 3339, exclusive
    min_price: int | None = None  # minor units
    max_price: int | None = None
    after: int | None = None  # cursor: the last row's `cursor`
    limit: int = 100


def search(conn: Connection, q: AuditQuery) -> tuple[list[dict[str, Any]], int | None]:
    """Rows of one kind matching every given filter, in log order, with a cursor."""
    parties: tuple[Any, ...]
    if q.kind == "transactions":
        cursor = payments.c.confirmed_index
        query = (
            select(
                cursor.label("cursor"),
                payments.c.payment_id.label("transaction_id"),
                payments.c.licence_id,
                licences.c.asset_id,
                licences.c.seller_id,
                licences.c.buyer_id,
                payments.c.amount_minor.label("price_minor"),
                payments.c.currency,
                payments.c.confirmed_at.label("at"),
            )
            .join(licences, licences.c.licence_id == payments.c.licence_id)
            .where(payments.c.status == "confirmed")
        )
        parties = (licences.c.seller_id, licences.c.buyer_id)
        asset, time, price = licences.c.asset_id, payments.c.confirmed_at, payments.c.amount_minor
    elif q.kind == "licences":
        cursor = licences.c.requested_index
        query = select(cursor.label("cursor"), licences)
        parties = (licences.c.seller_id, licences.c.buyer_id)
        asset, time, price = licences.c.asset_id, licences.c.requested_at, licences.c.price_minor
    elif q.kind == "usage":
        cursor = usage_reports.c.entry_index
        query = select(cursor.label("cursor"), usage_reports)
        parties = (usage_reports.c.licensee_id, usage_reports.c.reporter_id)
        asset, time, price = usage_reports.c.asset_id, usage_reports.c.period_end, None
    elif q.kind == "registrations":
        cursor = assets.c.registered_index
        query = select(
            cursor.label("cursor"),
            assets.c.asset_id,
            assets.c.owner_id,
            assets.c.title,
            assets.c.category,
            assets.c.classification,
            assets.c.personal_info,
            assets.c.fingerprint,
            assets.c.status,
            assets.c.frozen,
            assets.c.registered_at,
            assets.c.declared_cost_minor,
        )
        parties = (assets.c.owner_id,)
        asset, time, price = assets.c.asset_id, assets.c.registered_at, assets.c.declared_cost_minor
    else:
        raise ValueError(f"unknown kind {q.kind!r}; choose one of {', '.join(KINDS)}")
    if q.party:
        query = query.where(or_(*(column == q.party for column in parties)))
    if q.asset:
        query = query.where(asset == q.asset)
    if q.since:
        query = query.where(time >= q.since)
    if q.until:
        query = query.where(time < q.until)
    if price is not None and q.min_price is not None:
        query = query.where(price >= q.min_price)
    if price is not None and q.max_price is not None:
        query = query.where(price <= q.max_price)
    if q.after is not None:
        query = query.where(cursor > q.after)
    limit = max(1, min(q.limit, MAX_PAGE))
    rows = [row_dict(r) for r in conn.execute(query.order_by(cursor).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["cursor"] if more else None)


def asset_timeline(conn: Connection, asset_id: str, limit: int = 10_000) -> list[int]:
    rows = conn.execute(
        select(asset_entries.c.entry_index)
        .where(asset_entries.c.asset_id == asset_id)
        .order_by(asset_entries.c.entry_index)
        .limit(limit)
    )
    return [int(r[0]) for r in rows]


def party_timeline(conn: Connection, party_id: str, limit: int = 10_000) -> list[int]:
    """Every entry signed by any key the party ever had, in log order."""
    keys = select(party_keys.c.keyid).where(party_keys.c.party_id == party_id)
    rows = conn.execute(
        select(ledger_entries.c.idx)
        .where(ledger_entries.c.signer_keyid.in_(keys))
        .order_by(ledger_entries.c.idx)
        .limit(limit)
    )
    return [int(r[0]) for r in rows]
