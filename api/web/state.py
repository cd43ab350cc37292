"""What the explorer keeps per process: the service, and the slow figures kept in memory."""

from __future__ import annotations

import polars as pl

from api.service import LedgerService
from api.web import reads
from api.web.background import Snapshot
from ledger.alerts import Alert
from valuation.model import Model

ALERTS_MAX_AGE = 300.0
STATISTICS_MAX_AGE = 300.0
CATEGORIES_MAX_AGE = 300.0
# The valuation model is refitted by the valuer itself when older than its refit interval; the
# snapshot only asks for it (in the background) so that no page ever waits for a fit.
MODEL_MAX_AGE = 60.0


class WebState:
    def __init__(self, ledger: LedgerService) -> None:
        self.ledger = ledger
        self.alerts: Snapshot[list[Alert]] = Snapshot(
            "alerts", ledger.alerts, max_age=ALERTS_MAX_AGE
        )
        self.statistics: Snapshot[pl.DataFrame] = Snapshot(
            "statistics", ledger.market_statistics, max_age=STATISTICS_MAX_AGE
        )
        self.model: Snapshot[Model] = Snapshot(
            "valuation", ledger.valuer.model, max_age=MODEL_MAX_AGE, retry_after=120.0
        )
        self.categories: Snapshot[list[str]] = Snapshot(
            "categories", self._categories, max_age=CATEGORIES_MAX_AGE
        )

    def _categories(self) -> list[str]:
        with self.ledger.engine.connect() as conn:
            return reads.categories(conn)

    def close(self) -> None:
        for snapshot in (self.alerts, self.statistics, self.model, self.categories):
            snapshot.close()
