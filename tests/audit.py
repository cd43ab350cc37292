"""Test helper: verify a whole log straight from a database, as `dataledger verify` would."""

from __future__ import annotations

from sqlalchemy import Engine

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.logsigner import LogSigner
from ledger.storage import store
from ledger.verification import EntryVerificationError, LogAuditor, check_signatures


def audit_database(engine: Engine, signer: LogSigner) -> Checkpoint:
    """Check contiguity, leaf hashes, signatures and the root against the newest checkpoint."""
    with engine.connect() as conn:
        head = store.latest_checkpoint(conn)
        assert head is not None, "no checkpoint"
        checkpoint, _ = open_checkpoint(head.note, signer.verifier, origin=signer.origin)
        auditor = LogAuditor(signer.keyid, signer.public_key)
        jobs = []
        for start in range(0, checkpoint.size, 500):
            for stored in store.entries_range(conn, start, 500):
                jobs.append(auditor.add(stored.index, stored.entry, stored.leaf_hash))
    assert auditor.tree.size == checkpoint.size, "entries missing below the checkpoint size"
    bad = check_signatures(jobs)
    if bad is not None:
        raise EntryVerificationError(bad, "signature does not verify")
    assert auditor.tree.root() == checkpoint.root_hash, "root differs from the checkpoint"
    return checkpoint
