"""Statement submission: every write is a signed DSSE envelope."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.deps import Ledger
from api.schemas import LoginResult
from api.throttle import client_address, limited
from ledger.dsse import Envelope
from ledger.encoding import format_rfc3339_utc
from ledger.privacy import SignedStatement
from ledger.receipts import Receipt
from ledger.storage.sequencer import AppendResult


def receipt_response(result: AppendResult) -> Response[Receipt]:
    """201 for a new entry; 200 with the original receipt for an identical resubmission."""
    return Response(result.receipt, status_code=HTTP_201_CREATED if result.created else HTTP_200_OK)


class StatementController(Controller):
    path = "/v1"
    tags = ["statements"]

    @post(
        "/statements",
        operation_id="submitStatement",
        status_code=HTTP_201_CREATED,
        guards=[limited("client.writes")],
    )
    async def submit(
        self, ledger: Ledger, request: Request[Any, Any, Any], data: JSONBody[SignedStatement]
    ) -> Response[Receipt]:
        """Append any statement kind (see docs/protocol.md); returns its receipt."""
        return receipt_response(await ledger.submit(data, client=client_address(request)))

    @post(
        "/auth/login",
        operation_id="login",
        status_code=HTTP_200_OK,
        sync_to_thread=True,
        guards=[limited("client.logins")],
    )
    def login(self, ledger: Ledger, data: JSONBody[Envelope]) -> LoginResult:
        """Exchange a signed `auth.login` statement (never appended) for a bearer token."""
        token, principal, expires = ledger.login(data)
        return LoginResult(
            token=token,
            party_id=principal.party_id,
            roles=sorted(principal.roles),
            is_operator=principal.is_operator,
            expires_at=format_rfc3339_utc(expires),
        )
