"""Observability: Prometheus metrics at `/metrics` and one structured JSON log line per request.

Metrics are kept in-process (each worker exposes its own; scrape every worker, or put them
behind one target per process). No dependency: the text exposition format is simple.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str) -> list[str]:
        out = [
            f'{name}_bucket{{le="{b}"}} {c}' for b, c in zip(self.buckets, self.counts, strict=True)
        ]
        return [
            *out,
            f'{name}_bucket{{le="+Inf"}} {self.total}',
            f"{name}_sum {self.sum}",
            f"{name}_count {self.total}",
        ]


class Metrics:
    """The service's counters; thread-safe (the sequencer and handlers run in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.appends = 0
        self.batches = Histogram(_BATCH_BUCKETS)
        self.refused: dict[str, int] = defaultdict(int)
        self.proof_latency = Histogram(_BUCKETS)
        self.request_latency = Histogram(_BUCKETS)
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.quotes = 0
        self.throttled: dict[str, int] = defaultdict(int)
        self.witness: dict[tuple[str, str], int] = defaultdict(int)

    def batch(self, appended: int) -> None:
        """A batch committed by this process's own sequencer."""
        with self._lock:
            self.appends += appended
            self.batches.observe(appended)

    def acknowledged(self, batch_size: int | None) -> None:
        """One append acknowledged through the sequencing process; `batch_size` once for
        each batch seen (it may hold other workers' appends too)."""
        with self._lock:
            self.appends += 1
            if batch_size is not None:
                self.batches.observe(batch_size)

    def refusal(self, code: str) -> None:
        with self._lock:
            self.refused[code] += 1

    def throttled_request(self, limit: str) -> None:
        """A request refused with 429 by the rate limit or quota named `limit`."""
        with self._lock:
            self.throttled[limit] += 1

    def witness_outcome(self, witness: str, outcome: str) -> None:
        """One add-checkpoint round with a policy witness (`cosigned`, `http-422`, ...)."""
        with self._lock:
            self.witness[(witness, outcome)] += 1

    def proof(self, seconds: float) -> None:
        with self._lock:
            self.proof_latency.observe(seconds)

    def quote(self) -> None:
        with self._lock:
            self.quotes += 1

    def request(self, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, status)] += 1
            self.request_latency.observe(seconds)

    def exposition(self) -> str:
        with self._lock:
            lines = [
                "# HELP dataledger_appends_total Entries appended to the ledger by this process.",
                "# TYPE dataledger_appends_total counter",
                f"dataledger_appends_total {self.appends}",
                "# HELP dataledger_batch_size Entries per committed batch (group commit).",
                "# TYPE dataledger_batch_size histogram",
                *self.batches.lines("dataledger_batch_size"),
                "# HELP dataledger_refused_total Statements refused, by reason.",
                "# TYPE dataledger_refused_total counter",
                *(
                    f'dataledger_refused_total{{reason="{code}"}} {n}'
                    for code, n in sorted(self.refused.items())
                ),
                "# HELP dataledger_throttled_total Requests refused with 429, by limit.",
                "# TYPE dataledger_throttled_total counter",
                *(
                    f'dataledger_throttled_total{{limit="{name}"}} {n}'
                    for name, n in sorted(self.throttled.items())
                ),
                "# HELP dataledger_witness_requests_total add-checkpoint rounds, by witness and"
                " outcome.",
                "# TYPE dataledger_witness_requests_total counter",
                *(
                    f'dataledger_witness_requests_total{{witness="{w}",outcome="{o}"}} {n}'
                    for (w, o), n in sorted(self.witness.items())
                ),
                "# HELP dataledger_proof_seconds Time to build an inclusion or consistency proof.",
                "# TYPE dataledger_proof_seconds histogram",
                *self.proof_latency.lines("dataledger_proof_seconds"),
                "# HELP dataledger_valuation_quotes_total Valuation quotes issued.",
                "# TYPE dataledger_valuation_quotes_total counter",
                f"dataledger_valuation_quotes_total {self.quotes}",
                "# HELP dataledger_http_requests_total HTTP requests, by method and status.",
                "# TYPE dataledger_http_requests_total counter",
                *(
                    f'dataledger_http_requests_total{{method="{m}",status="{s}"}} {n}'
                    for (m, s), n in sorted(self.requests.items())
                ),
                "# HELP dataledger_http_request_seconds HTTP request latency.",
                "# TYPE dataledger_http_request_seconds histogram",
                *self.request_latency.lines("dataledger_http_request_seconds"),
            ]
        return "\n".join(lines) + "\n"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _standard: frozenset[str] = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


access_log = logging.getLogger("dataledger.access")


def request_middleware(metrics: Metrics) -> Any:
    """ASGI middleware: a request id on every request and response, a JSON access line, and
    request metrics."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            method = str(scope.get("method", ""))
            headers = dict(scope.get("headers", []))
            given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
            request_id = (
                given if 0 < len(given) <= 64 and given.isprintable() else os.urandom(8).hex()
            )
            scope.setdefault("state", {})["request_id"] = request_id
            started = time.perf_counter()
            status = 500

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [
                        *message.get("headers", []),
                        (REQUEST_ID_HEADER.encode(), request_id.encode()),
                    ]
                await send(message)

            try:
                await app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                metrics.request(method, status, elapsed)
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )

        return middleware

    return factory
