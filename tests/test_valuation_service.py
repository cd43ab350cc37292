"""Valuation through the service: a quote with its interval, approaches and weights, recorded
on the ledger; and an honest refusal while there is too little history."""

from __future__ import annotations

import base64
import json

import msgspec
import pytest

from api.client import ApiError
from ledger.privacy import Opening
from ledger.receipts import Receipt, verify_receipt
from tests.test_licences import Market
from tests.world import World, asset_fields


def test_no_history_no_quote(world: World) -> None:
    m = Market(world)
    with pytest.raises(ApiError) as refused:
        world.client(m.buyer).post_json("/v1/valuations/quote", {"asset_id": m.asset, "units": 10})
    assert refused.value.status == 409 and refused.value.code == "valuation-unavailable"


def test_a_quote_is_priced_explained_and_recorded(world: World) -> None:
    m = Market(world)
    for i in range(32):
        units = 20 + 7 * i
        price = 10_000 + 50 * units
        licence_id = m.request(units=units)
        m.approve(licence_id, price=price)  # and paid in full below
        payment = m.sign(
            m.buyer,
            "payment.record",
            licence_id=licence_id,
            amount={"amount_minor": price, "currency": "CNY"},
        )
        m.sign(m.owner, "payment.confirm", payment_id=payment.id)
    buyer = world.client(m.buyer)
    quote = buyer.post_json(
        "/v1/valuations/quote",
        {"asset_id": m.asset, "units": 100, "term_days": 30, "purpose": "research"},
    )
    assert quote["low_minor"] <= quote["price_minor"] <= quote["high_minor"]
    assert quote["interval_useful"] is (quote["high_minor"] <= 4 * quote["low_minor"])
    assert set(quote["approaches"]) == {"market", "income", "cost"}
    assert quote["n_comparables"] > 0 and quote["explanation"]
    entry, _ = verify_receipt(msgspec.convert(quote["receipt"], Receipt), buyer.verifier())
    recorded = json.loads(base64.b64decode(entry.envelope.payload))
    assert "price" not in recorded  # private: committed, opened for the requester
    price = Opening(**quote["openings"]["price"])
    assert price.commitment("valuation.quote", "price") == recorded["commitments"]["price"]
    assert (
        recorded["kind"] == "valuation.quote"
        and price.value["amount_minor"] == quote["price_minor"]
    )
    bigger = buyer.post_json(
        "/v1/valuations/quote",
        {"asset_id": m.asset, "units": 1000, "term_days": 30, "purpose": "research"},
    )
    assert bigger["price_minor"] >= quote["price_minor"]  # more units never cost less
    assert bigger["price_minor"] / 1000 <= quote["price_minor"] / 100  # ...nor more per unit
    indicative = world.client().get_json(f"/v1/assets/{m.asset}/valuation")
    assert indicative["receipt"] is None and indicative["price_minor"] > 0
    with pytest.raises(ApiError) as anonymous:
        world.client().post_json("/v1/valuations/quote", {"asset_id": m.asset})
    assert anonymous.value.status == 401


def test_an_asset_of_a_category_the_model_has_not_seen_is_priced_not_a_500(world: World) -> None:
    """Issue 19: the model was fitted before the category's first registration (it refits every
    few minutes); the quote says so and prices it as a typical new asset, with an interval."""
    m = Market(world)
    for i in range(32):
        price = 10_000 + 350 * i
        licence_id = m.request(units=20 + 7 * i)
        m.approve(licence_id, price=price)
        payment = m.sign(
            m.buyer,
            "payment.record",
            licence_id=licence_id,
            amount={"amount_minor": price, "currency": "CNY"},
        )
        m.sign(m.owner, "payment.confirm", payment_id=payment.id)
    buyer = world.client(m.buyer)
    buyer.post_json("/v1/valuations/quote", {"asset_id": m.asset, "units": 100})  # fits
    novel = world.client().register_asset(m.owner, **asset_fields(category="satellite.imagery")).id
    quote = buyer.post_json("/v1/valuations/quote", {"asset_id": novel, "units": 100})
    assert quote["low_minor"] <= quote["price_minor"] <= quote["high_minor"]
    assert "has not seen category 'satellite.imagery'" in quote["explanation"]
    assert quote["kind"] == "cold" and quote["n_comparables"] == 0
    indicative = world.client().get_json(f"/v1/assets/{novel}/valuation")
    assert indicative["price_minor"] > 0 and "has not seen category" in indicative["explanation"]
    page = world.http.get(f"/assets/{novel}", headers={"accept": "text/html"})
    assert page.status_code == 200
