"""A C2SP tlog-witness, decided purely: what `add-checkpoint` answers, and the log-list format.

The witness keeps, per log origin, the latest checkpoint it cosigned. `check_add_checkpoint`
judges one request against that record exactly as c2sp.org/tlog-witness prescribes -- which
status for which failure -- and returns the checkpoint to cosign; the caller persists it and
cosigns in one atomic step. `parse_log_list` reads the witness network's log-list format
(transparency-dev/witness-network, `logs/v0`), which says which logs a witness follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, parse_checkpoint_body
from ledger.encoding import hash_lines, is_canonical_decimal
from ledger.errors import CheckpointError, EncodingError, NoteError, VerificationError
from ledger.merkle import verify_consistency
from ledger.note import NoteVerifier, parse_note, parse_vkey, verify_note

MAX_PROOF_LINES = 63  # the spec's limit on consistency proof lines
EMPTY_ROOT = hashlib.sha256(b"").digest()
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessRefusal(Exception):
    """An add-checkpoint request the witness must not cosign, with the spec's HTTP status.
    `latest_size` is set for 409: the size of the latest checkpoint cosigned for the origin."""

    def __init__(self, status: int, message: str, latest_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.latest_size = latest_size


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str  # the signed checkpoint note, as sent


@dataclass(frozen=True)
class WitnessedLog:
    """A log the witness follows: its origin line and the keys that may sign its checkpoints."""

    origin: str
    verifiers: tuple[NoteVerifier, ...]
    qpd: int | None = None  # add-checkpoint requests the log may make per day, if listed
    contact: str = ""


@dataclass(frozen=True)
class Latest:
    """The latest checkpoint the witness cosigned for an origin."""

    size: int
    root_hash: bytes


def _decimal(text: str, what: str) -> int:
    if not is_canonical_decimal(text):
        raise WitnessRefusal(400, f"{what} {text!r} is not a decimal with no leading zeroes")
    return int(text)


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """The request body: `old N` line, up to 63 base64 proof lines, an empty line, a checkpoint."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WitnessRefusal(400, "the request body is not UTF-8") from exc
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise WitnessRefusal(400, "no empty line between the proof and the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise WitnessRefusal(400, "the body must start with an `old <size>` line")
    old_size = _decimal(lines[0][4:], "old size")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    try:
        proof = hash_lines(lines[1:])
    except EncodingError as exc:
        raise WitnessRefusal(400, str(exc)) from exc
    return AddCheckpoint(old_size, proof, note)


def check_add_checkpoint(
    request: AddCheckpoint, logs: Mapping[str, WitnessedLog], latest: Latest | None
) -> Checkpoint:
    """The checkpoint to cosign, or `WitnessRefusal` with the status c2sp.org/tlog-witness
    gives: 404 unknown origin, 403 no valid signature by a trusted key, 400 malformed or old
    size above the checkpoint's, 409 old size is not the latest cosigned size, 422 bad empty
    tree, proof or root. `latest` is the record for the note's origin (None: never cosigned)."""
    origin = request.note.split("\n", 1)[0]
    log = logs.get(origin)
    if log is None:
        raise WitnessRefusal(404, f"this witness does not follow a log with origin {origin!r}")
    try:
        parse_note(request.note)
    except NoteError as exc:
        raise WitnessRefusal(400, f"malformed checkpoint note: {exc}") from exc
    try:
        signed = verify_note(request.note, list(log.verifiers))
    except NoteError as exc:
        raise WitnessRefusal(403, f"no valid signature by the log's key: {exc}") from exc
    try:
        checkpoint = parse_checkpoint_body(signed.text)
    except CheckpointError as exc:
        raise WitnessRefusal(400, f"malformed checkpoint: {exc}") from exc
    if request.old_size > checkpoint.size:
        raise WitnessRefusal(
            400, f"old size {request.old_size} is above the checkpoint's {checkpoint.size}"
        )
    cosigned = latest.size if latest is not None else 0
    if request.old_size != cosigned:
        raise WitnessRefusal(
            409,
            f"the latest checkpoint cosigned for {origin!r} has size {cosigned}, "
            f"not {request.old_size}",
            latest_size=cosigned,
        )
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        raise WitnessRefusal(422, "a checkpoint of size 0 must have the empty tree's root")
    if request.old_size == 0:
        if request.proof:
            raise WitnessRefusal(422, "a proof from size 0 must be empty")
        return checkpoint
    assert latest is not None
    try:
        verify_consistency(
            request.old_size, checkpoint.size, request.proof, latest.root_hash, checkpoint.root_hash
        )
    except VerificationError as exc:
        raise WitnessRefusal(422, f"not consistent with the cosigned checkpoint: {exc}") from exc
    return checkpoint


def origin_hash(origin: str) -> str:
    """The monitoring path segment of a log: hex SHA-256 of its origin line."""
    return hashlib.sha256(origin.encode()).hexdigest()


def parse_log_list(text: str) -> dict[str, WitnessedLog]:
    """The `logs/v0` log-list format: `vkey`, then optional `origin` (or `none`: the vkey's
    name), `bastion`, `qpd` and `contact` lines per log; `#` comments and blank lines ignored.
    Several vkeys for one origin are all trusted."""
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    if not lines or lines[0] != "logs/v0":
        raise ValueError("a log list starts with the line `logs/v0`")
    entries: list[dict[str, str]] = []
    for number, line in enumerate(lines[1:], 2):
        key, _, value = line.partition(" ")
        if key == "vkey":
            entries.append({"vkey": value})
        elif key in ("origin", "bastion", "qpd", "contact") and entries:
            entries[-1][key] = value
        else:
            raise ValueError(f"log list line {number}: unexpected {line!r}")
    logs: dict[str, WitnessedLog] = {}
    for entry in entries:
        try:
            verifier = parse_vkey(entry["vkey"])
        except NoteError as exc:
            raise ValueError(f"bad vkey {entry['vkey']!r}: {exc}") from exc
        origin = entry.get("origin", "none")
        origin = verifier.name if origin == "none" else origin
        qpd = entry.get("qpd")
        if qpd is not None and not qpd.isdigit():
            raise ValueError(f"qpd {qpd!r} of {origin!r} is not a number")
        known = logs.get(origin)
        logs[origin] = WitnessedLog(
            origin,
            (*(known.verifiers if known else ()), verifier),
            int(qpd) if qpd is not None else (known.qpd if known else None),
            entry.get("contact", known.contact if known else ""),
        )
    return logs
