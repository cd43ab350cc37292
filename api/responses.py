"""Responses whose Content-Type must go out exactly as a spec writes it.

Given a `text/*` media type, Litestar appends its own `; charset=utf-8` -- twice, if the type
already names one (a doubled parameter that Go's `mime.ParseMediaType` rejects), and also to
types like `text/x.tlog.size` that C2SP specifies without it. The header set here wins.
"""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Response

PLAIN_UTF8 = "text/plain; charset=utf-8"


def exact(
    text: str,
    content_type: str,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response[bytes]:
    """`text` as UTF-8 with exactly `content_type`."""
    return Response(
        text.encode(),
        status_code=status_code,
        media_type="application/octet-stream",  # replaced by the header below
        headers={**(headers or {}), "content-type": content_type},
    )
