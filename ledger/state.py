"""The state machine: whether a statement is allowed, and what it changes.

Pure: `decide` reads the current state through the `LedgerView` protocol and returns a list of
mutations (plain records); the storage adapter applies them. The sequencer and `replay` both go
through `decide` + apply, so projections are only ever written one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias

import msgspec

from ledger.errors import SignatureError, StatementRejected
from ledger.keys import keyid
from ledger.statements import AnyStatement, PartyRegister


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as the ledger knows it: whose it is and whether it is still usable."""

    keyid: str
    party_id: str
    public_key: bytes
    revoked_at: int | None = None  # index of the revoking entry


class LedgerView(Protocol):
    """Read access to the projected state that decisions need."""

    def key(self, keyid: str) -> KeyRecord | None: ...


@dataclass(frozen=True, slots=True)
class Context:
    """Where the statement lands: its signer, its future entry index and integration time."""

    signer_keyid: str
    index: int
    integrated_at: str


class PartyRegistered(msgspec.Struct, frozen=True):
    party_id: str
    name: str
    public_key: bytes
    index: int
    integrated_at: str


Mutation: TypeAlias = PartyRegistered


def signer_public_key(view: LedgerView, signer_keyid: str, statement: AnyStatement) -> bytes:
    """The public key an envelope's signature must verify against.

    A `party.register` brings its own key (self-signed); every other statement must be signed
    by a key the ledger already knows. Raises `SignatureError` otherwise.
    """
    if isinstance(statement, PartyRegister):
        public_key = statement.public_key_bytes()
        if keyid(public_key) != signer_keyid:
            raise SignatureError(
                "party.register must be signed by the key it registers",
                expected=keyid(public_key),
                computed=signer_keyid,
            )
        return public_key
    record = view.key(signer_keyid)
    if record is None:
        raise SignatureError(f"signed by unknown key {signer_keyid}")
    return record.public_key


def decide(view: LedgerView, statement: AnyStatement, ctx: Context) -> list[Mutation]:
    """Apply the ledger's rules to a verified statement; raise `StatementRejected` if refused."""
    if isinstance(statement, PartyRegister):
        return _party_register(view, statement, ctx)
    raise StatementRejected(  # pragma: no cover - the decoder only yields known kinds
        "unknown-kind", f"no rule for statement kind {statement.kind}", status=422
    )


def _party_register(view: LedgerView, st: PartyRegister, ctx: Context) -> list[Mutation]:
    if view.key(ctx.signer_keyid) is not None:
        raise StatementRejected(
            "key-already-registered", f"key {ctx.signer_keyid} is already registered"
        )
    return [
        PartyRegistered(
            party_id=ctx.signer_keyid,
            name=st.name,
            public_key=st.public_key_bytes(),
            index=ctx.index,
            integrated_at=ctx.integrated_at,
        )
    ]
