"""Reading the market: offers (public), licences, usage and payments (parties to the licence,
regulators and the operator)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get
from litestar.params import PathParameter, QueryParameter

from api import access
from api.auth import Principal
from api.deps import Ledger, OptionalCount, Reader, forbid, require_reader
from api.problems import NotFound
from api.schemas import Dispute, Licence, Offer, Payment, UsageSummary, convert
from api.service import LedgerService
from api.throttle import limited
from ledger.storage import catalog, export, market

HexId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{32}$")]
OptionalId = Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{32}$")]
LicenceStatus = Literal[
    "requested",
    "awaiting_regulator",
    "active",
    "rejected",
    "revoked",
    "terminated",
    "expired",
    "exhausted",
]


def _sees_everything(reader: Principal) -> bool:
    return reader.is_regulator or reader.is_operator


def _licence_for(ledger: LedgerService, reader: Principal, licence_id: str) -> dict[str, Any]:
    with ledger.engine.connect() as conn:
        found = market.licence(conn, licence_id)
    if found is None:
        raise NotFound(f"no licence {licence_id}")
    if reader.party_id not in (found["buyer_id"], found["seller_id"]) and not _sees_everything(
        reader
    ):
        raise forbid("a licence is visible to its buyer, its seller and regulators only")
    return found


class MarketController(Controller):
    path = "/v1"
    tags = ["licences"]

    @get(
        "/offers", operation_id="listOffers", sync_to_thread=True, guards=[limited("client.reads")]
    )
    def list_offers(
        self,
        ledger: Ledger,
        reader: Reader,
        asset_id: OptionalId = None,
        open_only: Annotated[bool, QueryParameter()] = True,
        limit: Annotated[int, QueryParameter(ge=1, le=market.MAX_PAGE)] = 50,
    ) -> list[Offer]:
        """Published offers, newest first (open ones only unless open_only=false)."""
        with ledger.engine.connect() as conn:
            rows = market.offers_of(conn, asset_id, open_only=open_only, limit=limit)
        return convert([access.offer_view(reader, r) for r in rows], list[Offer])

    @get("/offers/{offer_id:str}", operation_id="getOffer", sync_to_thread=True)
    def get_offer(self, ledger: Ledger, reader: Reader, offer_id: HexId) -> Offer:
        with ledger.engine.connect() as conn:
            found = market.offer(conn, offer_id)
        if found is None:
            raise NotFound(f"no offer {offer_id}")
        return convert(access.offer_view(reader, found), Offer)

    @get(
        "/licences",
        operation_id="listLicences",
        sync_to_thread=True,
        guards=[limited("client.reads")],
    )
    def list_licences(
        self,
        ledger: Ledger,
        reader: Reader,
        asset_id: OptionalId = None,
        status: Annotated[LicenceStatus | None, QueryParameter()] = None,
        cursor: OptionalCount = None,
        limit: Annotated[int, QueryParameter(ge=1, le=market.MAX_PAGE)] = 50,
    ) -> list[Licence]:
        """Your licences as buyer or seller; every licence for regulators."""
        who = require_reader(reader)
        party = None if _sees_everything(who) else who.party_id
        with ledger.engine.connect() as conn:
            rows = market.licences_for(
                conn, party_id=party, asset_id=asset_id, status=status, limit=limit, before=cursor
            )
        return convert(rows, list[Licence])

    @get("/licences/{licence_id:str}", operation_id="getLicence", sync_to_thread=True)
    def get_licence(self, ledger: Ledger, reader: Reader, licence_id: HexId) -> Licence:
        """Terms, state, and what was agreed, paid and confirmed."""
        return convert(_licence_for(ledger, require_reader(reader), licence_id), Licence)

    @get("/licences/{licence_id:str}/usage", operation_id="getLicenceUsage", sync_to_thread=True)
    def licence_usage(self, ledger: Ledger, reader: Reader, licence_id: HexId) -> UsageSummary:
        """Units used under a licence against its quota, per day."""
        found = _licence_for(ledger, require_reader(reader), licence_id)
        with ledger.engine.connect() as conn:
            daily = market.daily_usage(conn, licence_id=licence_id)
        return convert(
            {
                "licence_id": licence_id,
                "asset_id": found["asset_id"],
                "total_units": found["units_used"],
                "max_units": found["max_units"],
                "daily": daily,
            },
            UsageSummary,
        )

    @get("/assets/{asset_id:str}/usage", operation_id="getAssetUsage", sync_to_thread=True)
    def asset_usage(self, ledger: Ledger, reader: Reader, asset_id: HexId) -> UsageSummary:
        """Units used under all licences of an asset, per day (its owner and regulators)."""
        who = require_reader(reader)
        with ledger.engine.connect() as conn:
            asset = catalog.asset(conn, asset_id, private=False)
            if asset is None:
                raise NotFound(f"no asset {asset_id}")
            holder = catalog.rights_of(conn, asset_id)
            daily = market.daily_usage(conn, asset_id=asset_id)
        holders = {h["holder_id"] for h in holder} | {asset["owner_id"]}
        if who.party_id not in holders and not _sees_everything(who):
            raise forbid("an asset's usage is visible to its right holders and regulators only")
        return convert(
            {
                "licence_id": None,
                "asset_id": asset_id,
                "total_units": sum(d["units"] for d in daily),
                "max_units": None,
                "daily": daily,
            },
            UsageSummary,
        )

    @get("/disputes/{dispute_id:str}", operation_id="getDispute", sync_to_thread=True)
    def get_dispute(self, ledger: Ledger, reader: Reader, dispute_id: HexId) -> Dispute:
        """A dispute and its timeline (a receipt per step): the licence's parties and regulators."""
        who = require_reader(reader)
        with ledger.engine.connect() as conn:
            found = market.dispute(conn, dispute_id)
        if found is None:
            raise NotFound(f"no dispute {dispute_id}")
        _licence_for(ledger, who, found["licence_id"])  # same visibility as the licence
        steps = ("opened_index", "answered_index", "resolved_index")
        found["receipts"] = ledger.receipts([found[s] for s in steps if found[s] is not None])
        return convert(found, Dispute)

    @get("/payments/{payment_id:str}", operation_id="getPayment", sync_to_thread=True)
    def get_payment(self, ledger: Ledger, reader: Reader, payment_id: HexId) -> Payment:
        who = require_reader(reader)
        with ledger.engine.connect() as conn:
            found = market.payment(conn, payment_id)
        if found is None:
            raise NotFound(f"no payment {payment_id}")
        _licence_for(ledger, who, found["licence_id"])  # same visibility as the licence
        return convert(found, Payment)


class ExportPage(msgspec.Struct, frozen=True):
    table: str
    columns: list[str]
    rows: list[list[Any]]
    next: int | None


class ExportController(Controller):
    path = "/v1/export"
    tags = ["audit"]
    guards = [limited("client.reads")]

    @get("/{table:str}", operation_id="exportTable", sync_to_thread=True)
    def export_table(
        self,
        ledger: Ledger,
        reader: Reader,
        table: Annotated[Literal["assets", "usage", "transactions"], PathParameter()],
        after: OptionalCount = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100_000)] = 10_000,
    ) -> ExportPage:
        """A page of a valuation-contract table (regulators and the operator only)."""
        if not _sees_everything(require_reader(reader)):
            raise forbid("the export is for regulators only")
        with ledger.engine.connect() as conn:
            rows, next_cursor = export.page(conn, table, after=after, limit=limit)
        return ExportPage(table, export.columns(table), [list(r) for r in rows], next_cursor)
