"""Queries over the ledger tables, on one SQLAlchemy connection.

Reads of the tree touch O(log n) stored hashes: the proof generators in `ledger.merkle` say which
perfect subtrees they need, and those are fetched in one query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, delete, func, insert, select, update

from ledger import merkle
from ledger.merkle import CompactRange, NodeId
from ledger.privacy import Opening
from ledger.storage.schema import (
    checkpoints,
    cosignatures,
    ledger_entries,
    merkle_nodes,
    statement_openings,
)

# Keeps IN lists well under every driver's bound-parameter limit.
_IN_CHUNK = 400


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str


@dataclass(frozen=True, slots=True)
class StoredEntry:
    index: int
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class NewEntry:
    index: int
    entry: bytes
    envelope_sha256: bytes
    signer_keyid: str
    nonce: str
    kind: str
    integrated_at: str


# --- tree -------------------------------------------------------------------------------------


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    row = conn.execute(
        select(checkpoints.c.tree_size, checkpoints.c.root_hash, checkpoints.c.note)
        .order_by(checkpoints.c.tree_size.desc())
        .limit(1)
    ).first()
    return None if row is None else StoredCheckpoint(row[0], bytes(row[1]), row[2])


def checkpoint_at(conn: Connection, tree_size: int) -> StoredCheckpoint | None:
    row = conn.execute(
        select(checkpoints.c.tree_size, checkpoints.c.root_hash, checkpoints.c.note).where(
            checkpoints.c.tree_size == tree_size
        )
    ).first()
    return None if row is None else StoredCheckpoint(row[0], bytes(row[1]), row[2])


def tree_size(conn: Connection) -> int:
    """The size of the committed tree: every batch commits its checkpoint with its entries."""
    row = conn.exec_driver_sql(
        "SELECT tree_size FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
    ).first()
    return 0 if row is None else int(row[0])


# The statements every batch of the sequencer runs go to the driver as plain SQL: building and
# compiling a SQLAlchemy expression per batch cost more than running it. Values are always
# bound parameters; only placeholders are put into the text.


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _marks(conn: Connection, count: int) -> str:
    return ", ".join([_mark(conn)] * count)


def fetch_nodes(conn: Connection, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
    wanted = list(ids)
    found: dict[NodeId, bytes] = {}
    mark = _mark(conn)
    for start in range(0, len(wanted), _IN_CHUNK):
        # One primary-key lookup per level, OR-ed: both SQLite and PostgreSQL use the index
        # for this shape (a row-value IN list makes SQLite scan the table). Plain SQL through
        # the driver: building a SQLAlchemy expression per proof cost more than running it.
        by_level: dict[int, list[int]] = {}
        for level, idx in wanted[start : start + _IN_CHUNK]:
            by_level.setdefault(level, []).append(idx)
        clauses, params = [], []
        for level, idxs in by_level.items():
            clauses.append(f"(level = {mark} AND idx IN ({_marks(conn, len(idxs))}))")
            params += [level, *idxs]
        where = " OR ".join(clauses)  # placeholders only: every value is a bound parameter
        sql = f"SELECT level, idx, hash FROM merkle_nodes WHERE {where}"  # noqa: S608
        for level, idx, digest in conn.exec_driver_sql(sql, tuple(params)):
            found[(level, idx)] = bytes(digest)
    missing = set(wanted) - found.keys()
    if missing:
        raise LookupError(f"stored Merkle nodes missing: {sorted(missing)[:5]}")
    return found


def load_compact_range(conn: Connection, size: int) -> CompactRange:
    ids = CompactRange.frontier_ids(size)
    nodes = fetch_nodes(conn, ids)
    return CompactRange(size, [nodes[i] for i in ids])


def inclusion_proof(conn: Connection, index: int, size: int) -> list[bytes]:
    nodes = fetch_nodes(conn, merkle.inclusion_nodes(index, size))
    return merkle.inclusion_proof(index, size, lambda level, idx: nodes[(level, idx)])


def consistency_proof(conn: Connection, first: int, second: int) -> list[bytes]:
    nodes = fetch_nodes(conn, merkle.consistency_nodes(first, second))
    return merkle.consistency_proof(first, second, lambda level, idx: nodes[(level, idx)])


def insert_nodes(conn: Connection, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    if nodes:
        conn.exec_driver_sql(
            f"INSERT INTO merkle_nodes (level, idx, hash) VALUES ({_marks(conn, 3)})",  # noqa: S608 - placeholders only
            list(nodes),
        )


def insert_checkpoint(
    conn: Connection, size: int, root_hash: bytes, note: str, created_at: str
) -> None:
    conn.exec_driver_sql(
        "INSERT INTO checkpoints (tree_size, root_hash, note, created_at) "  # noqa: S608 - placeholders only
        f"VALUES ({_marks(conn, 4)})",
        (size, root_hash, note, created_at),
    )


# --- entries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldOpening:
    """An entry's openings as `statement_openings` keeps them, with the parties entitled."""

    index: int
    openings: dict[str, Opening]
    audience: tuple[str, ...]


_openings_json = msgspec.json.Decoder(dict[str, Opening])
_json = msgspec.json.Encoder()


def insert_openings(conn: Connection, held: Sequence[HeldOpening]) -> None:
    if held:
        conn.exec_driver_sql(
            "INSERT INTO statement_openings (entry_index, openings, audience) "  # noqa: S608 - placeholders only
            f"VALUES ({_marks(conn, 3)})",
            [
                (h.index, _json.encode(h.openings).decode(), _json.encode(h.audience).decode())
                for h in held
            ],
        )


def _held(row: Any) -> HeldOpening:
    return HeldOpening(
        row.entry_index, _openings_json.decode(row.openings), tuple(json.loads(row.audience))
    )


def openings_range(conn: Connection, start: int, end: int) -> dict[int, dict[str, Opening]]:
    """The openings held for entries [start, end), by entry index and field."""
    rows = conn.execute(
        select(statement_openings).where(
            statement_openings.c.entry_index >= start, statement_openings.c.entry_index < end
        )
    )
    return {row.entry_index: _openings_json.decode(row.openings) for row in rows}


def openings_of(conn: Connection, indices: Sequence[int]) -> list[HeldOpening]:
    """The openings held for the entries `indices`, in entry order."""
    found: list[HeldOpening] = []
    for start in range(0, len(indices), _IN_CHUNK):
        rows = conn.execute(
            select(statement_openings).where(
                statement_openings.c.entry_index.in_(indices[start : start + _IN_CHUNK])
            )
        )
        found.extend(_held(row) for row in rows)
    return sorted(found, key=lambda h: h.index)


def erase_opening(conn: Connection, index: int, field: str) -> bool:
    """Remove the opening of `field` from entry `index`'s row (the row with its last field);
    True if there was one."""
    found = openings_of(conn, [index])
    if not found or field not in found[0].openings:
        return False
    rest = {k: v for k, v in found[0].openings.items() if k != field}
    where = statement_openings.c.entry_index == index
    if rest:
        conn.execute(
            update(statement_openings).where(where).values(openings=_json.encode(rest).decode())
        )
    else:
        conn.execute(delete(statement_openings).where(where))
    return True


def insert_entries(conn: Connection, entries: Sequence[NewEntry]) -> None:
    if entries:
        conn.exec_driver_sql(
            "INSERT INTO ledger_entries "  # noqa: S608 - placeholders only
            "(idx, entry, envelope_sha256, signer_keyid, nonce, kind, integrated_at) "
            f"VALUES ({_marks(conn, 7)})",
            [
                (
                    e.index,
                    e.entry,
                    e.envelope_sha256,
                    e.signer_keyid,
                    e.nonce,
                    e.kind,
                    e.integrated_at,
                )
                for e in entries
            ],
        )


def entries_range(conn: Connection, start: int, limit: int) -> list[StoredEntry]:
    """Entries [start, start+limit) with the leaf hashes the tree was built from."""
    rows = conn.execute(
        select(ledger_entries.c.idx, ledger_entries.c.entry, merkle_nodes.c.hash)
        .join(
            merkle_nodes,
            and_(merkle_nodes.c.level == 0, merkle_nodes.c.idx == ledger_entries.c.idx),
            isouter=True,
        )
        .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < start + limit)
        .order_by(ledger_entries.c.idx)
    )
    return [
        StoredEntry(idx, bytes(entry), bytes(h) if h is not None else b"") for idx, entry, h in rows
    ]


def entry_at(conn: Connection, index: int) -> StoredEntry | None:
    found = entries_range(conn, index, 1)
    return found[0] if found else None


def indices_by_envelope_hash(conn: Connection, hashes: Sequence[bytes]) -> dict[bytes, int]:
    found: dict[bytes, int] = {}
    for start in range(0, len(hashes), _IN_CHUNK):
        chunk = tuple(hashes[start : start + _IN_CHUNK])
        rows = conn.exec_driver_sql(
            "SELECT envelope_sha256, idx FROM ledger_entries "  # noqa: S608 - placeholders only
            f"WHERE envelope_sha256 IN ({_marks(conn, len(chunk))})",
            chunk,
        )
        found.update((bytes(h), idx) for h, idx in rows)
    return found


def used_nonces(conn: Connection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (signer keyid, nonce) pairs the log already holds.

    Two plain IN lists, not a row-value IN: SQLite scans the whole table for `(a, b) IN (...)`,
    but searches the (signer_keyid, nonce) unique index for `a IN (...) AND b IN (...)`. The
    cross product may match a pair that was not asked for; it is filtered out here.
    """
    wanted = set(pairs)
    found: set[tuple[str, str]] = set()
    for start in range(0, len(pairs), _IN_CHUNK):
        chunk = pairs[start : start + _IN_CHUNK]
        keys, nonces = tuple({k for k, _ in chunk}), tuple({n for _, n in chunk})
        rows = conn.exec_driver_sql(
            "SELECT signer_keyid, nonce FROM ledger_entries "  # noqa: S608 - placeholders only
            f"WHERE signer_keyid IN ({_marks(conn, len(keys))}) "
            f"AND nonce IN ({_marks(conn, len(nonces))})",
            keys + nonces,
        )
        found.update((k, n) for k, n in rows if (k, n) in wanted)
    return found


# --- cosignatures and tiles -------------------------------------------------------------------


def insert_cosignature(
    conn: Connection,
    tree_size: int,
    keyid: str,
    timestamp: int,
    party_id: str,
    name: str,
    line: str,
    received_at: str,
) -> bool:
    """Store a verified cosignature; False if that very cosignature was already stored."""
    exists = conn.execute(
        select(cosignatures.c.line).where(
            cosignatures.c.tree_size == tree_size,
            cosignatures.c.keyid == keyid,
            cosignatures.c.timestamp == timestamp,
        )
    ).first()
    if exists is not None:
        return False
    conn.execute(
        insert(cosignatures).values(
            tree_size=tree_size,
            keyid=keyid,
            timestamp=timestamp,
            party_id=party_id,
            name=name,
            line=line,
            received_at=received_at,
        )
    )
    return True


def cosignature_lines(conn: Connection, tree_size: int) -> list[str]:
    """The newest cosignature of each witness key on the checkpoint of `tree_size`."""
    rows = conn.execute(
        select(cosignatures.c.keyid, cosignatures.c.line)
        .where(cosignatures.c.tree_size == tree_size)
        .order_by(cosignatures.c.keyid, cosignatures.c.timestamp.desc())
    )
    newest: dict[str, str] = {}
    for keyid, line in rows:
        newest.setdefault(keyid, line)
    return list(newest.values())


def cosigned_sizes(conn: Connection) -> dict[str, int]:
    """The largest tree size each cosigner (by key name) has cosigned."""
    rows = conn.execute(
        select(cosignatures.c.name, func.max(cosignatures.c.tree_size)).group_by(
            cosignatures.c.name
        )
    )
    return {str(name): int(size) for name, size in rows}


def latest_cosigned_size(conn: Connection) -> int | None:
    size = conn.execute(select(func.max(cosignatures.c.tree_size))).scalar_one()
    return None if size is None else int(size)


def node_range(conn: Connection, level: int, start: int, count: int) -> list[bytes]:
    """Stored hashes at `level` for indices [start, start + count), in order."""
    rows = conn.execute(
        select(merkle_nodes.c.hash)
        .where(
            merkle_nodes.c.level == level,
            merkle_nodes.c.idx >= start,
            merkle_nodes.c.idx < start + count,
        )
        .order_by(merkle_nodes.c.idx)
    )
    return [bytes(r[0]) for r in rows]
