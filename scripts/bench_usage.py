"""Usage metering and export benchmark.

    python scripts/bench_usage.py                       # both parts, SQLite, defaults below
    python scripts/bench_usage.py --db postgres --duration 20 --concurrency 64
    python scripts/bench_usage.py --skip-http --rows 10000000

1. **Sustained usage reports over HTTP.** A fresh `dataledger serve`; an owner, a buyer, an asset,
   an unlimited offer and an approved licence set up through the SDK; then `--count` usage.report
   envelopes signed by the buyer BEFORE the timed phase, posted by `--concurrency` keep-alive
   connections for `--duration` seconds. Every report goes through the full rules (licence
   active, period within the term, quota) and the group-commit sequencer. Reports: reports/s,
   p50/p99 latency, non-201 answers (must be 0).
2. **Export of `--rows` usage rows to Parquet.** The rows are bulk-loaded straight into the
   `usage_reports` projection of a fresh SQLite database (loading 10M through the ledger would
   take hours and is not what is measured), then the export runs in a child process —
   `api.export.write_all(database_chunks(...))`, the code behind `dataledger export --format
   parquet` — and its wall time and peak resident memory (ru_maxrss) are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench

from api.client import Client, new_statement, seal_and_sign
from ledger.encoding import canonical_json, format_rfc3339_utc

PATH = "/v1/statements"


def setup_market(url: str) -> tuple[Any, str, str]:
    """Owner, buyer, asset, unlimited offer, approved licence; returns (buyer key, licence id,
    the log's origin)."""
    with Client(url, trust_on_first_use=True) as client:
        market = _bench.setup_licensed_market(
            client,
            owner_names=["Bench Owner"],
            buyer_names=["Bench Buyer"],
            asset_fields=lambda _: {
                "title": "bench asset",
                "description": "usage benchmark",
                "category": "bench",
                "classification": "general",
                "personal_info": "none",
                "fingerprint": os.urandom(32).hex(),
                "size_bytes": 1,
                "record_count": 1,
            },
        )
        origin = client.origin
    buyer, licence = market.licences[0]
    return buyer, licence, origin


def usage_envelopes(buyer: Any, licence: str, count: int, origin: str) -> list[bytes]:
    """Request bodies: each a sealed, signed report and the openings of its private fields."""
    start = format_rfc3339_utc(datetime.now(UTC))
    end = format_rfc3339_utc(datetime.now(UTC) + timedelta(seconds=1))
    return [
        canonical_json(
            seal_and_sign(
                buyer,
                new_statement(
                    "usage.report",
                    origin=origin,
                    licence_id=licence,
                    units=1,
                    period_start=start,
                    period_end=end,
                ),
            )
        )
        for _ in range(count)
    ]


async def drive(url: str, bodies: list[bytes], concurrency: int, duration: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    conns = [_bench.RawConnection(host, int(port)) for _ in range(concurrency)]
    for conn in conns:
        await conn.open()
    requests = iter([_bench.post_request(host, int(port), PATH, b) for b in bodies])
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []

    async def worker(conn: _bench.RawConnection, deadline: float) -> None:
        while time.perf_counter() < deadline:
            raw = next(requests, None)
            if raw is None:
                return
            t0 = time.perf_counter()
            status, body = await conn.request(raw)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 201 and len(errors) < 3:
                errors.append(f"{status}: {body[:200]!r}")

    import asyncio

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, t0 + duration) for c in conns))
    elapsed = time.perf_counter() - t0
    for conn in conns:
        conn.close()
    ok = statuses.get(201, 0)
    return {
        "reports_per_s": ok / elapsed,
        "accepted": ok,
        "other_answers": sum(statuses.values()) - ok,
        "errors": errors,
        **_bench.latency_summary_ms(latencies),
    }


def bench_http(db: str, args: argparse.Namespace) -> dict[str, Any]:
    with (
        _bench.temp_dir() as tmp,
        _bench.database(db, tmp) as url,
        _bench.Server(tmp, url if db == "postgres" else "", workers=args.workers) as server,
    ):
        buyer, licence, origin = setup_market(server.url)
        bodies = usage_envelopes(buyer, licence, args.count, origin)
        result = _bench.run_async(drive(server.url, bodies, args.concurrency, args.duration))
        return {"db": db, "workers": args.workers, "concurrency": args.concurrency, **result}


LOAD_SQL = (
    "INSERT INTO usage_reports (usage_id, licence_id, asset_id, licensee_id, reporter_id,"
    " units, usage_kind, period_start, period_end, entry_index, reported_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


def load_rows(db_path: Path, rows: int, seed: int) -> float:
    """Bulk-load `rows` usage rows into a fresh, migrated SQLite database; returns seconds."""
    import sqlite3

    from ledger.storage.engine import make_engine
    from ledger.storage.migrate import upgrade

    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    engine.dispose()
    rng = random.Random(seed)
    t0 = time.perf_counter()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a scratch database: loading speed, not durability
    base = datetime(2025, 1, 1, tzinfo=UTC)
    licences = [f"{i:032x}" for i in range(1000)]
    chunk = 200_000
    for start in range(0, rows, chunk):
        batch = []
        for i in range(start, min(rows, start + chunk)):
            licence = licences[i % len(licences)]
            at = format_rfc3339_utc(base + timedelta(seconds=i * 3))
            batch.append(
                (
                    f"{i:032x}",
                    licence,
                    licence,
                    licence * 2,
                    licence * 2,
                    rng.randint(1, 100),
                    "records",
                    at,
                    at,
                    i,
                    at,
                )
            )
        conn.executemany(LOAD_SQL, batch)
        conn.commit()
    conn.close()
    return time.perf_counter() - t0


EXPORT_CHILD = """
import sys, time
from pathlib import Path
from api.export import database_chunks, write_all
from ledger.storage.engine import make_engine
t0 = time.perf_counter()
counts = write_all(Path(sys.argv[2]), database_chunks(make_engine(sys.argv[1])))
print(counts["usage"], time.perf_counter() - t0)
"""


def bench_export(args: argparse.Namespace) -> dict[str, Any]:
    with _bench.temp_dir() as tmp:
        db_path = tmp / "usage.db"
        load_seconds = load_rows(db_path, args.rows, args.seed)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run(
            [sys.executable, "-c", EXPORT_CHILD, f"sqlite:///{db_path}", str(tmp / "export")],
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
        )
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        exported, seconds = out.stdout.split()
        size = sum(f.stat().st_size for f in (tmp / "export").rglob("*.parquet"))
        return {
            "rows": int(exported),
            "load_s": load_seconds,
            "export_s": float(seconds),
            "rows_per_s": int(exported) / float(seconds),
            "peak_rss_mb": max(peak_kb, before) / 1024,
            "parquet_mb": size / 2**20,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--count", type=int, default=60_000, help="pre-signed reports (upper bound)"
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="usage rows for the export")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if not args.skip_http:
        dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        results["http"] = [bench_http(db, args) for db in dbs]
        _bench.print_table(
            results["http"],
            [
                "db",
                "workers",
                "concurrency",
                "reports_per_s",
                "accepted",
                "other_answers",
                "p50_ms",
                "p99_ms",
            ],
            "usage reports over HTTP",
        )
    if not args.skip_export:
        results["export"] = bench_export(args)
        _bench.print_table(
            [results["export"]],
            ["rows", "load_s", "export_s", "rows_per_s", "peak_rss_mb", "parquet_mb"],
            "Parquet export of usage",
        )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
