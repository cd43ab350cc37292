"""The service layer between HTTP handlers and the ledger: verify, submit, read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from api.problems import NotFound
from ledger import dsse
from ledger.dsse import Envelope
from ledger.errors import EncodingError, SignatureError
from ledger.logsigner import LogSigner
from ledger.receipts import Receipt
from ledger.state import KeyRecord, signer_public_key
from ledger.statements import check_fresh, decode_statement
from ledger.storage import store
from ledger.storage.sequencer import AppendResult, Sequencer, Submission, read_receipt


@dataclass
class LedgerService:
    engine: Engine
    sequencer: Sequencer
    signer: LogSigner
    max_skew: timedelta

    # --- writes -------------------------------------------------------------------------------

    def verify(self, envelope: Envelope, *, now: datetime | None = None) -> Submission:
        """Everything that can be checked before sequencing: shape, signature, freshness."""
        if envelope.payloadType != dsse.STATEMENT_PAYLOAD_TYPE:
            raise EncodingError(
                f"payloadType must be {dsse.STATEMENT_PAYLOAD_TYPE!r}",
                expected=dsse.STATEMENT_PAYLOAD_TYPE,
                computed=envelope.payloadType,
            )
        if len(envelope.signatures) != 1:
            raise SignatureError(
                f"a statement carries exactly one signature, got {len(envelope.signatures)}"
            )
        signature = envelope.signatures[0]
        statement = decode_statement(dsse.payload_bytes(envelope))
        public_key = signer_public_key(_KeyLookup(self.engine), signature.keyid, statement)
        dsse.verify_signature(envelope, signature, public_key)
        check_fresh(statement, now or datetime.now(UTC), self.max_skew)
        return Submission.of(envelope, statement, signature.keyid)

    async def submit(self, envelope: Envelope) -> AppendResult:
        submission = self.verify(envelope)
        return await asyncio.wrap_future(self.sequencer.submit(submission))

    # --- reads --------------------------------------------------------------------------------

    def checkpoint(self) -> store.StoredCheckpoint:
        with self.engine.connect() as conn:
            head = store.latest_checkpoint(conn)
        if head is None:
            raise NotFound("the log has no checkpoint yet")
        return head

    def entry(self, index: int) -> store.StoredEntry:
        with self.engine.connect() as conn:
            found = store.entry_at(conn, index)
        if found is None:
            raise NotFound(f"no entry {index} in the log")
        return found

    def entries(self, start: int, limit: int) -> list[store.StoredEntry]:
        with self.engine.connect() as conn:
            return store.entries_range(conn, start, limit)

    def receipt(self, index: int) -> Receipt:
        with self.engine.connect() as conn:
            try:
                return read_receipt(conn, index)
            except LookupError as exc:
                raise NotFound(str(exc)) from exc

    def inclusion_proof(self, index: int, tree_size: int | None) -> tuple[int, bytes, list[bytes]]:
        with self.engine.connect() as conn:
            size = store.tree_size(conn) if tree_size is None else tree_size
            current = store.tree_size(conn)
            if not 0 <= index < size <= current:
                raise NotFound(
                    f"no inclusion proof for index {index} in tree size {size} "
                    f"(the log has {current} entries)"
                )
            leaf = store.fetch_nodes(conn, [(0, index)])[(0, index)]
            return size, leaf, store.inclusion_proof(conn, index, size)

    def consistency_proof(self, first: int, second: int | None) -> tuple[int, list[bytes]]:
        with self.engine.connect() as conn:
            current = store.tree_size(conn)
            size = current if second is None else second
            if not 0 < first <= size <= current:
                raise NotFound(
                    f"no consistency proof from {first} to {size} (the log has {current} entries)"
                )
            return size, store.consistency_proof(conn, first, size)


class _KeyLookup:
    """A `LedgerView` that only opens a connection if a key is actually looked up."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def key(self, keyid: str) -> KeyRecord | None:
        with self._engine.connect() as conn:
            return store.SqlView(conn).key(keyid)
