"""The explorer's routes: server-rendered pages at `/`, their static files at `/static/`, and the
session endpoints. Every page reads fully without JavaScript; errors are HTML pages too (the
JSON API under /v1 keeps its problem details)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.params import PathParameter, QueryParameter
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from api.problems import NotFound
from api.service import LedgerService
from api.web import reads, views
from api.web.i18n import LANG_COOKIE, Lang, negotiate, parse_lang, translator
from api.web.render import Page, render
from api.web.session import SessionController, principal_from_cookie
from api.web.state import WebState
from ledger.errors import LedgerError
from ledger.storage import catalog

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
FAVICON = (STATIC_DIR / "favicon.svg").read_bytes()
LANG_COOKIE_AGE = timedelta(days=365)
# Scripts and styles from this origin only: no CDN, no inline script (receipts are JSON data
# blocks, which are not executed).
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Classification = Literal["general", "important", "core"]
Status = Literal["on_notice", "certified", "rejected", "frozen"]
Cursor = Annotated[int | None, QueryParameter(ge=0, le=2**62)]
Text = Annotated[str | None, QueryParameter(max_length=200)]
# Any text: a malformed id gets the 404 page, not a validation error.
PathText = Annotated[str, PathParameter(max_length=200)]


def page_for(ledger: LedgerService, request: Request[Any, Any, Any]) -> Page:
    """What every page needs: the language, the session's principal and the log's key."""
    lang = negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
    principal = principal_from_cookie(request, ledger)
    viewer = None
    if principal is not None and not principal.is_operator:
        with ledger.engine.connect() as conn:
            viewer = reads.party_labels(conn, [principal.party_id]).get(principal.party_id)
    return Page(
        lang=lang,
        principal=principal,
        viewer=viewer,
        vkey=ledger.signer.vkey,
        origin=ledger.signer.origin,
        path=request.url.path,
        query={k: v for k, v in request.query_params.items() if isinstance(v, str)},
    )


def html(
    request: Request[Any, Any, Any],
    page: Page,
    template: str,
    status_code: int = 200,
    **ctx: Any,
) -> Response[str]:
    cookies = []
    chosen = parse_lang(request.query_params.get("lang"))
    if chosen is not None and chosen != parse_lang(request.cookies.get(LANG_COOKIE)):
        cookies.append(
            Cookie(
                key=LANG_COOKIE,
                value=chosen,
                path="/",
                max_age=int(LANG_COOKIE_AGE.total_seconds()),
                httponly=True,
                samesite="lax",
            )
        )
    return Response(
        render(template, page, **ctx),
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=SECURITY_HEADERS,
        cookies=cookies,
    )


def error_page(
    ledger: LedgerService,
    request: Request[Any, Any, Any],
    status: int,
    message: str | None = None,
) -> Response[str]:
    """The explorer's error page (status 400, 401, 403, 404, else a 500's)."""
    page = page_for(ledger, request)
    t = translator(page.lang)
    heading = t(f"error.{status}") if status in (400, 401, 403, 404) else t("error.500")
    return html(
        request,
        page,
        "error.html",
        status,
        heading=heading,
        message=message or heading,
        status=status,
    )


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """A browser's request for a page: its Accept header ranks text/html above JSON (a client
    that sends none, or */*, gets JSON), and it is not for the JSON API or its schema."""
    path = request.url.path
    if path.startswith(("/v1/", "/schema")) or path == "/v1":
        return False
    accept = request.headers.get("accept", "")
    if "text/html" not in accept:
        return False
    best = request.accept.best_match(
        ["application/json", "application/problem+json", "text/html"], default="application/json"
    )
    return best == "text/html"


def unknown_path_handler(
    ledger: LedgerService, fallback: Callable[[Request[Any, Any, Any], HTTPException], Any]
) -> Callable[[Request[Any, Any, Any], HTTPException], Any]:
    """The app's handler of HTTP errors: a path no route serves gets the explorer's 404 page
    when a browser asks for it (`wants_html`); everything else, and every JSON client, gets
    `fallback`'s problem details."""

    def handle(request: Request[Any, Any, Any], exc: HTTPException) -> Any:
        if exc.status_code == 404 and wants_html(request):
            lang = page_for(ledger, request).lang
            return error_page(ledger, request, 404, translator(lang)("error.no_page"))
        return fallback(request, exc)

    return handle


def web_route_handlers(state: WebState) -> list[ControllerRouterHandler]:
    """The explorer's routes for `create_app`: pages, static files and the session."""
    ledger = state.ledger

    def on_not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        return error_page(ledger, request, 404, str(exc))

    def on_refused(request: Request[Any, Any, Any], exc: views.PageRefused) -> Response[str]:
        lang: Lang = page_for(ledger, request).lang
        return error_page(ledger, request, exc.status, translator(lang)(exc.message_key))

    def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
        status = exc.status_code if exc.status_code in (400, 401, 403, 404) else 500
        return error_page(ledger, request, status, str(exc.detail))

    def on_ledger_error(request: Request[Any, Any, Any], exc: LedgerError) -> Response[str]:
        return error_page(ledger, request, 400, exc.message)

    def on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        log.exception("page %s failed", request.url.path, exc_info=exc)
        return error_page(ledger, request, 500)

    @get("/", name="web-catalog", sync_to_thread=True)
    def catalog_view(
        request: Request[Any, Any, Any],
        q: Text = None,
        category: Annotated[str | None, QueryParameter(max_length=64)] = None,
        classification: Annotated[Classification | Literal[""] | None, QueryParameter()] = None,
        owner: Annotated[str | None, QueryParameter(max_length=64)] = None,
        status: Annotated[Status | Literal[""] | None, QueryParameter()] = None,
        cursor: Cursor = None,
    ) -> Response[str]:
        flt = catalog.AssetFilter(
            q=q or None,
            category=category or None,
            classification=classification or None,
            owner=owner if owner and views.PARTY_ID.match(owner) else None,
            status=status or None,
        )
        ctx = views.catalog_page(ledger, state, flt, cursor)
        return html(request, page_for(ledger, request), "catalog.html", **ctx)

    @get("/assets/{asset_id:str}", name="web-asset", sync_to_thread=True)
    def asset_view(
        request: Request[Any, Any, Any], asset_id: PathText, before: Cursor = None
    ) -> Response[str]:
        page = page_for(ledger, request)
        ctx = views.asset_page(ledger, state, page.principal, asset_id, before)
        return html(request, page, "asset.html", **ctx)

    @get("/parties/{party_id:str}", name="web-party", sync_to_thread=True)
    def party_view(
        request: Request[Any, Any, Any], party_id: PathText, cursor: Cursor = None
    ) -> Response[str]:
        page = page_for(ledger, request)
        ctx = views.party_page(ledger, page.principal, party_id, cursor)
        return html(request, page, "party.html", **ctx)

    @get("/licences/{licence_id:str}", name="web-licence", sync_to_thread=True)
    def licence_view(
        request: Request[Any, Any, Any], licence_id: PathText, before: Cursor = None
    ) -> Response[str]:
        page = page_for(ledger, request)
        ctx = views.licence_page(ledger, page.principal, licence_id, translator(page.lang), before)
        return html(request, page, "licence.html", **ctx)

    @get("/log", name="web-log", sync_to_thread=True)
    def log_view(request: Request[Any, Any, Any], before: Cursor = None) -> Response[str]:
        ctx = views.log_page(ledger, before)
        return html(request, page_for(ledger, request), "log.html", **ctx)

    @get("/log/entries/{index:str}", name="web-entry", sync_to_thread=True)
    def entry_view(request: Request[Any, Any, Any], index: PathText) -> Response[str]:
        ctx = views.entry_page(ledger, index)
        return html(request, page_for(ledger, request), "entry.html", **ctx)

    @get("/regulator", name="web-regulator", sync_to_thread=True)
    def regulator_view(
        request: Request[Any, Any, Any],
        category: Annotated[str | None, QueryParameter(max_length=64)] = None,
        kind: Annotated[str | None, QueryParameter(max_length=64)] = None,
        alerts: Annotated[int, QueryParameter(ge=1, le=100_000)] = views.ALERTS_PAGE,
    ) -> Response[str]:
        page = page_for(ledger, request)
        ctx = views.regulator_page(
            ledger, state, page.principal, category, kind or None, alerts, translator(page.lang)
        )
        return html(request, page, "regulator.html", **ctx)

    @get("/favicon.ico", name="web-favicon", include_in_schema=False)
    async def favicon() -> Response[bytes]:
        """The explorer's icon (SVG) where browsers look for one without being told."""
        return Response(
            FAVICON,
            media_type="image/svg+xml",
            headers={"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"},
        )

    @get("/signin", name="web-signin", sync_to_thread=True)
    def signin_view(request: Request[Any, Any, Any]) -> Response[str]:
        return html(request, page_for(ledger, request), "signin.html")

    @post("/web/needs-js", name="web-needs-js", status_code=200, sync_to_thread=True)
    def needs_js(request: Request[Any, Any, Any]) -> Response[str]:
        """Where a signing form lands when no script took it over: it explains why."""
        page = page_for(ledger, request)
        t = translator(page.lang)
        return html(
            request,
            page,
            "error.html",
            200,
            heading=t("action.submit"),
            message=t("action.needs_js"),
            status=200,
        )

    pages = Router(
        path="/",
        route_handlers=[
            catalog_view,
            asset_view,
            party_view,
            licence_view,
            log_view,
            entry_view,
            regulator_view,
            signin_view,
            needs_js,
            favicon,
        ],
        include_in_schema=False,
        exception_handlers={
            views.PageNotFound: on_not_found,
            NotFound: on_not_found,
            views.PageRefused: on_refused,
            LedgerError: on_ledger_error,
            HTTPException: on_http_error,
            Exception: on_error,
        },
    )
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], include_in_schema=False, name="web-static"
    )
    return [pages, static, SessionController]
