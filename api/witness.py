"""`dataledger witness`: follow a log, check that it only ever grows, and cosign what it shows.

Each run fetches the newest checkpoint, verifies the log's signature with the pinned key, and
proves it consistent with the checkpoint seen on the previous run (saved in the state file).
Only then does it cosign (C2SP tlog-cosignature v1) and hand the cosignature to the log. A log
that shows a checkpoint inconsistent with what the witness saw before gets no cosignature: the
witness stops with the evidence — both signed checkpoints and the proof that failed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing

from api.client import Client
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import cosign, format_cosigner_vkey
from ledger.encoding import b64decode, b64encode
from ledger.errors import ConsistencyProofError, VerificationError
from ledger.keys import keyid_of
from ledger.merkle import verify_consistency
from ledger.note import parse_note, parse_vkey


class ForkDetected(VerificationError):
    """The log showed two checkpoints that cannot both be true."""

    code = "fork-detected"

    def __init__(self, message: str, evidence: dict[str, Any]) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass(frozen=True)
class WitnessResult:
    checkpoint: Checkpoint
    previous_size: int | None
    cosignature: str
    vkey: str  # the witness's cosigner vkey, for clients to pin


def default_name(key: nacl.signing.SigningKey) -> str:
    return f"dataledger-witness/{keyid_of(key)[:16]}"


def witness_once(
    client: Client,
    key: nacl.signing.SigningKey,
    state_path: Path,
    *,
    log_vkey: str | None = None,
    name: str | None = None,
) -> WitnessResult:
    """One round: verify the newest checkpoint against the last one seen, cosign it, submit it."""
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    vkey = log_vkey or state.get("log_vkey") or client.log_vkey()
    if state.get("log_vkey") and state["log_vkey"] != vkey:
        raise VerificationError("the log key differs from the one pinned in the state file")
    note = client.checkpoint_note()
    checkpoint, _ = open_checkpoint(note, parse_vkey(vkey))
    previous = None
    if "checkpoint" in state:
        previous, _ = open_checkpoint(state["checkpoint"], parse_vkey(vkey))
        _check_consistent(client, previous, checkpoint, state["checkpoint"], note)
    cosigner = name or default_name(key)
    line = cosign(parse_note(note).text, cosigner, key, int(time.time()))
    client.post_json(
        "/v1/log/cosignatures", {"tree_size": checkpoint.size, "cosignature": line.rstrip("\n")}
    )
    _save(
        state_path,
        {
            "log_vkey": vkey,
            "checkpoint": note,
            "size": checkpoint.size,
            "root_hash": b64encode(checkpoint.root_hash),
        },
    )
    return WitnessResult(
        checkpoint,
        previous.size if previous else None,
        line,
        format_cosigner_vkey(cosigner, bytes(key.verify_key)),
    )


def _check_consistent(
    client: Client, old: Checkpoint, new: Checkpoint, old_note: str, new_note: str
) -> None:
    evidence: dict[str, Any] = {"previous_checkpoint": old_note, "checkpoint": new_note}
    if old.origin != new.origin:
        raise ForkDetected("the log changed its origin", evidence)
    if new.size < old.size:
        raise ForkDetected(f"the log shrank from {old.size} to {new.size} entries", evidence)
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            raise ForkDetected(
                f"two different trees of size {new.size}, both signed by the log", evidence
            )
        return
    if old.size == 0:
        return
    hashes = client.consistency_proof(old.size, new.size)
    evidence["consistency_proof"] = {"first": old.size, "second": new.size, "hashes": hashes}
    try:
        verify_consistency(
            old.size, new.size, [b64decode(h) for h in hashes], old.root_hash, new.root_hash
        )
    except ConsistencyProofError as exc:
        raise ForkDetected(f"no valid consistency proof: {exc.message}", evidence) from exc


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)
