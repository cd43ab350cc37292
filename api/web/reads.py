"""Read queries the explorer needs beyond the JSON API's: batched, so a page costs a handful of
queries whatever it shows (no query per row), and paged, so no page grows with the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, select

from ledger import merkle
from ledger.receipts import Receipt, make_receipt
from ledger.storage import catalog, store
from ledger.storage.catalog import row_dict
from ledger.storage.schema import (
    asset_entries,
    assets,
    ledger_entries,
    parties,
    party_keys,
    party_roles,
    usage_reports,
)

# Keeps IN lists well under every driver's bound-parameter limit.
_IN_CHUNK = 400


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """What the log's own columns say about an entry, without decoding it."""

    index: int
    kind: str
    signer_keyid: str
    integrated_at: str


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]


def receipts_at(
    conn: Connection, indices: list[int], head: store.StoredCheckpoint | None = None
) -> dict[int, Receipt]:
    """Receipts for `indices` against ONE checkpoint (the newest unless `head` is given): the
    entries in one query and every proof's nodes in one more. Indices the checkpoint does not
    cover are left out."""
    head = head or store.latest_checkpoint(conn)
    if head is None:
        return {}
    wanted = sorted({i for i in indices if 0 <= i < head.tree_size})
    if not wanted:
        return {}
    entries: dict[int, bytes] = {}
    for part in _chunks(wanted):
        rows = conn.execute(
            select(ledger_entries.c.idx, ledger_entries.c.entry).where(
                ledger_entries.c.idx.in_(part)
            )
        )
        entries.update((int(i), bytes(e)) for i, e in rows)
    needed: set[merkle.NodeId] = set()
    for index in wanted:
        needed |= merkle.inclusion_nodes(index, head.tree_size)
    nodes = store.fetch_nodes(conn, needed)
    found = {}
    for index in wanted:
        if index not in entries:  # pragma: no cover - every committed index has its entry
            continue
        proof = merkle.inclusion_proof(index, head.tree_size, lambda lv, ix: nodes[(lv, ix)])
        found[index] = make_receipt(index, entries[index], proof, head.tree_size, head.note)
    return found


def entry_infos(conn: Connection, indices: list[int]) -> dict[int, EntryInfo]:
    found: dict[int, EntryInfo] = {}
    for part in _chunks(sorted(set(indices))):
        rows = conn.execute(
            select(
                ledger_entries.c.idx,
                ledger_entries.c.kind,
                ledger_entries.c.signer_keyid,
                ledger_entries.c.integrated_at,
            ).where(ledger_entries.c.idx.in_(part))
        )
        found.update((int(r[0]), EntryInfo(int(r[0]), r[1], r[2], r[3])) for r in rows)
    return found


def latest_entries(conn: Connection, *, before: int | None, limit: int) -> list[EntryInfo]:
    """The newest entries (below `before`, if given), newest first."""
    query = select(
        ledger_entries.c.idx,
        ledger_entries.c.kind,
        ledger_entries.c.signer_keyid,
        ledger_entries.c.integrated_at,
    )
    if before is not None:
        query = query.where(ledger_entries.c.idx < before)
    rows = conn.execute(query.order_by(ledger_entries.c.idx.desc()).limit(limit))
    return [EntryInfo(int(r[0]), r[1], r[2], r[3]) for r in rows]


def _lookup(
    conn: Connection, key: Column[Any], value: Column[Any], ids: set[str]
) -> dict[str, str]:
    """`key` -> `value` for `ids`, in chunked IN queries; ids not found are left out."""
    found: dict[str, str] = {}
    for part in _chunks(sorted(ids)):
        rows = conn.execute(select(key, value).where(key.in_(part)))
        found.update((k, v) for k, v in rows)
    return found


def key_owners(conn: Connection, keyids: list[str]) -> dict[str, str]:
    """keyid -> party id, for the keys the ledger knows."""
    return _lookup(conn, party_keys.c.keyid, party_keys.c.party_id, set(keyids))


@dataclass(frozen=True, slots=True)
class PartyLabel:
    """What a page shows of a party (the `party` macro): never its name alone."""

    party_id: str
    name: str
    roles: tuple[str, ...]
    name_shared: bool  # another party bears the same name (ledger.names.name_key)


def party_labels(conn: Connection, party_ids: list[str]) -> dict[str, PartyLabel]:
    """Name, roles and whether the name is shared, for the parties a page shows: one query for
    the parties and their roles, one for which of their names other parties bear too (chunked
    only past hundreds of parties). Ids not found are left out."""
    rows: dict[str, tuple[str, str | None, set[str]]] = {}
    for part in _chunks(sorted({p for p in party_ids if p})):
        query = (
            select(parties.c.party_id, parties.c.name, parties.c.name_key, party_roles.c.role)
            .outerjoin(party_roles, party_roles.c.party_id == parties.c.party_id)
            .where(parties.c.party_id.in_(part))
        )
        for party_id, name, key, role in conn.execute(query):
            found = rows.setdefault(party_id, (name, key, set()))
            if role is not None:
                found[2].add(role)
    shared = catalog.shared_name_keys(conn, [key for _, key, _ in rows.values() if key is not None])
    return {
        party_id: PartyLabel(party_id, name, tuple(sorted(roles)), key in shared)
        for party_id, (name, key, roles) in rows.items()
    }


def asset_titles(conn: Connection, asset_ids: list[str]) -> dict[str, str]:
    return _lookup(conn, assets.c.asset_id, assets.c.title, {a for a in asset_ids if a})


def _newest(
    conn: Connection, column: Column[Any], where: Any, before: int | None, limit: int
) -> list[int]:
    query = select(column).where(where)
    if before is not None:
        query = query.where(column < before)
    return [int(r[0]) for r in conn.execute(query.order_by(column.desc()).limit(limit))]


def _page(found: list[int], limit: int) -> tuple[list[int], int | None]:
    """Newest first, at most `limit`, and the cursor for older ones (None: no more)."""
    rows = sorted(set(found), reverse=True)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1] if more and rows else None)


def asset_timeline(
    conn: Connection, asset_id: str, *, before: int | None, limit: int
) -> tuple[list[int], int | None]:
    """A page of the entries about an asset, its licences' usage reports among them, newest
    first: (indices, cursor for older ones)."""
    touched = _newest(
        conn, asset_entries.c.entry_index, asset_entries.c.asset_id == asset_id, before, limit + 1
    )
    used = _newest(
        conn, usage_reports.c.entry_index, usage_reports.c.asset_id == asset_id, before, limit + 1
    )
    return _page(touched + used, limit)


def licence_timeline(
    conn: Connection, own: list[int], licence_id: str, *, before: int | None, limit: int
) -> tuple[list[int], int | None]:
    """A page of a licence's entries: `own` (its request, approval, payments, disputes: a
    handful) and its usage reports (any number), newest first, with the cursor for older."""
    mine = [i for i in own if before is None or i < before]
    used = _newest(
        conn,
        usage_reports.c.entry_index,
        usage_reports.c.licence_id == licence_id,
        before,
        limit + 1,
    )
    return _page(mine + used, limit)


def recent_usage(conn: Connection, licence_id: str, limit: int) -> list[dict[str, Any]]:
    """The latest usage reports of a licence (by period end), newest first."""
    rows = conn.execute(
        select(
            usage_reports.c.units,
            usage_reports.c.usage_kind,
            usage_reports.c.period_start,
            usage_reports.c.period_end,
            usage_reports.c.entry_index,
            usage_reports.c.reporter_id,
        )
        .where(usage_reports.c.licence_id == licence_id)
        .order_by(usage_reports.c.period_end.desc())
        .limit(limit)
    )
    return [row_dict(r) for r in rows]


def categories(conn: Connection) -> list[str]:
    return sorted(str(r[0]) for r in conn.execute(select(assets.c.category).distinct()))
