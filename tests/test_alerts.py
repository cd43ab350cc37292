"""Alerts: for each kind a scenario that must raise it and one that must not; then the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.client import ApiError
from ledger import alerts as al
from ledger.encoding import format_rfc3339_utc
from tests.test_licences import Market
from tests.world import World, asset_fields, pid

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def at(days: float) -> str:
    return format_rfc3339_utc(T0 + timedelta(days=days))


def trade(
    i: int,
    seller: str,
    buyer: str,
    price: int = 1000,
    units: int = 10,
    asset: str = "a1",
    days: float = 0,
) -> al.Trade:
    return al.Trade(
        f"t{i}", f"l{i}", asset, "transport", seller, buyer, at(days), price, units, 100 + i, 50 + i
    )


class TestWashCycles:
    def test_a_round_trip_is_flagged(self) -> None:
        found = al.wash_cycles([trade(1, "A", "B"), trade(2, "C", "D"), trade(3, "B", "A")])
        assert [a.kind for a in found] == ["wash-cycle"]
        assert found[0].evidence == (101, 103) and found[0].parties == ("A", "B")

    def test_a_three_party_ring_is_flagged(self) -> None:
        found = al.wash_cycles([trade(1, "A", "B"), trade(2, "B", "C"), trade(3, "C", "A")])
        assert len(found) == 1 and set(found[0].parties) == {"A", "B", "C"}

    def test_one_way_trade_is_not(self) -> None:
        assert (
            al.wash_cycles(
                [trade(1, "A", "B"), trade(2, "A", "B"), trade(3, "A", "C"), trade(4, "C", "B")]
            )
            == []
        )


def test_wash_cycle_reasons_say_what_money_went_round() -> None:
    found = al.wash_cycles([trade(1, "A", "B", price=980_000), trade(2, "B", "A", price=20_000)])
    assert "worth 10,000.00 CNY" in found[0].reason and "minor units" not in found[0].reason


class TestRelatedPartyInflated:
    def market(self, inflated: int) -> list[al.Trade]:
        return [trade(i, "S", f"B{i}", price=1000) for i in range(8)] + [
            trade(9, "X", "Y", price=inflated)
        ]

    def test_related_and_inflated(self) -> None:
        found = al.related_party_inflated(self.market(10_000), [("Y", "X")])
        assert [a.licence_id for a in found] == ["l9"] and "10.0x" in found[0].reason
        # 10,000 minor units for 10 units; the median 1,000 for 10
        assert "at 10.00 CNY per unit" in found[0].reason
        assert "transport median of 1.00 CNY" in found[0].reason

    def test_related_at_a_normal_price_is_not(self) -> None:
        assert al.related_party_inflated(self.market(1200), [("Y", "X")]) == []

    def test_inflated_between_strangers_is_not(self) -> None:
        assert al.related_party_inflated(self.market(10_000), []) == []


class TestUsageBurst:
    def usage(self, burst: int) -> list[al.Usage]:
        steady = [al.Usage("a1", at(-80 + 7 * w), 20, w) for w in range(10)]
        return [*steady, al.Usage("a1", at(-2), burst, 99)]

    def test_a_burst_right_before_a_sale(self) -> None:
        found = al.usage_burst_before_sale([trade(1, "S", "B")], self.usage(5000))
        assert len(found) == 1 and 99 in found[0].evidence and 101 in found[0].evidence

    def test_steady_usage_is_not(self) -> None:
        assert al.usage_burst_before_sale([trade(1, "S", "B")], self.usage(25)) == []


class TestRefusalsAndInformational:
    def refusal(
        self, i: int, code: str, licence: str = "l1", kind: str = "usage.report"
    ) -> al.Refusal:
        return al.Refusal(i, kind, code, licence, "a1", at(i), "detail")

    def test_repeated_refused_usage(self) -> None:
        refusals = [self.refusal(i, "quota-exceeded") for i in range(3)]
        found = al.repeated_refused_usage(refusals, {"l1": 7})
        assert found[0].evidence == (7,) and found[0].refusals == (0, 1, 2)

    def test_two_refusals_or_other_codes_are_not(self) -> None:
        refusals = [
            self.refusal(0, "quota-exceeded"),
            self.refusal(1, "outside-term"),
            self.refusal(2, "bad-signature"),
        ]
        assert al.repeated_refused_usage(refusals, {"l1": 7}) == []

    def test_frozen_asset_activity(self) -> None:
        found = al.frozen_asset_activity([self.refusal(0, "asset-frozen", kind="offer.publish")])
        assert found[0].kind == "frozen-asset-activity" and found[0].refusals == (0,)
        assert al.frozen_asset_activity([self.refusal(0, "quota-exceeded")]) == []

    def test_personal_data_licences_and_conflicts(self) -> None:
        lic = al.PersonalLicence("l1", "a1", "B", "personal", "consent", "research", "active", 12)
        assert "consent" in al.personal_data_licences([lic])[0].reason
        assert al.personal_data_licences([]) == []
        assert al.conflicting_claims([al.OpenConflict("f" * 64, ("a", "b"), (3, 9))])[
            0
        ].evidence == (3, 9)
        assert al.conflicting_claims([]) == []


class TestPriceOutsideInterval:
    def test_outside_and_inside(self) -> None:
        quote = al.Quote("a1", at(-1), 10, 1000, 800, 1200, 90)
        assert al.price_outside_interval([trade(1, "S", "B", price=2000)], [quote])[0].evidence == (
            90,
            51,
            101,
        )
        assert al.price_outside_interval([trade(1, "S", "B", price=1100)], [quote]) == []
        assert al.price_outside_interval([trade(1, "S", "B", price=2000)], []) == []

    def test_the_reason_reads_as_money(self) -> None:
        quote = al.Quote("a1", at(-1), 10, 38_000, 36_812, 40_826, 90)
        (found,) = al.price_outside_interval([trade(1, "S", "B", price=980_000)], [quote])
        assert found.reason == (
            "agreed 9,800.00 CNY, above the 90% interval 368.12 CNY .. 408.26 CNY "
            "of the quote at entry 90"
        )

    def test_a_quote_in_another_currency_does_not_judge_the_deal(self) -> None:
        quote = al.Quote("a1", at(-1), 10, 1000, 800, 1200, 90, currency="USD")
        assert al.price_outside_interval([trade(1, "S", "B", price=2000)], [quote]) == []


def test_alerts_through_the_api(world: World) -> None:
    m = Market(world, personal="personal")
    licence_id = m.active(units=10, lawful_basis="consent")
    m.usage(licence_id, 10)  # exhausted
    for _ in range(3):
        with pytest.raises(ApiError):
            m.usage(licence_id, 1)
    regulator = world.regulator()
    m.sign(regulator, "asset.freeze", asset_id=m.asset, reason="investigation")
    with pytest.raises(ApiError):
        m.publish()
    fingerprint = "cd" * 32
    world.client().register_asset(m.owner, **asset_fields(fingerprint=fingerprint))
    world.client().register_asset(m.other, **asset_fields(fingerprint=fingerprint))

    reg = world.client(regulator)
    found = reg.get_json("/v1/audit/alerts")["alerts"]
    kinds = {a["kind"] for a in found}
    assert {
        "repeated-refused-usage",
        "personal-data-licence",
        "conflicting-claim",
        "frozen-asset-activity",
    } <= kinds
    only = reg.get_json("/v1/audit/alerts", kind="personal-data-licence")["alerts"]
    assert [a["licence_id"] for a in only] == [licence_id] and only[0]["evidence"]
    assert reg.get_json("/v1/audit/alerts", party=pid(m.buyer), kind="personal-data-licence")[
        "alerts"
    ]
    with pytest.raises(ApiError) as denied:
        world.client(m.owner).get_json("/v1/audit/alerts")
    assert denied.value.status == 403


def test_objections_left_standing_past_the_ruling_period_are_overdue() -> None:
    standing = [
        al.StandingObjection("o1", "a1", at(0), 7),
        al.StandingObjection("o2", "a1", at(0), 9),
        al.StandingObjection("o3", "a2", at(20), 11),
    ]
    found = al.objections_overdue(standing, T0 + timedelta(days=31))
    assert [(a.kind, a.asset_id, a.evidence, a.severity) for a in found] == [
        ("objection-overdue", "a1", (7, 9), "high")
    ]
    assert "31 days after the notice ended" in found[0].reason
    assert al.objections_overdue(standing, T0 + timedelta(days=29)) == []


def test_sybil_ring_needs_new_single_seller_buyers_far_above_the_market() -> None:
    joined = {f"s{i}": al.Registration(f"s{i}", at(59), 100 + i) for i in range(4)}
    joined |= {f"r{i}": al.Registration(f"r{i}", at(-200), 10 + i) for i in range(3)}
    market = [trade(i, ("X", "Y")[i % 2], f"r{i % 3}", days=i) for i in range(12)]
    shells = [trade(20 + i, "X", f"s{i}", price=10_000, days=60 + i) for i in range(4)]
    found = al.sybil_rings(market + shells, joined)
    assert [a.kind for a in found] == ["sybil-ring"]
    assert found[0].parties == ("X", "s0", "s1", "s2", "s3")
    assert {100, 101, 102, 103} <= set(found[0].evidence)
    assert al.sybil_rings(market + shells[:2], joined) == []  # two are not a ring
    fair = [trade(20 + i, "X", f"s{i}", price=1100, days=60 + i) for i in range(4)]
    assert al.sybil_rings(market + fair, joined) == []  # new buyers at the market price
    old = {k: al.Registration(k, at(-300), v.index) for k, v in joined.items()}
    assert al.sybil_rings(market + shells, old) == []  # long-standing parties: no shells
