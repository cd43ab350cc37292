"""Rules for assets: registration, versions, conflicting claims, public notice, certification."""

from __future__ import annotations

from datetime import datetime

from ledger.encoding import format_rfc3339_utc, parse_rfc3339_utc
from ledger.events import (
    AssetCertified,
    AssetFreezeChanged,
    AssetRegistered,
    AssetRejected,
    AssetTouched,
    AssetVersioned,
    ConflictOpened,
    ConflictResolved,
    Event,
    LineageConfirmed,
    ObjectionFiled,
    ObjectionResolved,
    QuoteRecorded,
    RightHeld,
)
from ledger.rules.common import (
    Rule,
    Signer,
    refuse,
    require_asset,
    require_live_asset,
    require_operator,
    require_role,
)
from ledger.state import Context, LedgerView
from ledger.statements import (
    RIGHTS,
    AssetCertify,
    AssetFreeze,
    AssetObject,
    AssetRegister,
    AssetUnfreeze,
    AssetVersion,
    ConflictResolve,
    LineageConfirm,
    ObjectionResolve,
    ObjectionsDismiss,
    ValuationQuote,
)


def register(view: LedgerView, st: AssetRegister, signer: Signer, ctx: Context) -> list[Event]:
    if signer.is_operator:
        raise refuse("party-only", "the operator does not own assets", 403)
    if len(set(st.derived_from)) != len(st.derived_from):
        raise refuse("duplicate-lineage", "derived_from lists an asset twice", 422)
    for parent in st.derived_from:
        if view.asset(parent) is None:
            raise refuse("unknown-asset", f"derived_from names unknown asset {parent}", 422)
    asset_id = ctx.statement_id
    conflict_events, conflict = _claim(view, st.fingerprint, asset_id, signer.party_id)
    notice_ends = parse_rfc3339_utc(ctx.integrated_at) + ctx.notice_period
    # Lineage to one's own asset holds at once; to another owner's, once that owner confirms it.
    own = tuple(p for p in st.derived_from if view.holder(p, "holding") == signer.party_id)
    return [
        AssetRegistered(
            asset_id=asset_id,
            owner_id=signer.party_id,
            statement=st,
            notice_ends_at=format_rfc3339_utc(notice_ends),
            conflict=conflict,
            confirmed_parents=own,
        ),
        *(RightHeld(asset_id=asset_id, right=r, holder_id=signer.party_id) for r in RIGHTS),
        *conflict_events,
        AssetTouched(asset_id=asset_id),
    ]


def confirm_lineage(
    view: LedgerView, st: LineageConfirm, signer: Signer, ctx: Context
) -> list[Event]:
    """The parent's owner (holder of its holding right) accepts a declared lineage link."""
    link = view.lineage(st.asset_id, st.parent_id)
    if link is None:
        raise refuse(
            "unknown-lineage",
            f"asset {st.asset_id} does not declare derived_from {st.parent_id}",
            404,
        )
    if signer.is_operator or view.holder(st.parent_id, "holding") != signer.party_id:
        raise refuse(
            "not-owner",
            f"only the owner of {st.parent_id} (holder of its holding right) may confirm "
            "lineage from it",
            403,
        )
    if link.confirmed_index is not None:
        raise refuse(
            "already-confirmed",
            f"the lineage of {st.asset_id} from {st.parent_id} was confirmed at entry "
            f"{link.confirmed_index}",
        )
    return [
        LineageConfirmed(asset_id=st.asset_id, parent_id=st.parent_id),
        AssetTouched(asset_id=st.asset_id),
        AssetTouched(asset_id=st.parent_id),
    ]


def new_version(view: LedgerView, st: AssetVersion, signer: Signer, ctx: Context) -> list[Event]:
    asset = require_live_asset(view, st.asset_id)
    if view.holder(st.asset_id, "holding") != signer.party_id:
        raise refuse("right-required", "only the holder of the holding right may add versions", 403)
    if st.fingerprint == asset.fingerprint:
        raise refuse("same-fingerprint", "the new version has the current fingerprint")
    conflict_events, conflict = _claim(view, st.fingerprint, st.asset_id, signer.party_id)
    return [
        AssetVersioned(
            asset_id=st.asset_id, version=asset.version + 1, statement=st, conflict=conflict
        ),
        *conflict_events,
        AssetTouched(asset_id=st.asset_id),
    ]


def _claim(
    view: LedgerView, fingerprint: str, asset_id: str, claimant: str
) -> tuple[list[Event], bool]:
    """A fingerprint claimed by another party is accepted, but opens a conflict."""
    claims = view.claims(fingerprint)
    if any(c.owner_id == claimant for c in claims):
        raise refuse("already-registered", f"you already registered fingerprint {fingerprint}")
    if not claims:
        return [], False
    ids = tuple(sorted({c.asset_id for c in claims} | {asset_id}))
    touched: list[Event] = [AssetTouched(asset_id=c.asset_id) for c in claims]
    return [ConflictOpened(fingerprint=fingerprint, asset_ids=ids), *touched], True


# An objection holds a registration on notice until a regulator rules, so it must say something
# and point at evidence: grounds of at least this many non-blank characters, with at least
# GROUNDS_MIN_DISTINCT different ones, and the SHA-256 digest of the evidence the objector holds.
GROUNDS_MIN_CHARS = 20
GROUNDS_MIN_DISTINCT = 8


def object_to(view: LedgerView, st: AssetObject, signer: Signer, ctx: Context) -> list[Event]:
    if signer.is_operator:
        raise refuse("party-only", "only a party may object", 403)
    asset = require_asset(view, st.asset_id)
    if asset.owner_id == signer.party_id:
        raise refuse("own-asset", "the registrant cannot object to its own registration")
    if asset.status != "on_notice" or _at(ctx) >= parse_rfc3339_utc(asset.notice_ends_at):
        raise refuse(
            "notice-closed",
            f"asset {st.asset_id} is not on public notice (notice ended {asset.notice_ends_at})",
        )
    substance = "".join(st.grounds.split())
    if len(substance) < GROUNDS_MIN_CHARS or len(set(substance)) < GROUNDS_MIN_DISTINCT:
        raise refuse(
            "grounds-too-thin",
            f"grounds must state the objection in at least {GROUNDS_MIN_CHARS} non-blank "
            f"characters ({GROUNDS_MIN_DISTINCT} different ones); got {len(substance)}",
            422,
        )
    if st.evidence_fingerprint is None:
        raise refuse(
            "evidence-required",
            "an objection needs evidence_fingerprint: the SHA-256 of the evidence you hold",
            422,
        )
    return [
        ObjectionFiled(
            objection_id=ctx.statement_id,
            asset_id=st.asset_id,
            objector_id=signer.party_id,
            grounds=st.grounds,
            evidence_fingerprint=st.evidence_fingerprint,
        ),
        AssetTouched(asset_id=st.asset_id),
    ]


def resolve_objection(
    view: LedgerView, st: ObjectionResolve, signer: Signer, ctx: Context
) -> list[Event]:
    require_role(view, signer, "regulator", "resolve objections")
    objection = view.objection(st.objection_id)
    if objection is None:
        raise refuse("unknown-objection", f"no objection {st.objection_id}", 404)
    if objection.status != "open":
        raise refuse(
            "objection-closed", f"objection {st.objection_id} is already {objection.status}"
        )
    events: list[Event] = [
        ObjectionResolved(objection_id=st.objection_id, outcome=st.outcome, reason=st.reason),
        AssetTouched(asset_id=objection.asset_id),
    ]
    if st.outcome == "upheld":
        events.append(
            AssetRejected(asset_id=objection.asset_id, reason=f"objection upheld: {st.reason}")
        )
    return events


def dismiss_objections(
    view: LedgerView, st: ObjectionsDismiss, signer: Signer, ctx: Context
) -> list[Event]:
    """All or nothing: every objection named must exist and still be open."""
    require_role(view, signer, "regulator", "dismiss objections")
    if len(set(st.objection_ids)) != len(st.objection_ids):
        raise refuse("duplicate-objection", "objection_ids lists an objection twice", 422)
    events: list[Event] = []
    assets: dict[str, None] = {}
    for objection_id in st.objection_ids:
        objection = view.objection(objection_id)
        if objection is None:
            raise refuse("unknown-objection", f"no objection {objection_id}", 404)
        if objection.status != "open":
            raise refuse(
                "objection-closed", f"objection {objection_id} is already {objection.status}"
            )
        events.append(
            ObjectionResolved(objection_id=objection_id, outcome="dismissed", reason=st.reason)
        )
        assets[objection.asset_id] = None
    return [*events, *(AssetTouched(asset_id=a) for a in assets)]


def resolve_conflict(
    view: LedgerView, st: ConflictResolve, signer: Signer, ctx: Context
) -> list[Event]:
    require_role(view, signer, "regulator", "resolve conflicting claims")
    conflict = view.conflict(st.fingerprint)
    if conflict is None or conflict.status != "open":
        raise refuse("no-open-conflict", f"no open conflict on fingerprint {st.fingerprint}", 404)
    if st.rightful_asset_id is not None and st.rightful_asset_id not in conflict.asset_ids:
        raise refuse(
            "not-a-claimant",
            f"asset {st.rightful_asset_id} is not a claim on this fingerprint",
            422,
        )
    losers = tuple(a for a in conflict.asset_ids if a != st.rightful_asset_id)
    return [
        ConflictResolved(
            fingerprint=st.fingerprint,
            rightful_asset_id=st.rightful_asset_id,
            rejected_asset_ids=losers,
            reason=st.reason,
        ),
        *(AssetRejected(asset_id=a, reason=f"conflicting claim: {st.reason}") for a in losers),
        *(AssetTouched(asset_id=a) for a in conflict.asset_ids),
    ]


def certify(view: LedgerView, st: AssetCertify, signer: Signer, ctx: Context) -> list[Event]:
    require_operator(signer, "certify assets")
    asset = require_asset(view, st.asset_id)
    if asset.status != "on_notice":
        raise refuse("not-on-notice", f"asset {st.asset_id} is {asset.status}")
    if _at(ctx) < parse_rfc3339_utc(asset.notice_ends_at):
        raise refuse("notice-not-over", f"notice on {st.asset_id} ends {asset.notice_ends_at}")
    if view.open_objections(st.asset_id):
        raise refuse("objections-open", f"asset {st.asset_id} has open objections")
    if asset.conflict:
        raise refuse("conflict-open", f"asset {st.asset_id} has an unresolved conflicting claim")
    return [AssetCertified(asset_id=st.asset_id), AssetTouched(asset_id=st.asset_id)]


def freeze(view: LedgerView, st: AssetFreeze, signer: Signer, ctx: Context) -> list[Event]:
    require_role(view, signer, "regulator", "freeze assets")
    asset = require_asset(view, st.asset_id)
    if asset.status == "rejected":
        raise refuse(
            "asset-rejected", f"asset {st.asset_id} was rejected: nothing can trade to freeze"
        )
    if asset.frozen:
        raise refuse("asset-frozen", f"asset {st.asset_id} is already frozen")
    return [
        AssetFreezeChanged(asset_id=st.asset_id, frozen=True, reason=st.reason),
        AssetTouched(asset_id=st.asset_id),
    ]


def unfreeze(view: LedgerView, st: AssetUnfreeze, signer: Signer, ctx: Context) -> list[Event]:
    require_role(view, signer, "regulator", "unfreeze assets")
    asset = require_asset(view, st.asset_id)
    if not asset.frozen:
        raise refuse("asset-not-frozen", f"asset {st.asset_id} is not frozen")
    return [
        AssetFreezeChanged(asset_id=st.asset_id, frozen=False, reason=st.reason),
        AssetTouched(asset_id=st.asset_id),
    ]


def record_quote(view: LedgerView, st: ValuationQuote, signer: Signer, ctx: Context) -> list[Event]:
    require_operator(signer, "record valuation quotes")
    require_asset(view, st.asset_id)
    if not st.low_minor <= st.price.amount_minor <= st.high_minor:
        raise refuse("bad-quote", "a quote's price lies within its interval", 422)
    return [
        QuoteRecorded(
            asset_id=st.asset_id,
            units=st.units,
            term_days=st.term_days,
            exclusive=st.exclusive,
            purpose=st.purpose,
            price=st.price,
            low_minor=st.low_minor,
            high_minor=st.high_minor,
        ),
        AssetTouched(asset_id=st.asset_id),
    ]


def _at(ctx: Context) -> datetime:
    return parse_rfc3339_utc(ctx.integrated_at)


RULES: dict[str, Rule] = {
    "asset.register": register,
    "asset.version": new_version,
    "asset.object": object_to,
    "objection.resolve": resolve_objection,
    "objections.dismiss": dismiss_objections,
    "conflict.resolve": resolve_conflict,
    "asset.certify": certify,
    "asset.freeze": freeze,
    "asset.unfreeze": unfreeze,
    "lineage.confirm": confirm_lineage,
    "valuation.quote": record_quote,
}
