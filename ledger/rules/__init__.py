"""The ledger's rules: whether a verified statement is allowed, and the events it causes.

`decide` is pure. Each kind has one function in `parties`, `assets` or `rights`; each refusal is a
`StatementRejected` with a stable code that the API returns as the problem type.
"""

from __future__ import annotations

from ledger.errors import StatementRejected
from ledger.events import AssetTouched, Event
from ledger.rules import assets, disputes, licences, parties, rights
from ledger.rules.common import Rule, resolve_signer
from ledger.state import Context, LedgerView
from ledger.statements import AnyStatement, PartyRegister, check_origin

_RULES: dict[str, Rule] = {
    **parties.RULES,
    **assets.RULES,
    **rights.RULES,
    **licences.RULES,
    **disputes.RULES,
}


def decide(view: LedgerView, statement: AnyStatement, ctx: Context) -> list[Event]:
    """Apply the ledger's rules to a verified statement; raise `StatementRejected` if refused."""
    check_origin(statement, ctx.origin)
    if isinstance(statement, PartyRegister):  # self-signed: there is no signer to resolve yet
        return parties.register(view, statement, ctx)
    rule = _RULES.get(statement.kind)
    if rule is None:  # pragma: no cover - the decoder only yields kinds that have rules
        raise StatementRejected("unknown-kind", f"no rule for {statement.kind}", status=422)
    return _once_per_asset(rule(view, statement, resolve_signer(view, ctx.signer_keyid), ctx))


def _once_per_asset(events: list[Event]) -> list[Event]:
    """An entry belongs in an asset's history once, however many rules touched the asset."""
    seen: set[str] = set()
    kept: list[Event] = []
    for event in events:
        if isinstance(event, AssetTouched):
            if event.asset_id in seen:
                continue
            seen.add(event.asset_id)
        kept.append(event)
    return kept


__all__ = ["decide"]
