"""Drive `ledger.rules.decide` with no HTTP and no sleeping: statements built as Structs, a
chosen clock, and one or more backends (an in-memory `MemoryState`, or SQL projections) that
must agree on every decision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import nacl.signing
from sqlalchemy import Connection

from ledger.encoding import b64encode, format_rfc3339_utc
from ledger.errors import StatementRejected
from ledger.events import AssetTouched, Event
from ledger.keys import keyid
from ledger.memory import MemoryState
from ledger.rules import decide
from ledger.state import Context, KeyRecord, LedgerView
from ledger.statements import (
    AssetCertify,
    AssetRegister,
    LicenceApprove,
    LicenceRequest,
    Money,
    OfferPublish,
    PartyRegister,
    Policy,
    Pricing,
    RoleGrant,
    Statement,
)
from ledger.storage import projections

ORIGIN = "test.dataledger.local/log"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
NOTICE = timedelta(days=10)

S = TypeVar("S", bound=Statement)


def signing_key(name: str) -> nacl.signing.SigningKey:
    """A key derived from a name: the same name gives the same party in every run."""
    return nacl.signing.SigningKey(hashlib.sha256(name.encode()).digest())


def public_key(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Party:
    name: str
    key: nacl.signing.SigningKey
    id: str = ""  # the party id: the keyid of the key it registered with

    def __post_init__(self) -> None:
        self.id = self.id or keyid(public_key(self.key))

    @property
    def keyid(self) -> str:
        """The current key's id (it changes when the party rotates its key)."""
        return keyid(public_key(self.key))


class Backend(Protocol):
    @property
    def view(self) -> LedgerView: ...

    def apply(self, events: Sequence[Event], index: int, integrated_at: str) -> None: ...


class MemoryBackend:
    def __init__(self, operator: KeyRecord) -> None:
        self.state = MemoryState(operator)

    @property
    def view(self) -> MemoryState:
        return self.state

    def apply(self, events: Sequence[Event], index: int, integrated_at: str) -> None:
        for event in events:
            self.state.apply(event, index, integrated_at)


class SqlBackend:
    def __init__(self, conn: Connection, operator: KeyRecord) -> None:
        self.conn = conn
        self._view = projections.SqlView(conn, operator)

    @property
    def view(self) -> projections.SqlView:
        return self._view

    def apply(self, events: Sequence[Event], index: int, integrated_at: str) -> None:
        meta = projections.EntryMeta(index, integrated_at)
        for event in events:
            projections.apply(self.conn, event, meta)


Signer = Party | str  # a party (its current key), or a keyid


@dataclass
class Ledger:
    """The sequencer's loop without storage: decide each statement on every backend (they must
    agree), apply the events of accepted ones, move the clock by hand."""

    backends: list[Backend] = field(default_factory=list)
    now: datetime = T0
    index: int = 0
    operator_key: nacl.signing.SigningKey = field(default_factory=lambda: signing_key("operator"))
    log: list[tuple[str, str]] = field(default_factory=list)  # (kind, outcome)
    # Called after each submitted statement, accepted (with its events) or refused (with none).
    on_step: Callable[[Ledger, Any, Sequence[Event]], None] | None = None
    _ids: int = 0

    def __post_init__(self) -> None:
        if not self.backends:
            self.backends = [MemoryBackend(self.operator)]

    @property
    def operator(self) -> KeyRecord:
        kid = keyid(public_key(self.operator_key))
        return KeyRecord(kid, kid, public_key(self.operator_key))

    @property
    def op(self) -> str:
        """The operator's keyid, to sign as the log key."""
        return self.operator.keyid

    @property
    def state(self) -> MemoryState:
        backend = self.backends[0]
        assert isinstance(backend, MemoryBackend)
        return backend.state

    @property
    def at(self) -> str:
        return format_rfc3339_utc(self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def new_id(self) -> str:
        self._ids += 1
        return f"{self._ids:032x}"

    def make(self, cls: type[S], **fields: Any) -> S:
        """A full statement for this log, issued now, with a fresh nonce."""
        return cls(issued_at=self.at, nonce=self.new_id(), origin=ORIGIN, **fields)

    def context(self, signer: Signer, statement_id: str) -> Context:
        kid = signer.keyid if isinstance(signer, Party) else signer
        return Context(kid, self.index, self.at, statement_id, NOTICE, ORIGIN)

    def decide(self, signer: Signer, statement: Any, ctx: Context | None = None) -> list[Event]:
        """Decide on every backend; they must agree. Applies nothing."""
        ctx = ctx or self.context(signer, self.new_id())
        outcomes: list[list[Event] | StatementRejected] = []
        for backend in self.backends:
            try:
                outcomes.append(decide(backend.view, statement, ctx))
            except StatementRejected as exc:
                outcomes.append(exc)
        first = outcomes[0]
        for other in outcomes[1:]:
            if isinstance(first, StatementRejected):
                assert isinstance(other, StatementRejected), (statement, first.code, other)
                assert other.code == first.code, (statement, first.code, other.code)
            else:
                assert not isinstance(other, StatementRejected), (statement, first, other.code)
                assert agreeing(other) == agreeing(first), (statement, first, other)
        if isinstance(first, StatementRejected):
            self.log.append((statement.kind, first.code))
            raise first
        self.log.append((statement.kind, "accepted"))
        return first

    def submit(self, signer: Signer, statement: Any) -> str:
        """Decide and apply; returns the statement id (the id of what it creates)."""
        statement_id = self.new_id()
        try:
            events = self.decide(signer, statement, self.context(signer, statement_id))
        except StatementRejected:
            if self.on_step:
                self.on_step(self, statement, [])
            raise
        for backend in self.backends:
            backend.apply(events, self.index, self.at)
        self.index += 1
        if self.on_step:
            self.on_step(self, statement, events)
        return statement_id

    def send(self, signer: Signer, cls: type[Statement], **fields: Any) -> str:
        return self.submit(signer, self.make(cls, **fields))

    # --- the usual steps ------------------------------------------------------------------------

    def party(self, name: str, *roles: str) -> Party:
        party = Party(name, signing_key(name))
        self.submit(
            party,
            self.make(PartyRegister, name=name, public_key=b64encode(public_key(party.key))),
        )
        for role in roles:
            self.send(self.op, RoleGrant, party_id=party.id, role=role)
        return party

    def asset(self, owner: Party, name: str = "", **fields: Any) -> str:
        body: dict[str, Any] = {
            "title": name or "An asset",
            "description": "",
            "category": "test",
            "classification": "general",
            "personal_info": "none",
            "fingerprint": fingerprint(name or self.new_id()),
            "size_bytes": 1000,
            "record_count": 10,
        }
        body.update(fields)
        return self.send(owner, AssetRegister, **body)

    def certify(self, asset_id: str) -> None:
        """Let the notice period end, then certify."""
        asset = self.backends[0].view.asset(asset_id)
        if asset is None or self.at < asset.notice_ends_at:
            self.advance(days=NOTICE.days, seconds=1)
        self.send(self.op, AssetCertify, asset_id=asset_id)

    def certified_asset(self, owner: Party, name: str = "", **fields: Any) -> str:
        asset_id = self.asset(owner, name, **fields)
        self.certify(asset_id)
        return asset_id

    def publish(self, publisher: Party, asset_id: str, **terms: Any) -> str:
        return self.send(publisher, OfferPublish, asset_id=asset_id, policy=policy(**terms))

    def request(self, buyer: Party, offer_id: str, **fields: Any) -> str:
        body: dict[str, Any] = {
            "offer_id": offer_id,
            "purpose": "research",
            "term_days": 30,
            "territory": ["CN"],
        }
        body.update(fields)
        return self.send(buyer, LicenceRequest, **body)

    def licence(
        self, seller: Party, buyer: Party, offer_id: str, price: int = 1000, **fields: Any
    ) -> str:
        """Request and approve (active, or awaiting a regulator for important data)."""
        licence_id = self.request(buyer, offer_id, **fields)
        self.send(seller, LicenceApprove, licence_id=licence_id, price=Money(amount_minor=price))
        return licence_id


def agreeing(events: Sequence[Event]) -> tuple[list[Event], list[str]]:
    """The events, with the assets touched as a sorted list: `asset._claim` touches the other
    claims in the order `view.claims` lists them, which SQL leaves unspecified (PostgreSQL
    lists updated rows in another order), and which assets an entry touched is a set."""
    touched = sorted(e.asset_id for e in events if isinstance(e, AssetTouched))
    return [e for e in events if not isinstance(e, AssetTouched)], touched


def policy(**overrides: Any) -> Policy:
    body: dict[str, Any] = {
        "actions": ["use"],
        "purposes": ["research", "analytics"],
        "term_days": 30,
        "territory": ["CN"],
        "pricing": Pricing(model="fixed", fixed_minor=1000),
        "max_units": 100,
    }
    body.update(overrides)
    return Policy(**body)
