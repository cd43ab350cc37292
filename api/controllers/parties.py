"""Parties: registration by a self-signed DSSE statement."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.service import LedgerService
from ledger.dsse import Envelope
from ledger.receipts import Receipt

Ledger = NamedDependency[LedgerService]


class PartyController(Controller):
    path = "/v1/parties"
    tags = ["parties"]

    @post(
        "/",
        operation_id="registerParty",
        status_code=HTTP_201_CREATED,
        responses={},
    )
    async def register(self, ledger: Ledger, data: JSONBody[Envelope]) -> Response[Receipt]:
        """Register a party: a `party.register` statement self-signed by the key it registers.

        201 with the receipt; resubmitting the identical envelope returns the original receipt
        with 200 and appends nothing.
        """
        result = await ledger.submit(data)
        return Response(
            result.receipt, status_code=HTTP_201_CREATED if result.created else HTTP_200_OK
        )
