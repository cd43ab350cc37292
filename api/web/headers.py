"""Security headers on every HTML response: the explorer's pages, certificates, the API docs.

The explorer's pages set them themselves (`pages.SECURITY_HEADERS`); this middleware gives the
same to any other HTML the service sends (an asset's certificate as HTML, error pages) and a
policy of its own to the API docs page (`api.openapi.DOCS_CSP`: its stylesheet, nothing else).
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.openapi import DOCS_CSP
from api.web.pages import SECURITY_HEADERS

_HTML_HEADERS = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
_DOCS_HEADERS = [
    (k.encode(), (DOCS_CSP if k == "content-security-policy" else v).encode())
    for k, v in SECURITY_HEADERS.items()
]


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith("/schema")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                content_type = next(
                    (value for name, value in headers if name.lower() == b"content-type"), b""
                )
                if (
                    content_type.startswith(b"text/html")
                    and b"content-security-policy" not in names
                ):
                    extra = _DOCS_HEADERS if docs else _HTML_HEADERS
                    headers += [(n, v) for n, v in extra if n not in names]
                    message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
