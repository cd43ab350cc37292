"""Rules for the three separable rights: holding, processing/use, product operation."""

from __future__ import annotations

from ledger.events import AssetTouched, Event, RightHeld, TransferAccepted, TransferOffered
from ledger.rules.common import Rule, Signer, refuse, require_live_asset, require_party
from ledger.state import Context, LedgerView
from ledger.statements import RightsAccept, RightsOffer


def offer(view: LedgerView, st: RightsOffer, signer: Signer, ctx: Context) -> list[Event]:
    require_live_asset(view, st.asset_id)
    if view.holder(st.asset_id, st.right) != signer.party_id:
        raise refuse(
            "right-not-held", f"you do not hold the {st.right} right on {st.asset_id}", 403
        )
    require_party(view, st.to_party)
    if st.to_party == signer.party_id:
        raise refuse("self-transfer", "a right cannot be offered to its holder", 422)
    return [
        TransferOffered(
            transfer_id=ctx.statement_id,
            asset_id=st.asset_id,
            right=st.right,
            from_party=signer.party_id,
            to_party=st.to_party,
        ),
        AssetTouched(asset_id=st.asset_id),
    ]


def accept(view: LedgerView, st: RightsAccept, signer: Signer, ctx: Context) -> list[Event]:
    transfer = view.transfer(st.transfer_id)
    if transfer is None:
        raise refuse("unknown-transfer", f"no transfer {st.transfer_id}", 404)
    if transfer.status != "offered":
        raise refuse("transfer-closed", f"transfer {st.transfer_id} is already {transfer.status}")
    if transfer.to_party != signer.party_id:
        raise refuse("not-the-recipient", "only the party the right was offered to may accept", 403)
    require_live_asset(view, transfer.asset_id)
    if view.holder(transfer.asset_id, transfer.right) != transfer.from_party:
        raise refuse("offer-stale", "the offering party no longer holds this right")
    return [
        TransferAccepted(transfer_id=st.transfer_id),
        RightHeld(asset_id=transfer.asset_id, right=transfer.right, holder_id=signer.party_id),
        AssetTouched(asset_id=transfer.asset_id),
    ]


RULES: dict[str, Rule] = {"rights.offer": offer, "rights.accept": accept}
