"""Reading the registry: parties, assets, rights, objections, conflicts, certificates.

Public: the catalog's public fields, rights holders, objections, histories (entries are public
anyway). Private fields — an asset's cost, quality and schema, a party's contact details — only
for the party itself, regulators and the operator.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import string
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any, Literal

from litestar import Controller, MediaType, Request, Response, delete, get, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from api import access
from api.controllers.statements import receipt_response
from api.deps import Ledger, OptionalCount, Reader, forbid, require_reader
from api.paging import within_bytes
from api.problems import NotFound
from api.schemas import (
    AssetDetail,
    CatalogPage,
    Certificate,
    Conflict,
    Contact,
    History,
    Holder,
    Objection,
    Party,
    Rights,
    Transfer,
    Version,
    convert,
)
from api.service import LedgerService
from api.throttle import client_address, limited
from ledger.privacy import SignedStatement
from ledger.receipts import Receipt
from ledger.storage import catalog

HISTORY_PAGE_MAX = 500
HISTORY_PAGE_BYTES = 1 << 20  # entries are up to ~60 kB: a page of 1 MiB, not 60 MiB

HexId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{32}$")]
PartyId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{64}$")]
Status = Literal["on_notice", "certified", "rejected", "frozen"]
Classification = Literal["general", "important", "core"]


def _asset_or_404(ledger: LedgerService, asset_id: str, *, private: bool = False) -> dict[str, Any]:
    with ledger.engine.connect() as conn:
        found = catalog.asset(conn, asset_id, private=private)
    if found is None:
        raise NotFound(f"no asset {asset_id}")
    return found


class PartyController(Controller):
    path = "/v1/parties"
    tags = ["parties"]

    @post(
        "/",
        operation_id="registerParty",
        status_code=HTTP_201_CREATED,
        guards=[limited("client.writes")],
    )
    async def register_party(
        self, ledger: Ledger, request: Request[Any, Any, Any], data: JSONBody[SignedStatement]
    ) -> Response[Receipt]:
        """Register a party: a `party.register` statement self-signed by the key it registers.

        201 with the receipt; resubmitting the identical envelope returns the original receipt
        with 200 and appends nothing.
        """
        return receipt_response(
            await ledger.submit(data, frozenset({"party.register"}), client=client_address(request))
        )

    @get("/{party_id:str}", operation_id="getParty")
    async def get_party(self, ledger: Ledger, reader: Reader, party_id: PartyId) -> Party:
        """A party's public record; its contact details too for itself and regulators, and its
        daily quotas for itself."""

        def read() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            with ledger.engine.connect() as conn:
                return catalog.party(conn, party_id), catalog.contact(conn, party_id)

        found, contact = await asyncio.to_thread(read)
        if found is None:
            raise NotFound(f"no party {party_id}")
        if contact and access.may_read_private(reader, party_id):
            found["contact"] = contact
        if reader is not None and reader.party_id == party_id and ledger.throttle.enabled:
            quotas = await ledger.throttle.quotas(party_id)
            if quotas:
                found["quotas"] = {unit: dataclasses.asdict(use) for unit, use in quotas.items()}
        return convert(found, Party)

    @put("/{party_id:str}/contact", operation_id="putContact", sync_to_thread=True)
    def put_contact(
        self, ledger: Ledger, reader: Reader, party_id: PartyId, data: JSONBody[Contact]
    ) -> Contact:
        """Store contact details matching the commitment on the ledger (the party itself only)."""
        if require_reader(reader).party_id != party_id:
            raise forbid("only the party itself may store its contact details")
        details = {"email": data.email, "phone": data.phone, "address": data.address}
        ledger.put_contact(party_id, data.salt, details)
        return data

    @get("/{party_id:str}/contact", operation_id="getContact", sync_to_thread=True)
    def get_contact(self, ledger: Ledger, reader: Reader, party_id: PartyId) -> Contact:
        """Contact details: the party itself, regulators and the operator only."""
        if not access.may_read_private(require_reader(reader), party_id):
            raise forbid("contact details are personal information: not yours to read")
        with ledger.engine.connect() as conn:
            found = catalog.contact(conn, party_id)
        if found is None:
            raise NotFound(f"no contact details stored for {party_id}")
        return convert(found, Contact)

    @delete("/{party_id:str}/contact", operation_id="eraseContact", sync_to_thread=True)
    def erase_contact(self, ledger: Ledger, reader: Reader, party_id: PartyId) -> None:
        """Erase contact details for good (the party itself or the operator)."""
        who = require_reader(reader)
        if who.party_id != party_id and not who.is_operator:
            raise forbid("only the party itself or the operator may erase contact details")
        if not ledger.erase_contact(party_id):
            raise NotFound(f"no contact details stored for {party_id}")


class AssetController(Controller):
    path = "/v1/assets"
    tags = ["assets"]

    @post(
        "/",
        operation_id="registerAsset",
        status_code=HTTP_201_CREATED,
        guards=[limited("client.writes")],
    )
    async def register_asset(
        self, ledger: Ledger, request: Request[Any, Any, Any], data: JSONBody[SignedStatement]
    ) -> Response[Receipt]:
        """Register a data asset (`asset.register`); its id is the statement id of the payload."""
        return receipt_response(
            await ledger.submit(data, frozenset({"asset.register"}), client=client_address(request))
        )

    @get("/", operation_id="listAssets", sync_to_thread=True, guards=[limited("client.reads")])
    def list_assets(
        self,
        ledger: Ledger,
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        category: Annotated[str | None, QueryParameter(max_length=64)] = None,
        classification: Annotated[Classification | None, QueryParameter()] = None,
        owner: Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{64}$")] = None,
        status: Annotated[Status | None, QueryParameter()] = None,
        cursor: OptionalCount = None,
        limit: Annotated[int, QueryParameter(ge=1, le=catalog.MAX_PAGE)] = 50,
    ) -> CatalogPage:
        """The catalog, newest first: text search over title and description, filters, cursor."""
        flt = catalog.AssetFilter(q, category, classification, owner, status)
        with ledger.engine.connect() as conn:
            rows, next_cursor = catalog.search_assets(conn, flt, before=cursor, limit=limit)
        return convert({"assets": rows, "next_cursor": next_cursor}, CatalogPage)

    @get("/{asset_id:str}", operation_id="getAsset", sync_to_thread=True)
    def get_asset(self, ledger: Ledger, reader: Reader, asset_id: HexId) -> AssetDetail:
        """An asset: public fields for all; cost, quality and schema for owner and regulators."""
        public = _asset_or_404(ledger, asset_id)
        if access.may_read_private(reader, public["owner_id"]):
            return convert(_asset_or_404(ledger, asset_id, private=True), AssetDetail)
        return convert(public, AssetDetail)

    @get("/{asset_id:str}/versions", operation_id="getAssetVersions", sync_to_thread=True)
    def get_versions(self, ledger: Ledger, reader: Reader, asset_id: HexId) -> list[Version]:
        owner = _asset_or_404(ledger, asset_id)["owner_id"]
        with ledger.engine.connect() as conn:
            rows = catalog.versions(conn, asset_id)
        return convert([access.version_view(reader, owner, r) for r in rows], list[Version])

    @get(
        "/{asset_id:str}/history",
        operation_id="getAssetHistory",
        sync_to_thread=True,
        guards=[limited("client.reads")],
    )
    def get_history(
        self,
        ledger: Ledger,
        asset_id: HexId,
        after: Annotated[int | None, QueryParameter(ge=0, le=2**62)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=HISTORY_PAGE_MAX)] = 100,
    ) -> History:
        """The entries about the asset, in order, each with its receipt: a page of `limit`
        entries (and at most 1 MiB of them) after index `after`. When more follow,
        `next_cursor` says where to go on (`truncated` is true): nothing is cut silently."""
        _asset_or_404(ledger, asset_id)
        with ledger.engine.connect() as conn:
            indices = catalog.history(conn, asset_id, after=after, limit=limit + 1)
        with closing(ledger.iter_receipts(indices[:limit])) as lazily:
            # Only the receipts the page keeps are built: each costs a proof.
            receipts = within_bytes(lazily, lambda r: len(r.entry), HISTORY_PAGE_BYTES)
        more = len(receipts) < len(indices)
        cursor = receipts[-1].index if more and receipts else None
        return History(asset_id, receipts, next_cursor=cursor, truncated=cursor is not None)

    @get("/{asset_id:str}/rights", operation_id="getAssetRights", sync_to_thread=True)
    def get_rights(self, ledger: Ledger, asset_id: HexId) -> Rights:
        """Who holds each of the three rights, and every transfer with its receipts."""
        _asset_or_404(ledger, asset_id)
        with ledger.engine.connect() as conn:
            holders = catalog.rights_of(conn, asset_id)
            transfers = catalog.transfers_of(conn, asset_id)
        for t in transfers:
            indices = [t["offered_index"]] + ([t["accepted_index"]] if t["accepted_index"] else [])
            t["receipts"] = ledger.receipts(indices)
        return Rights(
            asset_id=asset_id,
            holders=convert(holders, list[Holder]),
            transfers=convert(transfers, list[Transfer]),
        )

    @get("/{asset_id:str}/objections", operation_id="getAssetObjections", sync_to_thread=True)
    def get_objections(self, ledger: Ledger, reader: Reader, asset_id: HexId) -> list[Objection]:
        owner = _asset_or_404(ledger, asset_id)["owner_id"]
        with ledger.engine.connect() as conn:
            rows = catalog.objections_of(conn, asset_id)
        return convert([access.objection_view(reader, owner, r) for r in rows], list[Objection])

    @get("/{asset_id:str}/certificate", operation_id="getCertificate", sync_to_thread=True)
    def get_certificate(
        self,
        ledger: Ledger,
        asset_id: HexId,
        format: Annotated[Literal["json", "html"], QueryParameter()] = "json",
    ) -> Response[Any]:
        """The certificate: the certify entry's receipt and a readable summary (JSON or HTML)."""
        certificate = build_certificate(ledger, asset_id)
        if format == "html":
            return Response(certificate_html(certificate), media_type=MediaType.HTML)
        return Response(certificate)


class RegistryObjectController(Controller):
    path = "/v1"
    tags = ["assets"]

    @get("/transfers/{transfer_id:str}", operation_id="getTransfer", sync_to_thread=True)
    def get_transfer(self, ledger: Ledger, transfer_id: HexId) -> Transfer:
        with ledger.engine.connect() as conn:
            found = catalog.transfer(conn, transfer_id)
        if found is None:
            raise NotFound(f"no transfer {transfer_id}")
        return convert(found, Transfer)

    @get("/objections/{objection_id:str}", operation_id="getObjection", sync_to_thread=True)
    def get_objection(self, ledger: Ledger, reader: Reader, objection_id: HexId) -> Objection:
        with ledger.engine.connect() as conn:
            found = catalog.objection(conn, objection_id)
            asset = found and catalog.asset(conn, found["asset_id"], private=False)
        if found is None:
            raise NotFound(f"no objection {objection_id}")
        owner = asset["owner_id"] if asset else None
        return convert(access.objection_view(reader, owner, found), Objection)

    @get("/conflicts/{fingerprint:str}", operation_id="getConflict", sync_to_thread=True)
    def get_conflict(self, ledger: Ledger, reader: Reader, fingerprint: PartyId) -> Conflict:
        with ledger.engine.connect() as conn:
            found = catalog.conflict(conn, fingerprint)
            claims = [
                catalog.asset(conn, a, private=False) for a in (found or {}).get("asset_ids", [])
            ]
        if found is None:
            raise NotFound(f"no conflict on fingerprint {fingerprint}")
        owners = [c["owner_id"] for c in claims if c is not None]
        return convert(access.conflict_view(reader, owners, found), Conflict)


def build_certificate(ledger: LedgerService, asset_id: str) -> Certificate:
    found = _asset_or_404(ledger, asset_id)
    if found["status"] != "certified" or found["certified_index"] is None:
        raise NotFound(f"asset {asset_id} is not certified (status: {found['status']})")
    with ledger.engine.connect() as conn:
        owner = catalog.party(conn, found["owner_id"])
        holders = catalog.rights_of(conn, asset_id)
    return Certificate(
        asset_id=asset_id,
        title=found["title"],
        owner_id=found["owner_id"],
        owner_name=owner["name"] if owner else "",
        owner_roles=owner["roles"] if owner else [],
        owner_name_shared=bool(owner and owner["name_shared"]),
        fingerprint=found["fingerprint"],
        version=found["version"],
        classification=found["classification"],
        category=found["category"],
        registered_at=found["registered_at"],
        registered_index=found["registered_index"],
        certified_index=found["certified_index"],
        holders=convert(holders, list[Holder]),
        receipt=ledger.receipt(found["certified_index"]),
        log_key=ledger.signer.vkey,
    )


_RIGHT_NAMES = {
    "holding": "Holding right 持有权",
    "processing": "Processing/use right 加工使用权",
    "operation": "Product operation right 经营权",
}


def certificate_html(c: Certificate) -> str:
    """A printable, self-contained certificate page (no scripts, no external assets)."""
    e = html.escape
    rows = "".join(
        f"<tr><th scope='row'>{e(_RIGHT_NAMES.get(h.right, h.right))}</th>"
        f"<td><code>{e(h.holder_id)}</code></td></tr>"
        for h in c.holders
    )
    template = string.Template(_CERTIFICATE_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        title=e(c.title),
        asset_id=e(c.asset_id),
        owner_name=e(c.owner_name),
        owner_roles="".join(f" · {e(r)}" for r in c.owner_roles),
        owner_shared=(
            " <strong>(name shared with another party 与其他主体同名)</strong>"
            if c.owner_name_shared
            else ""
        ),
        owner_id=e(c.owner_id),
        fingerprint=e(c.fingerprint),
        version=c.version,
        category=e(c.category),
        classification=e(c.classification),
        registered_at=e(c.registered_at),
        registered_index=c.registered_index,
        certified_index=c.certified_index,
        holders=rows,
        log_key=e(c.log_key),
        checkpoint=e(c.receipt.checkpoint),
    )


_CERTIFICATE_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "certificate.html"
