"""The audit API: regulators only; search, timelines with receipts, and bundles that verify
offline (and fail when altered)."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest

from api.client import ApiError
from ledger.bundle import BundleError, verify_bundle
from ledger.receipts import Receipt, verify_receipt
from tests.test_licences import Market
from tests.world import World, pid

AUDIT_GETS = [
    ("/v1/audit/search", {"kind": "licences"}),
    ("/v1/audit/timeline", {"party": "0" * 64}),
    ("/v1/audit/bundle", {}),
    ("/v1/export/usage", {}),
]


def _market_with_a_deal(world: World) -> tuple[Market, str, str]:
    m = Market(world)
    licence_id = m.active(units=100)
    m.usage(licence_id, 5)
    payment = m.sign(
        m.buyer,
        "payment.record",
        licence_id=licence_id,
        amount={"amount_minor": 15_000, "currency": "CNY"},
    )
    m.sign(m.owner, "payment.confirm", payment_id=payment.id)
    return m, licence_id, payment.id


@pytest.mark.parametrize(("path", "params"), AUDIT_GETS, ids=[p for p, _ in AUDIT_GETS])
def test_non_regulators_are_refused_every_audit_endpoint(
    world: World, path: str, params: dict[str, Any]
) -> None:
    m, _, _ = _market_with_a_deal(world)
    before = world.size()
    for client in (world.client(m.owner), world.client(m.buyer)):
        with pytest.raises(ApiError) as denied:
            client.get_json(path, **params)
        assert denied.value.status == 403 and denied.value.code == "forbidden"
    with pytest.raises(ApiError) as anonymous:
        world.client().get_json(path, **params)
    assert anonymous.value.status == 401
    assert world.size() == before


def test_search_by_kind_party_asset_time_and_price(world: World) -> None:
    m, licence_id, payment_id = _market_with_a_deal(world)
    regulator = world.client(world.regulator())
    found = regulator.get_json("/v1/audit/search", kind="transactions", party=pid(m.buyer))
    assert [r["transaction_id"] for r in found["rows"]] == [payment_id]
    assert (
        regulator.get_json("/v1/audit/search", kind="transactions", min_price=15_001)["rows"] == []
    )
    assert (
        len(regulator.get_json("/v1/audit/search", kind="transactions", max_price=15_000)["rows"])
        == 1
    )
    assert [
        r["licence_id"]
        for r in regulator.get_json("/v1/audit/search", kind="licences", asset=m.asset)["rows"]
    ] == [licence_id]
    assert (
        len(regulator.get_json("/v1/audit/search", kind="usage", party=pid(m.buyer))["rows"]) == 1
    )
    assert (
        regulator.get_json("/v1/audit/search", kind="registrations", since="2999-01-01")["rows"]
        == []
    )
    assert (
        len(
            regulator.get_json("/v1/audit/search", kind="registrations", party=pid(m.owner))["rows"]
        )
        == 1
    )


def test_timelines_carry_a_receipt_for_every_entry(world: World) -> None:
    m, _, _ = _market_with_a_deal(world)
    regulator = world.client(world.regulator())
    verifier = regulator.verifier()
    for params in ({"asset": m.asset}, {"party": pid(m.buyer)}):
        timeline = regulator.get_json("/v1/audit/timeline", **params)
        kinds = []
        for raw in timeline["entries"]:
            entry, _ = verify_receipt(msgspec.convert(raw, Receipt), verifier)
            kinds.append(json.loads(base64.b64decode(entry.envelope.payload))["kind"])
        assert kinds, params
    assert kinds == ["party.register", "licence.request", "usage.report", "payment.record"]


def test_bundles_verify_offline_and_fail_when_altered(world: World) -> None:
    _market_with_a_deal(world)
    regulator = world.client(world.regulator())
    verifier = regulator.verifier()
    response = world.http.get(
        "/v1/audit/bundle", headers={"authorization": regulator._http.headers["authorization"]}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/x-ndjson"
    )
    lines = response.content.splitlines()
    report = verify_bundle(lines, verifier)
    assert report.start == 0 and report.end == report.checkpoint.size == len(lines) - 1

    part = world.http.get(
        "/v1/audit/bundle",
        params={"start": 2, "end": 5},
        headers={"authorization": regulator._http.headers["authorization"]},
    ).content.splitlines()
    assert verify_bundle(part, verifier).entries == 3

    def altered(number: int, change: Any) -> list[bytes]:
        copy = list(lines)
        item = json.loads(copy[number])
        change(item)
        copy[number] = json.dumps(item).encode()
        return copy

    def flip_entry(item: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(item["entry"]))
        raw[len(raw) // 2] ^= 1
        item["entry"] = base64.b64encode(bytes(raw)).decode()

    cases = {
        "entry byte": altered(3, flip_entry),
        "proof": altered(
            3, lambda i: i["proof"].__setitem__(0, base64.b64encode(b"\0" * 32).decode())
        ),
        "order": [lines[0], lines[2], lines[1], *lines[3:]],
        "missing": lines[:-1],
        "key": altered(
            0,
            lambda h: h["keys"].update(
                {k: base64.b64encode(b"\1" * 32).decode() for k in list(h["keys"])[:1]}
            ),
        ),
    }
    for name, bad in cases.items():
        with pytest.raises(BundleError):
            verify_bundle(bad, verifier)
        assert name


def test_a_dispute_from_opening_to_a_remedy(world: World) -> None:
    from tests.world import refused

    m, licence_id, _ = _market_with_a_deal(world)
    refused(
        world,
        "not-a-party",
        403,
        lambda: m.sign(m.other, "dispute.open", licence_id=licence_id, grounds="x"),
    )
    dispute = m.sign(
        m.buyer,
        "dispute.open",
        licence_id=licence_id,
        grounds="the delivered file does not match the registered fingerprint",
        evidence_fingerprint="ab" * 32,
    ).id
    assert world.client().get_json(f"/v1/assets/{m.asset}")["open_disputes"] == 1
    assert [d["dispute_id"] for d in m.licence(licence_id)["disputes"]] == [dispute]
    refused(
        world,
        "not-the-respondent",
        403,
        lambda: m.sign(m.buyer, "dispute.answer", dispute_id=dispute, answer="x"),
    )
    m.sign(m.owner, "dispute.answer", dispute_id=dispute, answer="we sent version 2 by mistake")
    regulator = world.regulator()
    refused(
        world,
        "role-required",
        403,
        lambda: m.sign(m.owner, "dispute.resolve", dispute_id=dispute, decision="x"),
    )
    refused(
        world,
        "correction-too-large",
        422,
        lambda: m.sign(
            regulator, "dispute.resolve", dispute_id=dispute, decision="x", usage_correction=6
        ),
    )
    m.sign(
        regulator,
        "dispute.resolve",
        dispute_id=dispute,
        decision="seller at fault",
        refund={"amount_minor": 5_000, "currency": "CNY"},
        revoke_licence=True,
        usage_correction=5,
    )
    licence = m.licence(licence_id)
    assert licence["status"] == "revoked" and licence["units_used"] == 0
    seen = world.client(m.owner).get_json(f"/v1/disputes/{dispute}")
    assert (
        seen["status"] == "resolved"
        and seen["refund_minor"] == 5_000
        and len(seen["receipts"]) == 3
    )
    assert world.client().get_json(f"/v1/assets/{m.asset}")["open_disputes"] == 0
    with pytest.raises(ApiError) as denied:
        world.client(m.other).get_json(f"/v1/disputes/{dispute}")
    assert denied.value.status == 403
    refused(
        world,
        "dispute-resolved",
        409,
        lambda: m.sign(regulator, "dispute.resolve", dispute_id=dispute, decision="again"),
    )


def test_statistics_endpoint_json_and_csv(world: World) -> None:
    m, _, _ = _market_with_a_deal(world)
    reg = world.client(world.regulator())
    rows = reg.get_json("/v1/audit/statistics")["statistics"]
    assert len(rows) == 1 and rows[0]["licences"] == 1 and rows[0]["total_value_minor"] == 15_000
    assert rows[0]["price_index"] == 100.0 and rows[0]["hhi_sellers"] == 10_000
    assert rows[0]["currency"] == "CNY"
    csv = reg.get_text("/v1/audit/statistics", format="csv")
    assert csv.splitlines()[0].startswith("category,month,licences,total_value_minor")
    with pytest.raises(ApiError) as denied:
        world.client(m.owner).get_json("/v1/audit/statistics")
    assert denied.value.status == 403
