"""c2sp.org/tlog-proof@v1: an offline proof that an entry is in the log, seen by witnesses.

The proof is the entry's index, its RFC 6962 inclusion proof and the (cosigned) checkpoint it
leads to; dataledger puts the entry itself in the `extra` line, so a proof file is enough to
verify an entry without fetching anything. `verify_tlog_proof` follows the spec's order and
names the step that failed: the leaf hash, the log's signature, the witness quorum under a
tlog-policy, then the inclusion proof.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, parse_checkpoint_body
from ledger.encoding import b64decode, b64encode, hash_lines, is_canonical_decimal
from ledger.errors import CheckpointError, EncodingError, NoteError, VerificationError
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.note import NoteVerifier, verify_note
from ledger.policy import Policy

HEADER = "c2sp.org/tlog-proof@v1"


class TlogProofError(VerificationError):
    """A tlog-proof that is malformed or does not verify; `step` names where it failed."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None

    def text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + b64encode(self.extra))
        lines.append(f"index {self.index}")
        lines += [b64encode(h) for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint_note


def parse_tlog_proof(text: str) -> TlogProof:
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise TlogProofError("format", "no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise TlogProofError("format", f"the first line must be {HEADER!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        try:
            extra = b64decode(rest[0][6:], what="the extra line")
        except EncodingError as exc:
            raise TlogProofError("format", str(exc)) from exc
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise TlogProofError("format", "missing the `index N` line")
    number = rest[0][6:]
    if not is_canonical_decimal(number):
        raise TlogProofError("format", f"index {number!r} is not a decimal without leading zeroes")
    try:
        proof = hash_lines(rest[1:])
    except EncodingError as exc:
        raise TlogProofError("format", str(exc)) from exc
    return TlogProof(int(number), proof, note, extra)


def verify_tlog_proof(
    proof: TlogProof,
    logs: list[NoteVerifier],
    *,
    entry: bytes | None = None,
    policy: Policy | None = None,
    origin: str | None = None,
) -> Checkpoint:
    """Verify in the spec's order; returns the checkpoint. The leaf is `entry` (default: the
    proof's extra data). Without `policy`, no witness is required."""
    data = entry if entry is not None else proof.extra
    if data is None:
        raise TlogProofError("leaf", "no entry given and none in the proof's extra line")
    leaf = leaf_hash(data)
    try:
        signed = verify_note(proof.checkpoint_note, logs)
        checkpoint = parse_checkpoint_body(signed.text)
    except (NoteError, CheckpointError) as exc:
        raise TlogProofError("log signature", str(exc)) from exc
    if origin is not None and checkpoint.origin != origin:
        raise TlogProofError("log signature", f"checkpoint origin is {checkpoint.origin!r}")
    if policy is not None:
        cosigners = policy.cosigners(proof.checkpoint_note)
        if not policy.satisfied(cosigners):
            named = ", ".join(sorted(cosigners)) or "none"
            raise TlogProofError(
                "witness quorum",
                f"cosigned by {named}, which does not meet the policy's quorum {policy.quorum!r}",
            )
    try:
        verify_inclusion(proof.index, checkpoint.size, leaf, proof.proof, checkpoint.root_hash)
    except VerificationError as exc:
        raise TlogProofError("inclusion", str(exc)) from exc
    return checkpoint
