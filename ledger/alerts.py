"""Alerts for regulators: patterns in the market worth a person's look, each with its evidence
(the entry indices, or the refused statements) and a reason a person can read.

Pure: the detectors take plain records (read by `ledger.storage.alert_data`) and return alerts.
Thresholds are parameters with defaults documented here, so a regulator can tune them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from ledger.encoding import parse_rfc3339_utc
from ledger.money import format_money


@dataclass(frozen=True)
class Trade:
    """A confirmed payment (a transaction) with what is needed to judge it."""

    transaction_id: str
    licence_id: str
    asset_id: str
    category: str
    seller_id: str
    buyer_id: str
    at: str
    price_minor: int
    units: int | None  # the licence's quota; None = unlimited
    index: int  # the payment.confirm entry
    licence_index: int  # the licence.request entry
    currency: str = "CNY"  # the payment's; prices are compared within one currency only


@dataclass(frozen=True)
class Usage:
    asset_id: str
    at: str
    units: int
    index: int


@dataclass(frozen=True)
class Refusal:
    refusal_id: int
    kind: str
    code: str
    licence_id: str | None
    asset_id: str | None
    at: str
    detail: str


@dataclass(frozen=True)
class PersonalLicence:
    licence_id: str
    asset_id: str
    buyer_id: str
    personal_info: str
    lawful_basis: str | None
    purpose: str
    status: str
    index: int


@dataclass(frozen=True)
class OpenConflict:
    fingerprint: str
    asset_ids: tuple[str, ...]
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Quote:
    """A valuation quote the ledger recorded (its statement's entry), for the deal check."""

    asset_id: str
    at: str
    units: int | None
    price_minor: int
    low_minor: int
    high_minor: int
    index: int
    currency: str = "CNY"


@dataclass(frozen=True)
class StandingObjection:
    """An objection still open, with when its registration's public notice ended."""

    objection_id: str
    asset_id: str
    notice_ends_at: str
    index: int  # the asset.object entry


@dataclass(frozen=True)
class Registration:
    """When a party joined the ledger (its party.register entry)."""

    party_id: str
    at: str
    index: int


@dataclass(frozen=True)
class Alert:
    kind: str
    severity: str  # info | warning | high
    reason: str
    evidence: tuple[int, ...]  # entry indices
    asset_id: str | None = None
    licence_id: str | None = None
    parties: tuple[str, ...] = ()
    refusals: tuple[int, ...] = field(default=())
    at: str = ""


def wash_cycles(trades: Sequence[Trade]) -> list[Alert]:
    """Money going round: A sells to B and B sells to A (or A→B→C→A), on any assets."""
    edges: dict[tuple[str, str], list[Trade]] = defaultdict(list)
    for t in trades:
        edges[(t.seller_id, t.buyer_id)].append(t)
    alerts: list[Alert] = []
    seen: set[frozenset[str]] = set()
    for (a, b), forward in edges.items():
        back = edges.get((b, a))
        if back and frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            involved = sorted(forward + back, key=lambda t: t.index)
            alerts.append(_cycle_alert([a, b], involved))
    successors: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        successors[a].add(b)
    for a, bs in successors.items():
        for b in bs:
            for c in successors.get(b, ()):
                if c not in (a, b) and a in successors.get(c, ()):
                    key = frozenset((a, b, c))
                    if key not in seen:
                        seen.add(key)
                        involved = sorted(
                            edges[(a, b)] + edges[(b, c)] + edges[(c, a)], key=lambda t: t.index
                        )
                        alerts.append(_cycle_alert([a, b, c], involved))
    return alerts


def _cycle_alert(parties: list[str], involved: list[Trade]) -> Alert:
    path = " → ".join(p[:8] for p in [*parties, parties[0]])
    totals: dict[str, int] = defaultdict(int)
    for t in involved:
        totals[t.currency] += t.price_minor
    worth = " + ".join(format_money(v, c) for c, v in sorted(totals.items()))
    return Alert(
        kind="wash-cycle",
        severity="high",
        reason=(
            f"circular trading {path}: {len(involved)} transactions worth {worth} "
            "between the same parties"
        ),
        evidence=tuple(t.index for t in involved),
        parties=tuple(sorted(parties)),
        at=involved[-1].at,
    )


def _unit_price(t: Trade) -> float:
    return t.price_minor / max(t.units or 1, 1)


def related_party_inflated(
    trades: Sequence[Trade],
    related: Iterable[tuple[str, str]],
    *,
    factor: float = 3.0,
) -> list[Alert]:
    """Trades between related parties (they traded the other way, or moved rights between
    them) at more than `factor` x the category's median unit price."""
    pairs = {frozenset(p) for p in related}
    directions = {(t.seller_id, t.buyer_id) for t in trades}
    pairs |= {frozenset(d) for d in directions if (d[1], d[0]) in directions}
    by_category: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t in trades:  # medians within one currency: prices in two are not comparable
        by_category[(t.category, t.currency)].append(_unit_price(t))
    medians = {c: median(v) for c, v in by_category.items()}
    alerts = []
    for t in trades:
        typical = medians[(t.category, t.currency)]
        if frozenset((t.seller_id, t.buyer_id)) in pairs and _unit_price(t) > factor * typical:
            alerts.append(
                Alert(
                    kind="related-party-inflated",
                    severity="high",
                    reason=(
                        f"related parties traded at {format_money(_unit_price(t), t.currency)} "
                        f"per unit, {_unit_price(t) / typical:.1f}x the {t.category} median of "
                        f"{format_money(typical, t.currency)}"
                    ),
                    evidence=(t.licence_index, t.index),
                    asset_id=t.asset_id,
                    licence_id=t.licence_id,
                    parties=(t.seller_id, t.buyer_id),
                    at=t.at,
                )
            )
    return alerts


def usage_burst_before_sale(
    trades: Sequence[Trade],
    usage: Sequence[Usage],
    *,
    window: timedelta = timedelta(days=7),
    history: timedelta = timedelta(days=91),
    factor: float = 5.0,
    minimum: int = 100,
) -> list[Alert]:
    """Usage in the week before a sale far above the asset's usual weekly usage — statistics
    pumped to lift the price."""
    by_asset: dict[str, list[tuple[datetime, Usage]]] = defaultdict(list)
    for u in usage:
        by_asset[u.asset_id].append((parse_rfc3339_utc(u.at), u))
    # Per asset: times sorted, with running sums, so each sale costs two binary searches.
    series: dict[str, tuple[list[datetime], list[int], list[Usage]]] = {}
    for asset_id, rows in by_asset.items():
        rows.sort(key=lambda r: r[0])
        sums = [0]
        for _, u in rows:
            sums.append(sums[-1] + u.units)
        series[asset_id] = ([at for at, _ in rows], sums, [u for _, u in rows])
    weeks = (history - window) / window
    alerts = []
    for t in trades:
        if t.asset_id not in series:
            continue
        times, sums, reports = series[t.asset_id]
        sold = parse_rfc3339_utc(t.at)
        lo, mid, hi = (
            bisect_left(times, sold - history),
            bisect_left(times, sold - window),
            bisect_left(times, sold),
        )
        burst = sums[hi] - sums[mid]
        usual = (sums[mid] - sums[lo]) / weeks
        if burst >= minimum and burst > factor * max(usual, 1.0):
            alerts.append(
                Alert(
                    kind="usage-burst-before-sale",
                    severity="warning",
                    reason=(
                        f"{burst} units reported in the {window.days} days before a sale, "
                        f"against a usual {usual:.0f} a week"
                    ),
                    evidence=(*(u.index for u in reports[mid:hi]), t.index),
                    asset_id=t.asset_id,
                    licence_id=t.licence_id,
                    at=t.at,
                )
            )
    return alerts


def sybil_rings(
    trades: Sequence[Trade],
    registrations: Mapping[str, Registration],
    *,
    fresh: timedelta = timedelta(days=30),
    window: timedelta = timedelta(days=30),
    factor: float = 3.0,
    minimum: int = 3,
) -> list[Alert]:
    """Several newly registered buyers, each buying only from one seller, within `window` of
    each other, at more than `factor` x the category's median unit price among established
    buyers: one party's shells lifting its own prices (the valuation excludes such trades as
    `sybil_ring`). A buyer is new when it registered at most `fresh` before the trade."""
    sellers_of: dict[str, set[str]] = defaultdict(set)
    established: dict[str, list[float]] = defaultdict(list)
    everyone: dict[str, list[float]] = defaultdict(list)
    suspects: dict[str, list[Trade]] = defaultdict(list)
    for t in sorted(trades, key=lambda t: t.index):
        sellers_of[t.buyer_id].add(t.seller_id)
        everyone[t.category].append(_unit_price(t))
        joined = registrations.get(t.buyer_id)
        new = joined is not None and parse_rfc3339_utc(t.at) - parse_rfc3339_utc(joined.at) <= fresh
        if new and sellers_of[t.buyer_id] == {t.seller_id} and t.buyer_id != t.seller_id:
            suspects[t.seller_id].append(t)
        else:
            established[t.category].append(_unit_price(t))
    typical = {c: median(established.get(c) or v) for c, v in everyone.items()}
    alerts = []
    for seller, candidates in suspects.items():
        high = [t for t in candidates if _unit_price(t) > factor * typical[t.category]]
        for episode in _episodes(high, window):
            buyers = sorted({t.buyer_id for t in episode})
            if len(buyers) < minimum:
                continue
            ratios = [_unit_price(t) / typical[t.category] for t in episode]
            assets = sorted({t.asset_id for t in episode})
            joined_at = sorted(registrations[b].index for b in buyers)
            alerts.append(
                Alert(
                    kind="sybil-ring",
                    severity="high",
                    reason=(
                        f"{len(buyers)} buyers registered within {fresh.days} days of buying, "
                        f"each only from {seller[:8]}, paid {min(ratios):.1f}-{max(ratios):.1f}x "
                        f"the category median unit price ({len(episode)} transactions on "
                        f"{len(assets)} asset{'s' if len(assets) > 1 else ''}): a possible "
                        "sybil ring; the valuation leaves such trades out"
                    ),
                    evidence=tuple(
                        sorted(
                            {*joined_at, *(i for t in episode for i in (t.licence_index, t.index))}
                        )
                    ),
                    asset_id=assets[0] if len(assets) == 1 else None,
                    parties=(seller, *buyers),
                    at=episode[-1].at,
                )
            )
    return alerts


def _episodes(trades: Sequence[Trade], gap: timedelta) -> list[list[Trade]]:
    """`trades` (in log order) split where more than `gap` passes between two of them."""
    runs: list[list[Trade]] = []
    last: datetime | None = None
    for t in trades:
        at = parse_rfc3339_utc(t.at)
        if last is None or at - last > gap:
            runs.append([])
        runs[-1].append(t)
        last = at
    return runs


USAGE_REFUSALS = frozenset({"quota-exceeded", "licence-state", "outside-term", "asset-frozen"})


def repeated_refused_usage(
    refusals: Sequence[Refusal], licence_index: dict[str, int], *, threshold: int = 3
) -> list[Alert]:
    """A licensee whose usage reports keep being refused (over quota, after revocation...)."""
    by_licence: dict[str, list[Refusal]] = defaultdict(list)
    for r in refusals:
        if r.kind == "usage.report" and r.code in USAGE_REFUSALS and r.licence_id:
            by_licence[r.licence_id].append(r)
    alerts = []
    for licence_id, refused in by_licence.items():
        if len(refused) >= threshold:
            codes = ", ".join(sorted({r.code for r in refused}))
            alerts.append(
                Alert(
                    kind="repeated-refused-usage",
                    severity="warning",
                    reason=f"{len(refused)} usage reports refused for this licence ({codes})",
                    evidence=(licence_index[licence_id],) if licence_id in licence_index else (),
                    licence_id=licence_id,
                    refusals=tuple(r.refusal_id for r in refused),
                    at=refused[-1].at,
                )
            )
    return alerts


def personal_data_licences(licences: Sequence[PersonalLicence]) -> list[Alert]:
    """Every licence of personal data, with the lawful basis it declared (for review)."""
    return [
        Alert(
            kind="personal-data-licence",
            severity="info",
            reason=(
                f"licence of {lic.personal_info} data for purpose {lic.purpose!r}, "
                f"lawful basis: {lic.lawful_basis or 'none declared'} (status {lic.status})"
            ),
            evidence=(lic.index,),
            asset_id=lic.asset_id,
            licence_id=lic.licence_id,
            parties=(lic.buyer_id,),
        )
        for lic in licences
    ]


def conflicting_claims(conflicts: Sequence[OpenConflict]) -> list[Alert]:
    return [
        Alert(
            kind="conflicting-claim",
            severity="warning",
            reason=(
                f"{len(c.asset_ids)} registrations claim fingerprint {c.fingerprint[:16]}...; "
                "a regulator must resolve it"
            ),
            evidence=c.indices,
        )
        for c in conflicts
    ]


# How long after a registration's public notice ends a standing objection may wait for a ruling.
RULING_PERIOD = timedelta(days=30)


def objections_overdue(
    standing: Sequence[StandingObjection], now: datetime, *, within: timedelta = RULING_PERIOD
) -> list[Alert]:
    """Objections still open `within` after the notice ended: the registration is held up
    until a regulator rules, so a standing objection must not be left to hold it for ever
    (`objections.dismiss` clears a run of baseless ones at once)."""
    by_asset: dict[str, list[StandingObjection]] = defaultdict(list)
    for o in standing:
        if now - parse_rfc3339_utc(o.notice_ends_at) > within:
            by_asset[o.asset_id].append(o)
    alerts = []
    for asset_id, late in by_asset.items():
        days = (now - parse_rfc3339_utc(late[0].notice_ends_at)).days
        alerts.append(
            Alert(
                kind="objection-overdue",
                severity="high",
                reason=(
                    f"{len(late)} objection{'s' if len(late) > 1 else ''} still open {days} days "
                    f"after the notice ended (rulings are due within {within.days} days); "
                    "the registration waits for a regulator"
                ),
                evidence=tuple(sorted(o.index for o in late)),
                asset_id=asset_id,
                at=late[0].notice_ends_at,
            )
        )
    return alerts


def frozen_asset_activity(refusals: Sequence[Refusal]) -> list[Alert]:
    by_asset: dict[str, list[Refusal]] = defaultdict(list)
    for r in refusals:
        if r.code == "asset-frozen":
            by_asset[r.asset_id or r.licence_id or ""].append(r)
    return [
        Alert(
            kind="frozen-asset-activity",
            severity="warning",
            reason=(
                f"{len(rs)} attempts on a frozen asset: " + ", ".join(sorted({r.kind for r in rs}))
            ),
            evidence=(),
            asset_id=rs[0].asset_id,
            licence_id=rs[0].licence_id,
            refusals=tuple(r.refusal_id for r in rs),
            at=rs[-1].at,
        )
        for rs in by_asset.values()
    ]


def price_outside_interval(trades: Sequence[Trade], quotes: Sequence[Quote]) -> list[Alert]:
    """Deals agreed outside the 90% interval of the last valuation quote before them."""
    by_asset: dict[str, list[Quote]] = defaultdict(list)
    for q in sorted(quotes, key=lambda q: q.index):
        by_asset[q.asset_id].append(q)
    alerts = []
    for t in trades:
        before = [
            q
            for q in by_asset.get(t.asset_id, [])
            if q.index < t.index and q.currency == t.currency
        ]
        if not before:
            continue
        q = before[-1]
        if not q.low_minor <= t.price_minor <= q.high_minor:
            side = "above" if t.price_minor > q.high_minor else "below"
            alerts.append(
                Alert(
                    kind="price-outside-interval",
                    severity="warning",
                    reason=(
                        f"agreed {format_money(t.price_minor, t.currency)}, {side} the 90% "
                        f"interval {format_money(q.low_minor, q.currency)} .. "
                        f"{format_money(q.high_minor, q.currency)} of the quote at entry {q.index}"
                    ),
                    evidence=(q.index, t.licence_index, t.index),
                    asset_id=t.asset_id,
                    licence_id=t.licence_id,
                    parties=(t.seller_id, t.buyer_id),
                    at=t.at,
                )
            )
    return alerts


ALERT_KINDS = (
    "price-outside-interval",
    "wash-cycle",
    "related-party-inflated",
    "sybil-ring",
    "usage-burst-before-sale",
    "repeated-refused-usage",
    "personal-data-licence",
    "conflicting-claim",
    "objection-overdue",
    "frozen-asset-activity",
)
