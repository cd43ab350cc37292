"""`dataledger verify`: download the whole log and check it against the pinned log key alone.

Checks, in order: the newest checkpoint's signature; every entry's leaf hash (against the one the
log serves), shape and index; the root over all leaves against the checkpoint; every envelope's
signature (on all cores); and, with a state file, that the new checkpoint is consistent with the
one saved on the previous run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from api.client import Client
from ledger import keys
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.encoding import b64decode, b64encode
from ledger.errors import VerificationError
from ledger.note import NoteVerifier
from ledger.verification import EntryVerificationError, LogAuditor, SignatureJob, check_signatures

PAGE = 1000
SIGNATURE_CHUNK = 2000


@dataclass(frozen=True)
class VerifyReport:
    checkpoint: Checkpoint
    entries: int
    previous_size: int | None


class StateFile:
    """The checkpoint seen on the previous run: `{"origin", "size", "root_hash", "checkpoint"}`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        if not self.path.exists():
            return None
        data = json.loads(self.path.read_text())
        return Checkpoint(data["origin"], int(data["size"]), b64decode(data["root_hash"]))

    def save(self, checkpoint: Checkpoint, note: str) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "origin": checkpoint.origin,
                    "size": checkpoint.size,
                    "root_hash": b64encode(checkpoint.root_hash),
                    "checkpoint": note,
                },
                indent=2,
            )
        )
        os.replace(tmp, self.path)


def _chunks(jobs: list[SignatureJob], size: int) -> Iterator[list[SignatureJob]]:
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def verify_signatures(jobs: list[SignatureJob], workers: int | None = None) -> None:
    """Check all signatures, on every core; raise naming the first bad entry."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 2 * SIGNATURE_CHUNK:
        bad = check_signatures(jobs)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            failures = [
                b
                for b in pool.map(check_signatures, _chunks(jobs, SIGNATURE_CHUNK))
                if b is not None
            ]
        bad = min(failures) if failures else None
    if bad is not None:
        raise EntryVerificationError(bad, "envelope signature does not verify")


def verify_log(
    client: Client,
    verifier: NoteVerifier,
    *,
    state: StateFile | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Verify the log behind `client`; raise `VerificationError` naming what failed."""
    note = client.checkpoint_note()
    checkpoint, _ = open_checkpoint(note, verifier)
    previous = state.load() if state else None
    if previous is not None:
        _check_previous_fits(previous, checkpoint)
    auditor = LogAuditor(keys.keyid(verifier.public_key), verifier.public_key)
    jobs: list[SignatureJob] = []
    while auditor.tree.size < checkpoint.size:
        start = auditor.tree.size
        page = client.entries(start, min(PAGE, checkpoint.size - start))
        if not page:
            raise EntryVerificationError(start, "the log did not serve this entry")
        for item in page:
            entry_bytes = b64decode(item["entry"], what=f"entry {item['index']}")
            claimed = b64decode(item["leaf_hash"], what=f"leaf hash {item['index']}")
            jobs.append(auditor.add(int(item["index"]), entry_bytes, claimed))
            if previous is not None and auditor.tree.size == previous.size:
                _check_previous_root(previous, auditor.tree.root())
            if auditor.tree.size == checkpoint.size:
                break
        if progress:
            progress(auditor.tree.size - start)
    root = auditor.tree.root()
    if root != checkpoint.root_hash:
        raise VerificationError(
            f"root of the {checkpoint.size} entries does not match the checkpoint",
            expected=checkpoint.root_hash.hex(),
            computed=root.hex(),
        )
    verify_signatures(jobs, workers)
    if state:
        state.save(checkpoint, note)
    return VerifyReport(checkpoint, checkpoint.size, previous.size if previous else None)


def _check_previous_fits(previous: Checkpoint, current: Checkpoint) -> None:
    if previous.origin != current.origin:
        raise VerificationError(
            "the log's origin changed since the last run",
            expected=previous.origin,
            computed=current.origin,
        )
    if current.size < previous.size:
        raise VerificationError(
            f"the log shrank from {previous.size} to {current.size} entries",
            expected=previous.size,
            computed=current.size,
        )


def _check_previous_root(previous: Checkpoint, root: bytes) -> None:
    # The first `previous.size` leaves must still hash to the root seen last time: this is
    # consistency checked from the entries themselves, trusting no proof the server sends.
    if root != previous.root_hash:
        raise VerificationError(
            f"the log is not consistent with the checkpoint saved earlier: its first "
            f"{previous.size} entries now have a different root (history was rewritten or forked)",
            expected=previous.root_hash.hex(),
            computed=root.hex(),
        )
