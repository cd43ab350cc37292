"""The regulators' audit API: search, timelines with receipts, and verifiable bundles.

Every endpoint here is for regulators (and the operator) only; anyone else gets 403 and nothing
is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.params import QueryParameter
from litestar.response import Stream

from api.auth import Principal
from api.deps import Ledger, OptionalCount, Reader, forbid, require_reader
from api.problems import NotFound
from api.service import LedgerService
from api.throttle import limited
from ledger.receipts import Receipt
from ledger.storage import audit, bundles

Kind = Literal["transactions", "licences", "usage", "registrations"]
Time = Annotated[
    str | None,
    QueryParameter(pattern=r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z)?$"),
]
Minor = OptionalCount
HexOrNone = Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{32}([0-9a-f]{32})?$")]


def require_regulator(reader: Principal | None) -> Principal:
    who = require_reader(reader)
    if not (who.is_regulator or who.is_operator):
        raise forbid("the audit API is for regulators only")
    return who


class SearchPage(msgspec.Struct, frozen=True):
    kind: str
    rows: list[dict[str, Any]]
    next_cursor: int | None


class Timeline(msgspec.Struct, frozen=True):
    subject: str
    entries: list[Receipt]


class AlertOut(msgspec.Struct, frozen=True):
    kind: str
    severity: str
    reason: str
    evidence: list[int]
    asset_id: str | None
    licence_id: str | None
    parties: list[str]
    refusals: list[int]
    at: str


class AlertList(msgspec.Struct, frozen=True):
    alerts: list[AlertOut]


AlertKind = Literal[
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
]


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    guards = [limited("client.reads")]  # searches and exports over the whole ledger

    @get("/search", operation_id="auditSearch", sync_to_thread=True)
    def search(
        self,
        ledger: Ledger,
        reader: Reader,
        kind: Annotated[Kind, QueryParameter()],
        party: Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{64}$")] = None,
        asset: HexOrNone = None,
        since: Time = None,
        until: Time = None,
        min_price: Minor = None,
        max_price: Minor = None,
        cursor: Minor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=audit.MAX_PAGE)] = 100,
    ) -> SearchPage:
        """Transactions, licences, usage or registrations by party, asset, time and price."""
        require_regulator(reader)
        query = audit.AuditQuery(
            kind, party, asset, since, until, min_price, max_price, cursor, limit
        )
        with ledger.engine.connect() as conn:
            rows, next_cursor = audit.search(conn, query)
        return SearchPage(kind, rows, next_cursor)

    @get("/alerts", operation_id="auditAlerts", sync_to_thread=True)
    def alerts(
        self,
        ledger: Ledger,
        reader: Reader,
        kind: Annotated[AlertKind | None, QueryParameter()] = None,
        asset: HexOrNone = None,
        licence: HexOrNone = None,
        party: Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{64}$")] = None,
        severity: Annotated[Literal["info", "warning", "high"] | None, QueryParameter()] = None,
    ) -> AlertList:
        """Suspicious patterns, each with its evidence (entry indices) and a readable reason."""
        require_regulator(reader)
        found = ledger.alerts()
        kept = [
            a
            for a in found
            if (kind is None or a.kind == kind)
            and (asset is None or a.asset_id == asset)
            and (licence is None or a.licence_id == licence)
            and (party is None or party in a.parties)
            and (severity is None or a.severity == severity)
        ]
        return AlertList([msgspec.convert(a, AlertOut, from_attributes=True) for a in kept])

    @get("/statistics", operation_id="auditStatistics", sync_to_thread=True)
    def statistics(
        self,
        ledger: Ledger,
        reader: Reader,
        format: Annotated[Literal["json", "csv"], QueryParameter()] = "json",
    ) -> Response[Any]:
        """Per category, currency and month: licences, value, price index, HHI, personal share."""
        require_regulator(reader)
        table = ledger.market_statistics()
        if format == "csv":
            return Response(table.write_csv(), media_type="text/csv")
        return Response({"statistics": table.to_dicts()})

    @get("/timeline", operation_id="auditTimeline", sync_to_thread=True)
    def timeline(
        self,
        ledger: Ledger,
        reader: Reader,
        asset: HexOrNone = None,
        party: Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{64}$")] = None,
    ) -> Timeline:
        """Every entry about an asset, or signed by a party, each with its receipt."""
        require_regulator(reader)
        if (asset is None) == (party is None):
            raise NotFound("give exactly one of asset= or party=")
        with ledger.engine.connect() as conn:
            indices = (
                audit.asset_timeline(conn, asset)
                if asset
                else audit.party_timeline(conn, party or "")
            )
        return Timeline(asset or party or "", ledger.receipts(indices))

    @get(
        "/bundle",
        operation_id="auditBundle",
        media_type="application/x-ndjson",
        sync_to_thread=True,
    )
    def bundle(
        self,
        ledger: Ledger,
        reader: Reader,
        start: Annotated[int, QueryParameter(ge=0, le=2**62)] = 0,
        end: Minor = None,
    ) -> Stream:
        """NDJSON: a range of the log with a proof per entry and the checkpoint they lead to;
        check it offline with `dataledger audit verify FILE --vkey VKEY`."""
        require_regulator(reader)
        lines = _bundle(ledger, start, end)
        first = next(lines)  # problems (an unknown range) surface before streaming starts
        return Stream(_prepend(first, lines), media_type="application/x-ndjson")


def _bundle(ledger: LedgerService, start: int, end: int | None) -> Iterator[bytes]:
    with ledger.engine.connect() as conn:
        try:
            # Only regulators get bundles, and they are entitled to every opening.
            yield from bundles.bundle_lines(conn, start, end, ledger.operator, openings=True)
        except LookupError as exc:
            raise NotFound(str(exc)) from exc


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
