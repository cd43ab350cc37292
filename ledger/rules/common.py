"""Helpers every rule uses: who signed, what roles they have, refusals with stable codes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from ledger.errors import StatementRejected
from ledger.events import Event
from ledger.state import AssetRecord, Context, LedgerView, LicenceRecord


@dataclass(frozen=True, slots=True)
class Signer:
    party_id: str
    keyid: str
    is_operator: bool


Rule: TypeAlias = Callable[[LedgerView, Any, "Signer", Context], list[Event]]


def refuse(code: str, message: str, status: int = 409) -> StatementRejected:
    return StatementRejected(code, message, status=status)


def resolve_signer(view: LedgerView, keyid: str) -> Signer:
    """The party behind a (verified) signature; refuses revoked keys."""
    if keyid == view.operator.keyid:
        return Signer(view.operator.party_id, keyid, True)
    record = view.key(keyid)
    if record is None:
        raise refuse("unknown-key", f"key {keyid} is not registered", 403)
    if record.revoked_at is not None:
        raise refuse("key-revoked", f"key {keyid} was revoked at entry {record.revoked_at}", 403)
    return Signer(record.party_id, keyid, False)


def require_operator(signer: Signer, what: str) -> None:
    if not signer.is_operator:
        raise refuse("operator-only", f"only the operator (the log key) may {what}", 403)


def require_role(view: LedgerView, signer: Signer, role: str, what: str) -> None:
    if role not in view.roles(signer.party_id):
        raise refuse("role-required", f"only a {role} may {what}", 403)


def require_party(view: LedgerView, party_id: str) -> None:
    if not view.party_exists(party_id):
        raise refuse("unknown-party", f"no party {party_id}", 404)


def require_asset(view: LedgerView, asset_id: str) -> AssetRecord:
    asset = view.asset(asset_id)
    if asset is None:
        raise refuse("unknown-asset", f"no asset {asset_id}", 404)
    return asset


def require_live_asset(view: LedgerView, asset_id: str) -> AssetRecord:
    asset = require_asset(view, asset_id)
    if asset.status == "rejected":
        raise refuse("asset-rejected", f"asset {asset_id} was rejected")
    return asset


def require_licence(view: LedgerView, licence_id: str) -> LicenceRecord:
    licence = view.licence(licence_id)
    if licence is None:
        raise refuse("unknown-licence", f"no licence {licence_id}", 404)
    return licence
