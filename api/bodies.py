"""Request bodies: JSON only, well-formed, and not nested too deeply.

Every route that takes a body takes JSON (its handler has a `data` parameter): a write is a
signed statement, never a form. `json_only_middleware` refuses any other Content-Type with 415
before the body is read, so a signed envelope sent as `text/plain` or form-encoded appends
nothing. `application/json` (charset, if given, UTF-8) and `application/*+json` are accepted.
Routes without a `data` parameter (the web explorer's plain sign-out form, its no-script
landing page) are not concerned: they read no body.

`JsonRequest` is the application's request class: it decodes a JSON body itself, so that a
body nested more than `MAX_JSON_DEPTH` levels deep is refused with 400 before the decoder
recurses into it (100,000 levels made it raise RecursionError: a 500), and malformed JSON is
reported with the byte where it goes wrong.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from ledger.encoding import MAX_JSON_DEPTH, json_too_deep

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# --- Content-Type -----------------------------------------------------------------------------


@cache
def _takes_json(handler: Any) -> bool:
    """Whether a route handler reads a JSON body: it has a `data` parameter that is not
    declared as a form or multipart body."""
    signature = getattr(handler, "parsed_fn_signature", None)
    data = signature.parameters.get("data") if signature is not None else None
    if data is None:
        return False
    media_type = getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON)
    return media_type in (RequestEncodingType.JSON, None)


def json_media_type_problem(content_type: str | None) -> str | None:
    """Why a body of this Content-Type is refused, or None when it is JSON."""
    if content_type is None or not content_type.strip():
        return "the request has no Content-Type: send the body as application/json"
    essence, _, params = content_type.partition(";")
    essence = essence.strip().lower()
    if essence != "application/json" and not (
        essence.startswith("application/") and essence.endswith("+json")
    ):
        return (
            f"the body was sent as {essence or content_type.strip()!r}: "
            "this route takes application/json only"
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return (
                f"the body was sent in charset {value.strip()!r}: "
                "JSON is UTF-8 (application/json; charset=utf-8)"
            )
    return None


def json_only_middleware(app: ASGIApp) -> ASGIApp:
    """Refuse, with 415, a body for a JSON route that is not sent as JSON (module docstring)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"  # type: ignore[comparison-overlap]
            and scope.get("method") in _BODY_METHODS
            and _takes_json(scope.get("route_handler"))
        ):
            content_type = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"content-type"), None
            )
            reason = json_media_type_problem(content_type)
            if reason is not None:
                raise HTTPException(
                    reason, status_code=415, headers={"accept-post": "application/json"}
                )
        await app(scope, receive, send)

    return middleware


# --- decoding ---------------------------------------------------------------------------------

_BYTE = re.compile(r"\(byte (\d+)\)")


def decode_json_body(body: bytes) -> Any:
    """The JSON value of a request body; `ClientException` (400 malformed) says what is wrong
    and at which byte."""
    if json_too_deep(body):
        raise ClientException(
            f"invalid JSON: arrays and objects nested more than {MAX_JSON_DEPTH} levels deep"
        )
    try:
        return msgspec.json.decode(body or b"null")
    except msgspec.DecodeError as exc:
        raise ClientException(_where(str(exc), body)) from exc
    except RecursionError as exc:  # not expected after the depth check; never a 500
        raise ClientException("invalid JSON: nested too deeply") from exc


def _where(message: str, body: bytes) -> str:
    """msgspec's message, led by the byte it points at: "invalid JSON at byte 17: ..."."""
    found = _BYTE.search(message)
    if found is not None:
        reason = message[: found.start()].strip().removeprefix("JSON is malformed:").strip()
        return f"invalid JSON at byte {found.group(1)}: {reason}"
    if "truncated" in message.lower():
        return f"invalid JSON at byte {len(body)}: the body ends before its JSON value does"
    if "utf-8" in message.lower():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid JSON at byte {exc.start}: not UTF-8 ({exc.reason})"
    return f"invalid JSON: {message}"


class JsonRequest(Request[Any, Any, Any]):
    """Litestar's request, decoding JSON bodies with `decode_json_body`."""

    async def json(self) -> Any:
        if self._json is Empty:
            cached = self._connection_state.json
            if cached is not Empty:
                self._json = cached
            else:
                self._json = self._connection_state.json = decode_json_body(await self.body())
        return self._json
