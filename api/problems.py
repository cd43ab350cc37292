"""RFC 9457 problem details: one table from domain errors to a stable type, title and status."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import InterfaceError, OperationalError

from api.sequencing.client import DatabaseUnavailable, SequencerUnavailable
from api.throttle import Throttled
from ledger.errors import (
    EncodingError,
    LedgerError,
    SignatureError,
    StatementError,
    StatementRejected,
    VerificationError,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:dataledger:problem:"

# code -> (status, title). StatementRejected carries its own status.
_TABLE: dict[type[LedgerError], tuple[int, str]] = {
    EncodingError: (400, "Malformed input"),
    StatementError: (422, "Invalid statement"),
    SignatureError: (403, "Signature not accepted"),
    VerificationError: (422, "Verification failed"),
}


class NotFound(LookupError):
    """An unknown id, index or size: 404."""


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def ledger_error_handler(_: Request[Any, Any, Any], exc: LedgerError) -> Response[dict[str, Any]]:
    if isinstance(exc, StatementRejected):
        return problem(exc.status, exc.code, "Statement refused", exc.message)
    for cls in type(exc).__mro__:
        if cls in _TABLE:
            status, title = _TABLE[cls]
            break
    else:
        status, title = 400, "Bad request"
    return problem(
        status,
        exc.code,
        title,
        exc.message,
        expected=_printable(exc.expected),
        computed=_printable(exc.computed),
    )


def not_found_handler(_: Request[Any, Any, Any], exc: NotFound) -> Response[dict[str, Any]]:
    return problem(404, "not-found", "Not found", str(exc))


def http_error_handler(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    if exc.status_code == 400:
        # Litestar's own parsing and validation of the request: say what was wrong with it.
        errors = exc.extra if isinstance(exc, ValidationException) else None
        detail = str(exc.detail)
        if isinstance(errors, list) and errors:
            detail = "; ".join(_describe(e) for e in errors)
        return problem(400, "malformed", "Malformed request", detail, errors=errors or None)
    if exc.status_code == 413:
        limit = _body_limit(request)
        return problem(
            413,
            "body-too-large",
            "Request body too large",
            f"the request body exceeds the limit of {limit} bytes (set by "
            "DATALEDGER_MAX_BODY_BYTES)"
            if limit is not None
            else "the request body exceeds the server's limit (DATALEDGER_MAX_BODY_BYTES)",
            limit=limit,
        )
    if exc.status_code == 415:
        return problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            str(exc.detail),
            headers=exc.headers,
            accepted="application/json",
        )
    code = {
        404: "not-found",
        405: "method-not-allowed",
    }.get(exc.status_code, "http-error")
    # Keep the exception's headers: a 405 must say which methods are allowed (RFC 9110 §15.5.6).
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail), headers=exc.headers)


def _body_limit(request: Request[Any, Any, Any]) -> int | None:
    """The body size limit (bytes) of the request's route: the app's `max_body_bytes`."""
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except (KeyError, AttributeError):  # no route: cannot happen for a body read
        return None
    return limit if isinstance(limit, int) and limit > 0 else None


def _describe(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    source, key = error.get("source"), error.get("key")
    where = "request body" if source == "body" else f"{source} parameter {key!r}"
    message = str(error.get("message", ""))
    if message.strip("'") == key:
        message = "missing"  # an absent body or parameter is reported as a bare KeyError
    return f"{where}: {message}"


def database_unavailable_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    """The database cannot be reached (restarting, network down): 503, try again shortly.
    Nothing was acknowledged, so nothing was appended; the pool reconnects by itself."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem(
        503,
        "database-unavailable",
        "Database unavailable",
        "the ledger's database cannot be reached (or is busy) right now; nothing was appended: "
        "try again",
        headers={"retry-after": "1"},
    )


def sequencer_unavailable_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    """The sequencing process is restarting or the connection to it broke: 503. The message
    says whether the statement may have been appended (resubmitting it is always safe)."""
    log.warning("sequencer unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem(
        503,
        "sequencer-unavailable",
        "Sequencer unavailable",
        str(exc),
        headers={"retry-after": "1"},
    )


def throttled_handler(_: Request[Any, Any, Any], exc: Throttled) -> Response[dict[str, Any]]:
    """A rate limit or daily quota refused the request: 429, and when to come back."""
    return problem(
        429,
        exc.code,
        "Too many requests" if exc.code == "rate-limited" else "Quota exceeded",
        exc.detail,
        headers={"retry-after": str(exc.retry_after)},
        limit=exc.limit,
        retry_after=exc.retry_after,
    )


def internal_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    request_id = request.scope.get("state", {}).get("request_id")
    log.exception(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"request_id": request_id},
    )
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal",
        "Internal server error",
        f"the server failed to handle this request; see the server log (request id {request_id})",
    )


def _printable(value: object) -> object:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    LedgerError: ledger_error_handler,
    NotFound: not_found_handler,
    HTTPException: http_error_handler,
    OperationalError: database_unavailable_handler,
    InterfaceError: database_unavailable_handler,
    DatabaseUnavailable: database_unavailable_handler,
    SequencerUnavailable: sequencer_unavailable_handler,
    Throttled: throttled_handler,
    Exception: internal_error_handler,
}
