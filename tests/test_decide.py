"""`ledger.rules.decide` as fast unit tests: no HTTP, no database, no sleeping.

The state is a `MemoryState`; time moves because each statement is decided with a chosen
`integrated_at`. Every refusal the rules can raise has a case below, checked to come from the
place in the rules that raises it and to leave the state unchanged; `test_every_refusal_has_a_case`
reads the rules' source and fails when a refusal has no case.
"""

from __future__ import annotations

import ast
import collections
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from ledger.encoding import b64encode
from ledger.errors import StatementRejected
from ledger.events import AssetTouched, LicenceStatusChanged, UsageCorrected
from ledger.keys import keyid
from ledger.memory import DuplicateRow, MemoryState
from ledger.rules import decide
from ledger.state import LicenceRecord
from ledger.statements import (
    AssetCertify,
    AssetFreeze,
    AssetObject,
    AssetRegister,
    AssetUnfreeze,
    AssetVersion,
    AuthLogin,
    ConflictResolve,
    DisputeAnswer,
    DisputeOpen,
    DisputeResolve,
    GatewaySet,
    LicenceApprove,
    LicenceExpire,
    LicenceRegulatorApprove,
    LicenceReject,
    LicenceRequest,
    LicenceRevoke,
    LicenceTerminate,
    LineageConfirm,
    Money,
    ObjectionResolve,
    ObjectionsDismiss,
    OfferPublish,
    OfferWithdraw,
    PartyRegister,
    PartyRevokeKey,
    PartyRotateKey,
    PartySetContact,
    PaymentConfirm,
    PaymentRecord,
    Pricing,
    RightsAccept,
    RightsOffer,
    RoleGrant,
    RoleRevoke,
    Statement,
    Tier,
    UsageReport,
    ValuationQuote,
)
from tests.decide_support import (
    NOTICE,
    Ledger,
    Party,
    Signer,
    fingerprint,
    policy,
    public_key,
    signing_key,
)

ROOT = Path(__file__).resolve().parents[1]
UNKNOWN = "f" * 32  # an id nothing has


@dataclass
class Market:
    """Five parties (one a regulator), a certified asset with an open offer and an active
    licence to `buyer`, and an asset still on notice (`fresh`), all owned by `owner`."""

    ledger: Ledger
    owner: Party
    buyer: Party
    other: Party
    regulator: Party
    gateway: Party
    asset: str
    offer: str
    licence: str
    fresh: str

    def send(self, signer: Signer, cls: type[Statement], **fields: Any) -> str:
        return self.ledger.send(signer, cls, **fields)

    def make(self, cls: type[Statement], **fields: Any) -> Any:
        return self.ledger.make(cls, **fields)

    def make_offer(self, asset_id: str, **terms: Any) -> Any:
        return self.make(OfferPublish, asset_id=asset_id, policy=policy(**terms))

    def make_request(self, offer_id: str, **fields: Any) -> Any:
        body: dict[str, Any] = {
            "offer_id": offer_id,
            "purpose": "research",
            "term_days": 30,
            "territory": ["CN"],
        }
        body.update(fields)
        return self.make(LicenceRequest, **body)

    def fresh_certified(self) -> str:
        self.ledger.certify(self.fresh)
        return self.fresh

    def licence_record(self, licence_id: str = "") -> LicenceRecord:
        record = self.ledger.state.licence(licence_id or self.licence)
        assert record is not None
        return record


@pytest.fixture
def ledger() -> Ledger:
    """The ledger the tests drive: here in memory only (test_memory_state reruns them on both
    MemoryState and SQL)."""
    return Ledger()


def market(led: Ledger | None = None) -> Market:
    led = led or Ledger()
    owner, buyer, other = led.party("Owner"), led.party("Buyer"), led.party("Other")
    regulator, gateway = led.party("Regulator", "regulator"), led.party("Gateway")
    asset = led.certified_asset(owner, "asset")
    offer = led.publish(owner, asset)
    licence = led.licence(owner, buyer, offer)
    fresh = led.asset(owner, "fresh")
    return Market(led, owner, buyer, other, regulator, gateway, asset, offer, licence, fresh)


def asset_statement(m: Market, **fields: Any) -> Any:
    body: dict[str, Any] = {
        "title": "T",
        "description": "",
        "category": "test",
        "classification": "general",
        "personal_info": "none",
        "fingerprint": fingerprint("another"),
        "size_bytes": 1,
        "record_count": 1,
    }
    body.update(fields)
    return m.make(AssetRegister, **body)


def rotate(m: Market, party: Party) -> str:
    """Rotate `party`'s key; returns the old keyid."""
    old = party.keyid
    new = signing_key(party.name + " next")
    m.send(party, PartyRotateKey, new_public_key=b64encode(public_key(new)))
    party.key = new
    return old


def objection(m: Market, asset_id: str) -> str:
    return m.send(
        m.other,
        AssetObject,
        asset_id=asset_id,
        grounds="We collected these readings in 2024",
        evidence_fingerprint="e" * 64,
    )


def usage(m: Market, units: int, licence_id: str = "", **fields: Any) -> Any:
    record = m.licence_record(licence_id)
    assert record.starts_at is not None
    body: dict[str, Any] = {
        "licence_id": record.licence_id,
        "units": units,
        "period_start": record.starts_at,
        "period_end": record.starts_at,
    }
    body.update(fields)
    return m.make(UsageReport, **body)


def dispute(m: Market) -> str:
    return m.send(m.buyer, DisputeOpen, licence_id=m.licence, grounds="bad data")


# --- every refusal ----------------------------------------------------------------------------

Build = Callable[[Market], tuple[Signer, Any]]


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    site: str  # module.function that raises it
    build: Build


CASES: list[Case] = []


def case(code: str, site: str) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CASES.append(Case(build.__name__, code, site, build))
        return build

    return register


# parties, keys and roles


@case("key-reserved", "parties.register")
def operator_registers_as_a_party(m: Market) -> tuple[Signer, Any]:
    key = b64encode(public_key(m.ledger.operator_key))
    return m.ledger.op, m.make(PartyRegister, name="Op", public_key=key)


@case("key-already-registered", "parties.register")
def party_registers_twice(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(
        PartyRegister, name="Again", public_key=b64encode(public_key(m.owner.key))
    )


@case("key-already-registered", "parties.rotate_key")
def rotate_to_a_known_key(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(PartyRotateKey, new_public_key=b64encode(public_key(m.buyer.key)))


@case("party-only", "parties._party_signer")
def operator_sets_contact(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(PartySetContact, contact_commitment=None)


@case("not-your-key", "parties.revoke_key")
def revoke_another_partys_key(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(PartyRevokeKey, keyid=m.buyer.keyid)


@case("key-revoked", "parties.revoke_key")
def revoke_a_revoked_key(m: Market) -> tuple[Signer, Any]:
    old = rotate(m, m.owner)
    return m.owner, m.make(PartyRevokeKey, keyid=old)


@case("key-revoked", "common.resolve_signer")
def sign_with_a_rotated_key(m: Market) -> tuple[Signer, Any]:
    return rotate(m, m.owner), m.make(PartySetContact, contact_commitment=None)


@case("unknown-key", "common.resolve_signer")
def sign_with_an_unknown_key(m: Market) -> tuple[Signer, Any]:
    stranger = keyid(public_key(signing_key("Stranger")))
    return stranger, m.make(PartySetContact, contact_commitment=None)


@case("operator-only", "common.require_operator")
def party_grants_a_role(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(RoleGrant, party_id=m.buyer.id, role="regulator")


@case("unknown-party", "common.require_party")
def grant_a_role_to_nobody(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(RoleGrant, party_id=fingerprint("nobody"), role="witness")


@case("role-already-held", "parties.grant_role")
def grant_a_held_role(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(RoleGrant, party_id=m.regulator.id, role="regulator")


@case("role-not-held", "parties.revoke_role")
def revoke_a_role_not_held(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(RoleRevoke, party_id=m.buyer.id, role="witness")


@case("role-required", "common.require_role")
def a_party_freezes(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(AssetFreeze, asset_id=m.asset, reason="no")


# assets


@case("party-only", "assets.register")
def operator_registers_an_asset(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, asset_statement(m)


@case("duplicate-lineage", "assets.register")
def lineage_names_a_parent_twice(m: Market) -> tuple[Signer, Any]:
    return m.owner, asset_statement(m, derived_from=[m.asset, m.asset])


@case("unknown-asset", "assets.register")
def lineage_names_an_unknown_parent(m: Market) -> tuple[Signer, Any]:
    return m.owner, asset_statement(m, derived_from=[UNKNOWN])


@case("unknown-asset", "common.require_asset")
def certify_an_unknown_asset(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(AssetCertify, asset_id=UNKNOWN)


@case("asset-rejected", "common.require_live_asset")
def version_a_rejected_asset(m: Market) -> tuple[Signer, Any]:
    oid = objection(m, m.fresh)
    m.send(m.regulator, ObjectionResolve, objection_id=oid, outcome="upheld", reason="theirs")
    return m.owner, m.make(
        AssetVersion, asset_id=m.fresh, fingerprint=fingerprint("v2"), size_bytes=1, record_count=1
    )


@case("right-required", "assets.new_version")
def version_without_the_holding_right(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make(
        AssetVersion, asset_id=m.asset, fingerprint=fingerprint("v2"), size_bytes=1, record_count=1
    )


@case("same-fingerprint", "assets.new_version")
def version_with_the_same_fingerprint(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(
        AssetVersion,
        asset_id=m.asset,
        fingerprint=fingerprint("asset"),
        size_bytes=1,
        record_count=1,
    )


@case("already-registered", "assets._claim")
def register_a_fingerprint_twice(m: Market) -> tuple[Signer, Any]:
    return m.owner, asset_statement(m, fingerprint=fingerprint("asset"))


@case("unknown-lineage", "assets.confirm_lineage")
def confirm_lineage_never_declared(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(LineageConfirm, asset_id=m.fresh, parent_id=m.asset)


@case("not-owner", "assets.confirm_lineage")
def confirm_lineage_from_another_owners_asset(m: Market) -> tuple[Signer, Any]:
    child = m.ledger.asset(m.other, "child", derived_from=[m.asset])
    return m.other, m.make(LineageConfirm, asset_id=child, parent_id=m.asset)


@case("already-confirmed", "assets.confirm_lineage")
def confirm_lineage_from_ones_own_asset(m: Market) -> tuple[Signer, Any]:
    child = m.ledger.asset(m.owner, "child", derived_from=[m.asset])  # confirmed at once
    return m.owner, m.make(LineageConfirm, asset_id=child, parent_id=m.asset)


@case("party-only", "assets.object_to")
def operator_objects(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(
        AssetObject,
        asset_id=m.fresh,
        grounds="We collected these readings in 2024",
        evidence_fingerprint="e" * 64,
    )


@case("own-asset", "assets.object_to")
def owner_objects_to_its_asset(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(
        AssetObject,
        asset_id=m.fresh,
        grounds="We collected these readings in 2024",
        evidence_fingerprint="e" * 64,
    )


@case("notice-closed", "assets.object_to")
def object_to_a_certified_asset(m: Market) -> tuple[Signer, Any]:
    return m.other, m.make(
        AssetObject,
        asset_id=m.asset,
        grounds="We collected these readings in 2024",
        evidence_fingerprint="e" * 64,
    )


@case("notice-closed", "assets.object_to")
def object_after_the_notice_ended(m: Market) -> tuple[Signer, Any]:
    m.ledger.advance(days=NOTICE.days)  # exactly at the end: closed
    return m.other, m.make(
        AssetObject,
        asset_id=m.fresh,
        grounds="We collected these readings in 2024",
        evidence_fingerprint="e" * 64,
    )


@case("unknown-objection", "assets.resolve_objection")
def resolve_an_unknown_objection(m: Market) -> tuple[Signer, Any]:
    return m.regulator, m.make(
        ObjectionResolve, objection_id=UNKNOWN, outcome="dismissed", reason="r"
    )


@case("objection-closed", "assets.resolve_objection")
def resolve_an_objection_twice(m: Market) -> tuple[Signer, Any]:
    oid = objection(m, m.fresh)
    m.send(m.regulator, ObjectionResolve, objection_id=oid, outcome="dismissed", reason="r")
    return m.regulator, m.make(ObjectionResolve, objection_id=oid, outcome="upheld", reason="r")


@case("grounds-too-thin", "assets.object_to")
def object_without_substance(m: Market) -> tuple[Signer, Any]:
    grounds = "no no no no no no no no no"  # long enough, but 2 different characters
    return m.other, m.make(
        AssetObject, asset_id=m.fresh, grounds=grounds, evidence_fingerprint="e" * 64
    )


@case("evidence-required", "assets.object_to")
def object_without_evidence(m: Market) -> tuple[Signer, Any]:
    return m.other, m.make(
        AssetObject, asset_id=m.fresh, grounds="We collected these readings in 2024"
    )


@case("duplicate-objection", "assets.dismiss_objections")
def dismiss_one_objection_twice(m: Market) -> tuple[Signer, Any]:
    oid = objection(m, m.fresh)
    return m.regulator, m.make(ObjectionsDismiss, objection_ids=[oid, oid], reason="r")


@case("unknown-objection", "assets.dismiss_objections")
def dismiss_an_unknown_objection(m: Market) -> tuple[Signer, Any]:
    oid = objection(m, m.fresh)
    return m.regulator, m.make(ObjectionsDismiss, objection_ids=[oid, UNKNOWN], reason="r")


@case("objection-closed", "assets.dismiss_objections")
def dismiss_a_decided_objection(m: Market) -> tuple[Signer, Any]:
    oid, other = objection(m, m.fresh), objection(m, m.fresh)
    m.send(m.regulator, ObjectionResolve, objection_id=oid, outcome="upheld", reason="r")
    return m.regulator, m.make(ObjectionsDismiss, objection_ids=[other, oid], reason="r")


@case("no-open-conflict", "assets.resolve_conflict")
def resolve_a_conflict_that_is_not_there(m: Market) -> tuple[Signer, Any]:
    return m.regulator, m.make(
        ConflictResolve, fingerprint=fingerprint("asset"), rightful_asset_id=m.asset, reason="r"
    )


@case("not-a-claimant", "assets.resolve_conflict")
def resolve_a_conflict_for_a_bystander(m: Market) -> tuple[Signer, Any]:
    m.ledger.asset(m.other, "fresh")  # the same fingerprint: a conflict
    return m.regulator, m.make(
        ConflictResolve, fingerprint=fingerprint("fresh"), rightful_asset_id=m.asset, reason="r"
    )


@case("not-on-notice", "assets.certify")
def certify_twice(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(AssetCertify, asset_id=m.asset)


@case("notice-not-over", "assets.certify")
def certify_during_the_notice(m: Market) -> tuple[Signer, Any]:
    m.ledger.advance(days=NOTICE.days, microseconds=-1)
    return m.ledger.op, m.make(AssetCertify, asset_id=m.fresh)


@case("objections-open", "assets.certify")
def certify_with_an_open_objection(m: Market) -> tuple[Signer, Any]:
    objection(m, m.fresh)
    m.ledger.advance(days=NOTICE.days)
    return m.ledger.op, m.make(AssetCertify, asset_id=m.fresh)


@case("conflict-open", "assets.certify")
def certify_a_contested_claim(m: Market) -> tuple[Signer, Any]:
    m.ledger.asset(m.other, "fresh")
    m.ledger.advance(days=NOTICE.days)
    return m.ledger.op, m.make(AssetCertify, asset_id=m.fresh)


@case("asset-frozen", "assets.freeze")
def freeze_twice(m: Market) -> tuple[Signer, Any]:
    m.send(m.regulator, AssetFreeze, asset_id=m.asset, reason="r")
    return m.regulator, m.make(AssetFreeze, asset_id=m.asset, reason="r")


@case("asset-rejected", "assets.freeze")
def freeze_a_rejected_registration(m: Market) -> tuple[Signer, Any]:
    oid = objection(m, m.fresh)
    m.send(m.regulator, ObjectionResolve, objection_id=oid, outcome="upheld", reason="r")
    return m.regulator, m.make(AssetFreeze, asset_id=m.fresh, reason="r")


@case("asset-not-frozen", "assets.unfreeze")
def unfreeze_what_is_not_frozen(m: Market) -> tuple[Signer, Any]:
    return m.regulator, m.make(AssetUnfreeze, asset_id=m.asset, reason="r")


@case("bad-quote", "assets.record_quote")
def quote_outside_its_interval(m: Market) -> tuple[Signer, Any]:
    return m.ledger.op, m.make(
        ValuationQuote,
        asset_id=m.asset,
        units=None,
        term_days=30,
        exclusive=False,
        purpose="research",
        price=Money(amount_minor=500),
        low_minor=600,
        high_minor=900,
        model_as_of=m.ledger.at,
    )


# rights


@case("right-not-held", "rights.offer")
def offer_a_right_not_held(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make(RightsOffer, asset_id=m.asset, right="holding", to_party=m.other.id)


@case("unknown-party", "common.require_party")
def offer_a_right_to_nobody(m: Market) -> tuple[Signer, Any]:
    nobody = fingerprint("nobody")
    return m.owner, m.make(RightsOffer, asset_id=m.asset, right="holding", to_party=nobody)


@case("self-transfer", "rights.offer")
def offer_a_right_to_its_holder(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(RightsOffer, asset_id=m.asset, right="holding", to_party=m.owner.id)


@case("unknown-transfer", "rights.accept")
def accept_an_unknown_transfer(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make(RightsAccept, transfer_id=UNKNOWN)


@case("transfer-closed", "rights.accept")
def accept_twice(m: Market) -> tuple[Signer, Any]:
    tid = m.send(m.owner, RightsOffer, asset_id=m.asset, right="processing", to_party=m.buyer.id)
    m.send(m.buyer, RightsAccept, transfer_id=tid)
    return m.buyer, m.make(RightsAccept, transfer_id=tid)


@case("not-the-recipient", "rights.accept")
def accept_a_transfer_offered_to_another(m: Market) -> tuple[Signer, Any]:
    tid = m.send(m.owner, RightsOffer, asset_id=m.asset, right="processing", to_party=m.buyer.id)
    return m.other, m.make(RightsAccept, transfer_id=tid)


@case("offer-stale", "rights.accept")
def accept_after_the_right_moved(m: Market) -> tuple[Signer, Any]:
    first = m.send(m.owner, RightsOffer, asset_id=m.asset, right="holding", to_party=m.buyer.id)
    second = m.send(m.owner, RightsOffer, asset_id=m.asset, right="holding", to_party=m.other.id)
    m.send(m.buyer, RightsAccept, transfer_id=first)
    return m.other, m.make(RightsAccept, transfer_id=second)


# offers


@case("core-data", "licences._tradeable")
def offer_core_data(m: Market) -> tuple[Signer, Any]:
    core = m.ledger.certified_asset(m.owner, "core", classification="core")
    return m.owner, m.make_offer(core)


@case("asset-frozen", "licences._tradeable")
def offer_a_frozen_asset(m: Market) -> tuple[Signer, Any]:
    m.send(m.regulator, AssetFreeze, asset_id=m.asset, reason="r")
    return m.owner, m.make_offer(m.asset)


@case("right-required", "licences._operator_of")
def offer_without_the_operation_right(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make_offer(m.asset)


@case("bad-pricing", "licences._check_pricing")
def per_unit_pricing_without_a_unit_price(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make_offer(m.asset, pricing=Pricing(model="per_unit"))


@case("bad-pricing", "licences._check_pricing")
def tiered_pricing_with_an_open_tier_first(m: Market) -> tuple[Signer, Any]:
    tiers = [Tier(up_to=None, unit_price_minor=1), Tier(up_to=10, unit_price_minor=1)]
    return m.owner, m.make_offer(m.asset, pricing=Pricing(model="tiered", tiers=tiers))


@case("bad-pricing", "licences._check_pricing")
def tiered_pricing_with_falling_bounds(m: Market) -> tuple[Signer, Any]:
    tiers = [Tier(up_to=10, unit_price_minor=1), Tier(up_to=5, unit_price_minor=1)]
    return m.owner, m.make_offer(m.asset, pricing=Pricing(model="tiered", tiers=tiers))


@case("unknown-offer", "licences.withdraw")
def withdraw_an_unknown_offer(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(OfferWithdraw, offer_id=UNKNOWN)


@case("offer-closed", "licences.withdraw")
def withdraw_twice(m: Market) -> tuple[Signer, Any]:
    m.send(m.owner, OfferWithdraw, offer_id=m.offer)
    return m.owner, m.make(OfferWithdraw, offer_id=m.offer)


@case("right-required", "licences.withdraw")
def withdraw_anothers_offer(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make(OfferWithdraw, offer_id=m.offer)


# licences


@case("unknown-offer", "licences.request")
def request_under_an_unknown_offer(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make_request(UNKNOWN)


@case("offer-closed", "licences.request")
def request_under_a_withdrawn_offer(m: Market) -> tuple[Signer, Any]:
    m.send(m.owner, OfferWithdraw, offer_id=m.offer)
    return m.buyer, m.make_request(m.offer)


@case("own-asset", "licences.request")
def request_ones_own_asset(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make_request(m.offer)


@case("purpose-not-offered", "licences.request")
def request_another_purpose(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make_request(m.offer, purpose="marketing")


@case("term-too-long", "licences.request")
def request_a_longer_term(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make_request(m.offer, term_days=31)


@case("territory-not-offered", "licences.request")
def request_another_territory(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make_request(m.offer, territory=["CN", "US"])


@case("units-too-many", "licences.request")
def request_more_units_than_offered(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make_request(m.offer, units=101)


@case("lawful-basis-required", "licences.request")
def request_personal_data_without_a_lawful_basis(m: Market) -> tuple[Signer, Any]:
    personal = m.ledger.certified_asset(m.owner, "personal", personal_info="personal")
    offer = m.ledger.publish(m.owner, personal)
    return m.buyer, m.make_request(offer)


@case("unknown-licence", "common.require_licence")
def approve_an_unknown_licence(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(LicenceApprove, licence_id=UNKNOWN, price=Money(amount_minor=1))


@case("licence-state", "licences._require_status")
def approve_twice(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(LicenceApprove, licence_id=m.licence, price=Money(amount_minor=1))


@case("exclusive-conflict", "licences._check_exclusivity")
def approve_an_exclusive_licence_over_another(m: Market) -> tuple[Signer, Any]:
    exclusive = m.ledger.publish(m.owner, m.asset, exclusive=True)
    lid = m.ledger.request(m.other, exclusive)
    return m.owner, m.make(LicenceApprove, licence_id=lid, price=Money(amount_minor=1))


@case("exclusive-conflict", "licences._check_exclusivity")
def approve_a_licence_over_an_exclusive_one(m: Market) -> tuple[Signer, Any]:
    exclusive = m.ledger.publish(m.owner, m.fresh_certified(), exclusive=True)
    m.ledger.licence(m.owner, m.buyer, exclusive)
    lid = m.ledger.request(m.other, exclusive)
    return m.owner, m.make(LicenceApprove, licence_id=lid, price=Money(amount_minor=1))


@case("not-allowed", "licences.revoke")
def a_stranger_revokes(m: Market) -> tuple[Signer, Any]:
    return m.other, m.make(LicenceRevoke, licence_id=m.licence, reason="r")


@case("not-the-buyer", "licences.terminate")
def a_stranger_terminates(m: Market) -> tuple[Signer, Any]:
    return m.other, m.make(LicenceTerminate, licence_id=m.licence)


@case("term-not-over", "licences.expire")
def expire_early(m: Market) -> tuple[Signer, Any]:
    m.ledger.advance(days=30, microseconds=-1)
    return m.ledger.op, m.make(LicenceExpire, licence_id=m.licence)


@case("conflict-open", "licences._uncontested")
def offer_a_copy_of_a_certified_fingerprint(m: Market) -> tuple[Signer, Any]:
    copy = m.ledger.asset(m.other, "asset")  # the certified asset's fingerprint
    return m.other, m.make_offer(copy)


@case("gateway-is-seller", "licences.set_gateway")
def the_seller_appoints_itself_gateway(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(GatewaySet, asset_id=m.asset, gateway_party=m.owner.id, enabled=True)


@case("gateway-is-seller", "licences.report_usage")
def a_gateway_that_became_the_seller_meters_its_buyer(m: Market) -> tuple[Signer, Any]:
    m.send(m.owner, GatewaySet, asset_id=m.asset, gateway_party=m.gateway.id, enabled=True)
    tid = m.send(m.owner, RightsOffer, asset_id=m.asset, right="operation", to_party=m.gateway.id)
    m.send(m.gateway, RightsAccept, transfer_id=tid)
    offer = m.ledger.publish(m.gateway, m.asset)
    licence = m.ledger.licence(m.gateway, m.buyer, offer)
    return m.gateway, usage(m, 1, licence)


@case("not-allowed", "licences.report_usage")
def a_stranger_reports_usage(m: Market) -> tuple[Signer, Any]:
    return m.other, usage(m, 1)


@case("bad-period", "licences.report_usage")
def usage_period_backwards(m: Market) -> tuple[Signer, Any]:
    record = m.licence_record()
    assert record.ends_at is not None
    return m.buyer, usage(m, 1, period_start=record.ends_at)


@case("outside-term", "licences.report_usage")
def usage_after_the_term(m: Market) -> tuple[Signer, Any]:
    record = m.licence_record()
    assert record.ends_at is not None
    late = record.ends_at.replace(".000000Z", ".000001Z")
    return m.buyer, usage(m, 1, period_end=late)


@case("quota-exceeded", "licences.report_usage")
def usage_over_the_quota(m: Market) -> tuple[Signer, Any]:
    m.ledger.submit(m.buyer, usage(m, 60))
    return m.buyer, usage(m, 41)


# payments


@case("not-the-buyer", "licences.record_payment")
def a_stranger_pays(m: Market) -> tuple[Signer, Any]:
    return m.other, m.make(PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=1000))


@case("licence-state", "licences.record_payment")
def pay_before_a_price_is_agreed(m: Market) -> tuple[Signer, Any]:
    lid = m.ledger.request(m.other, m.offer)
    return m.other, m.make(PaymentRecord, licence_id=lid, amount=Money(amount_minor=1000))


@case("licence-state", "licences.record_payment")
def pay_for_a_licence_the_regulator_rejected(m: Market) -> tuple[Signer, Any]:
    important = m.ledger.certified_asset(m.owner, "important", classification="important")
    lid = m.ledger.licence(m.owner, m.buyer, m.ledger.publish(m.owner, important))
    m.send(m.regulator, LicenceReject, licence_id=lid, reason="not in the public interest")
    return m.buyer, m.make(PaymentRecord, licence_id=lid, amount=Money(amount_minor=1000))


@case("overpayment", "licences.record_payment")
def pay_past_the_agreed_price(m: Market) -> tuple[Signer, Any]:
    m.send(m.buyer, PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=600))
    return m.buyer, m.make(PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=401))


@case("currency-mismatch", "licences.record_payment")
def pay_in_another_currency(m: Market) -> tuple[Signer, Any]:
    amount = Money(amount_minor=1000, currency="USD")
    return m.buyer, m.make(PaymentRecord, licence_id=m.licence, amount=amount)


@case("unknown-payment", "licences.confirm_payment")
def confirm_an_unknown_payment(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(PaymentConfirm, payment_id=UNKNOWN)


@case("payment-confirmed", "licences.confirm_payment")
def confirm_twice(m: Market) -> tuple[Signer, Any]:
    pid = m.send(m.buyer, PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=1000))
    m.send(m.owner, PaymentConfirm, payment_id=pid)
    return m.owner, m.make(PaymentConfirm, payment_id=pid)


@case("not-the-seller", "licences.confirm_payment")
def the_buyer_confirms(m: Market) -> tuple[Signer, Any]:
    pid = m.send(m.buyer, PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=1000))
    return m.buyer, m.make(PaymentConfirm, payment_id=pid)


# disputes


@case("not-a-party", "disputes.open_dispute")
def a_stranger_opens_a_dispute(m: Market) -> tuple[Signer, Any]:
    return m.other, m.make(DisputeOpen, licence_id=m.licence, grounds="g")


@case("unknown-dispute", "disputes._dispute")
def answer_an_unknown_dispute(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(DisputeAnswer, dispute_id=UNKNOWN, answer="a")


@case("dispute-resolved", "disputes._dispute")
def answer_a_resolved_dispute(m: Market) -> tuple[Signer, Any]:
    did = dispute(m)
    m.send(m.regulator, DisputeResolve, dispute_id=did, decision="d")
    return m.owner, m.make(DisputeAnswer, dispute_id=did, answer="a")


@case("not-the-respondent", "disputes.answer")
def the_opener_answers(m: Market) -> tuple[Signer, Any]:
    return m.buyer, m.make(DisputeAnswer, dispute_id=dispute(m), answer="a")


@case("dispute-answered", "disputes.answer")
def answer_twice(m: Market) -> tuple[Signer, Any]:
    did = dispute(m)
    m.send(m.owner, DisputeAnswer, dispute_id=did, answer="a")
    return m.owner, m.make(DisputeAnswer, dispute_id=did, answer="again")


@case("correction-too-large", "disputes.resolve")
def correct_more_than_was_metered(m: Market) -> tuple[Signer, Any]:
    m.ledger.submit(m.buyer, usage(m, 5))
    return m.regulator, m.make(
        DisputeResolve, dispute_id=dispute(m), decision="d", usage_correction=6
    )


@case("licence-state", "disputes.resolve")
def revoke_a_licence_that_was_never_granted(m: Market) -> tuple[Signer, Any]:
    requested = m.ledger.submit(m.buyer, m.make_request(m.offer))
    opened = m.send(m.buyer, DisputeOpen, licence_id=requested, grounds="never answered")
    return m.regulator, m.make(DisputeResolve, dispute_id=opened, decision="d", revoke_licence=True)


@case("currency-mismatch", "disputes.resolve")
def refund_in_another_currency(m: Market) -> tuple[Signer, Any]:
    refund = Money(amount_minor=10, currency="USD")
    return m.regulator, m.make(DisputeResolve, dispute_id=dispute(m), decision="d", refund=refund)


# the envelope of every rule


@case("wrong-log", "statements.check_origin")
def a_statement_for_another_log(m: Market) -> tuple[Signer, Any]:
    st = PartySetContact(
        issued_at=m.ledger.at,
        nonce=m.ledger.new_id(),
        origin="elsewhere/log",
        contact_commitment=None,
    )
    return m.owner, st


@case("unknown-kind", "rules.decide")
def a_kind_with_no_rule(m: Market) -> tuple[Signer, Any]:
    return m.owner, m.make(AuthLogin, expires_at=m.ledger.at)


def raising_site(tb: TracebackType | None) -> str:
    """`module.function` of the innermost frame of a traceback (where the refusal was raised)."""
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = Path(tb.tb_frame.f_code.co_filename)
    module = path.parent.name if path.name == "__init__.py" else path.stem
    return f"{module}.{tb.tb_frame.f_code.co_name}"


@pytest.mark.parametrize("refusal", CASES, ids=lambda c: f"{c.code}:{c.name}")
def test_refusal(refusal: Case, ledger: Ledger) -> None:
    m = market(ledger)
    signer, statement = refusal.build(m)
    before, index = m.ledger.state.copy(), m.ledger.index
    with pytest.raises(StatementRejected) as raised:
        m.ledger.submit(signer, statement)
    assert raised.value.code == refusal.code, raised.value.message
    assert raising_site(raised.value.__traceback__) == refusal.site
    assert m.ledger.state == before
    assert m.ledger.index == index


def refusal_sites() -> collections.Counter[tuple[str, str]]:
    """(code, module.function) of every refusal raised in ledger/rules/, and `check_origin`
    (decide calls it), counted per call site, read from the source."""
    files = sorted((ROOT / "ledger" / "rules").glob("*.py"))
    found: collections.Counter[tuple[str, str]] = collections.Counter()
    for path in [*files, ROOT / "ledger" / "statements.py"]:
        module = path.parent.name if path.name == "__init__.py" else path.stem
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef):
                continue
            if module == "statements" and function.name != "check_origin":
                continue
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ("refuse", "StatementRejected")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found[(node.args[0].value, f"{module}.{function.name}")] += 1
    return found


def test_every_refusal_has_a_case() -> None:
    sites = refusal_sites()
    cases = collections.Counter((c.code, c.site) for c in CASES)
    missing = {site: n - cases[site] for site, n in sites.items() if cases[site] < n}
    assert not missing, f"refusals with no case in CASES (code, where): {missing}"
    stale = set(cases) - set(sites)
    assert not stale, f"cases for refusals the rules no longer raise: {stale}"
    assert len({code for code, _ in sites}) >= 60  # the scan itself works


# --- every accepted transition ----------------------------------------------------------------


def status_of(m: Market, kind: str, record_id: str) -> str:
    record: Any = getattr(m.ledger.state, kind)(record_id)
    assert record is not None, (kind, record_id)
    return str(record.status)


def test_parties_keys_and_roles(ledger: Ledger) -> None:
    m = market(ledger)
    state = m.ledger.state
    assert state.party_exists(m.owner.id) and not state.party_exists(fingerprint("nobody"))
    assert not state.party_exists(m.ledger.op)  # the operator is no party
    first = state.key(m.owner.id)  # a party's id is the keyid it registered with
    assert first is not None and first.party_id == m.owner.id and first.revoked_at is None
    m.send(m.owner, PartySetContact, contact_commitment=fingerprint("contact"))
    index = m.ledger.index
    old = rotate(m, m.owner)
    revoked, new = state.key(old), state.key(m.owner.keyid)
    assert old == m.owner.id and revoked is not None and revoked.revoked_at == index
    assert new is not None and new.party_id == m.owner.id and new.revoked_at is None
    m.send(m.owner, PartySetContact, contact_commitment=None)  # the new key signs
    m.send(m.ledger.op, RoleGrant, party_id=m.buyer.id, role="witness")
    assert state.roles(m.buyer.id) == {"witness"}
    m.send(m.ledger.op, RoleRevoke, party_id=m.buyer.id, role="witness")
    assert state.roles(m.buyer.id) == frozenset()
    assert state.roles(m.regulator.id) == {"regulator"}


def test_revoking_ones_own_key(ledger: Ledger) -> None:
    m = market(ledger)
    old = rotate(m, m.owner)
    assert m.ledger.state.key(old).revoked_at is not None  # type: ignore[union-attr]
    spare = keyid(public_key(signing_key("Owner next")))
    assert spare == m.owner.keyid
    index = m.ledger.index
    m.send(m.owner, PartyRevokeKey, keyid=m.owner.keyid, reason="lost")
    assert m.ledger.state.key(spare).revoked_at == index  # type: ignore[union-attr]


def test_asset_on_notice_then_certified(ledger: Ledger) -> None:
    m = market(ledger)
    assert status_of(m, "asset", m.fresh) == "on_notice"
    oid = objection(m, m.fresh)
    assert m.ledger.state.open_objections(m.fresh) == 1
    m.send(m.regulator, ObjectionResolve, objection_id=oid, outcome="dismissed", reason="r")
    assert status_of(m, "objection", oid) == "dismissed"
    assert m.ledger.state.open_objections(m.fresh) == 0
    m.ledger.advance(days=NOTICE.days)  # exactly the end of the notice: certifiable
    m.send(m.ledger.op, AssetCertify, asset_id=m.fresh)
    assert status_of(m, "asset", m.fresh) == "certified"


def test_objection_upheld_rejects_the_asset(ledger: Ledger) -> None:
    m = market(ledger)
    oid = objection(m, m.fresh)
    record = m.ledger.state.objection(oid)
    assert record is not None and record.objector_id == m.other.id and record.asset_id == m.fresh
    m.send(m.regulator, ObjectionResolve, objection_id=oid, outcome="upheld", reason="theirs")
    assert status_of(m, "objection", oid) == "upheld"
    assert status_of(m, "asset", m.fresh) == "rejected"
    assert m.ledger.state.claims(fingerprint("fresh")) == []  # a rejected claim is no claim


def test_versions_and_conflicting_claims(ledger: Ledger) -> None:
    m = market(ledger)
    state = m.ledger.state
    m.send(
        m.owner,
        AssetVersion,
        asset_id=m.asset,
        fingerprint=fingerprint("asset v2"),
        size_bytes=1,
        record_count=1,
    )
    asset = state.asset(m.asset)
    assert asset is not None and asset.version == 2 and asset.fingerprint == fingerprint("asset v2")
    assert state.claims(fingerprint("asset")) == []
    assert [a.asset_id for a in state.claims(fingerprint("asset v2"))] == [m.asset]
    # Two others claim the fresh asset's fingerprint: one conflict over three claims.
    rival = m.ledger.asset(m.other, "fresh")
    third = m.ledger.asset(m.buyer, "fresh")
    conflict = state.conflict(fingerprint("fresh"))
    assert conflict is not None and conflict.status == "open"
    assert set(conflict.asset_ids) == {m.fresh, rival, third}
    assert all(state.asset(a).conflict for a in conflict.asset_ids)  # type: ignore[union-attr]
    m.send(
        m.regulator,
        ConflictResolve,
        fingerprint=fingerprint("fresh"),
        rightful_asset_id=rival,
        reason="first to market",
    )
    assert status_of(m, "conflict", fingerprint("fresh")) == "resolved"
    assert status_of(m, "asset", m.fresh) == "rejected" and status_of(m, "asset", third) == (
        "rejected"
    )
    assert not state.asset(rival).conflict  # type: ignore[union-attr]
    assert [a.asset_id for a in state.claims(fingerprint("fresh"))] == [rival]
    m.ledger.certify(rival)
    assert status_of(m, "asset", rival) == "certified"
    # A version onto a claimed fingerprint reopens a conflict; none-rightful rejects them all.
    m.send(
        m.owner,
        AssetVersion,
        asset_id=m.asset,
        fingerprint=fingerprint("fresh"),
        size_bytes=1,
        record_count=1,
    )
    conflict = state.conflict(fingerprint("fresh"))
    assert conflict is not None and conflict.status == "open"
    assert set(conflict.asset_ids) == {m.asset, rival}
    m.send(
        m.regulator,
        ConflictResolve,
        fingerprint=fingerprint("fresh"),
        rightful_asset_id=None,
        reason="neither",
    )
    assert status_of(m, "asset", m.asset) == "rejected" and status_of(m, "asset", rival) == (
        "rejected"
    )


def test_freeze_unfreeze_and_quotes(ledger: Ledger) -> None:
    m = market(ledger)
    m.send(m.regulator, AssetFreeze, asset_id=m.asset, reason="inquiry")
    assert m.ledger.state.asset(m.asset).frozen  # type: ignore[union-attr]
    m.send(m.regulator, AssetUnfreeze, asset_id=m.asset, reason="cleared")
    assert not m.ledger.state.asset(m.asset).frozen  # type: ignore[union-attr]
    m.ledger.publish(m.owner, m.asset)  # tradeable again
    m.send(
        m.ledger.op,
        ValuationQuote,
        asset_id=m.asset,
        units=None,
        term_days=30,
        exclusive=False,
        purpose="research",
        price=Money(amount_minor=700),
        low_minor=600,
        high_minor=900,
        model_as_of=m.ledger.at,
    )


def test_transfer_offered_then_accepted(ledger: Ledger) -> None:
    m = market(ledger)
    tid = m.send(m.owner, RightsOffer, asset_id=m.asset, right="operation", to_party=m.buyer.id)
    transfer = m.ledger.state.transfer(tid)
    assert transfer is not None and transfer.status == "offered"
    assert (transfer.from_party, transfer.to_party, transfer.right) == (
        m.owner.id,
        m.buyer.id,
        "operation",
    )
    m.send(m.buyer, RightsAccept, transfer_id=tid)
    assert status_of(m, "transfer", tid) == "accepted"
    assert m.ledger.state.holder(m.asset, "operation") == m.buyer.id
    assert m.ledger.state.holder(m.asset, "holding") == m.owner.id
    # The operation right decides who sells: the old publisher's offer now sells for the buyer.
    lid = m.ledger.request(m.other, m.offer)
    assert m.licence_record(lid).seller_id == m.buyer.id


def test_lineage_confirmed_by_the_parents_owner(ledger: Ledger) -> None:
    m = market(ledger)
    state = m.ledger.state
    own = m.ledger.asset(m.owner, "own child", derived_from=[m.asset])
    index = m.ledger.index - 1
    link = state.lineage(own, m.asset)
    assert link is not None and link.confirmed_index == index  # one's own asset: at once
    claim = m.ledger.asset(m.other, "their child", derived_from=[m.asset, m.fresh, own])
    for parent in (m.asset, m.fresh, own):
        link = state.lineage(claim, parent)
        assert link is not None and link.confirmed_index is None  # another owner's: waits
    assert state.lineage(m.asset, claim) is None  # the link has a direction
    m.send(m.owner, LineageConfirm, asset_id=claim, parent_id=m.asset)
    assert state.lineage(claim, m.asset).confirmed_index == m.ledger.index - 1  # type: ignore[union-attr]
    assert state.lineage(claim, m.fresh).confirmed_index is None  # type: ignore[union-attr]
    # The owner is whoever holds the holding right now.
    tid = m.send(m.owner, RightsOffer, asset_id=m.fresh, right="holding", to_party=m.buyer.id)
    m.send(m.buyer, RightsAccept, transfer_id=tid)
    with pytest.raises(StatementRejected) as refused:
        m.ledger.submit(m.owner, m.make(LineageConfirm, asset_id=claim, parent_id=m.fresh))
    assert refused.value.code == "not-owner"
    m.send(m.buyer, LineageConfirm, asset_id=claim, parent_id=m.fresh)
    assert state.lineage(claim, m.fresh).confirmed_index is not None  # type: ignore[union-attr]
    # A registrant that holds the parent's holding right by transfer owns it too.
    again = m.ledger.asset(m.buyer, "buyer's child", derived_from=[m.fresh])
    assert state.lineage(again, m.fresh).confirmed_index is not None  # type: ignore[union-attr]


def test_offer_open_then_withdrawn(ledger: Ledger) -> None:
    m = market(ledger)
    offer = m.ledger.state.offer(m.offer)
    assert offer is not None and offer.status == "open" and offer.publisher_id == m.owner.id
    m.send(m.owner, OfferWithdraw, offer_id=m.offer, reason="sold out")
    assert status_of(m, "offer", m.offer) == "withdrawn"


def test_licence_requested_then_active(ledger: Ledger) -> None:
    m = market(ledger)
    lid = m.ledger.request(m.other, m.offer, units=10)
    record = m.licence_record(lid)
    assert record.status == "requested" and record.max_units == 10 and record.starts_at is None
    at = m.ledger.at
    m.send(m.owner, LicenceApprove, licence_id=lid, price=Money(amount_minor=5, currency="EUR"))
    record = m.licence_record(lid)
    assert record.status == "active" and record.price_currency == "EUR"
    assert record.starts_at == at and record.ends_at is not None and record.ends_at > at


def test_important_data_awaits_a_regulator(ledger: Ledger) -> None:
    m = market(ledger)
    important = m.ledger.certified_asset(m.owner, "important", classification="important")
    offer = m.ledger.publish(m.owner, important)
    lid = m.ledger.licence(m.owner, m.buyer, offer)
    assert status_of(m, "licence", lid) == "awaiting_regulator"
    m.send(m.regulator, LicenceRegulatorApprove, licence_id=lid)
    assert status_of(m, "licence", lid) == "active"
    refused = m.ledger.licence(m.owner, m.other, offer)
    m.send(m.regulator, LicenceReject, licence_id=refused, reason="no")
    assert status_of(m, "licence", refused) == "rejected"


def test_licence_rejected_by_the_seller(ledger: Ledger) -> None:
    m = market(ledger)
    lid = m.ledger.request(m.other, m.offer)
    m.send(m.owner, LicenceReject, licence_id=lid, reason="no")
    assert status_of(m, "licence", lid) == "rejected"


@pytest.mark.parametrize("by", ["seller", "regulator"])
def test_licence_revoked(by: str, ledger: Ledger) -> None:
    m = market(ledger)
    m.send(
        m.owner if by == "seller" else m.regulator, LicenceRevoke, licence_id=m.licence, reason="r"
    )
    assert status_of(m, "licence", m.licence) == "revoked"


@pytest.mark.parametrize("status", ["requested", "active"])
def test_licence_terminated_by_the_buyer(status: str, ledger: Ledger) -> None:
    m = market(ledger)
    lid = m.licence if status == "active" else m.ledger.request(m.buyer, m.offer)
    m.send(m.buyer, LicenceTerminate, licence_id=lid)
    assert status_of(m, "licence", lid) == "terminated"


def test_licence_expires_at_the_end_of_its_term_not_before(ledger: Ledger) -> None:
    m = market(ledger)
    m.ledger.advance(days=30)  # the term is [start, start + 30 days): over at its end
    m.send(m.ledger.op, LicenceExpire, licence_id=m.licence)
    assert status_of(m, "licence", m.licence) == "expired"
    # An expired exclusive licence no longer excludes a new one.
    m.ledger.certify(m.fresh)
    exclusive = m.ledger.publish(m.owner, m.fresh, exclusive=True)
    first = m.ledger.licence(m.owner, m.buyer, exclusive)
    m.ledger.advance(days=30)
    m.send(m.ledger.op, LicenceExpire, licence_id=first)
    second = m.ledger.licence(m.owner, m.other, exclusive)
    assert status_of(m, "licence", second) == "active"


def test_payments_add_up_to_the_agreed_price_and_no_further(ledger: Ledger) -> None:
    m = market(ledger)
    assert m.licence_record().price_minor == 1000 and m.licence_record().paid_minor == 0
    m.send(m.buyer, PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=600))
    m.send(m.buyer, PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=400))
    assert m.licence_record().paid_minor == 1000
    huge = Money(amount_minor=2**63 - 1)  # was recorded and confirmed, twice, before
    with pytest.raises(StatementRejected, match="0 still owed"):
        m.ledger.decide(m.buyer, m.make(PaymentRecord, licence_id=m.licence, amount=huge))


def test_a_late_copy_does_not_stop_the_certified_originals_trade(ledger: Ledger) -> None:
    m = market(ledger)
    copy = m.ledger.asset(m.other, "asset")
    original = m.ledger.state.asset(m.asset)
    assert original is not None and original.conflict and original.status == "certified"
    offer = m.ledger.publish(m.owner, m.asset)
    assert status_of(m, "licence", m.ledger.licence(m.owner, m.other, offer)) == "active"
    with pytest.raises(StatementRejected, match="contested claim"):
        m.ledger.decide(m.other, m.make_offer(copy))


def test_usage_up_to_the_quota_exhausts_the_licence(ledger: Ledger) -> None:
    m = market(ledger)
    m.ledger.submit(m.buyer, usage(m, 60))
    assert m.licence_record().units_used == 60
    m.send(m.owner, GatewaySet, asset_id=m.asset, gateway_party=m.gateway.id, enabled=True)
    assert m.ledger.state.is_gateway(m.asset, m.gateway.id)
    events = m.ledger.decide(m.gateway, usage(m, 40))
    assert LicenceStatusChanged(
        licence_id=m.licence, status="exhausted", reason="quota used up"
    ) in (events)
    m.ledger.submit(m.gateway, usage(m, 40))
    record = m.licence_record()
    assert record.units_used == 100 and record.status == "exhausted"
    m.send(m.owner, GatewaySet, asset_id=m.asset, gateway_party=m.gateway.id, enabled=False)
    assert not m.ledger.state.is_gateway(m.asset, m.gateway.id)
    # An exhausted licence no longer holds its term against an exclusive one.
    exclusive = m.ledger.publish(m.owner, m.asset, exclusive=True)
    assert status_of(m, "licence", m.ledger.licence(m.owner, m.other, exclusive)) == "active"


def test_payment_recorded_then_confirmed(ledger: Ledger) -> None:
    m = market(ledger)
    pid = m.send(m.buyer, PaymentRecord, licence_id=m.licence, amount=Money(amount_minor=1000))
    payment = m.ledger.state.payment(pid)
    assert payment is not None and payment.status == "recorded" and payment.licence_id == m.licence
    m.send(m.owner, PaymentConfirm, payment_id=pid)
    assert status_of(m, "payment", pid) == "confirmed"


def test_dispute_open_answered_resolved_with_remedies(ledger: Ledger) -> None:
    m = market(ledger)
    m.ledger.submit(m.buyer, usage(m, 100))
    assert status_of(m, "licence", m.licence) == "exhausted"
    did = dispute(m)
    record = m.ledger.state.dispute(did)
    assert record is not None and record.status == "open"
    assert (record.opened_by, record.respondent) == (m.buyer.id, m.owner.id)
    m.send(m.owner, DisputeAnswer, dispute_id=did, answer="the data matched")
    assert status_of(m, "dispute", did) == "answered"
    resolve = m.make(
        DisputeResolve,
        dispute_id=did,
        decision="partly",
        refund=Money(amount_minor=100),
        revoke_licence=True,
        usage_correction=30,
    )
    events = m.ledger.decide(m.regulator, resolve)
    assert UsageCorrected(licence_id=m.licence, units=30) in events
    assert sum(isinstance(e, AssetTouched) for e in events) == 1
    m.ledger.submit(m.regulator, resolve)
    assert status_of(m, "dispute", did) == "resolved"
    record_after = m.licence_record()
    assert record_after.units_used == 70 and record_after.status == "revoked"


def test_a_usage_correction_reopens_an_exhausted_licence(ledger: Ledger) -> None:
    m = market(ledger)
    m.ledger.submit(m.buyer, usage(m, 100))
    assert status_of(m, "licence", m.licence) == "exhausted"
    did = dispute(m)
    m.send(
        m.regulator, DisputeResolve, dispute_id=did, decision="over-metered", usage_correction=30
    )
    record = m.licence_record()
    assert record.units_used == 70 and record.status == "active"
    m.ledger.submit(m.buyer, usage(m, 30))  # the units given back can be used
    assert status_of(m, "licence", m.licence) == "exhausted"


def test_a_dispute_opened_by_the_seller_without_remedy(ledger: Ledger) -> None:
    m = market(ledger)
    did = m.send(m.owner, DisputeOpen, licence_id=m.licence, grounds="over-use")
    assert m.ledger.state.dispute(did).respondent == m.buyer.id  # type: ignore[union-attr]
    m.send(m.buyer, DisputeAnswer, dispute_id=did, answer="no")
    m.send(m.regulator, DisputeResolve, dispute_id=did, decision="no remedy")
    assert status_of(m, "dispute", did) == "resolved"
    assert status_of(m, "licence", m.licence) == "active"


# --- MemoryState itself -----------------------------------------------------------------------


def test_copy_is_independent_both_ways(ledger: Ledger) -> None:
    m = market(ledger)
    snapshot = m.ledger.state.copy()
    assert snapshot == m.ledger.state
    m.send(m.owner, OfferWithdraw, offer_id=m.offer)
    assert status_of(m, "offer", m.offer) == "withdrawn"
    assert snapshot.offer(m.offer).status == "open"  # type: ignore[union-attr]
    assert snapshot != m.ledger.state
    # Deciding on the snapshot sees the old state; applying there leaves the live one alone.
    ctx = m.ledger.context(m.owner, m.ledger.new_id())
    events = decide(snapshot, m.make(OfferWithdraw, offer_id=m.offer), ctx)
    for event in events:
        snapshot.apply(event, ctx.index, ctx.integrated_at)
    again = snapshot.copy()
    for event in decide(again, m.make(LicenceRevoke, licence_id=m.licence, reason="r"), ctx):
        again.apply(event, ctx.index, ctx.integrated_at)
    assert status_of(m, "licence", m.licence) == "active"
    assert snapshot.licence(m.licence).status == "active"  # type: ignore[union-attr]
    assert again.licence(m.licence).status == "revoked"  # type: ignore[union-attr]


def test_inserting_an_existing_row_raises(ledger: Ledger) -> None:
    m = market(ledger)
    ctx = m.ledger.context(m.buyer, m.ledger.new_id())
    (event, *_) = decide(m.ledger.state, m.make_request(m.offer), ctx)
    m.ledger.state.apply(event, ctx.index, ctx.integrated_at)
    with pytest.raises(DuplicateRow):
        m.ledger.state.apply(event, ctx.index, ctx.integrated_at)


def test_an_empty_state_knows_nothing() -> None:
    state = MemoryState(Ledger().operator)
    assert state.asset(UNKNOWN) is None and state.claims(fingerprint("x")) == []
    assert state.roles(UNKNOWN) == frozenset() and state.open_objections(UNKNOWN) == 0
    assert state.conflicting_licence(UNKNOWN, "a", "z", "", exclusive_only=False) is None
    assert state.key(state.operator.keyid) is None
