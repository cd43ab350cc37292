"""The Litestar application: `create_app(settings)` wires everything, nothing at import time."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from datetime import timedelta
from typing import Any

from litestar import Litestar, MediaType, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi.config import OpenAPIConfig
from sqlalchemy import Engine

import ledger
from api.bodies import JsonRequest, json_only_middleware
from api.controllers.audit import AuditController
from api.controllers.log import LogController, TilesController
from api.controllers.market import ExportController, MarketController
from api.controllers.registry import AssetController, PartyController, RegistryObjectController
from api.controllers.statements import StatementController
from api.controllers.valuation import ValuationController
from api.deps import Ledger, reader_from_request
from api.edge import control_bytes_middleware
from api.keyfiles import load_or_create_key
from api.observability import Metrics, configure_json_logging, request_middleware
from api.openapi import DocsRenderPlugin, ProblemDocumentingJsonPlugin, allow_header_middleware
from api.problems import EXCEPTION_HANDLERS, http_error_handler
from api.sequencing.client import SequencerClient
from api.service import Appender, LedgerService
from api.settings import Settings
from api.web.headers import security_headers_middleware
from api.web.pages import unknown_path_handler, web_route_handlers
from api.web.state import WebState
from api.witness_client import build_witness_pusher
from ledger.errors import StatementRejected
from ledger.logsigner import LogSigner, default_origin
from ledger.storage.engine import make_engine
from ledger.storage.integrity import foreign_log_key
from ledger.storage.migrate import upgrade
from ledger.storage.sequencer import Sequencer
from ledger.storage.store import latest_checkpoint

log = logging.getLogger(__name__)


def load_log_signer(settings: Settings) -> LogSigner:
    """The log key from its file, made (mode 0600) on first start unless one was given."""
    key, created = load_or_create_key(settings.resolved_log_key_file)
    if created:
        log.info("generated a new log key in %s", settings.resolved_log_key_file)
    return LogSigner(settings.origin or default_origin(key), key)


@get(
    "/metrics",
    media_type="text/plain; version=0.0.4",
    operation_id="metrics",
    tags=["ops"],
    sync_to_thread=True,  # reads the witnesses' progress from the database
)
def metrics(ledger: Ledger, request: Request[Any, Any, Any]) -> str:
    """Prometheus metrics of this process: appends, batch sizes, refusals, proof latency...

    With `DATALEDGER_METRICS_TOKEN` set, only for `Authorization: Bearer <that token>`."""
    token = request.app.state.get("metrics_token", "")
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise StatementRejected(
                "unauthorized", "metrics need Authorization: Bearer <metrics token>", status=401
            )
    return ledger.metrics.exposition() + ledger.witness_exposition()


@get(
    "/healthz", media_type=MediaType.JSON, operation_id="health", sync_to_thread=False, tags=["ops"]
)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


class LogKeyMismatch(RuntimeError):
    """The log key at hand did not sign the database's log: starting would fork it."""


def open_log(settings: Settings) -> tuple[Engine, LogSigner]:
    """The database (migrated) and the log key that signs it, refusing a key that would fork
    the log already in the database."""
    engine = make_engine(settings.resolved_database_url)
    if settings.auto_migrate:
        upgrade(engine)
    key_file = settings.resolved_log_key_file
    if not key_file.exists():
        with engine.connect() as conn:
            has_log = latest_checkpoint(conn) is not None
        if has_log:
            engine.dispose()
            raise LogKeyMismatch(
                f"the log key {key_file} is missing but the database already holds a log "
                "signed by one: restore that key file (or point DATALEDGER_LOG_KEY_FILE / "
                "--log-key-file at it); a new key would fork the log"
            )
    signer = load_log_signer(settings)
    with engine.connect() as conn:
        reason = foreign_log_key(conn, signer.verifier)
    if reason is not None:
        engine.dispose()
        raise LogKeyMismatch(
            f"the log key {key_file} with origin {signer.origin!r} does not fit this database: "
            f"{reason}. Use the log's own key and origin (DATALEDGER_ORIGIN); a new log needs a "
            "new database"
        )
    return engine, signer


def _sequencer(
    settings: Settings, engine: Engine, signer: LogSigner, metrics: Metrics | None
) -> Sequencer:
    return Sequencer(
        engine,
        signer,
        max_batch=settings.max_batch,
        notice_period=timedelta(seconds=settings.notice_period_seconds),
        on_commit=metrics.batch if metrics is not None else None,
    )


def build_sequencer(settings: Settings) -> Sequencer:
    """The sequencer of the sequencing process (api/sequencing/server.py)."""
    engine, signer = open_log(settings)
    return _sequencer(settings, engine, signer, None)


def build_service(settings: Settings) -> LedgerService:
    engine, signer = open_log(settings)
    metrics = Metrics()
    sequencer: Appender
    if settings.sequencer_socket:  # a worker of `serve`: the sequencer is another process
        sequencer = SequencerClient(settings.sequencer_socket, on_append=metrics.acknowledged)
    else:
        sequencer = _sequencer(settings, engine, signer, metrics)
    return LedgerService(
        engine=engine,
        sequencer=sequencer,
        signer=signer,
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        metrics=metrics,
        rate_limits=settings.rate_limits,
    )


def create_app(settings: Settings | None = None, service: LedgerService | None = None) -> Litestar:
    """Build the app for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    ledger_service = service or build_service(settings)
    web_state = WebState(ledger_service)

    background: list[asyncio.Task[None]] = []

    async def certify_loop() -> None:
        # The ledger's own rounds (idempotent, safe with several workers): certify registrations
        # whose notice ended cleanly, and expire licences whose term is over.
        while True:
            await asyncio.sleep(settings.certify_interval_seconds)
            for round_ in (ledger_service.certify_due, ledger_service.expire_due):
                try:
                    await asyncio.to_thread(round_)
                except Exception:
                    log.exception("%s round failed", round_.__name__)

    # The witness pusher runs beside the sequencer: here when it is on a thread of this
    # process, in the sequencing process when `serve` has several workers.
    pusher = (
        build_witness_pusher(
            settings.witness_policy,
            ledger_service.engine,
            min_interval=settings.witness_min_interval_seconds,
            metrics=ledger_service.metrics,
        )
        if settings.witness_policy is not None and not settings.sequencer_socket
        else None
    )

    def start() -> None:
        ledger_service.sequencer.start()
        if pusher is not None:
            pusher.start()
        if settings.certify_interval_seconds > 0:
            background.append(asyncio.get_running_loop().create_task(certify_loop()))

    def stop() -> None:
        if pusher is not None:
            pusher.stop()
        for task in background:
            task.cancel()
        web_state.close()
        ledger_service.sequencer.stop()
        ledger_service.engine.dispose()

    async def close_throttle() -> None:
        await ledger_service.throttle.aclose()

    return Litestar(
        route_handlers=[
            healthz,
            metrics,
            LogController,
            StatementController,
            PartyController,
            AssetController,
            RegistryObjectController,
            MarketController,
            ExportController,
            TilesController,
            AuditController,
            ValuationController,
            *web_route_handlers(web_state),
        ],
        dependencies={
            "ledger": Provide(lambda: ledger_service, use_cache=True, sync_to_thread=False),
            "reader": Provide(reader_from_request),
        },
        exception_handlers={
            **EXCEPTION_HANDLERS,
            HTTPException: unknown_path_handler(ledger_service, http_error_handler),
        },
        middleware=[
            request_middleware(ledger_service.metrics),
            control_bytes_middleware,
            json_only_middleware,
            security_headers_middleware,
            allow_header_middleware,
        ],
        on_startup=[start],
        on_shutdown=[stop, close_throttle],
        request_max_body_size=settings.max_body_bytes,
        request_class=JsonRequest,
        state=State({"metrics_token": settings.metrics_token, "throttle": ledger_service.throttle}),
        logging_config=None,  # logging is the process's business (JSON lines under `serve`)
        openapi_config=OpenAPIConfig(
            title="dataledger",
            version=ledger.__version__,
            path="/schema",
            use_handler_docstrings=True,  # the operations' descriptions, here and at /schema/docs
            render_plugins=[ProblemDocumentingJsonPlugin(), DocsRenderPlugin()],
        ),
    )


def app_factory() -> Litestar:
    """Entry point for uvicorn workers (`--factory`): settings come from the environment."""
    configure_json_logging()
    if os.environ.get("DATALEDGER_ACCESS_LOG") == "0":
        logging.getLogger("dataledger.access").setLevel(logging.WARNING)
    return create_app()
