"""Dependencies shared by controllers: the service, and who is asking."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from api.auth import Principal
from api.service import LedgerService
from ledger.errors import StatementRejected

Ledger = NamedDependency[LedgerService]
Reader = NamedDependency[Principal | None]


async def reader_from_request(request: Request[Any, Any, Any], ledger: Ledger) -> Principal | None:
    """The principal behind `Authorization: Bearer <token>`, or None for anonymous reads."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise StatementRejected("unauthorized", "use Authorization: Bearer <token>", status=401)
    return ledger.authenticate(token.strip())


def require_reader(reader: Principal | None) -> Principal:
    if reader is None:
        raise StatementRejected(
            "unauthorized",
            "log in first (POST /v1/auth/login) and send the bearer token",
            status=401,
        )
    return reader


def forbid(message: str) -> StatementRejected:
    return StatementRejected("forbidden", message, status=403)


# An optional count or position in a query. Litestar drops `minimum: 0` from the OpenAPI schema
# of optional parameters (a zero bound reads as "no bound"), so it is restated for clients.
OptionalCount = Annotated[int | None, QueryParameter(ge=0, le=2**62, schema_extra={"minimum": 0})]
