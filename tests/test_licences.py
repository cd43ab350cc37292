"""Licences and usage over HTTP, on SQLite and PostgreSQL: every refusal (problem details,
nothing appended), the life of a licence, and races that must not get past the rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import nacl.signing
import pytest

from api.client import ApiError, Submitted
from ledger.encoding import format_rfc3339_utc
from tests.world import World, asset_fields, pid, refused


def policy(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actions": ["use", "train"],
        "purposes": ["research", "analytics"],
        "term_days": 365,
        "territory": ["CN"],
        "max_units": 1000,
        "pricing": {
            "model": "per_unit",
            "currency": "CNY",
            "fixed_minor": 10_000,
            "unit_price_minor": 50,
        },
    }
    body.update(overrides)
    return body


def now(delta: timedelta = timedelta(0)) -> str:
    return format_rfc3339_utc(datetime.now(UTC) + delta)


class Market:
    """An owner with an asset and an offer, and two buyers, on a `World`."""

    def __init__(
        self, world: World, *, classification: str = "general", personal: str = "none", **offer: Any
    ) -> None:
        self.world = world
        self.owner, self.buyer, self.other = (
            world.party("Owner"),
            world.party("Buyer"),
            world.party("Other"),
        )
        self.asset = (
            world.client()
            .register_asset(
                self.owner, **asset_fields(classification=classification, personal_info=personal)
            )
            .id
        )
        self.offer = self.publish(**offer) if classification != "core" else ""

    def sign(self, key: nacl.signing.SigningKey, kind: str, **fields: Any) -> Submitted:
        return self.world.client().sign_and_submit(key, kind, **fields)

    def publish(self, **overrides: Any) -> str:
        return self.sign(
            self.owner, "offer.publish", asset_id=self.asset, policy=policy(**overrides)
        ).id

    def request(self, buyer: nacl.signing.SigningKey | None = None, **overrides: Any) -> str:
        fields: dict[str, Any] = {
            "offer_id": self.offer,
            "purpose": "research",
            "term_days": 30,
            "territory": ["CN"],
            "units": 100,
        }
        fields.update(overrides)
        return self.sign(buyer or self.buyer, "licence.request", **fields).id

    def approve(self, licence_id: str, price: int = 15_000) -> None:
        self.sign(
            self.owner,
            "licence.approve",
            licence_id=licence_id,
            price={"amount_minor": price, "currency": "CNY"},
        )

    def active(self, buyer: nacl.signing.SigningKey | None = None, **overrides: Any) -> str:
        licence_id = self.request(buyer, **overrides)
        self.approve(licence_id)
        return licence_id

    def usage(
        self,
        licence_id: str,
        units: int,
        key: nacl.signing.SigningKey | None = None,
        **overrides: Any,
    ) -> Submitted:
        fields: dict[str, Any] = {
            "licence_id": licence_id,
            "units": units,
            "period_start": now(),
            "period_end": now(),
            "usage_kind": "records",
        }
        fields.update(overrides)
        return self.sign(key or self.buyer, "usage.report", **fields)

    def licence(
        self, licence_id: str, key: nacl.signing.SigningKey | None = None
    ) -> dict[str, Any]:
        return self.world.client(key or self.buyer).get_json(f"/v1/licences/{licence_id}")


# --- the life of a licence -----------------------------------------------------------------------


def test_offer_request_approve_use_pay_confirm(world: World) -> None:
    m = Market(world)
    assert world.client().get_json(f"/v1/offers/{m.offer}")["policy"]["max_units"] == 1000
    licence_id = m.request()
    assert m.licence(licence_id)["status"] == "requested"
    m.approve(licence_id, price=15_000)
    licence = m.licence(licence_id)
    assert (
        licence["status"] == "active"
        and licence["price_minor"] == 15_000
        and licence["max_units"] == 100
    )
    m.usage(licence_id, 40)
    m.usage(licence_id, 10)
    usage = world.client(m.owner).get_json(f"/v1/licences/{licence_id}/usage")
    assert usage["total_units"] == 50 and usage["max_units"] == 100
    assert sum(d["units"] for d in usage["daily"]) == 50
    assert world.client(m.owner).get_json(f"/v1/assets/{m.asset}/usage")["total_units"] == 50

    payment = m.sign(
        m.buyer,
        "payment.record",
        licence_id=licence_id,
        amount={"amount_minor": 15_000, "currency": "CNY"},
        reference="wire 42",
    )
    assert (m.licence(licence_id)["paid_minor"], m.licence(licence_id)["confirmed_minor"]) == (
        15_000,
        0,
    )
    refused(
        world,
        "not-the-seller",
        403,
        lambda: m.sign(m.buyer, "payment.confirm", payment_id=payment.id),
    )
    m.sign(m.owner, "payment.confirm", payment_id=payment.id)
    assert m.licence(licence_id)["confirmed_minor"] == 15_000
    refused(
        world,
        "payment-confirmed",
        409,
        lambda: m.sign(m.owner, "payment.confirm", payment_id=payment.id),
    )

    m.usage(licence_id, 50)
    assert m.licence(licence_id)["status"] == "exhausted"
    m.sign(m.buyer, "licence.terminate", licence_id=m.active(units=10), reason="done")


def test_reject_revoke_terminate_and_expire(world: World) -> None:
    m = Market(world)
    rejected = m.request()
    m.sign(m.owner, "licence.reject", licence_id=rejected, reason="not a fit")
    assert m.licence(rejected)["status"] == "rejected"
    revoked = m.active()
    m.sign(m.owner, "licence.revoke", licence_id=revoked, reason="breach of terms")
    assert m.licence(revoked)["status"] == "revoked"
    refused(world, "licence-state", 409, lambda: m.usage(revoked, 1))  # after revocation

    by_regulator = m.active()
    regulator = world.regulator()
    refused(
        world,
        "not-allowed",
        403,
        lambda: m.sign(m.other, "licence.revoke", licence_id=by_regulator, reason="x"),
    )
    m.sign(regulator, "licence.revoke", licence_id=by_regulator, reason="court order")

    terminated = m.active()
    refused(
        world,
        "not-the-buyer",
        403,
        lambda: m.sign(m.owner, "licence.terminate", licence_id=terminated),
    )
    m.sign(m.buyer, "licence.terminate", licence_id=terminated)
    assert m.licence(terminated)["status"] == "terminated"

    expiring = m.active(term_days=1)
    assert world.service.expire_due() == []  # not yet
    later = datetime.now(UTC) + timedelta(days=1, seconds=1)
    # The ledger signs the expiry once the term is over (as the background task does).
    world.service.sequencer._clock = lambda: later  # type: ignore[attr-defined]
    assert world.service.expire_due(later) == [expiring]
    assert world.service.expire_due(later) == []  # idempotent
    assert m.licence(expiring)["status"] == "expired"


# --- refusals ------------------------------------------------------------------------------------


def test_offers_need_the_operation_right_and_no_core_data(world: World) -> None:
    m = Market(world)
    refused(
        world,
        "right-required",
        403,
        lambda: m.sign(m.other, "offer.publish", asset_id=m.asset, policy=policy()),
    )
    core = Market(world, classification="core")
    refused(world, "core-data", 403, lambda: core.publish())
    refused(
        world,
        "bad-pricing",
        422,
        lambda: m.publish(
            pricing={
                "model": "tiered",
                "tiers": [
                    {"up_to": 100, "unit_price_minor": 5},
                    {"up_to": 50, "unit_price_minor": 4},
                ],
            }
        ),
    )
    m.sign(m.owner, "offer.withdraw", offer_id=m.offer, reason="repricing")
    refused(world, "offer-closed", 409, lambda: m.request())


def test_requests_must_fit_the_offer(world: World) -> None:
    m = Market(world)
    refused(world, "purpose-not-offered", 422, lambda: m.request(purpose="marketing"))
    refused(world, "term-too-long", 422, lambda: m.request(term_days=366))
    refused(world, "territory-not-offered", 422, lambda: m.request(territory=["US"]))
    refused(world, "units-too-many", 422, lambda: m.request(units=1001))
    refused(world, "own-asset", 422, lambda: m.request(m.owner))


def test_personal_data_needs_a_lawful_basis(world: World) -> None:
    m = Market(world, personal="personal")
    problem = refused(world, "lawful-basis-required", 422, lambda: m.request())
    assert "lawful basis" in problem["detail"]
    licence_id = m.request(lawful_basis="consent")
    assert m.licence(licence_id)["lawful_basis"] == "consent"


def test_only_the_operation_right_holder_approves(world: World) -> None:
    m = Market(world)
    licence_id = m.request()
    refused(
        world,
        "right-required",
        403,
        lambda: m.sign(
            m.other,
            "licence.approve",
            licence_id=licence_id,
            price={"amount_minor": 1, "currency": "CNY"},
        ),
    )
    m.approve(licence_id)
    refused(world, "licence-state", 409, lambda: m.approve(licence_id))


def test_important_data_waits_for_a_regulator(world: World) -> None:
    m = Market(world, classification="important")
    licence_id = m.active()
    assert m.licence(licence_id)["status"] == "awaiting_regulator"
    refused(world, "licence-state", 409, lambda: m.usage(licence_id, 1))
    refused(
        world,
        "role-required",
        403,
        lambda: m.sign(m.owner, "licence.regulator_approve", licence_id=licence_id),
    )
    m.sign(world.regulator(), "licence.regulator_approve", licence_id=licence_id)
    assert m.licence(licence_id)["status"] == "active"
    m.usage(licence_id, 1)


def test_exclusive_licences_exclude_overlapping_ones(world: World) -> None:
    m = Market(world, exclusive=True)
    first = m.active()
    second = m.request(m.other)
    refused(world, "exclusive-conflict", 409, lambda: m.approve(second))
    # Non-exclusive offers on the same asset cannot slip in beside an exclusive licence either.
    m.offer = m.publish(exclusive=False)
    plain = m.request(m.other)
    refused(world, "exclusive-conflict", 409, lambda: m.approve(plain))
    m.sign(m.buyer, "licence.terminate", licence_id=first)
    m.approve(second)


def test_usage_within_the_term_and_the_quota(world: World) -> None:
    m = Market(world)
    licence_id = m.active(units=100)
    refused(
        world,
        "outside-term",
        422,
        lambda: m.usage(licence_id, 1, period_start=now(-timedelta(days=2))),
    )
    refused(
        world,
        "outside-term",
        422,
        lambda: m.usage(licence_id, 1, period_end=now(timedelta(days=31))),
    )
    refused(
        world,
        "bad-period",
        422,
        lambda: m.usage(licence_id, 1, period_start=now(timedelta(minutes=1))),
    )
    refused(world, "not-allowed", 403, lambda: m.usage(licence_id, 1, key=m.other))
    m.usage(licence_id, 90)
    problem = refused(world, "quota-exceeded", 422, lambda: m.usage(licence_id, 11))
    assert "10 left" in problem["detail"]
    # A gateway appointed by the owner may report for the licensee.
    gateway = world.party("Gateway")
    refused(world, "not-allowed", 403, lambda: m.usage(licence_id, 1, key=gateway))
    m.sign(m.owner, "gateway.set", asset_id=m.asset, gateway_party=pid(gateway), enabled=True)
    m.usage(licence_id, 10, key=gateway)
    assert m.licence(licence_id)["status"] == "exhausted"


def test_licences_are_private_to_their_parties(world: World) -> None:
    m = Market(world)
    licence_id = m.active()
    for key, allowed in (
        (m.buyer, True),
        (m.owner, True),
        (m.other, False),
        (world.regulator(), True),
    ):
        if allowed:
            assert m.licence(licence_id, key)["licence_id"] == licence_id
        else:
            with pytest.raises(ApiError) as denied:
                m.licence(licence_id, key)
            assert denied.value.status == 403
    with pytest.raises(ApiError) as anonymous:
        world.client().get_json(f"/v1/licences/{licence_id}")
    assert anonymous.value.status == 401
    assert [x["licence_id"] for x in world.client(m.other).get_json("/v1/licences")] == []
    assert [x["licence_id"] for x in world.client(m.buyer).get_json("/v1/licences")] == [licence_id]


# --- races ---------------------------------------------------------------------------------------


def test_concurrent_usage_reports_never_overshoot_the_quota(world: World) -> None:
    m = Market(world)
    licence_id = m.active(units=100)

    def report(_: int) -> int:
        try:
            m.usage(licence_id, 7)
            return 7
        except ApiError as exc:
            assert exc.code == "quota-exceeded", exc.problem
            return 0

    with ThreadPoolExecutor(16) as pool:
        accepted = sum(pool.map(report, range(50)))
    assert accepted == 98  # 14 reports of 7 fit in 100; 50 * 7 = 350 were attempted
    assert m.licence(licence_id)["units_used"] == 98


def test_two_concurrent_exclusive_approvals_exactly_one_wins(world: World) -> None:
    m = Market(world, exclusive=True)
    requests = [m.request(), m.request(m.other)]

    def approve(licence_id: str) -> bool:
        try:
            m.approve(licence_id)
            return True
        except ApiError as exc:
            assert exc.code == "exclusive-conflict", exc.problem
            return False

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(approve, requests))
    assert sorted(outcomes) == [False, True]


# --- export --------------------------------------------------------------------------------------


def test_export_writes_the_valuation_contract_exactly(world: World, tmp_path: Any) -> None:
    import polars as pl

    from api.export import database_chunks, server_chunks, write_all
    from valuation.contract import ASSETS, TRANSACTIONS, USAGE

    m = Market(world)
    licence_id = m.request(units=100)
    m.approve(licence_id, price=15_001)  # room for the unconfirmed payment below
    m.usage(licence_id, 30)
    m.usage(licence_id, 12)
    payment = m.sign(
        m.buyer,
        "payment.record",
        licence_id=licence_id,
        amount={"amount_minor": 15_000, "currency": "CNY"},
    )
    m.sign(m.owner, "payment.confirm", payment_id=payment.id)
    m.sign(
        m.buyer,
        "payment.record",
        licence_id=licence_id,
        amount={"amount_minor": 1, "currency": "CNY"},
    )  # unconfirmed

    direct = write_all(tmp_path / "direct", database_chunks(world.service.engine, chunk=1))
    assert direct == {"assets": 1, "transactions": 1, "usage": 2}
    assets = pl.read_parquet(tmp_path / "direct" / "assets.parquet")
    transactions = pl.read_parquet(tmp_path / "direct" / "transactions.parquet")
    usage = pl.read_parquet(tmp_path / "direct" / "usage" / "*" / "*.parquet")
    assert assets.schema == ASSETS and transactions.schema == TRANSACTIONS and usage.schema == USAGE
    assert assets["quality_score"].to_list() == [0.75]
    row = transactions.row(0, named=True)
    assert (row["transaction_id"], row["price_minor"], row["duration_days"], row["max_units"]) == (
        payment.id,
        15_000,
        30,
        100,
    )
    assert sorted(usage["units"].to_list()) == [12, 30]

    regulator = world.client(world.regulator())
    via_server = write_all(tmp_path / "server", server_chunks(regulator, chunk=1))
    assert via_server == direct
    assert pl.read_parquet(tmp_path / "server" / "assets.parquet").equals(assets)
    with pytest.raises(ApiError) as denied:
        world.client(m.owner).get_json("/v1/export/usage")
    assert denied.value.status == 403


def test_a_frozen_asset_takes_no_offers_licences_or_usage(world: World) -> None:
    m = Market(world)
    licence_id = m.active()
    pending = m.request(m.other)
    regulator = world.regulator()
    refused(
        world,
        "role-required",
        403,
        lambda: m.sign(m.owner, "asset.freeze", asset_id=m.asset, reason="x"),
    )
    m.sign(regulator, "asset.freeze", asset_id=m.asset, reason="court order 2026-17")
    refused(world, "asset-frozen", 403, lambda: m.publish())
    refused(world, "asset-frozen", 403, lambda: m.request())
    refused(world, "asset-frozen", 403, lambda: m.approve(pending))
    refused(world, "asset-frozen", 403, lambda: m.usage(licence_id, 1))
    listed = world.client().get_json("/v1/assets", status="frozen")["assets"]
    assert [a["asset_id"] for a in listed] == [m.asset]
    # The reason is private (the owner and regulators read it); the catalog shows the flag.
    assert listed[0].get("freeze_reason") is None
    owners_view = world.client(m.owner).asset(m.asset)
    assert owners_view["frozen"] and owners_view["freeze_reason"] == "court order 2026-17"
    m.sign(regulator, "asset.unfreeze", asset_id=m.asset, reason="order lifted")
    m.usage(licence_id, 1)
    assert world.client().get_json("/v1/assets", status="frozen")["assets"] == []
