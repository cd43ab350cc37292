"""Read queries over the registry projections: catalog search, asset and party details, rights,
objections, history. Writes never happen here (see `projections.apply`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select, text

from ledger.storage.schema import (
    asset_entries,
    asset_lineage,
    asset_versions,
    assets,
    assets_search,
    conflicts,
    disputes,
    objections,
    parties,
    party_contacts,
    party_keys,
    party_roles,
    right_transfers,
    rights,
)

MAX_PAGE = 200
# Columns anyone may read; the rest of an asset (cost, quality, schema) is its owner's business.
PUBLIC_ASSET_COLUMNS = (
    "asset_id",
    "owner_id",
    "title",
    "description",
    "category",
    "classification",
    "personal_info",
    "fingerprint",
    "size_bytes",
    "record_count",
    "status",
    "conflict",
    "frozen",
    "version",
    "registered_index",
    "registered_at",
    "notice_ends_at",
    "certified_index",
)
# Private (ledger.privacy): the owner's cost, quality and schema, and the regulators' reasons.
PRIVATE_ASSET_COLUMNS = (
    "status_reason",
    "freeze_reason",
    "declared_cost_minor",
    "declared_cost_currency",
    "quality_json",
    "quality_score",
    "schema_json",
)


def row_dict(row: Any) -> dict[str, Any]:
    # SQLAlchemy hands back `quoted_name` keys (a str subclass); serialisers want plain str.
    return {str(key): value for key, value in row._mapping.items()}


@dataclass(frozen=True)
class AssetFilter:
    q: str | None = None
    category: str | None = None
    classification: str | None = None
    owner: str | None = None
    status: str | None = None  # on_notice | certified | rejected | frozen


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(q: str) -> str:
    # FTS5 trigram: a quoted phrase is a substring match, in any script.
    return '"' + q.replace('"', '""') + '"'


def _uses_fts(conn: Connection, q: str | None) -> bool:
    return bool(q) and conn.dialect.name == "sqlite" and len(q or "") >= 3


def _text_condition(conn: Connection, q: str) -> Any:
    pattern = _like_pattern(q)
    if conn.dialect.name == "postgresql":
        # Matches the pg_trgm expression index of migration 0002.
        return (assets.c.title + " " + assets.c.description).ilike(pattern, escape="\\")
    return or_(
        assets.c.title.like(pattern, escape="\\"), assets.c.description.like(pattern, escape="\\")
    )


def search_assets(
    conn: Connection, flt: AssetFilter, *, before: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the catalog, newest first; returns (rows, cursor for the next page or None)."""
    limit = max(1, min(limit, MAX_PAGE))
    conditions: list[Any] = []
    order: Any = assets.c.registered_index.desc()
    source: Any = assets
    if _uses_fts(conn, flt.q):
        # Walk the text index newest first (its rowid is the registration index) and stop at a
        # page, instead of collecting every match and sorting it.
        source = assets_search.join(assets, assets.c.registered_index == assets_search.c.rowid)
        conditions.append(
            text("assets_search MATCH :phrase").bindparams(phrase=_fts_phrase(flt.q or ""))
        )
        order = assets_search.c.rowid.desc()
    elif flt.q:
        conditions.append(_text_condition(conn, flt.q))
    if flt.category:
        conditions.append(assets.c.category == flt.category)
    if flt.classification:
        conditions.append(assets.c.classification == flt.classification)
    if flt.owner:
        conditions.append(assets.c.owner_id == flt.owner)
    if flt.status == "frozen":
        conditions.append(assets.c.frozen.is_(True))
    elif flt.status:
        conditions.append(assets.c.status == flt.status)
    if before is not None:
        conditions.append(
            (assets_search.c.rowid if source is not assets else assets.c.registered_index) < before
        )
    query = (
        select(*(assets.c[c] for c in PUBLIC_ASSET_COLUMNS))
        .select_from(source)
        .where(*conditions)
        .order_by(order)
        .limit(limit + 1)
    )
    rows = [row_dict(r) for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["registered_index"] if more and rows else None)


def asset(conn: Connection, asset_id: str, *, private: bool) -> dict[str, Any] | None:
    columns = PUBLIC_ASSET_COLUMNS + (PRIVATE_ASSET_COLUMNS if private else ())
    row = conn.execute(
        select(*(assets.c[c] for c in columns)).where(assets.c.asset_id == asset_id)
    ).first()
    if row is None:
        return None
    found = row_dict(row)
    for key in ("schema_json", "quality_json"):
        if key in found:
            value = found.pop(key)
            found[key.removesuffix("_json")] = json.loads(value) if value else None
    # Lineage to another owner's asset counts only once that owner confirmed it: the plain
    # lists hold confirmed links, the `unconfirmed_` ones the claims still waiting.
    lineage = asset_lineage.c
    for mine, theirs, name in (
        (lineage.asset_id, lineage.parent_id, "derived_from"),
        (lineage.parent_id, lineage.asset_id, "derived_into"),
    ):
        confirmed: list[str] = []
        unconfirmed: list[str] = []
        rows = conn.execute(select(theirs, lineage.confirmed_index).where(mine == asset_id))
        for other, confirmed_index in rows:
            (unconfirmed if confirmed_index is None else confirmed).append(other)
        found[name] = confirmed
        found[f"unconfirmed_{name}"] = unconfirmed
    found["open_disputes"] = int(
        conn.execute(
            select(func.count())
            .select_from(disputes)
            .where(disputes.c.asset_id == asset_id, disputes.c.status != "resolved")
        ).scalar_one()
    )
    found["open_objections"] = int(
        conn.execute(
            select(func.count())
            .select_from(objections)
            .where(objections.c.asset_id == asset_id, objections.c.status == "open")
        ).scalar_one()
    )
    return found


def versions(conn: Connection, asset_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            asset_versions.c.version,
            asset_versions.c.fingerprint,
            asset_versions.c.size_bytes,
            asset_versions.c.record_count,
            asset_versions.c.note,
            asset_versions.c.entry_index,
            asset_versions.c.recorded_at,
        )
        .where(asset_versions.c.asset_id == asset_id)
        .order_by(asset_versions.c.version)
    )
    return [row_dict(r) for r in rows]


def history(
    conn: Connection, asset_id: str, *, after: int | None = None, limit: int = 1000
) -> list[int]:
    """Indices of the entries about the asset after index `after`, in log order, `limit` at
    most (ask for one more than you show to know whether more follow)."""
    query = select(asset_entries.c.entry_index).where(asset_entries.c.asset_id == asset_id)
    if after is not None:
        query = query.where(asset_entries.c.entry_index > after)
    rows = conn.execute(query.order_by(asset_entries.c.entry_index).limit(limit))
    return [int(r[0]) for r in rows]


def rights_of(conn: Connection, asset_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(rights.c.right_kind, rights.c.holder_id, rights.c.since_index)
        .where(rights.c.asset_id == asset_id)
        .order_by(rights.c.right_kind)
    )
    return [
        {"right": r.right_kind, "holder_id": r.holder_id, "since_index": r.since_index}
        for r in rows
    ]


def transfers_of(conn: Connection, asset_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(right_transfers)
        .where(right_transfers.c.asset_id == asset_id)
        .order_by(right_transfers.c.offered_index)
    )
    return [_transfer(row_dict(r)) for r in rows]


def transfer(conn: Connection, transfer_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(right_transfers).where(right_transfers.c.transfer_id == transfer_id)
    ).first()
    return None if row is None else _transfer(row_dict(row))


def _transfer(row: dict[str, Any]) -> dict[str, Any]:
    row["right"] = row.pop("right_kind")
    return row


def objections_of(conn: Connection, asset_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(objections)
        .where(objections.c.asset_id == asset_id)
        .order_by(objections.c.filed_index)
    )
    return [row_dict(r) for r in rows]


def objection(conn: Connection, objection_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(objections).where(objections.c.objection_id == objection_id)).first()
    return None if row is None else row_dict(row)


def conflict(conn: Connection, fingerprint: str) -> dict[str, Any] | None:
    row = conn.execute(select(conflicts).where(conflicts.c.fingerprint == fingerprint)).first()
    if row is None:
        return None
    found = row_dict(row)
    found["asset_ids"] = json.loads(found.pop("asset_ids_json"))
    return found


_NAME_KEYS_CHUNK = 400  # keeps IN lists under every driver's bound-parameter limit


def shared_name_keys(conn: Connection, keys: list[str]) -> set[str]:
    """Those of `keys` (`ledger.names.name_key` of names) that two or more parties bear: one
    indexed query for up to hundreds of names."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), _NAME_KEYS_CHUNK):
        query = (
            select(parties.c.name_key)
            .where(parties.c.name_key.in_(wanted[start : start + _NAME_KEYS_CHUNK]))
            .group_by(parties.c.name_key)
            .having(func.count() > 1)
        )
        found.update(str(r[0]) for r in conn.execute(query))
    return found


def party(conn: Connection, party_id: str) -> dict[str, Any] | None:
    """A party's public record; `name_shared` says whether another party bears its name (by
    `ledger.names.name_key`): never tell parties apart by name alone."""
    row = conn.execute(
        select(
            parties.c.party_id,
            parties.c.name,
            parties.c.registered_index,
            parties.c.registered_at,
            parties.c.contact_commitment,
            parties.c.name_key,
        ).where(parties.c.party_id == party_id)
    ).first()
    if row is None:
        return None
    found = row_dict(row)
    key = found.pop("name_key")
    found["name_shared"] = key is not None and bool(shared_name_keys(conn, [key]))
    found["keys"] = [
        row_dict(r)
        for r in conn.execute(
            select(party_keys.c.keyid, party_keys.c.added_index, party_keys.c.revoked_index)
            .where(party_keys.c.party_id == party_id)
            .order_by(party_keys.c.added_index)
        )
    ]
    found["roles"] = sorted(
        r[0]
        for r in conn.execute(select(party_roles.c.role).where(party_roles.c.party_id == party_id))
    )
    return found


def contact(conn: Connection, party_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(
            party_contacts.c.salt,
            party_contacts.c.email,
            party_contacts.c.phone,
            party_contacts.c.address,
        ).where(party_contacts.c.party_id == party_id)
    ).first()
    return None if row is None else row_dict(row)


def due_for_certification(conn: Connection, now: str, limit: int = 100) -> list[str]:
    """Assets whose notice has ended with nothing standing in the way of certification."""
    open_objection = exists().where(
        objections.c.asset_id == assets.c.asset_id, objections.c.status == "open"
    )
    rows = conn.execute(
        select(assets.c.asset_id)
        .where(
            assets.c.status == "on_notice",
            assets.c.notice_ends_at <= now,
            assets.c.conflict.is_(False),
            ~open_objection,
        )
        .order_by(assets.c.notice_ends_at)
        .limit(limit)
    )
    return [r[0] for r in rows]


def witness_keys(conn: Connection) -> list[tuple[str, str, bytes]]:
    """(party id, keyid, public key) of every active key of every party with the witness role."""
    rows = conn.execute(
        select(party_keys.c.party_id, party_keys.c.keyid, party_keys.c.public_key)
        .join(party_roles, party_roles.c.party_id == party_keys.c.party_id)
        .where(party_roles.c.role == "witness", party_keys.c.revoked_index.is_(None))
    )
    return [(r[0], r[1], bytes(r[2])) for r in rows]
