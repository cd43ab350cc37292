"""The service layer between HTTP handlers and the ledger: verify, submit, authorise, read."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar, Protocol

import msgspec
import polars as pl
from sqlalchemy import Engine, delete, insert, select

from api.access import may_read_private
from api.auth import Principal, TokenIssuer, session_expiry
from api.observability import Metrics
from api.problems import NotFound
from api.settings import RateLimits
from api.throttle import Throttle
from api.valuation_service import Valuer
from ledger import dsse, tiles
from ledger.alerts import Alert
from ledger.checkpoint import parse_checkpoint_body
from ledger.cosignature import cosigner_key_id, parse_cosignature_line, verify_cosignature
from ledger.dsse import Envelope
from ledger.encoding import canonical_json, format_rfc3339_utc, parse_rfc3339_utc
from ledger.entries import decode_entry
from ledger.errors import EncodingError, LedgerError, SignatureError, StatementRejected
from ledger.logsigner import LogSigner
from ledger.note import add_signature_lines, parse_note
from ledger.privacy import Opening, SignedStatement, seal
from ledger.receipts import Receipt
from ledger.state import KeyRecord, signer_public_key
from ledger.statements import (
    PartyRegister,
    check_fresh,
    check_origin,
    commitments_of,
    decode_login,
    decode_statement,
    open_statement,
    statement_id,
)
from ledger.storage import alert_data, catalog, export, market, projections, store
from ledger.storage.engine import scrub_after_erasure, write_transaction
from ledger.storage.projections import SqlView
from ledger.storage.schema import login_nonces, party_contacts, refusals, statement_openings
from ledger.storage.sequencer import AppendResult, Submission, read_receipt
from ledger.tlog_proof import TlogProof
from valuation.market_statistics import market_statistics
from valuation.model import Quote

log = logging.getLogger(__name__)

# Keeps every entry under the 64 KiB that a tlog-tiles entry bundle can carry.
MAX_PAYLOAD_BYTES = 45_000


class Appender(Protocol):
    """Where verified submissions go: an in-process `Sequencer`, or the sequencing process
    through `api.sequencing.client.SequencerClient` (what `serve` uses)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def append(self, submission: Submission) -> AppendResult: ...
    async def append_async(self, submission: Submission) -> AppendResult: ...


class EntryOpenings(msgspec.Struct, frozen=True):
    """The openings of one entry's commitments; `erased` names those no longer held."""

    index: int
    openings: dict[str, Opening]
    erased: list[str]


@dataclass
class LedgerService:
    engine: Engine
    sequencer: Appender
    signer: LogSigner
    max_skew: timedelta
    metrics: Metrics = field(default_factory=Metrics)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    tokens: TokenIssuer = field(init=False)
    throttle: Throttle = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenIssuer(bytes(self.signer.key))
        self.throttle = Throttle(self.rate_limits, self.metrics)
        self.valuer = Valuer(self.engine)

    def record_quote(self, quote: Quote, terms: Any) -> tuple[Receipt, dict[str, Opening]]:
        """Put a quote on the ledger, signed by the log (for the price-outside-interval alert)."""
        statement: dict[str, Any] = {
            "kind": "valuation.quote",
            "issued_at": format_rfc3339_utc(datetime.now(UTC)),
            "nonce": secrets.token_hex(16),
            "asset_id": quote.asset_id,
            "units": terms.units,
            "term_days": terms.term_days,
            "exclusive": terms.exclusive,
            "purpose": terms.purpose,
            "price": {"amount_minor": quote.price_minor, "currency": quote.currency},
            "low_minor": quote.low_minor,
            "high_minor": quote.high_minor,
            "model_as_of": format_rfc3339_utc(quote.as_of),
        }
        submission = self.sign_as_ledger(statement)
        receipt = self.sequencer.append(submission).receipt
        self.metrics.quote()
        return receipt, dict(submission.openings)

    @cached_property
    def operator(self) -> KeyRecord:
        return KeyRecord(self.signer.keyid, self.signer.keyid, self.signer.public_key)

    # --- writes -------------------------------------------------------------------------------

    def _open(self, envelope: Envelope) -> tuple[bytes, str]:
        """Shape checks shared by statements and logins: (payload bytes, signer keyid)."""
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
        payload = dsse.payload_bytes(envelope)
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise StatementRejected(
                "statement-too-large",
                f"a statement is at most {MAX_PAYLOAD_BYTES} bytes, got {len(payload)}",
                status=413,
            )
        return payload, envelope.signatures[0].keyid

    def verify(
        self,
        envelope: Envelope,
        openings: Mapping[str, Opening] | None = None,
        *,
        kinds: frozenset[str] | None = None,
        now: datetime | None = None,
    ) -> Submission:
        """Everything that can be checked before sequencing: shape, signature, freshness, and
        every opening against its commitment (the rules then decide on the opened values)."""
        payload, keyid = self._open(envelope)
        sealed = decode_statement(payload)
        check_origin(sealed, self.signer.origin)
        statement = open_statement(sealed, openings or {})
        if kinds is not None and statement.kind not in kinds:
            raise StatementRejected(
                "wrong-endpoint",
                f"this endpoint takes {', '.join(sorted(kinds))}, not {statement.kind}",
                status=422,
            )
        public_key = signer_public_key(_SignatureKeys(self.engine, self.operator), keyid, statement)
        dsse.verify_signature(envelope, envelope.signatures[0], public_key)
        check_fresh(statement, now or datetime.now(UTC), self.max_skew)
        return Submission.of(envelope, statement, keyid, openings or {})

    async def submit(
        self,
        body: SignedStatement,
        kinds: frozenset[str] | None = None,
        *,
        client: str = "unknown",
    ) -> AppendResult:
        """Verify, count against the signer's limits (`client`: the sender's address), append."""
        try:
            envelope, openings = body.parts()
            submission = self.verify(envelope, openings, kinds=kinds)
        except LedgerError as exc:
            self.metrics.refusal(exc.code)
            raise
        await self._count(submission, client)
        try:
            return await self.sequencer.append_async(submission)
        except StatementRejected as exc:
            self.metrics.refusal(exc.code)
            await asyncio.to_thread(self.record_refusal, submission, exc)
            raise

    async def _count(self, submission: Submission, client: str) -> None:
        """Rate limits and daily quotas, once the signature is known to be good: a forged
        envelope cannot spend someone else's quota. Refused statements count too (they cost
        the checks and a refusal record)."""
        if not self.throttle.enabled or submission.signer_keyid == self.signer.keyid:
            return
        if isinstance(submission.statement, PartyRegister):
            # A new party has nothing counted yet: its registration counts against the address.
            await self.throttle.rate("client.registrations", client)
            return
        record = _SignatureKeys(self.engine, self.operator).key(submission.signer_keyid)
        party_id = record.party_id if record is not None else submission.signer_keyid
        await self.throttle.append(party_id, len(submission.envelope.payload))

    def record_refusal(self, submission: Submission, exc: StatementRejected) -> None:
        """Keep (off the ledger) what the rules refused, for regulators' alerts."""
        statement = submission.statement
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(refusals).values(
                    at=format_rfc3339_utc(datetime.now(UTC)),
                    signer_keyid=submission.signer_keyid,
                    kind=statement.kind,
                    code=exc.code,
                    licence_id=getattr(statement, "licence_id", None),
                    asset_id=getattr(statement, "asset_id", None),
                    detail=exc.message[:1000],
                )
            )

    def sign_as_ledger(self, statement: dict[str, Any]) -> Submission:
        """A statement signed by the log key itself (certifications, expiries, quotes), for
        this log, its private fields sealed like anyone else's."""
        sealed = seal({**statement, "origin": self.signer.origin})
        envelope = dsse.sign_envelope(canonical_json(sealed.statement), self.signer.key)
        opened = open_statement(decode_statement(dsse.payload_bytes(envelope)), sealed.openings)
        return Submission.of(envelope, opened, self.signer.keyid, sealed.openings)

    def certify_due(self, now: datetime | None = None) -> list[str]:
        """Certify every asset whose notice ended cleanly; returns those certified."""
        moment = now or datetime.now(UTC)
        with self.engine.connect() as conn:
            due = catalog.due_for_certification(conn, format_rfc3339_utc(moment))
        return self._sign_due("asset.certify", "asset_id", due, moment)

    def expire_due(self, now: datetime | None = None) -> list[str]:
        """Expire every licence whose term has ended; returns those expired."""
        moment = now or datetime.now(UTC)
        with self.engine.connect() as conn:
            due = market.due_for_expiry(conn, format_rfc3339_utc(moment))
        return self._sign_due("licence.expire", "licence_id", due, moment)

    def _sign_due(self, kind: str, field: str, ids: list[str], moment: datetime) -> list[str]:
        """Append one ledger-signed `kind` statement per id.

        Idempotent and safe with several workers: the nonce is derived from (kind, id), so a
        second attempt is refused as a replay, and the rules refuse anything no longer due.
        """
        done = []
        for item in ids:
            statement: dict[str, Any] = {
                "kind": kind,
                "issued_at": format_rfc3339_utc(moment),
                "nonce": hashlib.sha256(f"{kind}:{item}".encode()).hexdigest()[:32],
                field: item,
            }
            try:
                self.sequencer.append(self.sign_as_ledger(statement))
                done.append(item)
            except StatementRejected as exc:
                log.info("%s of %s skipped: %s", kind, item, exc.message)
        return done

    # --- authority ----------------------------------------------------------------------------

    def login(
        self, envelope: Envelope, now: datetime | None = None
    ) -> tuple[str, Principal, datetime]:
        """Verify a signed `auth.login` (not appended) and issue a bearer token."""
        moment = now or datetime.now(UTC)
        payload, keyid = self._open(envelope)
        login = decode_login(payload)
        check_origin(login, self.signer.origin)
        check_fresh(login, moment, self.max_skew)
        principal = self.principal_for_key(keyid)
        public_key = (
            self.operator.public_key if principal.is_operator else self._key(keyid).public_key
        )
        dsse.verify_signature(envelope, envelope.signatures[0], public_key)
        expires = session_expiry(parse_rfc3339_utc(login.expires_at), moment)
        with write_transaction(self.engine) as conn:
            used = conn.execute(
                select(login_nonces.c.nonce).where(
                    login_nonces.c.keyid == keyid, login_nonces.c.nonce == login.nonce
                )
            ).first()
            if used is not None:
                raise StatementRejected("nonce-reused", "this login was already used", status=409)
            conn.execute(
                delete(login_nonces).where(
                    login_nonces.c.expires_at < format_rfc3339_utc(moment - self.max_skew)
                )
            )
            conn.execute(
                insert(login_nonces).values(
                    keyid=keyid, nonce=login.nonce, expires_at=format_rfc3339_utc(expires)
                )
            )
        return self.tokens.issue(principal.party_id, keyid, expires), principal, expires

    def principal_for_key(self, keyid: str) -> Principal:
        if keyid == self.signer.keyid:
            return Principal(keyid, keyid, frozenset(), is_operator=True)
        record = self._key(keyid)
        if record.revoked_at is not None:
            raise StatementRejected("key-revoked", f"key {keyid} is revoked", status=401)
        with self.engine.connect() as conn:
            roles = SqlView(conn, self.operator).roles(record.party_id)
        return Principal(record.party_id, keyid, roles)

    def authenticate(self, token: str, now: datetime | None = None) -> Principal:
        party_id, keyid = self.tokens.check(token, now or datetime.now(UTC))
        principal = self.principal_for_key(keyid)
        if principal.party_id != party_id:  # pragma: no cover - tokens are MAC'd
            raise StatementRejected("unauthorized", "token does not match its key", status=401)
        return principal

    def _key(self, keyid: str) -> KeyRecord:
        record = _KeyLookup(self.engine, self.operator).key(keyid)
        if record is None:
            raise SignatureError(f"signed by unknown key {keyid}")
        return record

    def market_statistics(self) -> pl.DataFrame:
        with self.engine.connect() as conn:
            frames = {
                table: pl.concat(list(export.chunks(conn, table)) or [export.frame(table, [])])
                for table in ("transactions", "assets")
            }
        return market_statistics(frames["transactions"], frames["assets"])

    def alerts(self) -> list[Alert]:
        with self.engine.connect() as conn:
            return alert_data.compute(conn)

    # --- contact details (personal information, off the ledger) -------------------------------

    def put_contact(self, party_id: str, salt: str, details: dict[str, str | None]) -> None:
        """Store contact details whose salted commitment is on the ledger."""
        check_salt(salt)
        with write_transaction(self.engine) as conn:
            found = catalog.party(conn, party_id)
            if found is None:
                raise NotFound(f"no party {party_id}")
            commitment = contact_commitment(salt, details)
            if found["contact_commitment"] != commitment:
                raise StatementRejected(
                    "commitment-mismatch",
                    "these details and salt do not match the contact commitment on the ledger "
                    "(commit to them first with party.set_contact)",
                    status=422,
                )
            conn.execute(delete(party_contacts).where(party_contacts.c.party_id == party_id))
            conn.execute(
                insert(party_contacts).values(
                    party_id=party_id,
                    salt=salt,
                    updated_at=format_rfc3339_utc(datetime.now(UTC)),
                    **details,
                )
            )

    def erase_contact(self, party_id: str) -> bool:
        """Erase contact details for good. The ledger keeps only the (now unopenable) commitment."""
        with write_transaction(self.engine) as conn:
            gone = conn.execute(delete(party_contacts).where(party_contacts.c.party_id == party_id))
        if gone.rowcount:
            scrub_after_erasure(self.engine, party_contacts)  # no copy left in the WAL
        return bool(gone.rowcount)

    def erase_opening(self, principal: Principal, index: int, field: str) -> None:
        """Erase the opening of a private text field of entry `index` (and its projected copies)
        for good: the logged commitment stays and can no longer be opened.

        The operator (acting on an erasure request) or the party that signed the entry may.
        """
        entry = decode_entry(self.entry(index).entry)
        payload = dsse.payload_bytes(entry.envelope)
        sealed = decode_statement(payload)
        if field not in commitments_of(sealed):
            raise NotFound(f"entry {index} commits to no private field `{field}`")
        if not projections.erasable(sealed.kind, field):
            raise StatementRejected(
                "not-erasable",
                f"`{field}` of {sealed.kind} is a value the rules rely on (quotas, prices, terms), "
                "not free text: only private text (reasons, grounds, notes, references) is erased",
                status=422,
            )
        signer = entry.envelope.signatures[0].keyid
        with self.engine.connect() as conn:
            record = SqlView(conn, self.operator).key(signer)
        if not (principal.is_operator or (record and record.party_id == principal.party_id)):
            raise StatementRejected(
                "forbidden",
                "only the operator or the party that signed the entry may erase its private text",
                status=403,
            )
        public = msgspec.json.decode(payload)
        with write_transaction(self.engine) as conn:
            gone = store.erase_opening(conn, index, field)
            if gone:
                projections.erase_text(
                    conn, sealed.kind, field, public, statement_id(payload), index
                )
        if gone:
            scrub_after_erasure(self.engine, statement_openings, *projections.copy_tables())

    # --- reads --------------------------------------------------------------------------------

    def checkpoint(self) -> store.StoredCheckpoint:
        with self.engine.connect() as conn:
            head = store.latest_checkpoint(conn)
        if head is None:
            raise NotFound("the log has no checkpoint yet")
        return head

    def checkpoint_note(self, tree_size: int | None = None, *, cosigned: bool = False) -> str:
        """A checkpoint (default: the newest; `cosigned`: the newest that witnesses cosigned)
        with every cosignature collected for it."""
        with self.engine.connect() as conn:
            if tree_size is None and cosigned:
                tree_size = store.latest_cosigned_size(conn)
                if tree_size is None:
                    raise NotFound("no checkpoint has been cosigned yet")
            head = (
                store.latest_checkpoint(conn)
                if tree_size is None
                else store.checkpoint_at(conn, tree_size)
            )
            if head is None:
                raise NotFound(f"no checkpoint of size {tree_size}")
            lines = store.cosignature_lines(conn, head.tree_size)
        return add_signature_lines(head.note, lines) if lines else head.note

    def add_cosignature(self, tree_size: int, line: str) -> tuple[str, int, bool]:
        """Accept a witness's cosignature of checkpoint `tree_size`: (party, timestamp, new).

        Only parties with the witness role may cosign; the line must verify against one of
        their active keys. Stored off the ledger, in an append-only table.
        """
        with write_transaction(self.engine) as conn:
            head = store.checkpoint_at(conn, tree_size)
            if head is None:
                raise NotFound(f"no checkpoint of size {tree_size}")
            body = parse_note(head.note).text
            signature = parse_cosignature_line(head.note, line)
            for party_id, keyid, public_key in catalog.witness_keys(conn):
                if cosigner_key_id(signature.name, public_key) != signature.key_id:
                    continue
                cosig = verify_cosignature(body, signature, signature.name, public_key)
                created = store.insert_cosignature(
                    conn,
                    tree_size,
                    keyid,
                    cosig.timestamp,
                    party_id,
                    cosig.name,
                    cosig.line,
                    format_rfc3339_utc(datetime.now(UTC)),
                )
                return party_id, cosig.timestamp, created
        raise StatementRejected(
            "role-required",
            "this cosignature is not by the active key of a party with the witness role",
            status=403,
        )

    def tile(self, level: int, n: int, width: int) -> bytes:
        """Tile (level, n) of the newest tree, exactly `width` hashes wide (tlog-tiles)."""
        with self.engine.connect() as conn:
            size = store.tree_size(conn)
            if tiles.tile_width(level, n, size) < width:
                raise NotFound(f"tile {level}/{n} of width {width} does not exist yet")
            hashes = store.node_range(conn, tiles.TILE_HEIGHT * level, n * tiles.TILE_WIDTH, width)
        return b"".join(hashes)

    def entry_bundle(self, n: int, width: int) -> bytes:
        with self.engine.connect() as conn:
            size = store.tree_size(conn)
            if tiles.tile_width(0, n, size) < width:
                raise NotFound(f"entry bundle {n} of width {width} does not exist yet")
            entries = store.entries_range(conn, n * tiles.TILE_WIDTH, width)
        return tiles.bundle([e.entry for e in entries])

    def entry(self, index: int) -> store.StoredEntry:
        with self.engine.connect() as conn:
            found = store.entry_at(conn, index)
        if found is None:
            raise NotFound(f"no entry {index} in the log")
        return found

    def entry_openings(self, principal: Principal | None, index: int) -> EntryOpenings:
        """An entry's openings for an entitled reader; which commitments stay closed and why."""
        entry = self.entry(index)
        payload = dsse.payload_bytes(decode_entry(entry.entry).envelope)
        committed = sorted(commitments_of(decode_statement(payload)))
        with self.engine.connect() as conn:
            held = store.openings_of(conn, [index])
        if committed and principal is None:
            raise StatementRejected(
                "unauthorized", "log in to read the private fields of an entry", status=401
            )
        if held and not may_read_private(principal, *held[0].audience):
            raise StatementRejected(
                "forbidden", f"entry {index}'s private fields are not yours to read", status=403
            )
        openings = held[0].openings if held else {}
        return EntryOpenings(index, openings, [n for n in committed if n not in openings])

    def entries(self, start: int, limit: int) -> list[store.StoredEntry]:
        with self.engine.connect() as conn:
            return store.entries_range(conn, start, limit)

    @contextmanager
    def _timed_proof(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.metrics.proof(time.perf_counter() - started)

    def receipt(self, index: int) -> Receipt:
        with self.engine.connect() as conn, self._timed_proof():
            try:
                return read_receipt(conn, index)
            except LookupError as exc:
                raise NotFound(str(exc)) from exc

    def receipts(self, indices: list[int]) -> list[Receipt]:
        """Receipts for many entries against one checkpoint (the newest)."""
        return list(self.iter_receipts(indices))

    def iter_receipts(self, indices: list[int]) -> Generator[Receipt, None, None]:
        """`receipts`, built one at a time as they are taken (close it when done early)."""
        with self.engine.connect() as conn:
            for index in indices:
                yield read_receipt(conn, index)

    def inclusion_proof(self, index: int, tree_size: int | None) -> tuple[int, bytes, list[bytes]]:
        with self.engine.connect() as conn, self._timed_proof():
            current = store.tree_size(conn)
            size = current if tree_size is None else tree_size
            if not 0 <= index < size <= current:
                raise NotFound(
                    f"no inclusion proof for index {index} in tree size {size} "
                    f"(the log has {current} entries)"
                )
            leaf = store.fetch_nodes(conn, [(0, index)])[(0, index)]
            return size, leaf, store.inclusion_proof(conn, index, size)

    def witness_exposition(self) -> str:
        """Prometheus lines for the witnesses' progress, from the shared store (so every worker
        shows it, wherever the pusher runs): the largest size each cosigned, and the log's."""
        with self.engine.connect() as conn:
            sizes = store.cosigned_sizes(conn)
            tree = store.tree_size(conn)
        lines = [
            "# HELP dataledger_tree_size Entries in the log.",
            "# TYPE dataledger_tree_size gauge",
            f"dataledger_tree_size {tree}",
            "# HELP dataledger_witness_cosigned_size The largest tree size each witness cosigned.",
            "# TYPE dataledger_witness_cosigned_size gauge",
            *(
                f'dataledger_witness_cosigned_size{{witness="{n}"}} {s}'
                for n, s in sorted(sizes.items())
            ),
        ]
        return "".join(line + "\n" for line in lines)

    def tlog_proof(self, index: int) -> TlogProof:
        """A c2sp.org/tlog-proof@v1 for entry `index` against the newest checkpoint, with the
        cosignatures collected for it, and the entry itself as the extra data."""
        note = self.checkpoint_note()
        size = parse_checkpoint_body(parse_note(note).text).size
        entry = self.entry(index).entry
        _, _, hashes = self.inclusion_proof(index, size)
        return TlogProof(index, tuple(hashes), note, extra=entry)

    def consistency_proof(self, first: int, second: int | None) -> tuple[int, list[bytes]]:
        with self.engine.connect() as conn, self._timed_proof():
            current = store.tree_size(conn)
            size = current if second is None else second
            if not 0 < first <= size <= current:
                raise NotFound(
                    f"no consistency proof from {first} to {size} (the log has {current} entries)"
                )
            return size, store.consistency_proof(conn, first, size)


def contact_commitment(salt: str, details: dict[str, str | None]) -> str:
    """SHA-256 over the salt and the canonical JSON of the details: what `party.*` commits to."""
    return hashlib.sha256(salt.encode() + b"\n" + canonical_json(details)).hexdigest()


# A contact salt is >= 16 random bytes, as lowercase hex: a shorter one would let anyone
# dictionary-search a phone number or e-mail address from its public commitment.
MIN_SALT_BYTES = 16
SALT_BYTES = 32


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def check_salt(salt: str) -> None:
    """Refuse (422) a salt that is not >= MIN_SALT_BYTES of lowercase hex."""
    if len(salt) < 2 * MIN_SALT_BYTES:
        raise StatementRejected(
            "salt-too-short",
            f"a contact salt must be at least {MIN_SALT_BYTES} random bytes "
            f"({2 * MIN_SALT_BYTES} lowercase hex characters); got {len(salt)} characters",
            status=422,
        )
    if len(salt) % 2 or not set(salt) <= set("0123456789abcdef"):
        raise StatementRejected(
            "salt-not-hex",
            "a contact salt must be random bytes written as lowercase hex",
            status=422,
        )


class _KeyLookup:
    """A `KeyView` that only opens a connection if a key is actually looked up.

    Keys are cached: a keyid is the hash of its key, and a key never changes party, so neither
    changes behind a keyid. Whether it may still sign is decided by the rules in the sequencer,
    from the database, so the cache never lets a revoked key through.
    """

    _cache: ClassVar[dict[str, KeyRecord]] = {}
    _CACHE_LIMIT = 100_000

    def __init__(self, engine: Engine, operator: KeyRecord) -> None:
        self._engine = engine
        self.operator = operator

    def key(self, keyid: str) -> KeyRecord | None:
        with self._engine.connect() as conn:
            return SqlView(conn, self.operator).key(keyid)

    def cached(self, keyid: str) -> KeyRecord | None:
        """The key's party and public key (its `revoked_at` is not kept: see above)."""
        cached = self._cache.get(keyid)
        if cached is None:
            record = _KeyLookup.key(self, keyid)
            if record is None:
                return None
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[keyid] = KeyRecord(keyid, record.party_id, record.public_key)
        return cached

    def public_key(self, keyid: str) -> bytes | None:
        record = self.cached(keyid)
        return None if record is None else record.public_key


class _SignatureKeys(_KeyLookup):
    """The keys signatures are checked against: cached (see `_KeyLookup.cached`), which is all
    a signature check needs."""

    def key(self, keyid: str) -> KeyRecord | None:
        return self.cached(keyid)
