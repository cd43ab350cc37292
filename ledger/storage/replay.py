"""Replay: rebuild every projection from the ledger alone, and compare with the live database.

Replay feeds each stored entry, in order, through the same `ledger.rules.decide` and
`projections.apply` that the sequencer used when it appended it. If the live projections differ
from the rebuilt ones, something wrote them outside the ledger (or a rule changed) — which is
exactly what `dataledger replay --check` exists to catch.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, Text, select

from ledger.fold import FoldError
from ledger.state import KeyRecord
from ledger.storage import projections, store
from ledger.storage.follow import decided_entries
from ledger.storage.schema import PROJECTION_TABLES

PAGE = 1000


ReplayError = FoldError  # an entry the rules refuse on replay: the log and the rules disagree


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple[Any, ...]
    live: dict[str, Any] | None
    replayed: dict[str, Any] | None

    def describe(self) -> str:
        if self.live is None:
            return f"{self.table} {self.key}: missing from the live database"
        if self.replayed is None:
            return f"{self.table} {self.key}: in the live database but not in the ledger"
        changed = sorted(k for k in self.live if self.live[k] != self.replayed.get(k))
        detail = ", ".join(
            f"{k}: live {self.live[k]!r} != ledger {self.replayed[k]!r}" for k in changed
        )
        return f"{self.table} {self.key}: {detail}"


@dataclass(frozen=True)
class ReplayReport:
    entries: int
    # (entry index, field) of every private text field whose opening was erased: replayed as
    # ERASED. A missing opening that the rules need (a price, units) is a ReplayError instead.
    unopened: list[tuple[int, str]]


def replay(
    source: Engine,
    target: Engine,
    operator: KeyRecord,
    notice_period: timedelta,
    *,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Rebuild the projections of `source`'s ledger into `target` (already migrated, empty),
    opening private fields with the openings `source` holds.

    Raises `ReplayError` naming the first entry the rules refuse or that cannot be opened.
    """
    with source.connect() as src:
        size = store.tree_size(src)
        head = store.latest_checkpoint(src)
    origin = head.note.split("\n", 1)[0] if head is not None else ""
    done = 0
    unopened: list[tuple[int, str]] = []
    with target.begin() as dst, source.connect() as src:
        view = projections.SqlView(dst, operator)
        decided_all = decided_entries(
            src, view, 0, size, origin=origin, notice_period=notice_period, page=PAGE
        )
        for decided in decided_all:
            unopened.extend((decided.index, name) for name in decided.erased)
            meta = projections.EntryMeta(decided.index, decided.integrated_at)
            for event in decided.events:
                projections.apply(dst, event, meta)
            done += 1
            if progress and done % PAGE == 0:
                progress(PAGE)
        if progress and done % PAGE:
            progress(done % PAGE)
    return ReplayReport(done, unopened)


def compare(live: Engine, rebuilt: Engine, *, limit: int = 50) -> list[Difference]:
    """Row-by-row differences between the projections of two databases (at most `limit`)."""
    found: list[Difference] = []
    with live.connect() as a, rebuilt.connect() as b:
        for table in PROJECTION_TABLES:
            for left, right in _merge(_rows(a, table), _rows(b, table), _key_of(table)):
                if left != right:
                    key = _key_of(table)(left if left is not None else right)  # type: ignore[arg-type]
                    found.append(Difference(str(table.name), key, left, right))
                    if len(found) >= limit:
                        return found
    return found


def _key_of(table: Table) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    names = [c.name for c in table.primary_key.columns]
    return lambda row: tuple(row[n] for n in names)


def _rows(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    # Byte order for text keys on both dialects, so two sorted streams can be merged.
    order = [
        c.collate("C") if conn.dialect.name == "postgresql" and isinstance(c.type, Text) else c
        for c in table.primary_key.columns
    ]
    result = conn.execution_options(yield_per=PAGE).execute(select(table).order_by(*order))
    for row in result:
        yield {str(k): _normal(v) for k, v in row._mapping.items()}


def _normal(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):  # drivers differ in how they return blobs
        return base64.b64encode(bytes(value)).decode()
    return value


def _merge(
    left: Iterator[dict[str, Any]],
    right: Iterator[dict[str, Any]],
    key: Callable[[dict[str, Any]], tuple[Any, ...]],
) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Walk two key-sorted row streams together, pairing rows with equal keys."""
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and _sort_key(key(a)) < _sort_key(key(b))):
            yield a, None
            a = next(left, None)
        elif a is None or _sort_key(key(b)) < _sort_key(key(a)):
            yield None, b
            b = next(right, None)
        else:
            yield a, b
            a, b = next(left, None), next(right, None)


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    # Compare text as UTF-8 bytes: the order both databases were asked to sort in.
    return tuple(k.encode() if isinstance(k, str) else k for k in key)
