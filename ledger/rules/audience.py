"""Who may read the private fields of an accepted statement (`ledger.privacy`).

Regulators and the operator may read every opening; `audience` names the other parties, from
the state the statement was decided against. It is stored with the openings, so that a later
change (a right moved, a key rotated) neither widens nor narrows who could read a past fact.
"""

from __future__ import annotations

from ledger.state import LedgerView
from ledger.statements import AnyStatement


def audience(view: LedgerView, statement: AnyStatement, signer_party: str) -> tuple[str, ...]:
    """The parties entitled to the statement's openings, besides regulators and the operator.

    Call it after the statement was decided and before its events are applied."""
    parties = {signer_party}
    if (licence_id := _field(statement, "licence_id")) is not None:
        parties |= _licence_parties(view, licence_id)
    if (payment_id := _field(statement, "payment_id")) and (payment := view.payment(payment_id)):
        parties |= _licence_parties(view, payment.licence_id)
    if (dispute_id := _field(statement, "dispute_id")) and (dispute := view.dispute(dispute_id)):
        parties |= _licence_parties(view, dispute.licence_id)
    if (offer_id := _field(statement, "offer_id")) and (offer := view.offer(offer_id)):
        parties |= {offer.publisher_id, *_owner(view, offer.asset_id)}
        if (seller := view.holder(offer.asset_id, "operation")) is not None:
            parties.add(seller)
    if (asset_id := _field(statement, "asset_id")) is not None:
        parties |= _owner(view, asset_id)
    if (objection_id := _field(statement, "objection_id")) and (
        objection := view.objection(objection_id)
    ):
        parties |= {objection.objector_id, *_owner(view, objection.asset_id)} - {""}
    for objection_id in getattr(statement, "objection_ids", ()):
        if (objection := view.objection(objection_id)) is not None:
            parties |= {objection.objector_id, *_owner(view, objection.asset_id)} - {""}
    if statement.kind == "conflict.resolve" and (fp := _field(statement, "fingerprint")):
        parties |= {claim.owner_id for claim in view.claims(fp)}
    if view.operator.party_id == signer_party:
        parties.discard(signer_party)  # the operator reads everything anyway
    return tuple(sorted(parties))


def _field(statement: AnyStatement, name: str) -> str | None:
    value = getattr(statement, name, None)
    return value if isinstance(value, str) else None


def _licence_parties(view: LedgerView, licence_id: str) -> set[str]:
    licence = view.licence(licence_id)
    return set() if licence is None else {licence.buyer_id, licence.seller_id}


def _owner(view: LedgerView, asset_id: str) -> set[str]:
    asset = view.asset(asset_id)
    return set() if asset is None else {asset.owner_id}
