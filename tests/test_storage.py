"""Storage and sequencer, on SQLite and PostgreSQL: append-only tables, group commit, proofs,
idempotency, refusals, restarts and several OS processes on one database."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nacl.signing
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from api.keyfiles import write_new_key
from ledger import merkle
from ledger.errors import StatementRejected
from ledger.logsigner import LogSigner
from ledger.receipts import verify_receipt
from ledger.storage import store
from ledger.storage.schema import checkpoints, ledger_entries, merkle_nodes
from ledger.storage.sequencer import Sequencer
from tests._append_worker import ORIGIN
from tests.audit import audit_database
from tests.factories import TEST_ORIGIN, nonce, register_envelope, submission

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def signer() -> LogSigner:
    return LogSigner(TEST_ORIGIN, nacl.signing.SigningKey.generate())


@pytest.fixture
def sequencer(engine: Engine, signer: LogSigner) -> Iterator[Sequencer]:
    seq = Sequencer(engine, signer)
    seq.start()
    yield seq
    seq.stop()


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


# --- append-only ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["ledger_entries", "merkle_nodes", "checkpoints", "cosignatures"])
@pytest.mark.parametrize("statement", ["UPDATE", "DELETE", "TRUNCATE"])
def test_append_only_tables_reject_changes(
    engine: Engine, sequencer: Sequencer, table: str, statement: str
) -> None:
    sequencer.append(submission(register_envelope()[1]))
    if table == "cosignatures":  # a row to protect: a (fake) cosignature, inserted directly
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO cosignatures VALUES (1, 'k', 1, 'p', 'n', 'line', 'at')")
            )
    before = count(engine, text(table))
    column = {
        "ledger_entries": "kind",
        "merkle_nodes": "hash",
        "checkpoints": "note",
        "cosignatures": "line",
    }[table]
    sql = {
        "UPDATE": f"UPDATE {table} SET {column} = {column}",
        "DELETE": f"DELETE FROM {table}",
        # SQLite has no TRUNCATE; its DELETE-without-WHERE is the equivalent and is guarded.
        # CASCADE: cosignatures refer to checkpoints (and are append-only themselves).
        "TRUNCATE": f"TRUNCATE {table} CASCADE"
        if engine.dialect.name == "postgresql"
        else f"DELETE FROM {table}",
    }[statement]
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(sql)
    assert count(engine, text(table)) == before


# --- sequencing -------------------------------------------------------------------------------


def test_concurrent_appends_are_batched_and_every_receipt_verifies(
    engine: Engine, sequencer: Sequencer, signer: LogSigner
) -> None:
    subs = [submission(register_envelope()[1]) for _ in range(60)]
    futures = [sequencer.submit(s) for s in subs]
    results = [f.result(timeout=60) for f in futures]
    assert sorted(r.receipt.index for r in results) == list(range(60))
    for result in results:
        entry, _ = verify_receipt(result.receipt, signer.verifier, origin=signer.origin)
        assert entry.index == result.receipt.index
    # Group commit: fewer checkpoints (one per batch) than entries.
    assert sequencer.stats.batches < 60
    assert count(engine, checkpoints) == sequencer.stats.batches + 1  # + the empty tree's
    audit_database(engine, signer)


def test_stored_proofs_match_a_reference_tree(engine: Engine, sequencer: Sequencer) -> None:
    receipts = [sequencer.append(submission(register_envelope()[1])).receipt for _ in range(21)]
    leaves = [merkle.leaf_hash(base64.b64decode(r.entry)) for r in receipts]
    reference: dict[tuple[int, int], bytes] = {}
    tree = merkle.CompactRange.empty()
    for leaf in leaves:
        for level, idx, digest in tree.append(leaf):
            reference[(level, idx)] = digest
    get = lambda level, idx: reference[(level, idx)]  # noqa: E731
    with engine.connect() as conn:
        for size in range(1, 22):
            root = merkle.root_hash(size, get)
            for index in range(size):
                proof = store.inclusion_proof(conn, index, size)
                assert proof == merkle.inclusion_proof(index, size, get)
                merkle.verify_inclusion(index, size, leaves[index], proof, root)
            for first in range(1, size + 1):
                proof = store.consistency_proof(conn, first, size)
                merkle.verify_consistency(first, size, proof, merkle.root_hash(first, get), root)


def test_identical_envelope_is_idempotent(engine: Engine, sequencer: Sequencer) -> None:
    sub = submission(register_envelope()[1])
    first = sequencer.append(sub)
    again = sequencer.append(sub)
    assert first.created and not again.created
    assert again.receipt.index == first.receipt.index
    assert again.receipt.entry == first.receipt.entry
    assert count(engine, ledger_entries) == 1


def test_identical_envelope_twice_in_one_batch_appends_once(
    engine: Engine, sequencer: Sequencer
) -> None:
    sub = submission(register_envelope()[1])
    futures = [sequencer.submit(sub) for _ in range(5)]
    results = [f.result(timeout=30) for f in futures]
    assert {r.receipt.index for r in results} == {0}
    assert sum(r.created for r in results) == 1
    assert count(engine, ledger_entries) == 1


def test_refused_statements_append_nothing(engine: Engine, sequencer: Sequencer) -> None:
    key, env = register_envelope()
    sequencer.append(submission(env))
    # Same key again (new nonce): the key is taken.
    _, again = register_envelope(key, name="Other")
    with pytest.raises(StatementRejected) as taken:
        sequencer.append(submission(again))
    assert taken.value.code == "key-already-registered"
    # Same nonce as the first statement, different content: a replay.
    first_nonce = submission(env).statement.nonce
    _, replay = register_envelope(key, name="Replay", nonce=first_nonce)
    with pytest.raises(StatementRejected) as replayed:
        sequencer.append(submission(replay))
    assert replayed.value.code == "nonce-reused"
    assert count(engine, ledger_entries) == 1
    assert count(engine, merkle_nodes) == 1
    assert count(engine, checkpoints) == 2  # empty tree + the one append


def test_a_bad_submission_does_not_sink_its_batch(engine: Engine, sequencer: Sequencer) -> None:
    key, env = register_envelope()
    good = [submission(register_envelope()[1]) for _ in range(10)]
    futures = [sequencer.submit(submission(env)), sequencer.submit(submission(env))]
    futures += [sequencer.submit(s) for s in good]
    _, dup = register_envelope(key, name="dup", nonce=nonce())
    futures.append(sequencer.submit(submission(dup)))
    outcomes = []
    for f in futures:
        try:
            outcomes.append(f.result(timeout=30).receipt.index)
        except StatementRejected as exc:
            outcomes.append(exc.code)
    assert outcomes[-1] == "key-already-registered"
    assert count(engine, ledger_entries) == 11


def test_restart_continues_the_same_tree(engine: Engine, signer: LogSigner) -> None:
    for _ in range(2):
        seq = Sequencer(engine, signer)
        seq.start()
        for _ in range(7):
            seq.append(submission(register_envelope()[1]))
        seq.stop()
    assert audit_database(engine, signer).size == 14


def test_two_sequencers_on_one_database_keep_one_tree(engine: Engine, signer: LogSigner) -> None:
    a, b = Sequencer(engine, signer), Sequencer(engine, signer)
    a.start()
    b.start()
    subs = [submission(register_envelope()[1]) for _ in range(40)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda ix: (a if ix[0] % 2 else b).append(ix[1]), enumerate(subs)))
    a.stop()
    b.stop()
    assert sorted(r.receipt.index for r in results) == list(range(40))
    for r in results:
        verify_receipt(r.receipt, signer.verifier)
    assert audit_database(engine, signer).size == 40


def test_several_os_processes_append_to_one_log(database_url: str, tmp_path: Path) -> None:
    from ledger.storage.engine import make_engine
    from ledger.storage.migrate import upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    key_file = tmp_path / "log-key.json"
    log_key = write_new_key(key_file)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests._append_worker", database_url, str(key_file), "25"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    indices = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        indices += [int(line.split()[0]) for line in out.splitlines()]
    assert sorted(indices) == list(range(100)), "a gap or a duplicate index"
    assert audit_database(engine, LogSigner(ORIGIN, log_key)).size == 100
    engine.dispose()
