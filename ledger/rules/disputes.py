"""Rules for disputes: the feedback channel when something goes wrong after a deal."""

from __future__ import annotations

from ledger.events import (
    AssetTouched,
    DisputeAnswered,
    DisputeOpened,
    DisputeResolved,
    Event,
    LicenceStatusChanged,
    UsageCorrected,
)
from ledger.rules.common import Rule, Signer, refuse, require_licence, require_role
from ledger.state import Context, DisputeRecord, LedgerView
from ledger.statements import DisputeAnswer, DisputeOpen, DisputeResolve


def _dispute(view: LedgerView, dispute_id: str) -> DisputeRecord:
    dispute = view.dispute(dispute_id)
    if dispute is None:
        raise refuse("unknown-dispute", f"no dispute {dispute_id}", 404)
    if dispute.status == "resolved":
        raise refuse("dispute-resolved", f"dispute {dispute_id} is already resolved")
    return dispute


def open_dispute(view: LedgerView, st: DisputeOpen, signer: Signer, ctx: Context) -> list[Event]:
    licence = require_licence(view, st.licence_id)
    parties = {licence.buyer_id: licence.seller_id, licence.seller_id: licence.buyer_id}
    if signer.party_id not in parties:
        raise refuse(
            "not-a-party", "only the buyer or the seller of a licence may open a dispute", 403
        )
    return [
        DisputeOpened(
            dispute_id=ctx.statement_id,
            licence_id=st.licence_id,
            asset_id=licence.asset_id,
            opened_by=signer.party_id,
            respondent=parties[signer.party_id],
            grounds=st.grounds,
            evidence_fingerprint=st.evidence_fingerprint,
        ),
        AssetTouched(asset_id=licence.asset_id),
    ]


def answer(view: LedgerView, st: DisputeAnswer, signer: Signer, ctx: Context) -> list[Event]:
    dispute = _dispute(view, st.dispute_id)
    if signer.party_id != dispute.respondent:
        raise refuse("not-the-respondent", "only the other party to the licence answers", 403)
    if dispute.status != "open":
        raise refuse("dispute-answered", f"dispute {st.dispute_id} was already answered")
    licence = require_licence(view, dispute.licence_id)
    return [
        DisputeAnswered(dispute_id=st.dispute_id, answer=st.answer),
        AssetTouched(asset_id=licence.asset_id),
    ]


def resolve(view: LedgerView, st: DisputeResolve, signer: Signer, ctx: Context) -> list[Event]:
    require_role(view, signer, "regulator", "resolve disputes")
    dispute = _dispute(view, st.dispute_id)
    licence = require_licence(view, dispute.licence_id)
    if st.usage_correction > licence.units_used:
        raise refuse(
            "correction-too-large",
            f"the licence has {licence.units_used} units metered; "
            f"cannot take off {st.usage_correction}",
            422,
        )
    revocable = licence.status in ("active", "awaiting_regulator", "exhausted")
    if st.revoke_licence and not revocable:
        raise refuse(
            "licence-state",
            f"licence {licence.licence_id} is {licence.status}: only an active, exhausted or "
            "awaiting licence can be revoked",
        )
    if st.refund is not None and licence.price_currency not in (None, st.refund.currency):
        raise refuse(
            "currency-mismatch", f"the licence was priced in {licence.price_currency}", 422
        )
    events: list[Event] = [
        DisputeResolved(
            dispute_id=st.dispute_id,
            decision=st.decision,
            refund=st.refund,
            revoke_licence=st.revoke_licence,
            usage_correction=st.usage_correction,
        )
    ]
    if st.usage_correction:
        events.append(UsageCorrected(licence_id=licence.licence_id, units=st.usage_correction))
        if licence.status == "exhausted" and not st.revoke_licence:
            # the quota is no longer used up: the licensee may use what the correction gave back
            events.append(
                LicenceStatusChanged(
                    licence_id=licence.licence_id,
                    status="active",
                    reason=f"dispute: usage corrected by {st.usage_correction} units",
                )
            )
    if st.revoke_licence:
        events.append(
            LicenceStatusChanged(
                licence_id=licence.licence_id, status="revoked", reason=f"dispute: {st.decision}"
            )
        )
    events.append(AssetTouched(asset_id=licence.asset_id))
    return events


RULES: dict[str, Rule] = {
    "dispute.open": open_dispute,
    "dispute.answer": answer,
    "dispute.resolve": resolve,
}
