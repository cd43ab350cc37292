"""Checking a ledger database from the inside (the operator's `dataledger verify --database-url`).

Where `api.verify` checks what a server serves, this reads the tables themselves and names the
exact place that is wrong: an entry (changed, missing, out of place, badly signed), a stored
Merkle node (level, index), or a checkpoint (tree size) whose root or signature does not match
the entries.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, select

from ledger import dsse
from ledger.checkpoint import open_checkpoint
from ledger.entries import decode_entry
from ledger.errors import LedgerError, VerificationError
from ledger.keys import keyid
from ledger.note import NoteVerifier
from ledger.privacy import Opening, verify_openings
from ledger.storage.schema import checkpoints, ledger_entries, merkle_nodes
from ledger.storage.store import fetch_nodes, latest_checkpoint, openings_range
from ledger.verification import EntryVerificationError, LogAuditor, check_signatures

PAGE = 2000


def check_database(
    engine: Engine, verifier: NoteVerifier, progress: Callable[[int], None] | None = None
) -> int:
    """Raise `VerificationError` naming the first bad entry, node, checkpoint or opening (one
    that does not open its entry's commitment); return the size."""
    with engine.connect() as conn:
        sizes = {
            int(size): (bytes(root), note)
            for size, root, note in conn.execute(
                select(checkpoints.c.tree_size, checkpoints.c.root_hash, checkpoints.c.note)
            )
        }
        for size, (root, note) in sorted(sizes.items()):
            try:
                checkpoint, _ = open_checkpoint(note, verifier)
            except LedgerError as exc:
                raise VerificationError(f"checkpoint {size}: {exc.message}") from exc
            if checkpoint.size != size or checkpoint.root_hash != root:
                raise VerificationError(f"checkpoint {size}: its note does not match its row")
        head = max(sizes, default=0)
        auditor = LogAuditor(keyid(verifier.public_key), verifier.public_key)
        stored = _NodeStream(conn)
        since_checkpoint: list[tuple[int, bytes]] = []
        for start in range(0, head, PAGE):
            rows = conn.execute(
                select(ledger_entries.c.idx, ledger_entries.c.entry)
                .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < start + PAGE)
                .order_by(ledger_entries.c.idx)
            ).all()
            held = openings_range(conn, start, start + PAGE)
            for idx, entry in rows:
                if idx in held:
                    _check_openings(idx, bytes(entry), held[idx])
                if idx != auditor.tree.size:
                    raise EntryVerificationError(
                        auditor.tree.size, f"missing from the database (the next stored is {idx})"
                    )
                job = auditor.add(idx, bytes(entry), None)
                if check_signatures([job]) is not None:
                    raise EntryVerificationError(idx, "envelope signature does not verify")
                since_checkpoint.append((idx, auditor.new_nodes[0][2]))
                for level, node_idx, digest in auditor.new_nodes:
                    stored.expect(level, node_idx, digest)
                if auditor.tree.size in sizes:
                    _check_root(
                        conn, auditor.tree.size, auditor.tree.root(), sizes, since_checkpoint
                    )
                    since_checkpoint.clear()
            if len(rows) < min(PAGE, head - start):
                raise EntryVerificationError(auditor.tree.size, "missing from the database")
            if progress:
                progress(len(rows))
        stored.finish(auditor.tree.size)
    return head


def _check_openings(index: int, entry: bytes, openings: dict[str, Opening]) -> None:
    """Every opening held for an entry opens the commitment the entry logs."""
    try:
        verify_openings(dsse.payload_bytes(decode_entry(entry).envelope), index, openings)
    except LedgerError as exc:
        raise EntryVerificationError(index, exc.message) from exc


def _check_root(
    conn: Connection,
    size: int,
    root: bytes,
    sizes: dict[int, tuple[bytes, str]],
    since_checkpoint: list[tuple[int, bytes]],
) -> None:
    """The entries must make the signed root. If not, blame the entry whose bytes no longer
    hash to the leaf stored when it was appended; failing that, the checkpoint."""
    signed = sizes[size][0]
    if root == signed:
        return
    leaves = fetch_nodes_lenient(conn, [(0, idx) for idx, _ in since_checkpoint])
    for idx, leaf in since_checkpoint:
        if leaves.get((0, idx)) not in (None, leaf):
            raise EntryVerificationError(
                idx,
                "its bytes changed since it was appended (its leaf hash differs from the stored "
                f"one, and the entries no longer make checkpoint {size})",
            )
    raise VerificationError(
        f"checkpoint {size}: root differs from the one the entries make",
        expected=root.hex(),
        computed=signed.hex(),
    )


def fetch_nodes_lenient(
    conn: Connection, ids: list[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    try:
        return fetch_nodes(conn, ids)
    except LookupError:
        return {}


class _NodeStream:
    """Compares every stored node with the one recomputed from the entries, in order."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._expected: dict[tuple[int, int], bytes] = {}

    def expect(self, level: int, idx: int, digest: bytes) -> None:
        self._expected[(level, idx)] = digest
        if len(self._expected) >= PAGE:
            self._flush()

    def _flush(self) -> None:
        try:
            found = fetch_nodes(self._conn, self._expected)
        except LookupError as exc:
            raise VerificationError(f"Merkle node missing: {exc}") from exc
        for (level, idx), digest in sorted(self._expected.items()):
            if found[(level, idx)] != digest:
                raise VerificationError(
                    f"Merkle node (level {level}, index {idx}) differs from the one the entries "
                    f"make (leaves {idx << level}..{((idx + 1) << level) - 1})",
                    expected=digest.hex(),
                    computed=found[(level, idx)].hex(),
                )
        self._expected.clear()

    def finish(self, size: int) -> None:
        self._flush()
        for level in range(64):
            extra = self._conn.execute(
                select(merkle_nodes.c.idx)
                .where(merkle_nodes.c.level == level, merkle_nodes.c.idx >= size >> level)
                .limit(1)
            ).first()
            if extra is not None:
                raise VerificationError(
                    f"Merkle node (level {level}, index {extra[0]}) lies beyond the {size} entries"
                )


def foreign_log_key(conn: Connection, verifier: NoteVerifier) -> str | None:
    """Why `verifier` (a log key and origin) did not sign this database's newest checkpoint, or
    None when it did or there is none yet. A server must not start with another key: it would
    sign a fork that no one can verify against the log's history."""
    head = latest_checkpoint(conn)
    if head is None:
        return None
    try:
        open_checkpoint(head.note, verifier)
    except LedgerError as exc:
        origin = head.note.split("\n", 1)[0]
        return f"the database's checkpoints (origin {origin!r}) were not signed by it: {exc}"
    return None
