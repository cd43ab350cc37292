"""Quoting prices in the service: a valuation model fitted on the ledger's own history.

The model (`valuation.model`) is fitted on the contract frames read from the projections and
refitted when it is older than `refit_seconds`; quotes between refits are cheap. A quote a party
asks for is recorded on the ledger as a `valuation.quote` statement signed by the log, so an
auditor can later compare agreed prices with the quotes that preceded them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine

from api.problems import NotFound
from ledger.errors import StatementRejected
from ledger.storage import catalog, export
from valuation.model import Model, Quote, fit

REFERENCE_TERMS: dict[str, Any] = {
    "max_units": None,
    "duration_days": 365,
    "exclusive": False,
    "purpose": "analytics",
}


class Valuer:
    def __init__(self, engine: Engine, refit_seconds: float = 600.0) -> None:
        self._engine = engine
        self._refit_seconds = refit_seconds
        self._model: Model | None = None
        self._fitted = 0.0
        self._lock = threading.Lock()

    def _frames(self) -> dict[str, pl.DataFrame]:
        with self._engine.connect() as conn:
            return {
                table: pl.concat(list(export.chunks(conn, table)) or [export.frame(table, [])])
                for table in ("assets", "usage", "transactions")
            }

    def model(self) -> Model:
        with self._lock:
            if self._model is None or time.monotonic() - self._fitted > self._refit_seconds:
                frames = self._frames()
                try:
                    self._model = fit(frames["assets"], frames["usage"], frames["transactions"])
                except ValueError as exc:
                    raise StatementRejected(
                        "valuation-unavailable",
                        f"the ledger has too little trading history to value licences yet: {exc}",
                        status=409,
                    ) from exc
                self._fitted = time.monotonic()
            return self._model

    def quote(
        self,
        asset_id: str,
        *,
        units: int | None,
        term_days: int,
        exclusive: bool,
        purpose: str,
    ) -> Quote:
        with self._engine.connect() as conn:
            asset = catalog.asset(conn, asset_id, private=False)
        if asset is None:
            raise NotFound(f"no asset {asset_id}")
        request = {
            "asset_id": asset_id,
            "max_units": units,
            "duration_days": term_days,
            "exclusive": exclusive,
            "purpose": purpose,
        }
        model = self.model()
        return model.quote(
            request, as_of=max(model.as_of, datetime.now(UTC)), category=asset["category"]
        )
