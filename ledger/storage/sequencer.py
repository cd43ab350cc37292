"""The sequencer: the only writer of `ledger_entries`.

Submissions queue up while the previous batch commits; a dedicated thread then takes everything
waiting (group commit) and, in ONE transaction holding the database's write lock, decides each
statement, stores the accepted entries, the new Merkle nodes and ONE signed checkpoint covering
them. Callers are answered only after that commit, so every receipt handed out is durable.

Several processes may run a sequencer on one database: the lock (PostgreSQL advisory lock,
SQLite's write lock via BEGIN IMMEDIATE) serialises their batches, and each batch re-reads the
tree size first, so there is one tree with no gap and no duplicate index.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from sqlalchemy import Connection, Engine

from ledger import merkle
from ledger.dsse import Envelope, payload_bytes
from ledger.encoding import format_rfc3339_utc
from ledger.entries import encode_entry
from ledger.errors import StatementRejected
from ledger.logsigner import LogSigner
from ledger.memory import MemoryState
from ledger.merkle import CompactRange, NodeId
from ledger.privacy import Opening
from ledger.receipts import Receipt, make_receipt
from ledger.rules import decide
from ledger.rules.audience import audience
from ledger.rules.common import resolve_signer
from ledger.state import Context, KeyRecord, LedgerView
from ledger.statements import AnyStatement, statement_id
from ledger.storage import projections, store
from ledger.storage.engine import WRITE_LOCK_OPTION
from ledger.storage.follow import decided_entries

log = logging.getLogger(__name__)

# Any 64-bit constant: all dataledger processes on one PostgreSQL database share this lock.
PG_SEQUENCER_LOCK = 0x6461_7461_6C65_6467  # "dataledg"


_NO_OPENINGS: Mapping[str, Opening] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Submission:
    """A decoded envelope whose signature has already been verified, opened: `statement` is
    the full statement (private values included) and `openings` open its commitments."""

    envelope: Envelope
    statement: AnyStatement
    signer_keyid: str
    envelope_sha256: bytes
    statement_id: str  # what the statement creates is named by this (see statements.statement_id)
    openings: Mapping[str, Opening] = field(default_factory=dict)

    @staticmethod
    def of(
        envelope: Envelope,
        statement: AnyStatement,
        signer_keyid: str,
        openings: Mapping[str, Opening] = _NO_OPENINGS,
    ) -> Submission:
        digest = hashlib.sha256(envelope.canonical()).digest()
        return Submission(
            envelope,
            statement,
            signer_keyid,
            digest,
            statement_id(payload_bytes(envelope)),
            openings,
        )


@dataclass(frozen=True, slots=True)
class AppendResult:
    receipt: Receipt
    created: bool  # False when the identical envelope was already in the log


_Outcome = tuple[int, bytes] | int | BaseException | None


@dataclass(slots=True)
class _Pending:
    submission: Submission
    future: Future[AppendResult]


@dataclass(slots=True)
class BatchStats:
    """Counters an observer (metrics) can read; updated only by the sequencer thread."""

    batches: int = 0
    appended: int = 0
    rejected: int = 0
    last_batch_size: int = 0


class Sequencer:
    """Batches concurrent appends into single durable transactions."""

    def __init__(
        self,
        engine: Engine,
        signer: LogSigner,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_batch: int = 1000,
        notice_period: timedelta = timedelta(days=10),
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._signer = signer
        self._clock = clock
        self._max_batch = max_batch
        self._notice_period = notice_period
        self._on_commit = on_commit  # told the size of every committed batch (metrics)
        self._operator = KeyRecord(signer.keyid, signer.keyid, signer.public_key)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._tree: CompactRange | None = None  # cached frontier of the committed tree
        self._key_parties: dict[str, str] = {}  # keyid -> party id (see _party_of)
        self._state: MemoryState | None = None  # what the rules read, as of _state_size
        self._state_size = 0
        self.stats = BatchStats()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def max_batch(self) -> int:
        return self._max_batch

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sequencer thread; an empty log first gets its size-0 checkpoint."""
        self.prepare()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
            self._thread.start()

    def prepare(self) -> None:
        """What `start` does before the thread: sign the empty tree if need be, fold the log
        into the in-memory state. Alone, for a caller that runs `commit_batch` itself."""
        self.ensure_checkpoint()
        self.load_state()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def ensure_checkpoint(self) -> None:
        """Sign the empty tree if the log has no checkpoint, so readers always have one."""
        with self._write_transaction() as conn:
            if store.latest_checkpoint(conn) is None:
                note = self._signer.sign_checkpoint(0, merkle.EMPTY_ROOT)
                now = format_rfc3339_utc(self._clock())
                store.insert_checkpoint(conn, 0, merkle.EMPTY_ROOT, note, now)

    def submit(self, submission: Submission) -> Future[AppendResult]:
        """Queue a verified submission; the future resolves after the durable commit."""
        if self._thread is None:
            raise RuntimeError("sequencer is not running")
        future: Future[AppendResult] = Future()
        self._queue.put(_Pending(submission, future))
        return future

    def append(self, submission: Submission) -> AppendResult:
        """Submit and wait (for the CLI, scripts and tests)."""
        return self.submit(submission).result()

    async def append_async(self, submission: Submission) -> AppendResult:
        """Submit and await, from an event loop."""
        return await asyncio.wrap_future(self.submit(submission))

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._process(batch)
            if stopping:
                return

    def _process(self, batch: list[_Pending]) -> None:
        outcomes = self.commit_batch([p.submission for p in batch])
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def commit_batch(self, batch: list[Submission]) -> list[AppendResult | BaseException]:
        """Decide and durably commit `batch` in one transaction: per submission, its result or
        the exception that refused it. If the transaction fails, each submission is retried on
        its own, so one bad submission does not sink the others."""
        try:
            return self._commit(batch)
        except Exception as exc:
            self._tree = None  # the cached frontier may not match what is committed
            if len(batch) > 1:
                log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
                return [r for sub in batch for r in self.commit_batch([sub])]
            log.exception("append failed")
            return [exc]

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        """A transaction holding the log's write lock, shared with other processes."""
        with (
            self._engine.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as conn,
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_SEQUENCER_LOCK})")
            yield conn

    def _commit(self, subs: list[Submission]) -> list[AppendResult | BaseException]:
        # Per submission: (index, entry bytes) if appended, an int if already in the log,
        # or the exception that refused it.
        outcomes: list[_Outcome] = [None] * len(subs)
        note = ""
        new_entries: list[store.NewEntry] = []
        new_openings: list[store.HeldOpening] = []
        new_nodes: list[tuple[int, int, bytes]] = []
        with self._write_transaction() as conn:
            size = store.tree_size(conn)
            if self._tree is None or self._tree.size != size:
                self._tree = store.load_compact_range(conn, size)
            tree = self._tree.copy()
            known: dict[NodeId, bytes] = dict(
                zip(CompactRange.frontier_ids(size), tree.nodes, strict=True)
            )
            integrated_at = format_rfc3339_utc(self._clock())
            existing = store.indices_by_envelope_hash(conn, [s.envelope_sha256 for s in subs])
            used = store.used_nonces(conn, [(s.signer_keyid, s.statement.nonce) for s in subs])
            # Decide in memory: the cached state, caught up with what other processes appended,
            # copied (cheaply) so that a failed batch leaves the cache as it was.
            view = self._caught_up(conn, size).copy()
            writes = projections.BatchWriter(conn)  # projection rows, set-based per statement
            in_batch: dict[bytes, int] = {}
            for pos, sub in enumerate(subs):
                earlier = existing.get(sub.envelope_sha256, in_batch.get(sub.envelope_sha256))
                if earlier is not None:
                    outcomes[pos] = earlier  # idempotent resubmission: receipt below
                    continue
                nonce_key = (sub.signer_keyid, sub.statement.nonce)
                try:
                    if nonce_key in used:
                        raise StatementRejected(
                            "nonce-reused",
                            f"nonce {sub.statement.nonce} was already used by key "
                            f"{sub.signer_keyid}",
                        )
                    index = tree.size
                    ctx = Context(
                        sub.signer_keyid,
                        index,
                        integrated_at,
                        sub.statement_id,
                        self._notice_period,
                        self._signer.origin,
                    )
                    events = decide(view, sub.statement, ctx)
                    if sub.openings:
                        new_openings.append(self._held_openings(view, sub, index))
                except StatementRejected as exc:
                    outcomes[pos] = exc
                    continue
                meta = projections.EntryMeta(index, integrated_at)
                for event in events:
                    view.apply(event, index, integrated_at)
                    projections.apply(writes, event, meta)
                entry = encode_entry(sub.envelope, index, integrated_at)
                new_entries.append(
                    store.NewEntry(
                        index,
                        entry,
                        sub.envelope_sha256,
                        sub.signer_keyid,
                        sub.statement.nonce,
                        sub.statement.kind,
                        integrated_at,
                    )
                )
                for level, idx, digest in tree.append(merkle.leaf_hash(entry)):
                    new_nodes.append((level, idx, digest))
                    known[(level, idx)] = digest
                used.add(nonce_key)
                in_batch[sub.envelope_sha256] = index
                outcomes[pos] = (index, entry)
            with _pipelined(conn):
                writes.flush()
                if new_entries:
                    store.insert_entries(conn, new_entries)
                    store.insert_openings(conn, new_openings)
                    store.insert_nodes(conn, new_nodes)
                    note = self._signer.sign_checkpoint(tree.size, tree.root())
                    store.insert_checkpoint(conn, tree.size, tree.root(), note, integrated_at)
        # Committed: only now is anything acknowledged, and the batch's state is the cache's.
        self._tree = tree
        self._state, self._state_size = view, tree.size
        self.stats.batches += 1
        self.stats.appended += len(new_entries)
        self.stats.last_batch_size = len(new_entries)
        if self._on_commit and new_entries:
            self._on_commit(len(new_entries))
        return self._receipts(outcomes, tree.size, note, known)

    def _caught_up(self, conn: Connection, size: int) -> MemoryState:
        """The state the rules read, as of tree size `size` (read under the write lock).

        Cached between batches; entries another process appended meanwhile are folded in from
        the log itself, with the openings stored beside them, through the same rules. On the
        first batch the whole log is folded (`load_state`)."""
        if self._state is None or self._state_size > size:
            self._state, self._state_size = MemoryState(self._operator), 0
        if self._state_size < size:
            state = self._state.copy()
            fold_range(
                conn, state, self._state_size, size, self._signer.origin, self._notice_period
            )
            self._state, self._state_size = state, size
        return self._state

    def load_state(self) -> None:
        """Fold the log into the in-memory state now (at start), not at the first append."""
        with self._engine.connect() as conn:
            self._caught_up(conn, store.tree_size(conn))

    def _held_openings(self, view: LedgerView, sub: Submission, index: int) -> store.HeldOpening:
        readers = audience(view, sub.statement, self._party_of(view, sub.signer_keyid))
        return store.HeldOpening(index, dict(sub.openings), readers)

    def _party_of(self, view: LedgerView, keyid: str) -> str:
        """The party a (decided) signer key belongs to. A key never changes hands, so the answer
        is cached for good: no query per statement."""
        party = self._key_parties.get(keyid)
        if party is None:
            party = resolve_signer(view, keyid).party_id
            if len(self._key_parties) >= 100_000:
                self._key_parties.clear()
            self._key_parties[keyid] = party
        return party

    def _receipts(
        self, outcomes: list[_Outcome], size: int, note: str, known: dict[NodeId, bytes]
    ) -> list[AppendResult | BaseException]:
        results: list[AppendResult | BaseException] = []
        for outcome in outcomes:
            if isinstance(outcome, tuple):
                index, entry = outcome
                proof = self._proof_from(known, index, size)
                results.append(AppendResult(make_receipt(index, entry, proof, size, note), True))
            elif isinstance(outcome, int):
                with self._engine.connect() as conn:
                    results.append(AppendResult(read_receipt(conn, outcome), False))
            elif isinstance(outcome, BaseException):
                self.stats.rejected += 1
                results.append(outcome)
            else:  # pragma: no cover - every position is filled above
                results.append(RuntimeError("no outcome"))
        return results

    def _proof_from(self, known: dict[NodeId, bytes], index: int, size: int) -> list[bytes]:
        # The batch's own nodes plus the old frontier cover every proof for a new entry;
        # anything else is fetched rather than assumed.
        def get(level: int, idx: int) -> bytes:
            if (level, idx) not in known:
                with self._engine.connect() as conn:
                    known.update(store.fetch_nodes(conn, [(level, idx)]))
            return known[(level, idx)]

        return merkle.inclusion_proof(index, size, get)


@contextmanager
def _pipelined(conn: Connection) -> Iterator[None]:
    """On PostgreSQL (psycopg 3), send the batch's writes without waiting for each answer: one
    round trip for all of them instead of one each. Errors still surface before the commit."""
    driver = conn.connection.driver_connection
    pipeline = getattr(driver, "pipeline", None) if conn.dialect.name == "postgresql" else None
    if pipeline is None:
        yield
        return
    with pipeline():
        yield


def read_receipt(conn: Connection, index: int) -> Receipt:
    """A receipt for committed entry `index` against the newest checkpoint."""
    head = store.latest_checkpoint(conn)
    stored = store.entry_at(conn, index)
    if head is None or stored is None or index >= head.tree_size:
        raise LookupError(f"no entry {index} in the log")
    proof = store.inclusion_proof(conn, index, head.tree_size)
    return make_receipt(index, stored.entry, proof, head.tree_size, head.note)


def fold_range(
    conn: Connection,
    state: MemoryState,
    start: int,
    end: int,
    origin: str,
    notice_period: timedelta,
) -> None:
    """Fold logged entries [start, end) into `state`, opened with the openings stored."""
    for decided in decided_entries(
        conn, state, start, end, origin=origin, notice_period=notice_period
    ):
        for event in decided.events:
            state.apply(event, decided.index, decided.integrated_at)
