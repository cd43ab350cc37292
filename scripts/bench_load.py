"""Load benchmark: a realistic mix of writes, reads and proofs against a real server.

    python scripts/bench_load.py                                 # SQLite and PostgreSQL, 30 s each
    python scripts/bench_load.py --db sqlite --duration 60 --concurrency 64 --workers 2
    python scripts/bench_load.py --json                          # machine-readable

A fresh `dataledger serve` (its own temporary SQLite file, or a throw-away PostgreSQL database)
is set up through the SDK with owners holding assets and offers, and buyers holding approved
licences. Every statement the timed phase will send is signed BEFORE it starts, so the clients'
CPU goes to sending, not signing. Then `--concurrency` keep-alive HTTP/1.1 connections each
run a closed loop for `--duration` seconds, choosing the next operation at random (seeded) with
these weights:

    usage.report 30 | catalog search 10 | asset read 10 | offers read 5 | inclusion proof 15 |
    consistency proof 5 | party.register 5 | asset.register 5 | offer.publish 5 |
    licence.request + licence.approve 10 (two requests, timed separately)

Reported per operation: completed requests, throughput, p50/p95/p99 latency and non-2xx answers
(any is a failure: the benchmark exits 1). Latency is client-side, so it includes queueing in
the server while other requests are served: it is what a user of a loaded server sees.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench

from api.client import (
    Client,
    new_statement,
    party_register_statement,
    seal_and_sign,
    sign_statement,
)
from ledger import dsse, keys
from ledger.encoding import canonical_json, format_rfc3339_utc
from ledger.statements import statement_id

WEIGHTS = {
    "usage.report": 30,
    "catalog search": 10,
    "asset read": 10,
    "offers read": 5,
    "inclusion proof": 15,
    "consistency proof": 5,
    "party.register": 5,
    "asset.register": 5,
    "offer.publish": 5,
    "licence": 10,
}
SETUP_OWNERS = 8
SETUP_BUYERS = 8
RATE_CAP = 1500  # ops/s: pools of pre-signed statements are sized for this rate


def asset_fields(n: int) -> dict[str, Any]:
    return {
        "title": f"Load asset {n}",
        "description": "bench_load",
        "category": random.choice(["transport", "health", "energy", "finance"]),
        "classification": "general",
        "personal_info": "none",
        "fingerprint": os.urandom(32).hex(),
        "size_bytes": 1,
        "record_count": 1,
    }


def signed(key: Any, kind: str, *, origin: str, **fields: Any) -> tuple[bytes, str]:
    """A request body ({"envelope", "openings"}) and the id of what the statement creates."""
    sealed = seal_and_sign(key, new_statement(kind, origin=origin, **fields))
    assert sealed.envelope is not None
    return canonical_json(sealed), statement_id(dsse.payload_bytes(sealed.envelope))


class Market:
    """The untimed setup, and the pools of pre-signed statements for the timed phase."""

    def __init__(self, url: str) -> None:
        with Client(url, trust_on_first_use=True) as client:
            market = _bench.setup_licensed_market(
                client,
                owner_names=[f"Load party {i}" for i in range(SETUP_OWNERS)],
                buyer_names=[f"Load party {SETUP_OWNERS + i}" for i in range(SETUP_BUYERS)],
                asset_fields=asset_fields,
            )
            self.tree_size = client.checkpoint().size
            self.origin = client.origin
        self.owners, self.buyers = market.owners, market.buyers
        self.assets = market.assets  # (owner key, asset id)
        self.offers = market.offers  # (owner key, offer id)
        self.licences = market.licences  # (buyer key, licence id)

    def pools(self, duration: float) -> dict[str, list[Any]]:
        """Pre-signed request bodies per write operation, enough for RATE_CAP ops/s."""
        total = sum(WEIGHTS.values())

        def size(op: str) -> int:
            return int(WEIGHTS[op] / total * RATE_CAP * duration) + 50

        start = format_rfc3339_utc(datetime.now(UTC))
        end = format_rfc3339_utc(datetime.now(UTC) + timedelta(seconds=1))
        origin = self.origin
        pools: dict[str, list[Any]] = {}
        pools["usage.report"] = [
            signed(
                buyer,
                "usage.report",
                origin=origin,
                licence_id=licence,
                units=1,
                period_start=start,
                period_end=end,
            )[0]
            for buyer, licence in (
                random.choice(self.licences) for _ in range(size("usage.report"))
            )
        ]
        pools["party.register"] = []
        for i in range(size("party.register")):
            key = keys.generate()
            statement = party_register_statement(key, f"Load newcomer {i}", origin=origin)
            pools["party.register"].append(canonical_json(sign_statement(key, statement)))
        pools["asset.register"] = []
        for i in range(size("asset.register")):
            owner = random.choice(self.owners)
            body, _ = signed(owner, "asset.register", origin=origin, **asset_fields(i))
            pools["asset.register"].append(body)
        pools["offer.publish"] = [
            signed(
                owner, "offer.publish", origin=origin, asset_id=asset, policy=_bench.OFFER_POLICY
            )[0]
            for owner, asset in (random.choice(self.assets) for _ in range(size("offer.publish")))
        ]
        pools["licence"] = []
        for _ in range(size("licence")):
            owner, offer = random.choice(self.offers)
            request, licence = signed(
                random.choice(self.buyers),
                "licence.request",
                origin=origin,
                offer_id=offer,
                purpose="research",
                term_days=30,
                territory=["CN"],
            )
            approve, _ = signed(
                owner,
                "licence.approve",
                origin=origin,
                licence_id=licence,
                price={"amount_minor": 100},
            )
            pools["licence"].append((request, approve))
        return pools


PATHS = {
    "usage.report": "/v1/statements",
    "party.register": "/v1/parties",
    "asset.register": "/v1/assets",
    "offer.publish": "/v1/statements",
}


async def drive(
    url: str, market: Market, pools: dict[str, list[Any]], concurrency: int, duration: float
) -> tuple[dict[str, list[float]], dict[str, int], list[str], float]:
    host, port_text = url.removeprefix("http://").split(":")
    port = int(port_text)
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    samples: list[str] = []
    iterators = {op: iter(pool) for op, pool in pools.items()}
    ops, weights = list(WEIGHTS), list(WEIGHTS.values())
    asset_ids = [asset for _, asset in market.assets]

    async def timed(conn: _bench.RawConnection, op: str, raw: bytes) -> bytes | None:
        t0 = time.perf_counter()
        status, body = await conn.request(raw)
        latencies[op].append(time.perf_counter() - t0)
        if not 200 <= status < 300:
            failures[op] += 1
            if len(samples) < 5:
                samples.append(f"{op}: {status} {body[:200]!r}")
            return None
        return body

    def get(path: str) -> bytes:
        return _bench.get_request(host, port, path)

    def post(path: str, body: bytes) -> bytes:
        return _bench.post_request(host, port, path, body)

    async def worker(rng: random.Random, deadline: float) -> None:
        conn = _bench.RawConnection(host, port)
        await conn.open()
        size = market.tree_size
        try:
            while time.perf_counter() < deadline:
                op = rng.choices(ops, weights)[0]
                if op == "catalog search":
                    await timed(conn, op, get("/v1/assets?q=load&limit=20"))
                elif op == "asset read":
                    await timed(conn, op, get(f"/v1/assets/{rng.choice(asset_ids)}"))
                elif op == "offers read":
                    await timed(conn, op, get(f"/v1/offers?asset_id={rng.choice(asset_ids)}"))
                elif op == "inclusion proof":
                    index = rng.randrange(size)
                    await timed(conn, op, get(f"/v1/log/entries/{index}/receipt"))
                elif op == "consistency proof":
                    first = rng.randrange(1, size + 1)
                    await timed(
                        conn, op, get(f"/v1/log/proof/consistency?first={first}&second={size}")
                    )
                elif op == "licence":
                    pair = next(iterators[op], None)
                    if pair is None:
                        continue
                    if await timed(conn, "licence.request", post("/v1/statements", pair[0])):
                        await timed(conn, "licence.approve", post("/v1/statements", pair[1]))
                else:
                    body = next(iterators[op], None)
                    if body is None:
                        continue
                    await timed(conn, op, post(PATHS[op], body))
        finally:
            conn.close()

    seed_rng = random.Random(1)
    t0 = time.perf_counter()
    await asyncio.gather(
        *(worker(random.Random(seed_rng.random()), t0 + duration) for _ in range(concurrency))
    )
    return latencies, failures, samples, time.perf_counter() - t0


def run(db: str, args: argparse.Namespace) -> dict[str, Any]:
    random.seed(args.seed)
    with (
        _bench.temp_dir() as tmp,
        _bench.database(db, tmp) as url,
        _bench.Server(tmp, url if db == "postgres" else "", workers=args.workers) as server,
    ):
        market = Market(server.url)
        pools = market.pools(args.duration)
        latencies, failures, samples, elapsed = _bench.run_async(
            drive(server.url, market, pools, args.concurrency, args.duration)
        )
    rows = []
    for op in sorted(latencies):
        values = sorted(latencies[op])
        rows.append(
            {
                "db": db,
                "operation": op,
                "requests": len(values),
                "per_s": len(values) / elapsed,
                "p50_ms": _bench.percentile(values, 50) * 1e3,
                "p95_ms": _bench.percentile(values, 95) * 1e3,
                "p99_ms": _bench.percentile(values, 99) * 1e3,
                "failed": failures.get(op, 0),
            }
        )
    everything = sorted(v for values in latencies.values() for v in values)
    rows.append(
        {
            "db": db,
            "operation": "all",
            "requests": len(everything),
            "per_s": len(everything) / elapsed,
            "p50_ms": _bench.percentile(everything, 50) * 1e3,
            "p95_ms": _bench.percentile(everything, 95) * 1e3,
            "p99_ms": _bench.percentile(everything, 99) * 1e3,
            "failed": sum(failures.values()),
        }
    )
    return {"db": db, "rows": rows, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per database")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    busy = _bench.warn_if_busy()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = [run(db, args) for db in dbs]
    rows = [row for result in results for row in result["rows"]]
    if args.json:
        _bench.emit_json({"args": vars(args), "background_cpu_percent": busy, "rows": rows})
    else:
        _bench.print_table(
            rows,
            ["db", "operation", "requests", "per_s", "p50_ms", "p95_ms", "p99_ms", "failed"],
            title=f"bench_load: {args.duration:g} s, {args.concurrency} connections, "
            f"{args.workers} worker(s)",
        )
    for result in results:
        for sample in result["samples"]:
            print("  failed:", sample, file=sys.stderr)
    if any(row["failed"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
