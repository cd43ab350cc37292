"""The sybil attack of issue 16, through the service: twenty freshly registered buyers each buy
one licence of the attacker's asset at ten times the market, with payments recorded and
confirmed. The quote moves at most 20 %, its neighbour's too, the trades are listed as
excluded, and regulators get a `sybil-ring` alert with the entries as evidence."""

from __future__ import annotations

import json
from typing import Any

import nacl.signing

from api.valuation_service import Valuer
from ledger.encoding import b64decode
from ledger.entries import decode_entry
from tests.test_licences import Market
from tests.world import World, pid

QUOTE = {"units": 100, "term_days": 30, "purpose": "research"}


def _trade(m: Market, buyer: nacl.signing.SigningKey, units: int, price: int) -> None:
    licence_id = m.request(buyer, units=units)
    m.approve(licence_id, price=price)
    payment = m.sign(
        buyer,
        "payment.record",
        licence_id=licence_id,
        amount={"amount_minor": price, "currency": "CNY"},
    )
    m.sign(m.owner, "payment.confirm", payment_id=payment.id)


def _kind(world: World, index: int) -> str:
    body = world.client().get_json(f"/v1/log/entries/{index}")
    envelope = decode_entry(b64decode(body["entry"])).envelope
    return str(json.loads(b64decode(envelope.payload))["kind"])


def _quote(world: World, key: nacl.signing.SigningKey, asset_id: str) -> dict[str, Any]:
    return world.client(key).post_json("/v1/valuations/quote", {"asset_id": asset_id, **QUOTE})


def _honest_market(world: World) -> tuple[Market, Market, list[nacl.signing.SigningKey]]:
    world.service.valuer = Valuer(world.service.engine, refit_seconds=0)  # refit on every quote
    attacker, neighbour, third = Market(world), Market(world), Market(world)
    regulars = [world.party(f"Regular buyer {i}") for i in range(6)]
    for round_ in range(2):
        for n, m in enumerate((attacker, neighbour, third)):
            for i, buyer in enumerate(regulars):
                units = 20 + 13 * i + 5 * round_
                _trade(m, buyer, units, 10_000 + 40 * units + 700 * n)
    return attacker, neighbour, regulars


def test_twenty_new_buyers_at_ten_times_the_market_move_the_quote_little(world: World) -> None:
    attacker, neighbour, regulars = _honest_market(world)
    regulator = world.regulator()
    before = _quote(world, regulars[0], attacker.asset)["price_minor"]
    neighbour_before = _quote(world, regulars[0], neighbour.asset)["price_minor"]
    alerts = world.client(regulator).get_json("/v1/audit/alerts", kind="sybil-ring")["alerts"]
    assert alerts == []  # an honest market raises none

    shells = [world.party(f"Shell {i}") for i in range(20)]
    for shell in shells:
        _trade(attacker, shell, 100, 10 * (10_000 + 40 * 100))

    after = _quote(world, regulars[0], attacker.asset)
    assert 0.8 <= after["price_minor"] / before <= 1.2, (before, after["price_minor"])
    neighbour_after = _quote(world, regulars[0], neighbour.asset)["price_minor"]
    assert 0.8 <= neighbour_after / neighbour_before <= 1.2
    reasons = [e["reason"] for e in after["excluded"]]
    assert reasons.count("sybil_ring") == 20, reasons

    alerts = world.client(regulator).get_json("/v1/audit/alerts", kind="sybil-ring")["alerts"]
    assert len(alerts) == 1
    ring = alerts[0]
    assert ring["severity"] == "high" and ring["asset_id"] == attacker.asset
    assert ring["parties"][0] == pid(attacker.owner)
    assert set(ring["parties"][1:]) == {pid(s) for s in shells}
    # the evidence is the shells' registrations, licence requests and payment confirmations
    assert len(ring["evidence"]) == 20 * 3
    kinds = [_kind(world, i) for i in ring["evidence"]]
    assert sorted(set(kinds)) == ["licence.request", "party.register", "payment.confirm"]
    assert "sybil ring" in ring["reason"]


def test_new_buyers_at_the_market_price_are_no_ring(world: World) -> None:
    attacker, _, regulars = _honest_market(world)
    before = _quote(world, regulars[0], attacker.asset)["price_minor"]
    for i in range(6):
        _trade(attacker, world.party(f"Newcomer {i}"), 100, 10_000 + 40 * 100)
    after = _quote(world, regulars[0], attacker.asset)
    assert "sybil_ring" not in [e["reason"] for e in after["excluded"]]
    assert 0.8 <= after["price_minor"] / before <= 1.25
    regulator = world.regulator()
    assert world.client(regulator).get_json("/v1/audit/alerts", kind="sybil-ring")["alerts"] == []
