"""Sign-in state for the server-rendered pages: the bearer token in an HttpOnly cookie.

The browser logs in itself (a signed `auth.login` to POST /v1/auth/login; the key never leaves
it), then hands the token to POST /web/session, which checks it exactly as the bearer
authentication does and stores it in `dl_session` (HttpOnly, SameSite=Strict, Path=/). Pages read
the cookie to know who is looking. It grants reading only: every change is still a statement
signed in the browser and submitted to the JSON API, which ignores this cookie.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Request, Response, delete, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT, HTTP_303_SEE_OTHER

from api.auth import MAX_SESSION, Principal
from api.deps import Ledger
from api.service import LedgerService
from ledger.errors import LedgerError, StatementRejected

SESSION_COOKIE = "dl_session"
MAX_TOKEN_LENGTH = 2000


class SessionIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class SessionOut(msgspec.Struct, frozen=True):
    party_id: str
    roles: list[str]
    is_operator: bool


def principal_from_cookie(
    request: Request[Any, Any, Any], ledger: LedgerService
) -> Principal | None:
    """The signed-in party behind the session cookie; None when absent, expired or revoked."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        return ledger.authenticate(token)
    except LedgerError:
        return None


def _cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _same_site_only(request: Request[Any, Any, Any]) -> None:
    """Refuse a request another site's page made (CSRF): a browser names the page's origin in
    `Origin` on every POST and DELETE, and says `Sec-Fetch-Site: cross-site`. Scripts and the
    CLI send neither."""
    origin = request.headers.get("origin")
    # The host only: behind a TLS proxy the browser's https origin reaches us as http.
    here = request.headers.get("host", request.url.netloc)
    cross = request.headers.get("sec-fetch-site") == "cross-site"
    if cross or (origin is not None and urlsplit(origin).netloc != here):
        raise StatementRejected(
            "cross-site-request", "sign-out must come from this site's own pages", status=403
        )


class SessionController(Controller):
    path = "/web/session"
    tags = ["web"]  # noqa: RUF012 - Litestar reads it as a class attribute
    include_in_schema = False

    @post("/", operation_id="webSessionOpen", status_code=HTTP_200_OK, sync_to_thread=True)
    def open_session(
        self, request: Request[Any, Any, Any], ledger: Ledger, data: JSONBody[SessionIn]
    ) -> Response[SessionOut]:
        """Keep a bearer token (from POST /v1/auth/login) in the HttpOnly session cookie."""
        # A JSON body only (api/bodies.py refuses any other type with 415): an HTML form from
        # another site cannot send that content type without a CORS preflight, so no one can
        # plant their session in your browser.
        principal = ledger.authenticate(data.token)
        return Response(
            SessionOut(principal.party_id, sorted(principal.roles), principal.is_operator),
            cookies=[_cookie(request, data.token, int(MAX_SESSION.total_seconds()))],
            headers={"cache-control": "no-store"},
        )

    @delete("/", operation_id="webSessionClose", status_code=HTTP_204_NO_CONTENT)
    async def close_session(self, request: Request[Any, Any, Any]) -> Response[None]:
        """Forget the session cookie."""
        _same_site_only(request)
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[_cookie(request, "", 0)])

    @post("/logout", operation_id="webSessionLogout", status_code=HTTP_303_SEE_OTHER)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        """The sign-out button (a plain form, no script): forget the cookie, back to the
        catalog."""
        _same_site_only(request)
        return Redirect("/", status_code=HTTP_303_SEE_OTHER, cookies=[_cookie(request, "", 0)])
