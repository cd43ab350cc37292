"""Writing audit bundles (see `ledger.bundle`) straight from the database, streaming.

Entries are read in chunks; each chunk's proofs come from a getter that computes the perfect
subtrees inside the chunk from its own leaves and fetches (once) the few nodes outside it, so
the export costs O(chunk) memory and about one query per chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
from sqlalchemy import Connection, select

from ledger import merkle
from ledger.bundle import BundleEntry, BundleHeader
from ledger.encoding import b64encode
from ledger.merkle import NodeId
from ledger.state import KeyRecord
from ledger.storage import store
from ledger.storage.schema import ledger_entries, party_keys

_encoder = msgspec.json.Encoder()


def signer_keys(conn: Connection, start: int, end: int, operator: KeyRecord) -> dict[str, str]:
    signers = (
        select(ledger_entries.c.signer_keyid)
        .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < end)
        .distinct()
    )
    rows = conn.execute(
        select(party_keys.c.keyid, party_keys.c.public_key).where(party_keys.c.keyid.in_(signers))
    )
    keys = {kid: b64encode(bytes(pub)) for kid, pub in rows}
    keys[operator.keyid] = b64encode(operator.public_key)
    return dict(sorted(keys.items()))


def bundle_lines(
    conn: Connection,
    start: int,
    end: int | None,
    operator: KeyRecord,
    chunk: int = 4096,
    *,
    openings: bool = False,
) -> Iterator[bytes]:
    """NDJSON lines of an audit bundle for entries [start, end) against the newest checkpoint;
    with `openings` (for a reader entitled to all of them: a regulator) every opening held."""
    head = store.latest_checkpoint(conn)
    if head is None:
        raise LookupError("the log has no checkpoint")
    size = head.tree_size
    end = size if end is None else end
    if not 0 <= start <= end <= size:
        raise LookupError(f"range {start}..{end} is not within the log of {size} entries")
    header = BundleHeader(head.note, start, end, signer_keys(conn, start, end, operator))
    yield _encoder.encode(header) + b"\n"
    outside: dict[NodeId, bytes] = {}
    for lo in range(start, end, chunk):
        entries = store.entries_range(conn, lo, min(chunk, end - lo))
        leaves = {e.index: e.leaf_hash for e in entries}
        get = _chunk_getter(conn, leaves, outside)
        held = store.openings_range(conn, lo, lo + len(entries)) if openings else {}
        for stored in entries:
            proof = merkle.inclusion_proof(stored.index, size, get)
            item = BundleEntry(
                stored.index,
                b64encode(stored.entry),
                [b64encode(h) for h in proof],
                held.get(stored.index, {}),
            )
            yield _encoder.encode(item) + b"\n"


def _chunk_getter(
    conn: Connection, leaves: dict[int, bytes], outside: dict[NodeId, bytes]
) -> merkle.NodeGetter:
    lo, hi = min(leaves), max(leaves) + 1
    inside: dict[NodeId, bytes] = {}

    def get(level: int, idx: int) -> bytes:
        first, last = idx << level, (idx + 1) << level
        if lo <= first and last <= hi:
            key = (level, idx)
            if key not in inside:
                inside[key] = (
                    leaves[idx]
                    if level == 0
                    else merkle.node_hash(get(level - 1, 2 * idx), get(level - 1, 2 * idx + 1))
                )
            return inside[key]
        if (level, idx) not in outside:
            outside.update(store.fetch_nodes(conn, [(level, idx)]))
        return outside[(level, idx)]

    return get
