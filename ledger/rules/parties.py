"""Rules for parties: registration, contact commitments, keys and roles."""

from __future__ import annotations

from ledger.events import (
    ContactCommitted,
    Event,
    KeyAdded,
    KeyRevoked,
    PartyRegistered,
    RoleGranted,
    RoleRevoked,
)
from ledger.keys import keyid
from ledger.rules.common import Rule, Signer, refuse, require_operator, require_party
from ledger.state import Context, LedgerView
from ledger.statements import (
    PartyRegister,
    PartyRevokeKey,
    PartyRotateKey,
    PartySetContact,
    RoleGrant,
    RoleRevoke,
)


def register(view: LedgerView, st: PartyRegister, ctx: Context) -> list[Event]:
    if ctx.signer_keyid == view.operator.keyid:
        raise refuse("key-reserved", "the log key cannot register as a party")
    if view.key(ctx.signer_keyid) is not None:
        raise refuse("key-already-registered", f"key {ctx.signer_keyid} is already registered")
    return [
        PartyRegistered(
            party_id=ctx.signer_keyid,
            name=st.name,
            contact_commitment=st.contact_commitment,
        ),
        KeyAdded(
            party_id=ctx.signer_keyid, keyid=ctx.signer_keyid, public_key=st.public_key_bytes()
        ),
    ]


def set_contact(view: LedgerView, st: PartySetContact, signer: Signer, ctx: Context) -> list[Event]:
    _party_signer(signer, "commit to contact details")
    return [ContactCommitted(party_id=signer.party_id, contact_commitment=st.contact_commitment)]


def rotate_key(view: LedgerView, st: PartyRotateKey, signer: Signer, ctx: Context) -> list[Event]:
    _party_signer(signer, "rotate keys")
    new_key = st.new_public_key_bytes()
    new_id = keyid(new_key)
    if new_id == view.operator.keyid or view.key(new_id) is not None:
        raise refuse("key-already-registered", f"key {new_id} is already registered")
    return [
        KeyAdded(party_id=signer.party_id, keyid=new_id, public_key=new_key),
        KeyRevoked(keyid=signer.keyid, reason=f"rotated to {new_id}"),
    ]


def revoke_key(view: LedgerView, st: PartyRevokeKey, signer: Signer, ctx: Context) -> list[Event]:
    _party_signer(signer, "revoke keys")
    record = view.key(st.keyid)
    if record is None or record.party_id != signer.party_id:
        raise refuse("not-your-key", f"key {st.keyid} is not a key of party {signer.party_id}", 403)
    if record.revoked_at is not None:
        raise refuse("key-revoked", f"key {st.keyid} is already revoked")
    return [KeyRevoked(keyid=st.keyid, reason=st.reason or "revoked by its party")]


def grant_role(view: LedgerView, st: RoleGrant, signer: Signer, ctx: Context) -> list[Event]:
    require_operator(signer, "grant roles")
    require_party(view, st.party_id)
    if st.role in view.roles(st.party_id):
        raise refuse("role-already-held", f"party {st.party_id} already has role {st.role}")
    return [RoleGranted(party_id=st.party_id, role=st.role)]


def revoke_role(view: LedgerView, st: RoleRevoke, signer: Signer, ctx: Context) -> list[Event]:
    require_operator(signer, "withdraw roles")
    if st.role not in view.roles(st.party_id):
        raise refuse("role-not-held", f"party {st.party_id} does not have role {st.role}")
    return [RoleRevoked(party_id=st.party_id, role=st.role)]


def _party_signer(signer: Signer, what: str) -> None:
    if signer.is_operator:
        raise refuse("party-only", f"only a party may {what}", 403)


RULES: dict[str, Rule] = {
    "party.set_contact": set_contact,
    "party.rotate_key": rotate_key,
    "party.revoke_key": revoke_key,
    "role.grant": grant_role,
    "role.revoke": revoke_role,
}
