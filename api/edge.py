"""Limits at the edge: what one connection or one client address can make the server hold.

uvicorn's httptools protocol sets no limit on request headers and no deadline for them, so a
client could make a worker buffer gigabytes of unfinished headers, or hold connections open
for ever. `LimitedHttpToolsProtocol` is that protocol with limits (`serve` selects it):

- the request line and headers together at most `DATALEDGER_MAX_HEADER_BYTES` (16 KiB), in
  at most `DATALEDGER_MAX_HEADERS` fields (100): otherwise 431, and the connection closes;
- the headers complete within `DATALEDGER_HEADER_TIMEOUT` seconds (10) of the request's first
  byte (or of the connection's opening), and its body within `DATALEDGER_BODY_TIMEOUT` (30):
  otherwise 408, and the connection closes;
- at most `DATALEDGER_MAX_CONNECTIONS_PER_CLIENT` (128) open connections per client address
  in each worker (0: no cap; behind a reverse proxy every client has the proxy's address);
  more get 503 and are closed.

The answers are RFC 9457 problem details, like every other refusal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

_REASONS = {
    400: "Malformed request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class EdgeLimits:
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections_per_client: int = 128

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> EdgeLimits:
        env = os.environ if environ is None else environ
        base = cls()

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            return float(raw) if raw else default

        return cls(
            max_header_bytes=int(number("DATALEDGER_MAX_HEADER_BYTES", base.max_header_bytes)),
            max_headers=int(number("DATALEDGER_MAX_HEADERS", base.max_headers)),
            header_timeout=number("DATALEDGER_HEADER_TIMEOUT", base.header_timeout),
            body_timeout=number("DATALEDGER_BODY_TIMEOUT", base.body_timeout),
            max_connections_per_client=int(
                number("DATALEDGER_MAX_CONNECTIONS_PER_CLIENT", base.max_connections_per_client)
            ),
        )


@cache
def _limits() -> EdgeLimits:
    return EdgeLimits.from_env()


def _problem_body(status: int, code: str, detail: str) -> bytes:
    return json.dumps(
        {
            "type": f"urn:dataledger:problem:{code}",
            "title": _REASONS[status],
            "status": status,
            "detail": detail,
        }
    ).encode()


def _problem(status: int, code: str, detail: str) -> bytes:
    body = _problem_body(status, code, detail)
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode()
    return head + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the limits of this module."""

    _open_per_client: ClassVar[Counter[str]] = Counter()  # per worker process
    # Deadlines are checked by one sweep per event loop, not a timer per request: a timer
    # costs more than the request line's parsing.
    _live: ClassVar[set[LimitedHttpToolsProtocol]] = set()
    _sweeping: ClassVar[set[asyncio.AbstractEventLoop]] = set()
    SWEEP_SECONDS: ClassVar[float] = 0.25

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = _limits()
        self._in_headers = True
        self._raw_bytes = 0  # bytes received while the headers are incomplete
        self._header_size = 0  # request target + header fields, as parsed
        self._header_count = 0
        self._deadline_at: float | None = None
        self._deadline_for = ""
        self._deadline_seconds = 0.0
        self._counted: str | None = None
        self._refused = False

    # --- connections ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self._limits.max_connections_per_client
        address = self.client[0] if self.client else ""
        if cap > 0 and address:
            if self._open_per_client[address] >= cap:
                self._refuse(
                    503, "too-many-connections", f"at most {cap} open connections per client"
                )
                return
            self._open_per_client[address] += 1
            self._counted = address
        self._live.add(self)
        self._sweep_on(self.loop)
        self._start_deadline(self._limits.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._live.discard(self)
        if self._counted is not None:
            self._open_per_client[self._counted] -= 1
            if self._open_per_client[self._counted] <= 0:
                del self._open_per_client[self._counted]
            self._counted = None
        super().connection_lost(exc)

    # --- bytes in -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._raw_bytes += len(data)
        super().data_received(data)
        # Headers still incomplete after this chunk: what the parser buffers is bounded by the
        # limit plus one read.
        if (
            self._in_headers
            and not self._refused
            and self._raw_bytes > self._limits.max_header_bytes
        ):
            self._too_large()

    # --- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # the next request on a kept-alive connection
            self._in_headers = True
            self._raw_bytes = 0
            self._start_deadline(self._limits.header_timeout, "headers")
        self._header_size = 0
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._header_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count <= self._limits.max_headers:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._refused:
            return
        if self._header_size > self._limits.max_header_bytes:
            self._too_large()
            return
        if self._header_count > self._limits.max_headers:
            self._refuse(
                431,
                "too-many-headers",
                f"a request carries at most {self._limits.max_headers} header fields",
            )
            return
        self._start_deadline(self._limits.body_timeout, "body")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        if not self._refused:
            super().on_message_complete()

    # --- refusing ---------------------------------------------------------------------------

    def _too_large(self) -> None:
        self._refuse(
            431,
            "headers-too-large",
            f"the request line and headers are limited to {self._limits.max_header_bytes} bytes",
        )

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._refused = True
        self._cancel_deadline()
        log.warning("refused a request from %s: %s", self.client, detail)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_problem(status, code, detail))
            self.transport.close()

    def _start_deadline(self, seconds: float, what: str) -> None:
        if seconds > 0:
            self._deadline_at = self.loop.time() + seconds
            self._deadline_for, self._deadline_seconds = what, seconds
        else:
            self._deadline_at = None

    def _cancel_deadline(self) -> None:
        self._deadline_at = None

    @classmethod
    def _sweep_on(cls, loop: asyncio.AbstractEventLoop) -> None:
        if loop in cls._sweeping:
            return
        cls._sweeping.add(loop)

        def sweep() -> None:
            now = loop.time()
            for conn in [c for c in cls._live if c._deadline_at is not None]:
                if conn._deadline_at is not None and now >= conn._deadline_at:
                    conn._deadline_passed()
            loop.call_later(cls.SWEEP_SECONDS, sweep)

        loop.call_later(cls.SWEEP_SECONDS, sweep)

    def _deadline_passed(self) -> None:
        self._deadline_at = None
        self._refuse(
            408,
            "request-timeout",
            f"the request's {self._deadline_for} did not arrive within "
            f"{self._deadline_seconds:g} s",
        )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def control_bytes_middleware(app: ASGIApp) -> ASGIApp:
    """Refuse a path that holds a control character once percent-decoded (NUL, CR, LF, ...)
    with 400, before any handler (a NUL reached the static files and failed there, with 500).
    A path that no route takes gets the router's 404 first: it reaches no handler either."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _CONTROL.search(scope.get("path", "")):  # type: ignore[comparison-overlap]
            body = _problem_body(400, "malformed", "the request path holds a control character")
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
            await send(start)
            end: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": body,
                "more_body": False,
            }
            await send(end)
            return
        await app(scope, receive, send)

    return middleware
