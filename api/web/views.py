"""What each page shows: the data is read here (one connection per page, a handful of batched
queries), visibility decided, and handed to a template. No HTML here, no HTTP."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from api import access
from api.auth import Principal
from api.service import LedgerService
from api.web import actions, charts, reads
from api.web.background import Reading
from api.web.i18n import Translator
from api.web.state import WebState
from ledger import dsse
from ledger.alerts import Alert
from ledger.encoding import b64decode, b64encode, parse_rfc3339_utc
from ledger.entries import decode_entry
from ledger.money import format_money, major
from ledger.statements import RIGHTS, statement_id
from ledger.storage import catalog, market, store
from ledger.storage.catalog import PRIVATE_ASSET_COLUMNS, row_dict
from ledger.storage.schema import cosignatures

ASSET_ID = re.compile(r"^[0-9a-f]{32}$")
PARTY_ID = re.compile(r"^[0-9a-f]{64}$")
PAGE_SIZE = 25
TIMELINE_PAGE = 20
LOG_PAGE = 20
ALERTS_PAGE = 50
OFFERS_SHOWN = 20
RECENT_USAGE = 10
LICENCE_ENTRIES_PAGE = 50  # entries of a licence (usage reports among them) per page
HHI_MAX = 10_000.0  # the Herfindahl-Hirschman index's range is 0..10,000
VALUATION_WAIT = 0.05  # seconds a page waits for the valuation model before saying "not yet"
REGULATOR_WAIT = 0.25  # ... for alerts and statistics
SEVERITY = {"high": 0, "warning": 1, "info": 2}


class PageNotFound(LookupError):
    """An unknown asset, party, licence or entry: the 404 page."""


class PageRefused(Exception):
    """A page the reader may not see: 401 (sign in first) or 403 (not yours)."""

    def __init__(self, status: int, message_key: str) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key


def require_id(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise PageNotFound(f"no {what} {value}")
    return value


def _names_and_owners(
    conn: Connection, party_ids: list[str], infos: list[reads.EntryInfo]
) -> tuple[dict[str, reads.PartyLabel], dict[str, str]]:
    """How to show everyone a page mentions (name, roles, shared name), and keyid -> party for
    its entries' signers."""
    owners = reads.key_owners(conn, [i.signer_keyid for i in infos])
    names = reads.party_labels(conn, [*party_ids, *owners.values()])
    return names, owners


def _not_operator(principal: Principal | None) -> Principal | None:
    return principal if principal is not None and not principal.is_operator else None


# --- catalog ------------------------------------------------------------------------------------


def catalog_page(
    ledger: LedgerService, state: WebState, flt: catalog.AssetFilter, cursor: int | None
) -> dict[str, Any]:
    categories = state.categories.read(wait=1.0).value or []
    with ledger.engine.connect() as conn:
        rows, next_cursor = catalog.search_assets(conn, flt, before=cursor, limit=PAGE_SIZE)
        names = reads.party_labels(conn, [r["owner_id"] for r in rows])
    return {
        "flt": flt,
        "rows": rows,
        "names": names,
        "categories": sorted({*categories, *([flt.category] if flt.category else [])}),
        "cursor": cursor,
        "next_cursor": next_cursor,
    }


# --- asset --------------------------------------------------------------------------------------


def asset_page(
    ledger: LedgerService,
    state: WebState,
    principal: Principal | None,
    asset_id: str,
    before: int | None,
) -> dict[str, Any]:
    require_id(asset_id, ASSET_ID, "asset")
    with ledger.engine.connect() as conn:
        found = catalog.asset(conn, asset_id, private=True)
        if found is None:
            raise PageNotFound(f"no asset {asset_id}")
        private = {k: found.pop(k, None) for k in (*PRIVATE_ASSET_COLUMNS, "quality", "schema")}
        if not access.may_read_private(principal, found["owner_id"]):
            private = {}
        owner = found["owner_id"]
        versions = [
            access.version_view(principal, owner, v) for v in catalog.versions(conn, asset_id)
        ]
        # In the order the law names them: holding, processing/use, product operation.
        holders = sorted(catalog.rights_of(conn, asset_id), key=lambda h: RIGHTS.index(h["right"]))
        transfers = catalog.transfers_of(conn, asset_id)
        objections = [
            access.objection_view(principal, owner, o)
            for o in catalog.objections_of(conn, asset_id)
        ]
        offers = [
            _with_pricing_defaults(access.offer_view(principal, o))
            for o in market.offers_of(conn, asset_id, open_only=True, limit=OFFERS_SHOWN)
        ]
        timeline, older = reads.asset_timeline(conn, asset_id, before=before, limit=TIMELINE_PAGE)
        head = store.latest_checkpoint(conn)
        receipts = reads.receipts_at(conn, timeline, head)
        infos = reads.entry_infos(conn, timeline)
        mentioned = [
            found["owner_id"],
            *(h["holder_id"] for h in holders),
            *(x for t in transfers for x in (t["from_party"], t["to_party"])),
            *(o["objector_id"] for o in objections),
            *(o["publisher_id"] for o in offers),
        ]
        names, owners = _names_and_owners(conn, mentioned, list(infos.values()))
        lineage_ids = [
            *found["derived_from"],
            *found["unconfirmed_derived_from"],
            *found["derived_into"],
            *found["unconfirmed_derived_into"],
        ]
        titles = reads.asset_titles(conn, lineage_ids)
    on_notice = found["status"] == "on_notice" and datetime.now(UTC) < parse_rfc3339_utc(
        found["notice_ends_at"]
    )
    actor = _not_operator(principal)
    operation_holder = next((h["holder_id"] for h in holders if h["right"] == "operation"), None)
    tradeable = (
        found["status"] != "rejected" and not found["frozen"] and found["classification"] != "core"
    )
    personal = found["personal_info"] in ("personal", "sensitive_personal")
    request_actions = {
        o["offer_id"]: actions.request_licence(o, personal)
        for o in offers
        if actor and tradeable and actor.party_id != (operation_holder or o["publisher_id"])
    }
    resolve_actions = {
        o["objection_id"]: actions.resolve_objection(o["objection_id"])
        for o in objections
        if principal and principal.is_regulator and o["status"] == "open"
    }
    holding_holder = next((h["holder_id"] for h in holders if h["right"] == "holding"), None)
    confirm_actions = {
        child: actions.confirm_lineage(child, asset_id)
        for child in found["unconfirmed_derived_into"]
        if actor and actor.party_id == holding_holder
    }
    object_action = (
        actions.object_to_asset(asset_id)
        if actor and on_notice and actor.party_id != found["owner_id"]
        else None
    )
    quote, quote_as_of, valuation_state = _valuation(state, found)
    return {
        "a": found,
        "private": private,
        "versions": versions,
        "holders": holders,
        "transfers": transfers,
        "objections": objections,
        "offers": offers,
        "on_notice": on_notice,
        "object_action": object_action,
        "resolve_actions": resolve_actions,
        "confirm_actions": confirm_actions,
        "request_actions": request_actions,
        "quote": quote,
        "quote_as_of": quote_as_of,
        "valuation_state": valuation_state,
        "timeline": timeline,
        "receipts": receipts,
        "infos": infos,
        "before": before,
        "older": older,
        "names": names,
        "owners": owners,
        "titles": titles,
        "operator_keyid": ledger.signer.keyid,
    }


def _with_pricing_defaults(offer: dict[str, Any]) -> dict[str, Any]:
    pricing = offer["policy"].setdefault("pricing", {})
    pricing.setdefault("model", "fixed")
    pricing.setdefault("currency", "CNY")
    pricing.setdefault("fixed_minor", 0)
    pricing.setdefault("unit_price_minor", None)
    offer["policy"].setdefault("max_units", None)
    return offer


def _valuation(state: WebState, asset: dict[str, Any]) -> tuple[Any, str, str]:
    """(quote, model as of, "ready" | "pending" | "unavailable"): never waits for a fit."""
    reading = state.model.read(wait=VALUATION_WAIT)
    model = reading.value
    if model is None:
        return None, "", "unavailable" if reading.error else "pending"
    request = {
        "asset_id": asset["asset_id"],
        "max_units": None,
        "duration_days": 365,
        "exclusive": False,
        "purpose": "analytics",
    }
    try:
        quote = model.quote(
            request, as_of=max(model.as_of, datetime.now(UTC)), category=asset["category"]
        )
    except (KeyError, ValueError):  # a category the model has never seen
        return None, "", "unavailable"
    return quote, model.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "ready"


# --- party --------------------------------------------------------------------------------------


def party_page(
    ledger: LedgerService, principal: Principal | None, party_id: str, cursor: int | None
) -> dict[str, Any]:
    require_id(party_id, PARTY_ID, "party")
    private = access.may_read_private(principal, party_id)
    with ledger.engine.connect() as conn:
        found = catalog.party(conn, party_id)
        if found is None:
            raise PageNotFound(f"no party {party_id}")
        contact = catalog.contact(conn, party_id) if private else None
        assets, next_cursor = catalog.search_assets(
            conn, catalog.AssetFilter(owner=party_id), before=cursor, limit=PAGE_SIZE
        )
        licences = (
            market.licences_for(
                conn, party_id=party_id, asset_id=None, status=None, limit=PAGE_SIZE, before=None
            )
            if private
            else None
        )
        index = found["registered_index"]
        receipts = reads.receipts_at(conn, [index])
        infos = reads.entry_infos(conn, [index])
        mentioned = [x for lic in licences or [] for x in (lic["buyer_id"], lic["seller_id"])]
        names, owners = _names_and_owners(conn, [party_id, *mentioned], list(infos.values()))
        titles = reads.asset_titles(conn, [lic["asset_id"] for lic in licences or []])
    return {
        "p": found,
        "contact": contact,
        "assets": assets,
        "cursor": cursor,
        "next_cursor": next_cursor,
        "licences": licences,
        "receipt": receipts.get(index),
        "info": infos.get(index),
        "names": names,
        "owners": owners,
        "titles": titles,
        "operator_keyid": ledger.signer.keyid,
    }


# --- licence ------------------------------------------------------------------------------------


def licence_page(
    ledger: LedgerService,
    principal: Principal | None,
    licence_id: str,
    t: Translator,
    before: int | None = None,
) -> dict[str, Any]:
    require_id(licence_id, ASSET_ID, "licence")
    with ledger.engine.connect() as conn:
        found = market.licence(conn, licence_id)
        if found is None:
            raise PageNotFound(f"no licence {licence_id}")
        # The JSON API's rule: the buyer, the seller, regulators and the operator.
        if principal is None:
            raise PageRefused(401, "licence.signin")
        if principal.party_id not in (found["buyer_id"], found["seller_id"]) and not (
            principal.is_regulator or principal.is_operator
        ):
            raise PageRefused(403, "licence.forbidden")
        daily = market.daily_usage(conn, licence_id=licence_id)
        recent = reads.recent_usage(conn, licence_id, RECENT_USAGE)
        holders = catalog.rights_of(conn, found["asset_id"])
        offer = market.offer(conn, found["offer_id"])
        indices, older = reads.licence_timeline(
            conn, _licence_indices(found), licence_id, before=before, limit=LICENCE_ENTRIES_PAGE
        )
        head = store.latest_checkpoint(conn)
        receipts = reads.receipts_at(conn, indices, head)
        infos = reads.entry_infos(conn, indices)
        mentioned = [found["buyer_id"], found["seller_id"]] + [
            d["opened_by"] for d in found["disputes"]
        ]
        names, owners = _names_and_owners(conn, mentioned, list(infos.values()))
        asset_title = reads.asset_titles(conn, [found["asset_id"]]).get(found["asset_id"])
    operation_holder = next((h["holder_id"] for h in holders if h["right"] == "operation"), None)
    page_actions = []
    if found["status"] == "requested" and principal.party_id == operation_holder:
        currency, suggested = _suggested_price(offer, found)
        page_actions.append(actions.approve_licence(licence_id, currency, suggested))
    if found["status"] == "awaiting_regulator" and principal.is_regulator:
        page_actions.append(actions.regulator_approve_licence(licence_id))
    usage_chart, usage_rows = _usage_chart(daily, found["max_units"], t)
    return {
        "l": found,
        "asset_title": asset_title,
        "actions": page_actions,
        "usage_chart": usage_chart,
        "usage_rows": usage_rows,
        "recent_usage": recent,
        "receipt_indices": indices,
        "before": before,
        "older": older,
        "receipts": receipts,
        "infos": infos,
        "names": names,
        "owners": owners,
        "operator_keyid": ledger.signer.keyid,
    }


def _licence_indices(licence: dict[str, Any]) -> list[int]:
    found = [licence["requested_index"], licence["approved_index"], licence["updated_index"]]
    for p in licence["payments"]:
        found += [p["recorded_index"], p["confirmed_index"]]
    for d in licence["disputes"]:
        found += [d["opened_index"], d["answered_index"], d["resolved_index"]]
    return sorted({i for i in found if i is not None})


def _suggested_price(
    offer: dict[str, Any] | None, licence: dict[str, Any]
) -> tuple[str, int | None]:
    """The offer's list price for these terms, when it is simple to state (fixed or per unit)."""
    if offer is None:
        return "CNY", None
    pricing = offer["policy"].get("pricing", {})
    currency = str(pricing.get("currency") or "CNY")
    fixed = int(pricing.get("fixed_minor") or 0)
    model = pricing.get("model")
    if model == "fixed":
        return currency, fixed
    if model == "per_unit" and licence["max_units"] is not None:
        return currency, fixed + int(pricing.get("unit_price_minor") or 0) * licence["max_units"]
    return currency, None


def _usage_chart(
    daily: list[dict[str, Any]], quota: int | None, t: Translator
) -> tuple[Any, list[list[str]]]:
    if not daily:
        return None, []
    running, cumulative = 0, []
    for d in daily:
        running += d["units"]
        cumulative.append(float(running))
    chart = charts.line_chart(
        "usage-chart",
        t("licence.usage_chart"),
        t("licence.usage_desc"),
        [d["day"][5:] for d in daily],
        [charts.Series(t("licence.used"), cumulative)],
        y_label=t("units"),
        reference=(float(quota), f"{t('licence.quota')} {quota:,}") if quota else None,
    )
    rows = [
        [d["day"], f"{d['units']:,}", f"{int(c):,}"] for d, c in zip(daily, cumulative, strict=True)
    ]
    return chart, rows


# --- the log ------------------------------------------------------------------------------------


def log_page(ledger: LedgerService, before: int | None) -> dict[str, Any]:
    with ledger.engine.connect() as conn:
        head = store.latest_checkpoint(conn)
        if head is None:
            raise PageNotFound("the log has no checkpoint yet")
        lines = store.cosignature_lines(conn, head.tree_size)
        cosigners = [
            row_dict(r)
            for r in conn.execute(
                select(cosignatures.c.party_id, cosignatures.c.name, cosignatures.c.timestamp)
                .where(cosignatures.c.tree_size == head.tree_size)
                .order_by(cosignatures.c.party_id)
            )
        ]
        entries = reads.latest_entries(conn, before=before, limit=LOG_PAGE)
        receipts = reads.receipts_at(conn, [e.index for e in entries], head)
        names, owners = _names_and_owners(conn, [c["party_id"] for c in cosigners], entries)
    note = head.note + "".join(lines)
    older = entries[-1].index if len(entries) == LOG_PAGE and entries[-1].index > 0 else None
    return {
        "size": head.tree_size,
        "root": b64encode(head.root_hash),
        "note": note,
        "cosigners": cosigners,
        "entries": entries,
        "receipts": receipts,
        "names": names,
        "owners": owners,
        "before": before,
        "older": older,
        "operator_keyid": ledger.signer.keyid,
    }


# Statement kinds that create something with a page of its own, by the statement id.
_CREATES = {"asset.register": "/assets/", "licence.request": "/licences/"}
_REFERS = {
    "asset_id": "/assets/",
    "licence_id": "/licences/",
    "party_id": "/parties/",
    "to_party": "/parties/",
    "gateway_party": "/parties/",
    "rightful_asset_id": "/assets/",
}


def entry_page(ledger: LedgerService, index_text: str) -> dict[str, Any]:
    if not index_text.isdigit() or len(index_text) > 19:
        raise PageNotFound(f"no entry {index_text}")
    index = int(index_text)
    with ledger.engine.connect() as conn:
        head = store.latest_checkpoint(conn)
        receipts = reads.receipts_at(conn, [index], head)
        if head is None or index not in receipts:
            raise PageNotFound(f"no entry {index} in the log")
        infos = reads.entry_infos(conn, [index])
        receipt = receipts[index]
        entry = decode_entry(b64decode(receipt.entry, what="entry"))
        payload = dsse.payload_bytes(entry.envelope)
        keyid = entry.envelope.signatures[0].keyid if entry.envelope.signatures else ""
        statement = _statement_json(payload)
        refers = _references(conn, statement)
        names, owners = _names_and_owners(
            conn, [href.rsplit("/", 1)[1] for _, href in refers], list(infos.values())
        )
    kind = str(statement.get("kind", "")) if isinstance(statement, dict) else ""
    creates = None
    if kind in _CREATES:
        created = statement_id(payload)
        creates = (created, _CREATES[kind] + created)
    return {
        "index": index,
        "size": head.tree_size,
        "kind": kind,
        "integrated_at": entry.integrated_at,
        "signer_keyid": keyid,
        "signer_is_log": keyid == ledger.signer.keyid,
        "signer_party": owners.get(keyid),
        "leaf_hash": receipt.leaf_hash,
        "envelope": entry.envelope,
        "statement_text": json.dumps(statement, indent=2, ensure_ascii=False, sort_keys=True)
        if not isinstance(statement, str)
        else statement,
        "creates": creates,
        "refers": refers,
        "receipt": receipt,
        "info": infos.get(index),
        "names": names,
        "owners": owners,
        "operator_keyid": ledger.signer.keyid,
    }


def _statement_json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):  # stored verbatim, so show it verbatim
        return payload.decode("utf-8", errors="replace")


def _references(conn: Connection, statement: Any) -> list[tuple[str, str]]:
    """(label, link) for every id the statement names that has a page."""
    if not isinstance(statement, dict):
        return []
    found = []
    for key, prefix in _REFERS.items():
        value = statement.get(key)
        if isinstance(value, str) and (ASSET_ID.match(value) or PARTY_ID.match(value)):
            found.append((value, prefix + value))
    offer_id = statement.get("offer_id")
    if isinstance(offer_id, str) and ASSET_ID.match(offer_id):
        offer = market.offer(conn, offer_id)
        if offer is not None:
            found.append((offer["asset_id"], "/assets/" + offer["asset_id"]))
    objection_id = statement.get("objection_id")
    if isinstance(objection_id, str) and ASSET_ID.match(objection_id):
        objection = catalog.objection(conn, objection_id)
        if objection is not None:
            found.append((objection["asset_id"], "/assets/" + objection["asset_id"]))
    return found


# --- regulator ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StatRow:
    month: str
    licences: int
    total_value_minor: int
    price_index: float | None
    hhi_sellers: float | None
    hhi_buyers: float | None
    personal_share: float | None


def regulator_page(
    ledger: LedgerService,
    state: WebState,
    principal: Principal | None,
    category: str | None,
    alert_kind: str | None,
    shown_alerts: int,
    t: Translator,
) -> dict[str, Any]:
    if principal is None:
        raise PageRefused(401, "reg.forbidden")
    if not (principal.is_regulator or principal.is_operator):
        raise PageRefused(403, "reg.forbidden")
    alert_reading: Reading[list[Alert]] = state.alerts.read(wait=REGULATOR_WAIT)
    stats_reading = state.statistics.read(wait=REGULATOR_WAIT)
    alerts = alert_reading.value
    kinds: dict[str, int] = {}
    for alert in alerts or []:
        kinds[alert.kind] = kinds.get(alert.kind, 0) + 1
    if alerts is not None:  # of the kind asked for; the most severe first, then the newest
        alerts = [a for a in alerts if not alert_kind or a.kind == alert_kind]
        alerts.sort(key=lambda a: a.at, reverse=True)
        alerts.sort(key=lambda a: SEVERITY.get(a.severity, len(SEVERITY)))
    shown = alerts[:shown_alerts] if alerts is not None else None
    with ledger.engine.connect() as conn:
        names = reads.party_labels(conn, [p for a in shown or [] for p in a.parties])
        titles = reads.asset_titles(conn, [a.asset_id for a in shown or [] if a.asset_id])
    context: dict[str, Any] = {
        "alert_reading": alert_reading,
        "alerts": shown,
        "alert_total": None if alert_reading.value is None else len(alert_reading.value),
        "alert_kinds": sorted(kinds.items()),
        "alert_kind": alert_kind,
        "more_alerts": (
            shown_alerts + ALERTS_PAGE
            if alerts is not None and len(alerts) > shown_alerts
            else None
        ),
        "stats_reading": stats_reading,
        "names": names,
        "titles": titles,
        "stat_categories": [],
        "category": None,
    }
    if stats_reading.value is not None and stats_reading.value.height:
        context.update(_statistics(stats_reading.value.to_dicts(), category, t))
    return context


def _statistics(rows: list[dict[str, Any]], category: str | None, t: Translator) -> dict[str, Any]:
    """The charts and tables of one category (by default the busiest). Statistics are per
    currency: a category traded in more than one is offered once per currency, "name (CUR)"."""
    currencies: dict[str, set[str]] = {}
    for r in rows:
        currencies.setdefault(str(r["category"]), set()).add(str(r.get("currency") or "CNY"))
    by_category: dict[str, list[_StatRow]] = {}
    currency_of: dict[str, str] = {}
    volume: dict[str, int] = {}
    for r in rows:
        cat, cur = str(r["category"]), str(r.get("currency") or "CNY")
        key = cat if len(currencies[cat]) == 1 else f"{cat} ({cur})"
        currency_of[key] = cur
        by_category.setdefault(key, []).append(
            _StatRow(
                str(r["month"]),
                int(r["licences"]),
                int(r["total_value_minor"]),
                r["price_index"],
                r["hhi_sellers"],
                r["hhi_buyers"],
                r["personal_share"],
            )
        )
        volume[key] = volume.get(key, 0) + int(r["licences"])
    chosen = category if category in by_category else max(volume, key=lambda c: volume[c])
    currency = currency_of[chosen]
    series = sorted(by_category[chosen], key=lambda r: r.month)
    months = [r.month for r in series]
    price_chart = charts.line_chart(
        "price-index",
        f"{t('reg.price_index')} — {chosen}",
        t("reg.price_index_desc"),
        months,
        [charts.Series(t("reg.price_index"), [r.price_index for r in series])],
        y_label=t("reg.price_index"),
    )
    volume_chart = charts.bar_chart(
        "volume",
        f"{t('reg.volume')} — {chosen}",
        t("reg.volume_desc"),
        months,
        [major(r.total_value_minor, currency) for r in series],
        y_label=f"{t('reg.value')} ({currency})",
    )
    hhi_chart = charts.line_chart(
        "concentration",
        f"{t('reg.concentration')} — {chosen}",
        t("reg.concentration_desc"),
        months,
        [
            charts.Series(t("reg.hhi_sellers"), [r.hhi_sellers for r in series]),
            charts.Series(t("reg.hhi_buyers"), [r.hhi_buyers for r in series]),
        ],
        y_label="HHI",
        y_max=HHI_MAX,
    )

    def fmt(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:,.{digits}f}"

    return {
        "stat_categories": sorted(by_category),
        "category": chosen,
        "price_chart": price_chart,
        "price_rows": [[r.month, fmt(r.price_index, 2)] for r in series],
        "volume_chart": volume_chart,
        "volume_rows": [
            [r.month, f"{r.licences:,}", format_money(r.total_value_minor, currency)]
            for r in series
        ],
        "hhi_chart": hhi_chart,
        "hhi_rows": [
            [
                r.month,
                fmt(r.hhi_sellers),
                fmt(r.hhi_buyers),
                "—" if r.personal_share is None else f"{r.personal_share:.0%}",
            ]
            for r in series
        ],
    }
