"""Independent verification of a whole log from its entry bytes (pure; the CLI does the I/O).

The log is checked in two passes so that signatures can be verified on all cores:
`LogAuditor.add` walks the entries in order — recomputing each leaf hash, checking the entry's
shape and index, and learning which key signed what — and yields signature jobs;
`check_signatures` verifies a chunk of jobs and can run in worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from ledger import dsse
from ledger.encoding import b64decode
from ledger.entries import decode_entry
from ledger.errors import (
    LedgerError,
    SignatureError,
    VerificationError,
)
from ledger.keys import keyid
from ledger.merkle import CompactRange, leaf_hash
from ledger.state import KeyRecord, KeyView, signer_public_key
from ledger.statements import (
    PartyRegister,
    PartyRotateKey,
    Statement,
    decode_statement,
)


class EntryVerificationError(VerificationError):
    """Entry `index` failed verification; the message says how."""

    code = "bad-entry"

    def __init__(self, index: int, message: str, **kwargs: object) -> None:
        super().__init__(f"entry {index}: {message}", **kwargs)
        self.index = index


@dataclass(frozen=True, slots=True)
class SignatureJob:
    """One signature to check: picklable, so it can go to another process."""

    index: int
    public_key: bytes
    message: bytes  # the PAE bytes
    signature: bytes


class _KeyRing:
    """The keys the log has registered so far (a `LedgerView` for signer lookup)."""

    def __init__(self, log_keyid: str, log_public_key: bytes) -> None:
        self.operator = KeyRecord(log_keyid, log_keyid, log_public_key)
        self._keys: dict[str, KeyRecord] = {}

    def key(self, keyid: str) -> KeyRecord | None:
        return self._keys.get(keyid)

    def follow(self, index: int, signer_keyid: str, statement: Statement) -> None:
        """Track the key changes a statement makes (the rules checked them when it was appended)."""
        if isinstance(statement, PartyRegister):
            self._keys[signer_keyid] = KeyRecord(
                signer_keyid, signer_keyid, statement.public_key_bytes()
            )
        elif isinstance(statement, PartyRotateKey):
            party_id = self._keys[signer_keyid].party_id
            new_key = statement.new_public_key_bytes()
            self._keys[keyid(new_key)] = KeyRecord(keyid(new_key), party_id, new_key)
            self._revoke(signer_keyid, index)
        elif statement.kind == "party.revoke_key":  # sealed (its reason is private)
            revoked = str(getattr(statement, "keyid", ""))
            if revoked in self._keys:
                self._revoke(revoked, index)

    def _revoke(self, key_id: str, index: int) -> None:
        record = self._keys[key_id]
        self._keys[key_id] = KeyRecord(record.keyid, record.party_id, record.public_key, index)


class LogAuditor:
    """Walks entries 0, 1, 2, ... and rebuilds the tree they make."""

    def __init__(self, log_keyid: str, log_public_key: bytes) -> None:
        self.tree = CompactRange.empty()
        self.new_nodes: list[tuple[int, int, bytes]] = []
        self._keys = _KeyRing(log_keyid, log_public_key)

    @property
    def view(self) -> KeyView:
        return self._keys

    def add(self, index: int, entry_bytes: bytes, claimed_leaf_hash: bytes | None) -> SignatureJob:
        """Check entry `index` (everything but its signature) and append it to the tree."""
        if index != self.tree.size:
            raise EntryVerificationError(
                index,
                f"expected entry {self.tree.size} next",
                expected=self.tree.size,
                computed=index,
            )
        computed = leaf_hash(entry_bytes)
        if claimed_leaf_hash is not None and computed != claimed_leaf_hash:
            raise EntryVerificationError(
                index,
                "leaf hash recomputed from the entry bytes differs from the log's",
                expected=claimed_leaf_hash.hex(),
                computed=computed.hex(),
            )
        try:
            entry = decode_entry(entry_bytes)
            if entry.index != index:
                raise EntryVerificationError(
                    index, f"entry says it is {entry.index}", expected=index, computed=entry.index
                )
            envelope = entry.envelope
            if len(envelope.signatures) != 1:
                raise SignatureError(f"{len(envelope.signatures)} signatures, expected 1")
            signature = envelope.signatures[0]
            payload = dsse.payload_bytes(envelope)
            statement = decode_statement(payload)
            public_key = signer_public_key(self._keys, signature.keyid, statement)
            record = self._keys.key(signature.keyid)
            if record is not None and record.revoked_at is not None:
                raise SignatureError(
                    f"signed by key {signature.keyid}, revoked at entry {record.revoked_at}"
                )
            raw_sig = b64decode(signature.sig, what="signature")
        except EntryVerificationError:
            raise
        except LedgerError as exc:
            raise EntryVerificationError(index, exc.message) from exc
        self._keys.follow(index, signature.keyid, statement)
        self.new_nodes = self.tree.append(computed)  # what a stored tree must hold for it
        return SignatureJob(index, public_key, dsse.pae(envelope.payloadType, payload), raw_sig)


def check_signatures(jobs: Sequence[SignatureJob]) -> int | None:
    """Verify every job; return the index of the first bad signature, or None if all verify."""
    for job in jobs:
        try:
            nacl.signing.VerifyKey(job.public_key).verify(job.message, job.signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
            return job.index
    return None
