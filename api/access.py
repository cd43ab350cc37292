"""Who may see what: small pure rules shared by the JSON API and the explorer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.auth import Principal


def may_read_everything(principal: Principal | None) -> bool:
    """Regulators and the operator read every private fact."""
    return principal is not None and (principal.is_regulator or principal.is_operator)


def may_read_private(principal: Principal | None, *parties: str) -> bool:
    """Whether `principal` may read what is private to `parties`: an owner's record, a deal's
    sides, the audience stored with an entry's openings (ledger.rules.audience)."""
    return may_read_everything(principal) or (
        principal is not None and principal.party_id in parties
    )


# Private text that a record projects from a statement's private fields (ledger.privacy), and the
# parties besides regulators who may read it. One place, used by the JSON API and the explorer.
_VERSION_PRIVATE = ("note",)
_OBJECTION_PRIVATE = ("grounds", "evidence_fingerprint", "reason")
_OFFER_PRIVATE = ("withdraw_reason",)


def _redacted(row: dict[str, Any], names: tuple[str, ...], allowed: bool) -> dict[str, Any]:
    return row if allowed else {**row, **{n: None for n in names if n in row}}


def version_view(principal: Principal | None, owner_id: str, row: dict[str, Any]) -> dict[str, Any]:
    return _redacted(row, _VERSION_PRIVATE, may_read_private(principal, owner_id))


def objection_view(
    principal: Principal | None, owner_id: str | None, row: dict[str, Any]
) -> dict[str, Any]:
    parties = (row["objector_id"], *((owner_id,) if owner_id else ()))
    return _redacted(row, _OBJECTION_PRIVATE, may_read_private(principal, *parties))


def offer_view(principal: Principal | None, row: dict[str, Any]) -> dict[str, Any]:
    return _redacted(row, _OFFER_PRIVATE, may_read_private(principal, row["publisher_id"]))


def conflict_view(
    principal: Principal | None, claim_owners: Iterable[str], row: dict[str, Any]
) -> dict[str, Any]:
    return _redacted(row, ("reason",), may_read_private(principal, *claim_owners))
