"""Deciding a logged entry again: the one way replay, catch-up and audits fold the log.

The log is the replication stream: any process rebuilds the state the rules need by feeding the
entries, in order, with the openings it holds, through the same `ledger.rules.decide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ledger import dsse
from ledger.entries import decode_entry
from ledger.errors import LedgerError
from ledger.events import Event
from ledger.privacy import Opening
from ledger.rules import decide
from ledger.state import Context, LedgerView
from ledger.statements import (
    Statement,
    commitments_of,
    decode_statement,
    is_text_field,
    open_statement,
    statement_id,
)


class FoldError(LedgerError):
    """A logged entry that the rules refuse, or that cannot be opened: the log and the rules
    (or the openings held) disagree."""

    code = "replay-refused"


@dataclass(frozen=True, slots=True)
class Decided:
    index: int
    integrated_at: str
    events: list[Event]
    erased: tuple[str, ...]  # committed text fields whose openings are gone (read as ERASED)


def decide_entry(
    view: LedgerView,
    index: int,
    entry_bytes: bytes,
    openings: dict[str, Opening],
    *,
    origin: str,
    notice_period: timedelta,
) -> Decided:
    """Decide logged entry `index` against `view`, opened with `openings`.

    An erased text field reads as `ERASED` (the rules never need the words of a reason or
    grounds); any other missing opening, or a refusal, raises `FoldError` naming the entry.
    """
    try:
        entry = decode_entry(entry_bytes)
        payload = dsse.payload_bytes(entry.envelope)
        sealed = decode_statement(payload)
        erased = _erased(sealed, openings)
        statement = open_statement(sealed, openings, erased=erased)
        ctx = Context(
            entry.envelope.signatures[0].keyid,
            index,
            entry.integrated_at,
            statement_id(payload),
            notice_period,
            origin,
        )
        events = decide(view, statement, ctx)
    except LedgerError as exc:
        raise FoldError(f"entry {index}: {exc.message}") from exc
    return Decided(index, entry.integrated_at, events, tuple(sorted(erased)))


def _erased(sealed: Statement, openings: dict[str, Opening]) -> frozenset[str]:
    return frozenset(
        name
        for name in commitments_of(sealed)
        if name not in openings and is_text_field(sealed.kind, name)
    )
