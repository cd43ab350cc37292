"""Following the log from the database: its entries, with the openings held, decided in order.

One reader for the sequencer's catch-up (into its in-memory state) and for replay (into fresh
projection tables): both fold what this yields.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import Connection

from ledger.fold import Decided, decide_entry
from ledger.state import LedgerView
from ledger.storage import store


def decided_entries(
    conn: Connection,
    view: LedgerView,
    start: int,
    end: int,
    *,
    origin: str,
    notice_period: timedelta,
    page: int = 2000,
) -> Iterator[Decided]:
    """Entries [start, end) decided against `view`, in order; the caller applies each one's
    events to `view` before asking for the next (the rules read what the entries before did)."""
    for lo in range(start, end, page):
        entries = store.entries_range(conn, lo, min(page, end - lo))
        openings = store.openings_range(conn, lo, lo + len(entries))
        for stored in entries:
            yield decide_entry(
                view,
                stored.index,
                stored.entry,
                openings.get(stored.index, {}),
                origin=origin,
                notice_period=notice_period,
            )
