"""Tampering straight in the database (around the append-only triggers): `dataledger verify`
finds every change and names the place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nacl.signing
import pytest
from sqlalchemy import Connection, Engine, text

from ledger.errors import VerificationError
from ledger.logsigner import LogSigner
from ledger.storage.integrity import check_database
from ledger.storage.sequencer import Sequencer
from tests.factories import TEST_ORIGIN, register_envelope, submission

SIZE = 40


@pytest.fixture
def log(engine: Engine) -> tuple[Engine, LogSigner]:
    signer = LogSigner(TEST_ORIGIN, nacl.signing.SigningKey.generate())
    sequencer = Sequencer(engine, signer)
    sequencer.start()
    for _ in range(SIZE):
        sequencer.append(submission(register_envelope()[1]))
    sequencer.stop()
    return engine, signer


def around_triggers(engine: Engine, change: Callable[[Connection], Any]) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            for table in ("ledger_entries", "merkle_nodes", "checkpoints"):
                for op in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        change(conn)


def flip_entry(conn: Connection, idx: int, at: float = 0.5) -> None:
    raw = bytearray(
        conn.execute(
            text("SELECT entry FROM ledger_entries WHERE idx = :i"), {"i": idx}
        ).scalar_one()
    )
    raw[int(len(raw) * at)] ^= 0x01
    conn.execute(
        text("UPDATE ledger_entries SET entry = :e WHERE idx = :i"), {"e": bytes(raw), "i": idx}
    )


def swap_entries(conn: Connection, a: int, b: int) -> None:
    rows = dict(
        conn.execute(
            text("SELECT idx, entry FROM ledger_entries WHERE idx IN (:a, :b)"), {"a": a, "b": b}
        ).all()
    )
    for idx, other in ((a, b), (b, a)):
        conn.execute(
            text("UPDATE ledger_entries SET entry = :e WHERE idx = :i"),
            {"e": rows[other], "i": idx},
        )


def flip_node(conn: Connection, level: int, idx: int) -> None:
    raw = bytearray(
        conn.execute(
            text("SELECT hash FROM merkle_nodes WHERE level = :l AND idx = :i"),
            {"l": level, "i": idx},
        ).scalar_one()
    )
    raw[0] ^= 0x80
    conn.execute(
        text("UPDATE merkle_nodes SET hash = :h WHERE level = :l AND idx = :i"),
        {"h": bytes(raw), "l": level, "i": idx},
    )


def flip_checkpoint_root(conn: Connection, size: int) -> None:
    conn.execute(
        text("UPDATE checkpoints SET root_hash = :r WHERE tree_size = :s"),
        {"r": b"\x00" * 32, "s": size},
    )


def flip_checkpoint_signature(conn: Connection, size: int) -> None:
    note = conn.execute(
        text("SELECT note FROM checkpoints WHERE tree_size = :s"), {"s": size}
    ).scalar_one()
    body, sig = note[:-6], note[-6:]
    forged = body + ("A" if sig[0] != "A" else "B") + sig[1:]
    conn.execute(
        text("UPDATE checkpoints SET note = :n WHERE tree_size = :s"), {"n": forged, "s": size}
    )


CASES: dict[str, tuple[Callable[[Connection], Any], str]] = {
    "entry byte flipped": (lambda c: flip_entry(c, 7), "entry 7"),
    "entry signature flipped": (lambda c: flip_entry(c, 12, at=0.9), "entry 12"),
    "entry deleted": (
        lambda c: c.execute(text("DELETE FROM ledger_entries WHERE idx = 7")),
        "entry 7",
    ),
    "last entry deleted": (
        lambda c: c.execute(text(f"DELETE FROM ledger_entries WHERE idx = {SIZE - 1}")),
        f"entry {SIZE - 1}",
    ),
    "entries reordered": (lambda c: swap_entries(c, 5, 6), "entry 5"),
    "leaf hash flipped": (lambda c: flip_node(c, 0, 9), "level 0, index 9"),
    "inner hash flipped": (lambda c: flip_node(c, 3, 1), "level 3, index 1"),
    "hash deleted": (
        lambda c: c.execute(text("DELETE FROM merkle_nodes WHERE level = 2 AND idx = 4")),
        "(2, 4)",
    ),
    "checkpoint root changed": (lambda c: flip_checkpoint_root(c, SIZE), f"checkpoint {SIZE}"),
    "checkpoint signature changed": (
        lambda c: flip_checkpoint_signature(c, SIZE),
        f"checkpoint {SIZE}",
    ),
}


def test_an_untouched_database_verifies(log: tuple[Engine, LogSigner]) -> None:
    engine, signer = log
    assert check_database(engine, signer.verifier) == SIZE


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_is_found_and_named(log: tuple[Engine, LogSigner], case: str) -> None:
    engine, signer = log
    change, place = CASES[case]
    around_triggers(engine, change)
    with pytest.raises(VerificationError) as found:
        check_database(engine, signer.verifier)
    assert place in str(found.value), str(found.value)
