"""Rules for offers, licences, usage metering and settlement.

The rules that protect people and markets live here: core data is never offered; a frozen asset
takes no new offers, licences or usage; personal data needs a lawful basis; important data needs
a regulator; an exclusive licence excludes any overlapping one; usage never passes the quota.
Because the sequencer decides statements one at a time, "two concurrent approvals" or "fifty
concurrent usage reports" are simply decided in order — no race can get past these checks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger.encoding import format_rfc3339_utc, parse_rfc3339_utc
from ledger.events import (
    AssetTouched,
    Event,
    GatewayChanged,
    LicenceApproved,
    LicenceRequested,
    LicenceStatusChanged,
    OfferPublished,
    OfferWithdrawn,
    PaymentConfirmed,
    PaymentRecorded,
    UsageRecorded,
)
from ledger.rules.common import (
    Rule,
    Signer,
    refuse,
    require_licence,
    require_live_asset,
    require_operator,
    require_party,
    require_role,
)
from ledger.state import AssetRecord, Context, LedgerView, LicenceRecord
from ledger.statements import (
    GatewaySet,
    LicenceApprove,
    LicenceExpire,
    LicenceRegulatorApprove,
    LicenceReject,
    LicenceRequest,
    LicenceRevoke,
    LicenceTerminate,
    OfferPublish,
    OfferWithdraw,
    PaymentConfirm,
    PaymentRecord,
    Pricing,
    UsageReport,
)

PERSONAL = frozenset({"personal", "sensitive_personal"})
LIVE = frozenset({"active", "awaiting_regulator"})  # hold their term against exclusivity


def _tradeable(view: LedgerView, asset_id: str) -> AssetRecord:
    asset = require_live_asset(view, asset_id)
    if asset.classification == "core":
        raise refuse("core-data", f"asset {asset_id} is core data: it cannot be licensed", 403)
    if asset.frozen:
        raise refuse("asset-frozen", f"asset {asset_id} is frozen by a regulator", 403)
    return asset


def _uncontested(asset: AssetRecord) -> None:
    """A claim whose fingerprint another party also claims trades only if it was certified
    before the rival claim came (no contested claim can be certified): a late copy cannot be
    offered or licensed, and it cannot stop the certified original's trade either."""
    if asset.conflict and asset.status != "certified":
        raise refuse(
            "conflict-open",
            f"asset {asset.asset_id} is a contested claim on its fingerprint: it cannot be "
            "traded until a regulator rules on the conflict",
        )


def _operator_of(view: LedgerView, asset_id: str, signer: Signer, what: str) -> None:
    if view.holder(asset_id, "operation") != signer.party_id:
        raise refuse("right-required", f"only the holder of the operation right may {what}", 403)


def _check_pricing(pricing: Pricing) -> None:
    if pricing.model == "per_unit" and pricing.unit_price_minor is None:
        raise refuse("bad-pricing", "per_unit pricing needs unit_price_minor", 422)
    if pricing.model == "tiered":
        bounds = [t.up_to for t in pricing.tiers]
        if not bounds or any(b is None for b in bounds[:-1]):
            raise refuse(
                "bad-pricing", "tiered pricing needs tiers; only the last may be open", 422
            )
        closed = [b for b in bounds if b is not None]
        if closed != sorted(set(closed)):
            raise refuse("bad-pricing", "tier bounds must strictly increase", 422)


def publish(view: LedgerView, st: OfferPublish, signer: Signer, ctx: Context) -> list[Event]:
    _uncontested(_tradeable(view, st.asset_id))
    _operator_of(view, st.asset_id, signer, "publish offers")
    _check_pricing(st.policy.pricing)
    return [
        OfferPublished(
            offer_id=ctx.statement_id,
            asset_id=st.asset_id,
            publisher_id=signer.party_id,
            policy=st.policy,
        ),
        AssetTouched(asset_id=st.asset_id),
    ]


def withdraw(view: LedgerView, st: OfferWithdraw, signer: Signer, ctx: Context) -> list[Event]:
    offer = view.offer(st.offer_id)
    if offer is None:
        raise refuse("unknown-offer", f"no offer {st.offer_id}", 404)
    if offer.status != "open":
        raise refuse("offer-closed", f"offer {st.offer_id} is {offer.status}")
    if signer.party_id not in (offer.publisher_id, view.holder(offer.asset_id, "operation")):
        raise refuse(
            "right-required", "only the publisher or operation-right holder may withdraw", 403
        )
    return [
        OfferWithdrawn(offer_id=st.offer_id, reason=st.reason),
        AssetTouched(asset_id=offer.asset_id),
    ]


def request(view: LedgerView, st: LicenceRequest, signer: Signer, ctx: Context) -> list[Event]:
    offer = view.offer(st.offer_id)
    if offer is None:
        raise refuse("unknown-offer", f"no offer {st.offer_id}", 404)
    if offer.status != "open":
        raise refuse("offer-closed", f"offer {st.offer_id} is {offer.status}")
    asset = _tradeable(view, offer.asset_id)
    _uncontested(asset)
    seller = view.holder(offer.asset_id, "operation") or offer.publisher_id
    if signer.party_id == seller:
        raise refuse("own-asset", "a party cannot license its own asset", 422)
    policy = offer.policy
    if st.purpose not in policy.purposes:
        raise refuse(
            "purpose-not-offered",
            f"purpose {st.purpose!r} is not among the offer's: {', '.join(policy.purposes)}",
            422,
        )
    if st.term_days > policy.term_days:
        raise refuse("term-too-long", f"the offer allows at most {policy.term_days} days", 422)
    outside = sorted(set(st.territory) - set(policy.territory))
    if outside:
        raise refuse("territory-not-offered", f"not offered in {', '.join(outside)}", 422)
    if policy.max_units is not None and st.units is not None and st.units > policy.max_units:
        raise refuse("units-too-many", f"the offer allows at most {policy.max_units} units", 422)
    if asset.personal_info in PERSONAL and st.lawful_basis is None:
        raise refuse(
            "lawful-basis-required",
            f"asset {asset.asset_id} holds {asset.personal_info} information: "
            "declare a lawful basis (consent, anonymized, contract or statutory)",
            422,
        )
    return [
        LicenceRequested(
            licence_id=ctx.statement_id,
            offer_id=st.offer_id,
            asset_id=offer.asset_id,
            buyer_id=signer.party_id,
            seller_id=seller,
            request=st,
            max_units=st.units if st.units is not None else policy.max_units,
            exclusive=policy.exclusive,
            sublicensable=policy.sublicensable,
        ),
        AssetTouched(asset_id=offer.asset_id),
    ]


def _require_status(licence: LicenceRecord, *allowed: str) -> None:
    if licence.status not in allowed:
        raise refuse(
            "licence-state",
            f"licence {licence.licence_id} is {licence.status}, not {' or '.join(allowed)}",
        )


def _check_exclusivity(
    view: LedgerView, licence: LicenceRecord, starts_at: str, ends_at: str
) -> None:
    other = view.conflicting_licence(
        licence.asset_id,
        starts_at,
        ends_at,
        other_than=licence.licence_id,
        exclusive_only=not licence.exclusive,
    )
    if other is not None:
        raise refuse(
            "exclusive-conflict",
            f"licence {other.licence_id} overlaps this term and one of them is exclusive",
        )


def approve(view: LedgerView, st: LicenceApprove, signer: Signer, ctx: Context) -> list[Event]:
    licence = require_licence(view, st.licence_id)
    _require_status(licence, "requested")
    asset = _tradeable(view, licence.asset_id)
    _uncontested(asset)
    _operator_of(view, licence.asset_id, signer, "approve licences")
    start = _at(ctx)
    starts_at = format_rfc3339_utc(start)
    ends_at = format_rfc3339_utc(start + timedelta(days=licence.term_days))
    _check_exclusivity(view, licence, starts_at, ends_at)
    status = "awaiting_regulator" if asset.classification == "important" else "active"
    return [
        LicenceApproved(
            licence_id=st.licence_id,
            price=st.price,
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
        ),
        AssetTouched(asset_id=licence.asset_id),
    ]


def regulator_approve(
    view: LedgerView, st: LicenceRegulatorApprove, signer: Signer, ctx: Context
) -> list[Event]:
    require_role(view, signer, "regulator", "approve licences of important data")
    licence = require_licence(view, st.licence_id)
    _require_status(licence, "awaiting_regulator")
    _uncontested(_tradeable(view, licence.asset_id))
    return [
        LicenceStatusChanged(
            licence_id=st.licence_id, status="active", reason="regulator approved"
        ),
        AssetTouched(asset_id=licence.asset_id),
    ]


def reject(view: LedgerView, st: LicenceReject, signer: Signer, ctx: Context) -> list[Event]:
    licence = require_licence(view, st.licence_id)
    # A regulator may refuse what awaits its approval; otherwise the seller refuses requests.
    regulator_refusing = licence.status == "awaiting_regulator" and "regulator" in view.roles(
        signer.party_id
    )
    if not regulator_refusing:
        _require_status(licence, "requested")
        _operator_of(view, licence.asset_id, signer, "reject licence requests")
    return _changed(licence, "rejected", st.reason)


def revoke(view: LedgerView, st: LicenceRevoke, signer: Signer, ctx: Context) -> list[Event]:
    licence = require_licence(view, st.licence_id)
    _require_status(licence, "active", "awaiting_regulator")
    if signer.party_id != licence.seller_id and "regulator" not in view.roles(signer.party_id):
        raise refuse("not-allowed", "only the seller or a regulator may revoke a licence", 403)
    return _changed(licence, "revoked", st.reason)


def terminate(view: LedgerView, st: LicenceTerminate, signer: Signer, ctx: Context) -> list[Event]:
    licence = require_licence(view, st.licence_id)
    if signer.party_id != licence.buyer_id:
        raise refuse("not-the-buyer", "only the licensee may terminate its licence", 403)
    _require_status(licence, "active", "awaiting_regulator", "requested")
    return _changed(licence, "terminated", st.reason or "terminated by the licensee")


def expire(view: LedgerView, st: LicenceExpire, signer: Signer, ctx: Context) -> list[Event]:
    require_operator(signer, "expire licences")
    licence = require_licence(view, st.licence_id)
    _require_status(licence, "active", "awaiting_regulator")
    assert licence.ends_at is not None  # approved licences have a term
    if _at(ctx) < parse_rfc3339_utc(licence.ends_at):
        raise refuse("term-not-over", f"licence {st.licence_id} runs until {licence.ends_at}")
    return _changed(licence, "expired", "term ended")


def set_gateway(view: LedgerView, st: GatewaySet, signer: Signer, ctx: Context) -> list[Event]:
    asset = require_live_asset(view, st.asset_id)
    _operator_of(view, st.asset_id, signer, "appoint metering gateways")
    require_party(view, st.gateway_party)
    if st.enabled and st.gateway_party in (signer.party_id, asset.owner_id):
        raise refuse(
            "gateway-is-seller",
            "a metering gateway reports its buyers' usage, so it must not be the seller: "
            "neither the operation-right holder nor the owner can be the asset's gateway",
            422,
        )
    return [
        GatewayChanged(asset_id=st.asset_id, gateway_party=st.gateway_party, enabled=st.enabled),
        AssetTouched(asset_id=st.asset_id),
    ]


def report_usage(view: LedgerView, st: UsageReport, signer: Signer, ctx: Context) -> list[Event]:
    licence = require_licence(view, st.licence_id)
    if signer.party_id != licence.buyer_id and not view.is_gateway(
        licence.asset_id, signer.party_id
    ):
        raise refuse(
            "not-allowed", "only the licensee or the asset's gateway may report usage", 403
        )
    if signer.party_id != licence.buyer_id and signer.party_id == licence.seller_id:
        raise refuse(
            "gateway-is-seller",
            "the seller cannot meter its own buyer's licence, even as the asset's gateway",
            403,
        )
    _require_status(licence, "active")
    _tradeable(view, licence.asset_id)
    assert licence.starts_at is not None and licence.ends_at is not None
    start, end = parse_rfc3339_utc(st.period_start), parse_rfc3339_utc(st.period_end)
    if end < start:
        raise refuse("bad-period", "period_end is before period_start", 422)
    if start < parse_rfc3339_utc(licence.starts_at) or end > parse_rfc3339_utc(licence.ends_at):
        raise refuse(
            "outside-term",
            f"the period must lie within the licence term {licence.starts_at} .. {licence.ends_at}",
            422,
        )
    used = licence.units_used + st.units
    if licence.max_units is not None and used > licence.max_units:
        raise refuse(
            "quota-exceeded",
            f"{st.units} more units would make {used}, over the quota of {licence.max_units} "
            f"({licence.max_units - licence.units_used} left)",
            422,
        )
    events: list[Event] = [
        UsageRecorded(
            usage_id=ctx.statement_id,
            licence_id=st.licence_id,
            asset_id=licence.asset_id,
            licensee_id=licence.buyer_id,
            reporter_id=signer.party_id,
            units=st.units,
            usage_kind=st.usage_kind,
            period_start=st.period_start,
            period_end=st.period_end,
        )
    ]
    if licence.max_units is not None and used == licence.max_units:
        events += _changed(licence, "exhausted", "quota used up")
    return events


def record_payment(
    view: LedgerView, st: PaymentRecord, signer: Signer, ctx: Context
) -> list[Event]:
    licence = require_licence(view, st.licence_id)
    if signer.party_id != licence.buyer_id:
        raise refuse("not-the-buyer", "only the licensee records payments", 403)
    if licence.price_currency is None or licence.price_minor is None:
        raise refuse("licence-state", f"licence {st.licence_id} has no agreed price yet")
    if licence.status == "rejected":
        raise refuse("licence-state", f"licence {st.licence_id} was rejected: nothing is owed")
    if st.amount.currency != licence.price_currency:
        raise refuse(
            "currency-mismatch",
            f"the price was agreed in {licence.price_currency}, not {st.amount.currency}",
            422,
        )
    owed = licence.price_minor - licence.paid_minor
    if st.amount.amount_minor > owed:
        raise refuse(
            "overpayment",
            f"{st.amount.amount_minor} would take the payments past the agreed price of "
            f"{licence.price_minor} ({max(owed, 0)} still owed)",
            422,
        )
    return [
        PaymentRecorded(
            payment_id=ctx.statement_id,
            licence_id=st.licence_id,
            payer_id=signer.party_id,
            amount=st.amount,
            reference=st.reference,
        ),
        AssetTouched(asset_id=licence.asset_id),
    ]


def confirm_payment(
    view: LedgerView, st: PaymentConfirm, signer: Signer, ctx: Context
) -> list[Event]:
    payment = view.payment(st.payment_id)
    if payment is None:
        raise refuse("unknown-payment", f"no payment {st.payment_id}", 404)
    if payment.status != "recorded":
        raise refuse("payment-confirmed", f"payment {st.payment_id} is already confirmed")
    licence = require_licence(view, payment.licence_id)
    if signer.party_id != licence.seller_id:
        raise refuse("not-the-seller", "only the seller confirms payments", 403)
    return [PaymentConfirmed(payment_id=st.payment_id), AssetTouched(asset_id=licence.asset_id)]


def _changed(licence: LicenceRecord, status: str, reason: str) -> list[Event]:
    return [
        LicenceStatusChanged(licence_id=licence.licence_id, status=status, reason=reason),
        AssetTouched(asset_id=licence.asset_id),
    ]


def _at(ctx: Context) -> datetime:
    return parse_rfc3339_utc(ctx.integrated_at)


RULES: dict[str, Rule] = {
    "offer.publish": publish,
    "offer.withdraw": withdraw,
    "licence.request": request,
    "licence.approve": approve,
    "licence.regulator_approve": regulator_approve,
    "licence.reject": reject,
    "licence.revoke": revoke,
    "licence.terminate": terminate,
    "licence.expire": expire,
    "gateway.set": set_gateway,
    "usage.report": report_usage,
    "payment.record": record_payment,
    "payment.confirm": confirm_payment,
}
