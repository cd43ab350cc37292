"""Valuation quotes: what a licence should cost, with a calibrated 90% interval."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_201_CREATED

from api.deps import Ledger, Reader, require_reader
from api.throttle import limited
from ledger.encoding import format_rfc3339_utc
from ledger.privacy import Opening
from ledger.receipts import Receipt
from valuation.model import Quote


class QuoteRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    asset_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
    term_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)] = 365
    units: Annotated[int, msgspec.Meta(ge=1, le=2**62)] | None = None
    exclusive: bool = False
    purpose: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = "analytics"


class Approach(msgspec.Struct, frozen=True):
    estimate_minor: int | None
    weight: float


class Exclusion(msgspec.Struct, frozen=True):
    transaction_id: str
    reason: str


class QuoteOut(msgspec.Struct, frozen=True):
    asset_id: str
    price_minor: int
    low_minor: int  # the 90% interval
    high_minor: int
    currency: str
    approaches: dict[str, Approach]
    n_comparables: int
    excluded: list[Exclusion]
    kind: str  # cold | thin | rich: how much history the asset has
    explanation: str
    # False when the interval spans more than 4x: too little comparable history to mean much
    interval_useful: bool
    model_as_of: str
    receipt: Receipt | None = None  # the ledger entry recording the quote (POST only)
    # The openings of the entry's commitments (price, interval, terms): they are private.
    openings: dict[str, Opening] | None = None


def quote_out(
    quote: Quote, receipt: Receipt | None = None, openings: dict[str, Opening] | None = None
) -> QuoteOut:
    return QuoteOut(
        asset_id=quote.asset_id,
        price_minor=quote.price_minor,
        low_minor=quote.low_minor,
        high_minor=quote.high_minor,
        currency=quote.currency,
        approaches={k: Approach(v.estimate_minor, v.weight) for k, v in quote.approaches.items()},
        n_comparables=quote.n_comparables,
        excluded=[Exclusion(e.transaction_id, e.reason) for e in quote.excluded],
        kind=quote.kind,
        explanation=quote.explanation,
        interval_useful=quote.interval_useful,
        model_as_of=format_rfc3339_utc(quote.as_of),
        receipt=receipt,
        openings=openings,
    )


class ValuationController(Controller):
    path = "/v1"
    tags = ["valuation"]

    @post(
        "/valuations/quote",
        operation_id="quote",
        status_code=HTTP_201_CREATED,
        guards=[limited("client.quotes")],
    )
    async def quote(self, ledger: Ledger, reader: Reader, data: JSONBody[QuoteRequest]) -> QuoteOut:
        """Price a proposed licence; the quote is recorded on the ledger (signed by the log)."""
        # Each quote is an entry the log signs: counted per party as well as per address.
        await ledger.throttle.rate("party.quotes", require_reader(reader).party_id)
        quote = await asyncio.to_thread(
            ledger.valuer.quote,
            data.asset_id,
            units=data.units,
            term_days=data.term_days,
            exclusive=data.exclusive,
            purpose=data.purpose,
        )
        receipt, openings = await asyncio.to_thread(ledger.record_quote, quote, data)
        return quote_out(quote, receipt, openings)

    @get(
        "/assets/{asset_id:str}/valuation",
        operation_id="getAssetValuation",
        sync_to_thread=True,
        guards=[limited("client.reads")],
    )
    def asset_valuation(
        self, ledger: Ledger, asset_id: Annotated[str, PathParameter(pattern=r"^[0-9a-f]{32}$")]
    ) -> QuoteOut:
        """An indicative value for reference terms (a year, unlimited use); not recorded."""
        return quote_out(
            ledger.valuer.quote(
                asset_id, units=None, term_days=365, exclusive=False, purpose="analytics"
            )
        )
