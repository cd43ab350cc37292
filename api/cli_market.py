"""The market commands of the `dataledger` CLI: offers, licences, metering gateways, usage,
payments, freezing assets, and the database tools `export` and `replay`. Attached to the main
group (and to the `asset` group of api.cli_registry) by `api.cli`, which imports this module."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import click
from click.core import ParameterSource

# api.cli imports this module, and api.cli_registry imports api.cli: when api.cli_registry is the
# first to be imported, it is still half-initialised here. So its helpers are looked up when
# called (registry.submit, ...), and `asset freeze` joins its `asset` group by `_attach_to_asset`.
from api import cli_registry as registry
from api.cli import main
from api.cli_common import (
    ASSET_ID,
    LICENCE_ID,
    OFFER_ID,
    PARTY_ID,
    PAYMENT_ID,
    CliError,
    Context,
    _fail,
    _run_api,
    common_options,
    load_key,
)
from api.settings import Settings
from ledger import keys
from ledger.checkpoint import open_checkpoint
from ledger.encoding import format_rfc3339_utc, parse_rfc3339_utc
from ledger.errors import EncodingError, LedgerError
from ledger.money import format_money
from ledger.note import format_vkey, parse_vkey
from ledger.state import KeyRecord
from ledger.statements import Action, LawfulBasis

if TYPE_CHECKING:  # SQLAlchemy is imported by the database tools only: the CLI starts fast
    from sqlalchemy import Connection, Engine

ACTIONS: tuple[str, ...] = get_args(Action)
LAWFUL_BASES: tuple[str, ...] = get_args(LawfulBasis)
# The licence states the API filters on (api.controllers.market.LicenceStatus).
LICENCE_STATUSES = (
    "requested",
    "awaiting_regulator",
    "active",
    "rejected",
    "revoked",
    "terminated",
    "expired",
    "exhausted",
)
MAX_UNITS = 2**62  # ledger.statements.Units


# --- money and other local parsing --------------------------------------------------------------


def _currency(code: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise click.BadParameter("an ISO 4217 code such as CNY", param_hint="--currency")
    return code


def _minor(amount: str, option: str, currency: str | None = None) -> int:
    """`minor_units` (exact, at most the currency's decimals), naming the option on error."""
    try:
        return registry.minor_units(amount, currency)
    except click.BadParameter as exc:
        exc.param_hint = option
        raise


def _money(amount: str, currency: str, option: str) -> dict[str, Any]:
    return {"amount_minor": _minor(amount, option, _currency(currency)), "currency": currency}


def show_money(minor: int | None, currency: str | None = None) -> str:
    """125000, 'CNY' -> '1,250.00 CNY' (`ledger.money.format_money`; '-' for none)."""
    return "-" if minor is None else format_money(minor, currency)


def parse_tiers(spec: str, currency: str | None = None) -> list[dict[str, Any]]:
    """'1000:0.50,10000:0.40,:0.30' -> tiers; an empty bound is the open last tier."""
    tiers: list[dict[str, Any]] = []
    for part in spec.split(","):
        bound, sep, price = part.strip().partition(":")
        bound = bound.strip()
        if not sep or (bound and not (bound.isdigit() and 1 <= int(bound) <= MAX_UNITS)):
            raise click.BadParameter(
                f"{part.strip()!r}: give BOUND:UNIT_PRICE pairs, bounds in units "
                "(e.g. 1000:0.50,10000:0.40,:0.30; an empty bound is the open last tier)",
                param_hint="--tiers",
            )
        tiers.append(
            {
                "up_to": int(bound) if bound else None,
                "unit_price_minor": _minor(price, "--tiers", currency),
            }
        )
    return tiers


def _timestamp(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        parse_rfc3339_utc(value, what=option)
    except EncodingError as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None
    return value


def _pricing_text(pricing: dict[str, Any]) -> str:
    currency = pricing.get("currency", "CNY")
    text = f"{pricing['model']}: fixed fee {show_money(pricing.get('fixed_minor', 0), currency)}"
    if pricing["model"] == "per_unit":
        text += f" + {show_money(pricing.get('unit_price_minor'), currency)} per unit"
    elif pricing["model"] == "tiered":
        tiers = [
            f"{'up to ' + str(t['up_to']) if t['up_to'] is not None else 'beyond'}: "
            f"{show_money(t['unit_price_minor'], currency)}"
            for t in pricing.get("tiers", [])
        ]
        text += " + per unit " + ", ".join(tiers)
    return text


# --- offers -------------------------------------------------------------------------------------


@main.group()
def offer() -> None:
    """Offers: the machine-readable terms on which an asset is licensed."""


@offer.command("publish")
@click.argument("asset_id", type=ASSET_ID)
@click.option(
    "--action",
    "actions",
    multiple=True,
    required=True,
    type=click.Choice(ACTIONS),
    help="What a licensee may do (repeat).",
)
@click.option(
    "--purpose", "purposes", multiple=True, required=True, help="A purpose offered (repeat)."
)
@click.option(
    "--term-days", required=True, type=click.IntRange(1, 36_500), help="Longest licence term."
)
@click.option(
    "--max-units", type=click.IntRange(1, MAX_UNITS), help="Quota per licence (default: none)."
)
@click.option(
    "--territory",
    multiple=True,
    default=("CN",),
    show_default=True,
    help="ISO 3166 country where use is allowed (repeat).",
)
@click.option("--price", required=True, help="The fixed fee per licence, e.g. 1250.00.")
@click.option("--per-unit", help="Price per unit used (makes the pricing per_unit).")
@click.option(
    "--tiers",
    help="Tiered unit prices BOUND:PRICE,...; an empty bound is the open last tier "
    "(e.g. 1000:0.50,10000:0.40,:0.30).",
)
@click.option("--exclusive", is_flag=True, help="No overlapping licence may coexist.")
@click.option("--sublicensable", is_flag=True, help="Licensees may sublicense.")
@click.option("--currency", default="CNY", show_default=True, help="ISO 4217 code of the prices.")
@common_options
@click.pass_obj
def offer_publish(
    obj: Context,
    asset_id: str,
    actions: tuple[str, ...],
    purposes: tuple[str, ...],
    term_days: int,
    max_units: int | None,
    territory: tuple[str, ...],
    price: str,
    per_unit: str | None,
    tiers: str | None,
    exclusive: bool,
    sublicensable: bool,
    currency: str,
) -> None:
    """Offer licences on ASSET_ID (the operation-right holder); prints the offer id."""
    if per_unit is not None and tiers is not None:
        raise click.UsageError("give at most one of --per-unit and --tiers")
    pricing: dict[str, Any] = {
        "model": "fixed",
        "currency": _currency(currency),
        "fixed_minor": _minor(price, "--price", currency),
    }
    if per_unit is not None:
        pricing.update(model="per_unit", unit_price_minor=_minor(per_unit, "--per-unit", currency))
    elif tiers is not None:
        pricing.update(model="tiered", tiers=parse_tiers(tiers, currency))
    policy: dict[str, Any] = {
        "actions": list(dict.fromkeys(actions)),
        "purposes": list(dict.fromkeys(purposes)),
        "term_days": term_days,
        "territory": list(dict.fromkeys(territory)),
        "pricing": pricing,
        "max_units": max_units,
        "exclusive": exclusive,
        "sublicensable": sublicensable,
    }

    def action() -> None:
        with obj.client() as client:
            done = registry.submit(
                client, obj.signing_key(), "offer.publish", asset_id=asset_id, policy=policy
            )
        registry.submitted(obj, "offer_id", done, done.id)

    _run_api(action)


@offer.command("withdraw")
@click.argument("offer_id", type=OFFER_ID)
@click.option("--reason", default="", help="Why (public).")
@common_options
@click.pass_obj
def offer_withdraw(obj: Context, offer_id: str, reason: str) -> None:
    """Withdraw an open offer; licences already granted stand."""

    def action() -> None:
        with obj.client() as client:
            done = registry.submit(
                client, obj.signing_key(), "offer.withdraw", offer_id=offer_id, reason=reason
            )
        registry.submitted(
            obj, "offer_id", done, f"withdrew offer {offer_id} at index {done.receipt.index}"
        )

    _run_api(action)


OFFER_FIELDS = (
    "offer_id asset_id publisher_id status published_index published_at withdrawn_index "
    "withdraw_reason"
)


def _offer_text(found: dict[str, Any]) -> str:
    policy = found["policy"]
    quota = policy.get("max_units")
    lines = [
        registry.describe(found, OFFER_FIELDS),
        f"actions: {', '.join(policy['actions'])}",
        f"purposes: {', '.join(policy['purposes'])}",
        f"term: up to {policy['term_days']} days in {', '.join(policy['territory'])}",
        f"quota: {quota if quota is not None else 'unlimited'} units per licence",
        f"pricing: {_pricing_text(policy['pricing'])}",
    ]
    flags = [f for f in ("exclusive", "sublicensable") if policy.get(f)]
    if flags:
        lines.append(f"terms: {', '.join(flags)}")
    return "\n".join(lines)


@offer.command("show")
@click.argument("offer_id", type=OFFER_ID)
@common_options
@click.pass_obj
def offer_show(obj: Context, offer_id: str) -> None:
    """Show an offer and its terms."""

    def action() -> None:
        with obj.client() as client:
            found = client.offer(offer_id)
        obj.emit(found, _offer_text(found))

    _run_api(action)


@offer.command("list")
@click.option("--asset", "asset_id", type=ASSET_ID, help="Only offers on this asset.")
@click.option("--all", "show_all", is_flag=True, help="Withdrawn offers too.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@common_options
@click.pass_obj
def offer_list(obj: Context, asset_id: str | None, show_all: bool, limit: int) -> None:
    """Published offers, newest first (open ones unless --all)."""

    def action() -> None:
        with obj.client() as client:
            found = client.offers(asset_id, open_only=not show_all, limit=limit)
        lines = [
            f"{o['offer_id']}  {o['status']:<9}  {o['asset_id']}  "
            f"{_pricing_text(o['policy']['pricing'])}"
            for o in found
        ]
        obj.emit(found, "\n".join(lines) or "no offers")

    _run_api(action)


# --- licences -----------------------------------------------------------------------------------


@main.group()
def licence() -> None:
    """Licences: request under an offer, approve, revoke, show."""


@licence.command("request")
@click.argument("offer_id", type=OFFER_ID)
@click.option("--purpose", required=True, help="One of the offer's purposes.")
@click.option("--term-days", required=True, type=click.IntRange(1, 36_500))
@click.option("--units", type=click.IntRange(1, MAX_UNITS), help="Quota asked for.")
@click.option(
    "--territory",
    multiple=True,
    help="Country of use (repeat); default: the offer's first territory.",
)
@click.option(
    "--lawful-basis",
    type=click.Choice(LAWFUL_BASES),
    help="Required when the asset holds personal information.",
)
@common_options
@click.pass_obj
def licence_request(
    obj: Context,
    offer_id: str,
    purpose: str,
    term_days: int,
    units: int | None,
    territory: tuple[str, ...],
    lawful_basis: str | None,
) -> None:
    """Ask for a licence under OFFER_ID; prints the licence id."""

    def action() -> None:
        key = obj.signing_key()
        with obj.client() as client:
            countries = list(dict.fromkeys(territory))
            if not countries:
                countries = client.offer(offer_id)["policy"]["territory"][:1]
            fields: dict[str, Any] = {
                "offer_id": offer_id,
                "purpose": purpose,
                "term_days": term_days,
                "territory": countries,
            }
            if units is not None:
                fields["units"] = units
            if lawful_basis is not None:
                fields["lawful_basis"] = lawful_basis
            done = registry.submit(client, key, "licence.request", **fields)
        registry.submitted(obj, "licence_id", done, done.id)

    _run_api(action)


@licence.command("approve")
@click.argument("licence_id", type=LICENCE_ID)
@click.option("--price", required=True, help="The agreed price, e.g. 1250.00.")
@click.option("--currency", help="ISO 4217 code; default: the offer's currency.")
@common_options
@click.pass_obj
def licence_approve(obj: Context, licence_id: str, price: str, currency: str | None) -> None:
    """Approve a requested licence at an agreed price (the seller); its term starts now."""
    if currency is not None:
        _currency(currency)
    _minor(price, "--price", currency)  # refused before anything is sent

    def action() -> None:
        key = obj.signing_key()
        with obj.client() as client:
            code = currency
            if code is None:
                client.login(key)
                found = client.licence(licence_id)
                code = str(client.offer(found["offer_id"])["policy"]["pricing"]["currency"])
            amount = _minor(price, "--price", code)  # in the currency's own decimals
            done = registry.submit(
                client,
                key,
                "licence.approve",
                licence_id=licence_id,
                price={"amount_minor": amount, "currency": code},
            )
        registry.submitted(
            obj,
            "licence_id",
            done,
            f"approved licence {licence_id} at {show_money(amount, code)} "
            f"(index {done.receipt.index})",
        )

    _run_api(action)


def _licence_decision(obj: Context, kind: str, verb: str, licence_id: str, **fields: Any) -> None:
    def action() -> None:
        with obj.client() as client:
            done = registry.submit(client, obj.signing_key(), kind, licence_id=licence_id, **fields)
        registry.submitted(
            obj, "licence_id", done, f"{verb} licence {licence_id} at index {done.receipt.index}"
        )

    _run_api(action)


@licence.command("reject")
@click.argument("licence_id", type=LICENCE_ID)
@click.option("--reason", required=True, help="Why (public).")
@common_options
@click.pass_obj
def licence_reject(obj: Context, licence_id: str, reason: str) -> None:
    """Refuse a request (the seller), or a licence awaiting a regulator (a regulator)."""
    _licence_decision(obj, "licence.reject", "rejected", licence_id, reason=reason)


@licence.command("revoke")
@click.argument("licence_id", type=LICENCE_ID)
@click.option("--reason", required=True, help="Why (public).")
@common_options
@click.pass_obj
def licence_revoke(obj: Context, licence_id: str, reason: str) -> None:
    """Revoke a licence (the seller or a regulator)."""
    _licence_decision(obj, "licence.revoke", "revoked", licence_id, reason=reason)


@licence.command("terminate")
@click.argument("licence_id", type=LICENCE_ID)
@click.option("--reason", default="", help="Why (optional).")
@common_options
@click.pass_obj
def licence_terminate(obj: Context, licence_id: str, reason: str) -> None:
    """End your own licence early (the licensee)."""
    _licence_decision(obj, "licence.terminate", "terminated", licence_id, reason=reason)


@licence.command("regulator-approve")
@click.argument("licence_id", type=LICENCE_ID)
@common_options
@click.pass_obj
def licence_regulator_approve(obj: Context, licence_id: str) -> None:
    """Approve a licence of important data (a regulator's --key)."""
    _licence_decision(obj, "licence.regulator_approve", "regulator approved", licence_id)


LICENCE_FIELDS = (
    "licence_id offer_id asset_id buyer_id seller_id status status_reason purpose term_days "
    "territory lawful_basis starts_at ends_at requested_index approved_index"
)


def _licence_text(found: dict[str, Any]) -> str:
    currency = found.get("price_currency")
    quota = found.get("max_units")
    flags = [f for f in ("exclusive", "sublicensable") if found.get(f)]
    lines = [
        registry.describe(found, LICENCE_FIELDS),
        f"units: {found['units_used']} used of {quota if quota is not None else 'unlimited'}",
        f"agreed: {show_money(found.get('price_minor'), currency)}",
        f"paid: {show_money(found.get('paid_minor', 0), currency)}",
        f"confirmed: {show_money(found.get('confirmed_minor', 0), currency)}",
    ]
    if flags:
        lines.append(f"terms: {', '.join(flags)}")
    lines += [
        f"payment {p['payment_id']}: {show_money(p['amount_minor'], p['currency'])} "
        f"{p['status']}" + (f" (ref {p['reference']})" if p.get("reference") else "")
        for p in found.get("payments", [])
    ]
    return "\n".join(lines)


@licence.command("show")
@click.argument("licence_id", type=LICENCE_ID)
@common_options
@click.pass_obj
def licence_show(obj: Context, licence_id: str) -> None:
    """Show a licence: terms, state, and what was agreed, paid and confirmed (logs in)."""

    def action() -> None:
        with obj.client() as client:
            obj.login(client)
            found = client.licence(licence_id)
        obj.emit(found, _licence_text(found))

    _run_api(action)


@licence.command("list")
@click.option("--asset", "asset_id", type=ASSET_ID, help="Only licences of this asset.")
@click.option("--status", type=click.Choice(LICENCE_STATUSES))
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--cursor", type=click.IntRange(min=0), help="Licences requested before this index.")
@common_options
@click.pass_obj
def licence_list(
    obj: Context, asset_id: str | None, status: str | None, limit: int, cursor: int | None
) -> None:
    """Your licences as buyer or seller, newest first (every licence for regulators; logs in)."""

    def action() -> None:
        with obj.client() as client:
            obj.login(client)
            found = client.licences(asset_id=asset_id, status=status, limit=limit, cursor=cursor)
        lines = [
            f"{x['licence_id']}  {x['status']:<18}  {x['asset_id']}  buyer {x['buyer_id'][:16]}  "
            f"{x['units_used']}/{x['max_units'] if x['max_units'] is not None else '-'} units  "
            f"{show_money(x['price_minor'], x['price_currency'])}"
            for x in found
        ]
        if len(found) == limit:
            lines.append(f"(more: --cursor {found[-1]['requested_index']})")
        obj.emit(found, "\n".join(lines) or "no licences")

    _run_api(action)


# --- gateways, usage, payments ------------------------------------------------------------------


@main.group()
def gateway() -> None:
    """Metering gateways: parties allowed to report usage for an asset's licences."""


@gateway.command("set")
@click.argument("asset_id", type=ASSET_ID)
@click.option("--party", "party_id", required=True, type=PARTY_ID, help="The gateway's party id.")
@click.option("--disable", is_flag=True, help="Stop the gateway reporting.")
@common_options
@click.pass_obj
def gateway_set(obj: Context, asset_id: str, party_id: str, disable: bool) -> None:
    """Let a party report usage for ASSET_ID's licences, or stop it (the operation-right holder)."""

    def action() -> None:
        with obj.client() as client:
            done = registry.submit(
                client,
                obj.signing_key(),
                "gateway.set",
                asset_id=asset_id,
                gateway_party=party_id,
                enabled=not disable,
            )
        state = "disabled" if disable else "enabled"
        obj.emit(
            {
                "asset_id": asset_id,
                "gateway_party": party_id,
                "enabled": not disable,
                "receipt": done.receipt,
                "openings": done.openings,
            },
            f"gateway {party_id} {state} for {asset_id} at index {done.receipt.index}",
        )

    _run_api(action)


@main.group()
def usage() -> None:
    """Usage metering: report units used under a licence, and see the totals."""


@usage.command("report")
@click.argument("licence_id", type=LICENCE_ID)
@click.option("--units", required=True, type=click.IntRange(1, MAX_UNITS), help="Units used.")
@click.option(
    "--kind",
    "usage_kind",
    default="records",
    show_default=True,
    help="What a unit is: records, api_calls, rows_trained...",
)
@click.option("--period-start", help="RFC 3339 UTC, e.g. 2026-11-26T00:00:00Z (default: now).")
@click.option("--period-end", help="RFC 3339 UTC (default: now).")
@common_options
@click.pass_obj
def usage_report(
    obj: Context,
    licence_id: str,
    units: int,
    usage_kind: str,
    period_start: str | None,
    period_end: str | None,
) -> None:
    """Report units used under LICENCE_ID (the licensee or the asset's gateway)."""
    if (period_start is None) != (period_end is None):
        raise click.UsageError("give both --period-start and --period-end, or neither (now)")
    now = format_rfc3339_utc(datetime.now(UTC))
    start = _timestamp(period_start, "--period-start") or now
    end = _timestamp(period_end, "--period-end") or now

    def action() -> None:
        with obj.client() as client:
            done = registry.submit(
                client,
                obj.signing_key(),
                "usage.report",
                licence_id=licence_id,
                units=units,
                usage_kind=usage_kind,
                period_start=start,
                period_end=end,
            )
        registry.submitted(
            obj,
            "usage_id",
            done,
            f"reported {units} {usage_kind} under licence {licence_id} "
            f"at index {done.receipt.index}",
        )

    _run_api(action)


@usage.command("summary")
@click.argument("licence_id", required=False, type=LICENCE_ID)
@click.option(
    "--asset",
    "asset_id",
    type=ASSET_ID,
    help="Every licence of this asset (right holders, regulators).",
)
@common_options
@click.pass_obj
def usage_summary(obj: Context, licence_id: str | None, asset_id: str | None) -> None:
    """Units used per UTC day, and the total against the quota (logs in)."""
    if (licence_id is None) == (asset_id is None):
        raise click.UsageError("give exactly one of LICENCE_ID or --asset ASSET_ID")

    def action() -> None:
        with obj.client() as client:
            obj.login(client)
            found = (
                client.licence_usage(licence_id)
                if licence_id is not None
                else client.asset_usage(str(asset_id))
            )
        lines = [f"{'day':<10}  {'units':>12}  {'reports':>7}"]
        lines += [f"{d['day']:<10}  {d['units']:>12}  {d['reports']:>7}" for d in found["daily"]]
        total, quota = found["total_units"], found["max_units"]
        if quota is None:
            lines.append(f"total {total} units" + (" (no quota)" if licence_id else ""))
        else:
            lines.append(f"total {total} of {quota} units ({quota - total} left)")
        obj.emit(found, "\n".join(lines))

    _run_api(action)


@main.group()
def payment() -> None:
    """Payments: the licensee records them, the seller confirms them."""


@payment.command("record")
@click.argument("licence_id", type=LICENCE_ID)
@click.option("--amount", required=True, help="The amount paid, e.g. 1250.00.")
@click.option("--currency", help="ISO 4217 code; default: the licence's agreed currency.")
@click.option("--reference", default="", help="Bank or invoice reference.")
@common_options
@click.pass_obj
def payment_record(
    obj: Context, licence_id: str, amount: str, currency: str | None, reference: str
) -> None:
    """Record a payment against LICENCE_ID (the licensee); prints the payment id."""
    if currency is not None:
        _currency(currency)
    _minor(amount, "--amount", currency)  # refused before anything is sent

    def action() -> None:
        key = obj.signing_key()
        with obj.client() as client:
            code = currency
            if code is None:
                client.login(key)
                code = client.licence(licence_id).get("price_currency") or "CNY"
            minor = _minor(amount, "--amount", code)  # in the currency's own decimals
            done = registry.submit(
                client,
                key,
                "payment.record",
                licence_id=licence_id,
                amount={"amount_minor": minor, "currency": code},
                reference=reference,
            )
        registry.submitted(obj, "payment_id", done, done.id)

    _run_api(action)


@payment.command("confirm")
@click.argument("payment_id", type=PAYMENT_ID)
@common_options
@click.pass_obj
def payment_confirm(obj: Context, payment_id: str) -> None:
    """Confirm a payment was received (the seller): it becomes a transaction."""

    def action() -> None:
        with obj.client() as client:
            done = registry.submit(
                client, obj.signing_key(), "payment.confirm", payment_id=payment_id
            )
        registry.submitted(
            obj, "payment_id", done, f"confirmed payment {payment_id} at index {done.receipt.index}"
        )

    _run_api(action)


PAYMENT_FIELDS = (
    "payment_id licence_id payer_id status reference recorded_index recorded_at "
    "confirmed_index confirmed_at"
)


@payment.command("show")
@click.argument("payment_id", type=PAYMENT_ID)
@common_options
@click.pass_obj
def payment_show(obj: Context, payment_id: str) -> None:
    """Show a payment (its licence's parties and regulators; logs in)."""

    def action() -> None:
        with obj.client() as client:
            obj.login(client)
            found = client.payment(payment_id)
        human = registry.describe(found, PAYMENT_FIELDS)
        human += f"\namount: {show_money(found['amount_minor'], found['currency'])}"
        obj.emit(found, human)

    _run_api(action)


# --- freezing (regulators) ----------------------------------------------------------------------


def _freeze(obj: Context, kind: str, asset_id: str, reason: str) -> None:
    def action() -> None:
        with obj.client() as client:
            done = registry.submit(
                client, obj.signing_key(), kind, asset_id=asset_id, reason=reason
            )
        verb = "froze" if kind == "asset.freeze" else "unfroze"
        obj.emit(
            {
                "asset_id": asset_id,
                "frozen": kind == "asset.freeze",
                "receipt": done.receipt,
                "openings": done.openings,
            },
            f"{verb} asset {asset_id} at index {done.receipt.index}",
        )

    _run_api(action)


@click.command("freeze")
@click.argument("asset_id", type=ASSET_ID)
@click.option("--reason", required=True, help="The decision's reasons (public).")
@common_options
@click.pass_obj
def asset_freeze(obj: Context, asset_id: str, reason: str) -> None:
    """Stop all trading in an asset: no new offers, licences or usage (a regulator's --key)."""
    _freeze(obj, "asset.freeze", asset_id, reason)


@click.command("unfreeze")
@click.argument("asset_id", type=ASSET_ID)
@click.option("--reason", required=True, help="The decision's reasons (public).")
@common_options
@click.pass_obj
def asset_unfreeze(obj: Context, asset_id: str, reason: str) -> None:
    """Let trading in a frozen asset resume (a regulator's --key)."""
    _freeze(obj, "asset.unfreeze", asset_id, reason)


def _attach_to_asset(*commands: click.Command) -> None:
    """Add `commands` to api.cli_registry's `asset` group: now if it exists, else as soon as
    api.cli_registry (half-initialised: it imported api.cli, which imported us) adds it."""
    group = getattr(registry, "asset", None)
    if isinstance(group, click.Group):
        for command in commands:
            group.add_command(command)
        return
    add_command = main.add_command

    def add_then_attach(command: click.Command, name: str | None = None) -> None:
        add_command(command, name)
        if (name or command.name) == "asset" and isinstance(command, click.Group):
            del main.add_command  # back to click's own method
            for extra in commands:
                command.add_command(extra)

    main.add_command = add_then_attach  # type: ignore[method-assign,assignment]


_attach_to_asset(asset_freeze, asset_unfreeze)


# --- database tools: export and replay ----------------------------------------------------------

DATABASE_URL_HELP = (
    "SQLAlchemy URL of the service's database; default: DATALEDGER_DATABASE_URL, else "
    "./data/dataledger.db (DATALEDGER_DATA_DIR)."
)


def _shown(url: str) -> str:
    from sqlalchemy.exc import ArgumentError

    from ledger.storage.engine import normalise_url

    try:
        return normalise_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)


def _open_database(url: str, option: str, *, must_exist: bool = True) -> Engine:
    """An engine on `url`; refuses (rather than creates) a SQLite file that is not there."""
    from sqlalchemy.exc import ArgumentError

    from ledger.storage.engine import make_engine, normalise_url

    try:
        parsed = normalise_url(url)
        if (
            must_exist
            and parsed.get_backend_name() == "sqlite"
            and parsed.database not in (None, "", ":memory:")
            and not Path(str(parsed.database)).is_file()
        ):
            raise click.UsageError(
                f"no database at {parsed.database}: run this where the server keeps its data, "
                f"or give {option} URL"
            )
        return make_engine(parsed)
    except (ArgumentError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise click.ClickException(f"database {_shown(url)}: {cause}") from None


def _given(ctx: click.Context, name: str) -> bool:
    """Was option `name` given on the command line, here or on `dataledger` itself?"""
    here: click.Context | None = ctx
    while here is not None:
        if here.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            return True
        here = here.parent
    return False


@main.command("export")
@click.option(
    "--format", "fmt", default="parquet", show_default=True, help="Output format (only parquet)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write assets.parquet, transactions.parquet and usage/<YYYY-MM>/.",
)
@click.option("--database-url", help=DATABASE_URL_HELP)
@common_options
@click.pass_context
def export_command(ctx: click.Context, fmt: str, out: Path, database_url: str | None) -> None:
    """Export the valuation contract's tables (assets, transactions, usage) as Parquet.

    Reads the service's database directly (run it on the server's machine), or, with --url on
    the command line (DATALEDGER_URL alone does not switch) and a regulator's --key, pages them
    from a running server's export endpoint. Per-table progress goes to stderr.
    """
    from api.export import Chunks, database_chunks, server_chunks, write_all

    obj = ctx.find_object(Context)
    assert obj is not None
    if fmt != "parquet":
        raise click.BadParameter(f"{fmt!r}: only parquet export exists", param_hint="--format")
    from_server = _given(ctx, "url")
    if from_server and database_url:
        raise click.UsageError("give --url (a running server) or --database-url, not both")
    if from_server and not obj.key_path:
        raise click.UsageError("exporting from a server needs a regulator's --key")

    counted: dict[str, int] = {}

    def progress(table: str, rows: int) -> None:
        counted[table] = counted.get(table, 0) + rows
        obj.note(f"  {table}: {counted[table]} rows")

    def write(chunks: Chunks) -> None:
        try:
            counts = write_all(out, chunks, progress)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc}") from None
        width = max(len(t) for t in counts)
        obj.emit(
            {"out": str(out), "format": "parquet", "rows": counts},
            "\n".join(f"{t:<{width}}  {n:>10} rows" for t, n in counts.items())
            + f"\nwritten under {out}",
        )

    if from_server:

        def action() -> None:
            with obj.client() as client:
                obj.login(client)
                obj.note(f"exporting from {client.url}")
                write(server_chunks(client))

        _run_api(action)
        return
    source = database_url or Settings.from_env().resolved_database_url
    engine = _open_database(source, "--database-url")
    obj.note(f"exporting from {_shown(source)}")
    try:
        with _database_errors(source):
            write(database_chunks(engine))
    finally:
        engine.dispose()


def _operator_record(path: Path) -> KeyRecord:
    """The operator's key record, from the server's log key file (only its public half is used)."""
    if not path.exists():
        raise CliError(
            f"no log key at {path}: run this where the server keeps its data "
            "(or set DATALEDGER_DATA_DIR or DATALEDGER_LOG_KEY_FILE), or give --log-key-file",
            type="key-file",
            title="Not a key file",
            exit_code=2,
        )
    key = load_key(path, "log key file")
    kid = keys.keyid_of(key)
    return KeyRecord(kid, kid, keys.public_key_bytes(key))


def _check_log_key(conn: Connection, operator: KeyRecord, path: Path) -> None:
    """Refuse a log key that did not sign the database's newest checkpoint."""
    from ledger.storage import store

    head = store.latest_checkpoint(conn)
    if head is None:
        return
    origin = head.note.split("\n", 1)[0]
    try:
        open_checkpoint(head.note, parse_vkey(format_vkey(origin, operator.public_key)))
    except LedgerError:
        raise click.UsageError(
            f"the log key in {path} did not sign this database's checkpoints: give the "
            "server's own with --log-key-file"
        ) from None


def _require_empty(engine: Engine, url: str) -> None:
    from sqlalchemy import literal, select

    from ledger.storage.schema import PROJECTION_TABLES

    with engine.connect() as conn:
        for table in PROJECTION_TABLES:
            if conn.execute(select(literal(1)).select_from(table).limit(1)).first() is not None:
                raise click.UsageError(
                    f"{_shown(url)} is not empty (table {table.name} has rows): "
                    "--into needs a fresh database"
                )


@main.command("replay")
@click.option(
    "--check",
    is_flag=True,
    help="Rebuild every projection from the ledger and compare (required for now).",
)
@click.option("--database-url", help=DATABASE_URL_HELP)
@click.option(
    "--into",
    help="SQLAlchemy URL of an empty database to rebuild into and keep; default: a temporary "
    "SQLite file, deleted afterwards.",
)
@click.option(
    "--log-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The server's log key (the operator); default: as the server finds it "
    "(DATALEDGER_LOG_KEY_FILE, else ./data/log-key.json).",
)
@click.option(
    "--notice-period",
    type=click.IntRange(min=0),
    help="Seconds of public notice the server runs with [default: DATALEDGER_NOTICE_PERIOD, "
    "else 10 days].",
)
@common_options
@click.pass_obj
def replay_command(
    obj: Context,
    check: bool,
    database_url: str | None,
    into: str | None,
    log_key_file: Path | None,
    notice_period: int | None,
) -> None:
    """Rebuild every projection from the ledger alone and compare it with the live database.

    Exits 1 listing the differences if anything in the live tables was written outside the
    ledger. Entries appended while it runs show up as differences: run it on a quiet server.
    """
    from ledger.storage import store
    from ledger.storage.migrate import upgrade
    from ledger.storage.replay import compare, replay

    if not check:
        raise click.UsageError(
            "only `dataledger replay --check` exists for now (it never writes to the live "
            "database): add --check"
        )
    settings = Settings.from_env()
    live_url = database_url or settings.resolved_database_url
    key_path = log_key_file or settings.resolved_log_key_file
    operator = _operator_record(key_path)
    period = timedelta(
        seconds=notice_period if notice_period is not None else settings.notice_period_seconds
    )
    live = _open_database(live_url, "--database-url")
    with tempfile.TemporaryDirectory(prefix="dataledger-replay-") as scratch:
        target_url = into or f"sqlite:///{Path(scratch) / 'replay.db'}"
        target = _open_database(target_url, "--into", must_exist=False)
        try:
            with _database_errors(live_url), live.connect() as conn:
                _check_log_key(conn, operator, key_path)
                size = store.tree_size(conn)
            with _database_errors(target_url):
                upgrade(target)
                _require_empty(target, target_url)

            unopened: list[tuple[int, str]] = []

            def action() -> None:
                with obj.progressbar(size, "replaying entries") as bar:
                    report = replay(live, target, operator, period, progress=bar.update)
                unopened.extend(report.unopened)

            _run_api(action)  # a ReplayError names the entry the rules refuse
            with _database_errors(live_url):
                differences = compare(live, target)
                with live.connect() as conn:
                    grown = store.tree_size(conn) - size
        finally:
            target.dispose()
            live.dispose()
    if grown:
        obj.note(
            f"warning: {grown} entries were appended during the check; differences may be "
            "theirs: run it again on a quiet server"
        )
    erased = [{"index": i, "field": f} for i, f in unopened]
    could_not_open = (
        f"; {len(erased)} erased private text field(s) replayed as [erased]: "
        + ", ".join(f"#{i} {f}" for i, f in unopened[:10])
        + (" ..." if len(unopened) > 10 else "")
        if unopened
        else "; every private field opened with the openings held"
    )
    if not differences:
        obj.emit(
            {
                "ok": True,
                "entries": size,
                "differences": [],
                "unopened": erased,
                "appended_during_check": grown,
            },
            f"OK: {size} entries replayed; every projection matches the ledger{could_not_open}",
        )
        return
    obj.emit(
        {
            "ok": False,
            "entries": size,
            "unopened": erased,
            "appended_during_check": grown,
            "differences": [
                {"table": str(d.table), "key": list(d.key), "live": d.live, "replayed": d.replayed}
                for d in differences
            ],
        },
        "\n".join(d.describe() for d in differences),
    )
    tables = sorted({str(d.table) for d in differences})
    _fail(
        type="replay-differences",
        title="Projections differ from the ledger",
        message=f"{len(differences)} difference(s) between the live projections and the ledger "
        f"({', '.join(tables)})",
    )


# --- valuation: the offline commands live in api/cli_valuation.py; quoting needs a server ----

from api.cli_valuation import valuation as valuation_group  # noqa: E402

main.add_command(valuation_group)


@valuation_group.command("quote")
@click.argument("asset_id", type=ASSET_ID)
@click.option("--units", type=int, default=None, help="Units of use (default: unlimited).")
@click.option("--term-days", type=int, default=365, show_default=True)
@click.option("--exclusive", is_flag=True)
@click.option("--purpose", default="analytics", show_default=True)
@common_options
@click.pass_obj
def valuation_quote(
    obj: Context, asset_id: str, units: int | None, term_days: int, exclusive: bool, purpose: str
) -> None:
    """Ask the server for a price with its 90% interval; the quote is recorded on the ledger."""

    def action() -> None:
        with obj.client() as client:
            client.login(obj.signing_key())
            body = {"asset_id": asset_id, "term_days": term_days, "exclusive": exclusive}
            body |= {"purpose": purpose} | ({"units": units} if units is not None else {})
            quote = client.post_json("/v1/valuations/quote", body)
        weights = ", ".join(
            f"{name} {a['weight']:.0%}" for name, a in quote["approaches"].items() if a["weight"]
        )
        obj.emit(
            quote,
            f"{show_money(quote['price_minor'], quote['currency'])} ("
            + (
                f"90% interval {show_money(quote['low_minor'], quote['currency'])} .. "
                f"{show_money(quote['high_minor'], quote['currency'])}"
                if quote.get("interval_useful", True)
                else "too little comparable history for a useful interval"
            )
            + "); "
            f"{weights}; {quote['n_comparables']} comparables\n{quote['explanation']}\n"
            f"recorded at entry {quote['receipt']['index']}",
        )

    _run_api(action)
