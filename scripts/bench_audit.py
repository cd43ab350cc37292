"""Audit benchmark: verifiable export rate and alert computation on a large ledger.

    python scripts/bench_audit.py                  # 1,000,000 entries, SQLite
    python scripts/bench_audit.py --entries 200000 --trades 50000

How the ledger is built (fast, but real): `--entries` party.register envelopes are signed on all
cores by fresh keys and written as genuine entries — the entry bytes, their leaf hashes and every
Merkle node, the parties and keys, and one checkpoint signed by a fresh log key — straight into
a fresh, migrated SQLite database, in large transactions (the sequencer would take far longer
and is measured by bench_append.py). A market for the alert detectors is loaded straight into
the projections: `--trades` confirmed payments among `--parties` parties (with some circular
trades), and `--usage` usage rows.

No statement openings are written (`statement_openings`, issue 14): party.register has no private
field, so its entries carry nothing sealed, and the market rows are projections only, with no log
entry behind them (negative entry indices), so there is no commitment for an opening to open.
Neither the bundle, its verification nor the alerts read openings.

What is measured:
  * the NDJSON audit bundle of the whole log (`ledger.storage.bundles.bundle_lines`, what
    `GET /v1/audit/bundle` streams): entries/s, and its offline verification rate
    (`ledger.bundle.verify_bundle`, what `dataledger audit verify` runs);
  * the alerts (`ledger.storage.alert_data.compute`, what `GET /v1/audit/alerts` runs): seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench

from api.client import party_register_statement, sign_statement
from ledger import keys, merkle
from ledger.dsse import Envelope
from ledger.encoding import format_rfc3339_utc
from ledger.entries import encode_entry
from ledger.logsigner import LogSigner, default_origin
from ledger.state import KeyRecord
from ledger.storage import alert_data, bundles
from ledger.storage.engine import make_engine
from ledger.storage.migrate import upgrade

CHUNK = 20_000


def _sign(args: tuple[int, int, str]) -> list[tuple[str, bytes, str, Envelope]]:
    start, count, origin = args
    out = []
    for i in range(start, start + count):
        key = keys.generate()
        statement = party_register_statement(key, f"party {i}", origin=origin)
        envelope = sign_statement(key, statement)
        out.append((keys.keyid_of(key), bytes(key.verify_key), statement["nonce"], envelope))
    return out


def build_log(path: Path, entries: int, signer: LogSigner) -> float:
    upgrade(make_engine(f"sqlite:///{path}"))
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # scratch database: build speed, not durability
    tree = merkle.CompactRange.empty()
    at = format_rfc3339_utc(datetime.now(UTC))
    t0 = time.perf_counter()
    jobs = [(s, min(CHUNK, entries - s), signer.origin) for s in range(0, entries, CHUNK)]
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        for signed in pool.map(_sign, jobs):
            rows, nodes, people, key_rows = [], [], [], []
            for kid, pub, nonce, envelope in signed:
                index = tree.size
                entry = encode_entry(envelope, index, at)
                digest = hashlib.sha256(envelope.canonical()).digest()
                rows.append((index, entry, digest, kid, nonce, "party.register", at))
                nodes += tree.append(merkle.leaf_hash(entry))
                people.append((kid, "p", index, at, None))
                key_rows.append((kid, kid, pub, index, None))
            db.executemany("INSERT INTO ledger_entries VALUES (?,?,?,?,?,?,?)", rows)
            db.executemany("INSERT INTO merkle_nodes VALUES (?,?,?)", nodes)
            db.executemany("INSERT INTO parties VALUES (?,?,?,?,?)", people)
            db.executemany("INSERT INTO party_keys VALUES (?,?,?,?,?)", key_rows)
    note = signer.sign_checkpoint(tree.size, tree.root())
    db.execute("INSERT INTO checkpoints VALUES (?,?,?,?)", (tree.size, tree.root(), note, at))
    db.commit()
    db.close()
    return time.perf_counter() - t0


def load_market(path: Path, trades: int, parties: int, usage: int, seed: int) -> None:
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    people = [f"{i:064x}" for i in range(parties)]
    assets = [f"{i:032x}" for i in range(max(1, trades // 20))]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    registered = format_rfc3339_utc(base - timedelta(days=30))
    db.executemany(
        "INSERT INTO assets (asset_id, owner_id, title, description, category, classification,"
        " personal_info, fingerprint, size_bytes, record_count, derived_from_json, status,"
        " conflict, frozen, version, registered_index, registered_at, notice_ends_at,"
        " updated_index)"
        " VALUES (?,?,'t','d',?,'general',?,?,1,1,'[]','certified',0,0,1,?,?,?,0)",
        [
            (
                a,
                rng.choice(people),
                f"c{i % 30}",
                "personal" if i % 10 == 0 else "none",
                a * 2,
                -i - 1,
                registered,
                registered,
            )
            for i, a in enumerate(assets)
        ],
    )
    licences, payments = [], []
    for i in range(trades):
        seller, buyer = rng.sample(people, 2)
        if i % 50 == 0 and payments:  # some round trips for the wash-trade detector
            seller, buyer = licences[-1][4], licences[-1][3]
        lid, asset = f"{i:032x}", rng.choice(assets)
        at = format_rfc3339_utc(base + timedelta(minutes=i))
        units = rng.randint(10, 10_000)
        licences.append(
            (
                lid,
                lid,
                asset,
                buyer,
                seller,
                "active",
                "research",
                30,
                '["CN"]',
                units,
                0,
                None,
                0,
                0,
                units * 5,
                "CNY",
                at,
                at,
                None,
                -i - 1,
                at,
                None,
                0,
            )
        )
        payments.append(
            (lid, lid, buyer, units * rng.randint(3, 8), "CNY", "", "confirmed", -i - 1, at, i, at)
        )
    db.executemany(
        "INSERT INTO offers VALUES (?,?,?,'open','{}',0,0,'x',NULL,NULL)",
        [(lic[0], lic[2], lic[4]) for lic in licences],
    )
    db.executemany("INSERT INTO licences VALUES (" + ",".join("?" * 23) + ")", licences)
    db.executemany("INSERT INTO payments VALUES (?,?,?,?,?,?,?,?,?,?,?)", payments)
    db.executemany(
        "INSERT INTO usage_reports VALUES (?,?,?,?,?,?,'records',?,?,?,?)",
        [
            (
                f"u{i:031x}",
                licences[i % len(licences)][0],
                licences[i % len(licences)][2],
                licences[i % len(licences)][3],
                licences[i % len(licences)][3],
                rng.randint(1, 50),
                *(2 * [format_rfc3339_utc(base + timedelta(minutes=i % trades))]),
                -i - 1,
                format_rfc3339_utc(base),
            )
            for i in range(usage)
        ],
    )
    db.commit()
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--parties", type=int, default=2_000)
    parser.add_argument("--usage", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from ledger.bundle import verify_bundle

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        key = keys.generate()
        signer = LogSigner(default_origin(key), key)
        built = build_log(path, args.entries, signer)
        load_market(path, args.trades, args.parties, args.usage, args.seed)
        engine = make_engine(f"sqlite:///{path}")
        operator = KeyRecord(signer.keyid, signer.keyid, signer.public_key)
        bundle_path = Path(tmp) / "bundle.ndjson"
        t0 = time.perf_counter()
        with engine.connect() as conn, bundle_path.open("wb") as out:
            for line in bundles.bundle_lines(conn, 0, None, operator):
                out.write(line)
        exported = time.perf_counter() - t0
        t0 = time.perf_counter()
        with bundle_path.open("rb") as lines:
            report = verify_bundle(lines, signer.verifier)
        verified = time.perf_counter() - t0
        t0 = time.perf_counter()
        with engine.connect() as conn:
            found = alert_data.compute(conn)
        alerting = time.perf_counter() - t0
        kinds: dict[str, int] = {}
        for alert in found:
            kinds[alert.kind] = kinds.get(alert.kind, 0) + 1
        rows: list[dict[str, Any]] = [
            {
                "entries": report.entries,
                "build_s": built,
                "export_s": exported,
                "export_per_s": report.entries / exported,
                "bundle_mb": bundle_path.stat().st_size / 2**20,
                "verify_per_s": report.entries / verified,
                "trades": args.trades,
                "usage": args.usage,
                "alerts_s": alerting,
                "alerts": len(found),
            }
        ]
        _bench.print_table(rows, list(rows[0]), "audit bundle and alerts")
        print("alerts by kind:", kinds)


if __name__ == "__main__":
    main()
