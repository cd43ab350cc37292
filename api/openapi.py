"""The service's OpenAPI document, made to say what the service really answers.

Litestar documents each handler's success response and a JSON 400. Every error this service
returns is an RFC 9457 problem document (`application/problem+json`) with any 4xx status, so
each operation gets a `default` problem response and its 400 is re-described as a problem.
Schemathesis holds the service to this document in CI (tests/test_schemathesis.py).
"""

from __future__ import annotations

import html
import re
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document; `type` is urn:dataledger:problem:<code>.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# Operations that answer in another format on request (`?format=`): their success response
# lists it beside JSON.
_ALTERNATE_CONTENT: dict[str, dict[str, Any]] = {
    "auditStatistics": {"text/csv": {"schema": {"type": "string"}}},
    "getCertificate": {"text/html": {"schema": {"type": "string"}}},
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _integral_bounds(node: Any) -> None:
    """Litestar writes integer bounds as floats (2**62 as 4.611686018427388e+18); a client that
    reads them back as decimals sends 4611686018427387999 and is refused. Restore the integers."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                _integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _integral_bounds(item)


def document_problems(schema: dict[str, Any]) -> None:
    """Add the problem responses to every operation of `schema`, in place (idempotent), and
    state integer bounds as integers."""
    _integral_bounds(schema)
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path_item in schema.get("paths", {}).values():
        for method in _METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            alternate = _ALTERNATE_CONTENT.get(operation.get("operationId", ""))
            if alternate and "200" in responses:
                responses["200"].setdefault("content", {}).update(alternate)
            if "400" in responses:
                responses["400"] = _problem_response("Malformed request or refused statement")
            responses.setdefault("default", _problem_response("Problem details (RFC 9457)"))


class ProblemDocumentingJsonPlugin(JsonRenderPlugin):
    """Serves /schema/openapi.json with the problem responses added."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document_problems(openapi_schema)
        return super().render(request, openapi_schema)


# The API docs page: self-contained, nothing from another origin (issue 16). Swagger UI came from a
# CDN without Subresource Integrity, and its exact files are not at hand to hash, so instead of
# guessing hashes the service renders the operations itself and links the OpenAPI document, which
# any OpenAPI viewer a reader trusts can open. Its one resource is the explorer's stylesheet.
DOCS_PATHS = ("/docs", "/swagger")  # /schema/swagger: where Swagger UI was, so old links work
DOCS_CSP = (
    "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _paragraphs(text: str) -> str:
    e = html.escape
    return "".join(f"<p>{e(p.strip())}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())


def docs_html(schema: dict[str, Any], json_url: str) -> str:
    """Every operation of `schema`, grouped by tag: method, path, operation id and description."""
    e = html.escape
    info = schema.get("info", {})
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    by_tag: dict[str, list[str]] = {}
    for path, item in sorted(schema.get("paths", {}).items()):
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            tag = (op.get("tags") or ["other"])[0]
            text = op.get("description") or op.get("summary") or ""
            by_tag.setdefault(tag, []).append(
                f"<li><h3><code>{method.upper()} {e(path)}</code></h3>"
                f"<p class='dl-small'><code>{e(op.get('operationId', ''))}</code></p>"
                f"{_paragraphs(text)}</li>"
            )
    sections = "".join(
        f"<section><h2>{e(tag)}</h2><ul class='dl-list'>{''.join(ops)}</ul></section>"
        for tag, ops in sorted(by_tag.items())
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} — API</title>"
        "<link rel='stylesheet' href='/static/explorer.css'></head>"
        f"<body><main id='main'><h1>{e(title)}</h1>"
        f"<p>The OpenAPI document: <a href='{e(json_url)}'>{e(json_url)}</a> (open it in any "
        "OpenAPI viewer). Every error is an RFC 9457 problem document "
        "(<code>application/problem+json</code>).</p>"
        f"{sections}</main></body></html>"
    )


class DocsRenderPlugin(OpenAPIRenderPlugin):
    """Serves /schema/docs (and /schema/swagger): the API's operations as one page with no
    scripts and nothing from elsewhere; `DOCS_CSP` is its policy (api/web/headers.py)."""

    def __init__(self) -> None:
        super().__init__(path=list(DOCS_PATHS), favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        config = request.app.openapi_config
        root = config.path if config is not None else "/schema"
        return docs_html(openapi_schema, f"{root}/openapi.json").encode()


def _template(path: str) -> str:
    """`/parties/{party_id:str}` and `/parties/{party_id}` name the same route."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def allow_header_middleware(app: ASGIApp) -> ASGIApp:
    """Give OPTIONS answers the full `Allow` list of their path.

    Litestar builds its automatic OPTIONS handler from the first handler registered on a path,
    so a path served by GET and POST answered `Allow: GET, OPTIONS`.
    """
    allowed: dict[str, bytes] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "OPTIONS":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        if not allowed:
            for route in scope["litestar_app"].routes:
                if isinstance(route, HTTPRoute):
                    allowed[_template(route.path)] = ", ".join(sorted(route.methods)).encode()
        methods = allowed.get(_template(str(scope.get("path_template", ""))))

        async def send_with_allow(message: Message) -> None:
            if methods is not None and message["type"] == "http.response.start":
                message["headers"] = [
                    (name, value) for name, value in message.get("headers", []) if name != b"allow"
                ] + [(b"allow", methods)]
            await send(message)

        await app(scope, receive, send_with_allow)

    return middleware
