"""Inclusion- and consistency-proof latency on a large log, at the storage layer and over HTTP.

How the log is built (fast, no HTTP, no per-entry signing): the schema is made with
`ledger.storage.migrate.upgrade` on a fresh SQLite file (or a fresh PostgreSQL database, dropped
afterwards), then N synthetic leaf hashes (leaf i = SHA-256("bench leaf i")) are fed to
`ledger.merkle.CompactRange.append` and every perfect node it returns is bulk-inserted into
`merkle_nodes` (about 2N rows, in one transaction: executemany on SQLite, COPY on PostgreSQL).
One checkpoint for the final size is signed with a fresh log key (`ledger.logsigner.LogSigner`).
No `ledger_entries` rows are written: proofs only read `merkle_nodes` and `checkpoints`
(entry and receipt endpoints would answer 404 on this log).

What is measured:
  * build time (tree hashing vs. inserting);
  * `ledger.storage.store.inclusion_proof(conn, index, N)` latency over random indices, and
    `store.consistency_proof(conn, first, N)` over random first sizes, on one connection;
  * the same through a `dataledger serve` started on that database:
    GET /v1/log/proof/inclusion?index=&tree_size=N and /v1/log/proof/consistency?first=&second=N,
    sequentially over one keep-alive connection (latency), then with C connections (throughput).
Every proof fetched is verified afterwards (`ledger.merkle.verify_inclusion` /
`verify_consistency`) against roots computed independently while building.

    python scripts/bench_proofs.py --size 1000000 --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
import msgspec

from api.keyfiles import write_new_key
from ledger import keys, merkle
from ledger.encoding import b64decode, format_rfc3339_utc
from ledger.logsigner import LogSigner, default_origin
from ledger.merkle import CompactRange
from ledger.storage import store
from ledger.storage.engine import make_engine
from ledger.storage.migrate import upgrade

CHUNK = 100_000  # leaves per insert batch


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"bench leaf %d" % i).digest()


def build(url: str, size: int, signer: LogSigner, remember: set[int]) -> dict[str, Any]:
    """Fill merkle_nodes for `size` leaves and sign one checkpoint; return timings and roots."""
    engine = make_engine(url)
    t_start = time.perf_counter()
    upgrade(engine)
    tree = CompactRange.empty()
    roots: dict[int, bytes] = {}
    t_hash = t_insert = 0.0
    rows_total = 0
    with engine.begin() as conn:
        for start in range(0, size, CHUNK):
            t0 = time.perf_counter()
            rows: list[tuple[int, int, bytes]] = []
            for i in range(start, min(start + CHUNK, size)):
                rows.extend(tree.append(leaf(i)))
                if tree.size in remember:
                    roots[tree.size] = tree.root()
            t1 = time.perf_counter()
            _insert_nodes(conn, rows)
            t_hash += t1 - t0
            t_insert += time.perf_counter() - t1
            rows_total += len(rows)
        note = signer.sign_checkpoint(size, tree.root())
        store.insert_checkpoint(
            conn, size, tree.root(), note, format_rfc3339_utc(datetime.now(UTC))
        )
        t_commit = time.perf_counter()
    t_end = time.perf_counter()
    if conn.dialect.name == "postgresql":
        with engine.connect() as c2:  # fresh statistics for the planner, as autovacuum would
            c2.exec_driver_sql("ANALYZE merkle_nodes")
            c2.commit()
    engine.dispose()
    roots[size] = tree.root()
    return {
        "build_s": t_end - t_start,
        "hash_s": t_hash,
        "insert_s": t_insert,
        "commit_s": t_end - t_commit,
        "node_rows": rows_total,
        "roots": roots,
    }


def _insert_nodes(conn: Any, rows: list[tuple[int, int, bytes]]) -> None:
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy("COPY merkle_nodes (level, idx, hash) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.exec_driver_sql("INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)", rows)


def storage_latency(url: str, size: int, indices: list[int], firsts: list[int]) -> dict[str, Any]:
    engine = make_engine(url)
    inc_lat, con_lat = [], []
    inc_proofs, con_proofs = [], []
    try:
        with engine.connect() as conn:
            store.inclusion_proof(conn, 0, size)  # warm the statement cache
            for i in indices:
                t0 = time.perf_counter()
                inc_proofs.append(store.inclusion_proof(conn, i, size))
                inc_lat.append(time.perf_counter() - t0)
            for f in firsts:
                t0 = time.perf_counter()
                con_proofs.append(store.consistency_proof(conn, f, size))
                con_lat.append(time.perf_counter() - t0)
    finally:
        engine.dispose()
    return {"inc_lat": inc_lat, "con_lat": con_lat, "inc": inc_proofs, "con": con_proofs}


async def _http_sequential(url: str, paths: list[str]) -> tuple[list[float], list[bytes]]:
    host, port = url.removeprefix("http://").split(":")
    conn = _bench.RawConnection(host, int(port))
    await conn.open()
    lat, bodies = [], []
    try:
        for path in paths:
            raw = _bench.get_request(host, int(port), path)
            t0 = time.perf_counter()
            status, body = await conn.request(raw)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
            bodies.append(body)
    finally:
        conn.close()
    return lat, bodies


async def _http_throughput(url: str, paths: list[str], concurrency: int) -> float:
    host, port = url.removeprefix("http://").split(":")
    conns = [_bench.RawConnection(host, int(port)) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    todo = iter(paths)

    async def worker(conn: _bench.RawConnection) -> None:
        for path in todo:
            status, body = await conn.request(_bench.get_request(host, int(port), path))
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for c in conns:
            c.close()
    return len(paths) / (time.perf_counter() - t0)


def http_latency(
    url: str, size: int, indices: list[int], firsts: list[int], concurrency: int
) -> dict[str, Any]:
    inc_paths = [f"/v1/log/proof/inclusion?index={i}&tree_size={size}" for i in indices]
    con_paths = [f"/v1/log/proof/consistency?first={f}&second={size}" for f in firsts]

    async def run() -> dict[str, Any]:
        await _http_sequential(url, inc_paths[:100])  # warm-up
        inc_lat, inc_bodies = await _http_sequential(url, inc_paths)
        con_lat, con_bodies = await _http_sequential(url, con_paths)
        inc_rate = await _http_throughput(url, inc_paths, concurrency)
        return {
            "inc_lat": inc_lat,
            "con_lat": con_lat,
            "inc_rate": inc_rate,
            "inc": [_hashes(b) for b in inc_bodies],
            "con": [_hashes(b) for b in con_bodies],
        }

    hard_limit = 120 + 0.5 * (len(indices) * 2 + len(firsts))
    return _bench.run_async(asyncio.wait_for(run(), hard_limit))


def _hashes(body: bytes) -> list[bytes]:
    return [b64decode(h) for h in msgspec.json.decode(body)["hashes"]]


def verify(
    size: int,
    roots: dict[int, bytes],
    indices: list[int],
    firsts: list[int],
    inc: list[list[bytes]],
    con: list[list[bytes]],
) -> int:
    """Check every proof against the roots computed while building; return how many."""
    root = roots[size]
    for i, proof in zip(indices, inc, strict=True):
        merkle.verify_inclusion(i, size, leaf(i), proof, root)
    for f, proof in zip(firsts, con, strict=True):
        merkle.verify_consistency(f, size, proof, roots[f], root)
    return len(inc) + len(con)


def run(db: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(args.seed)
    indices = [rng.randrange(args.size) for _ in range(args.samples)]
    firsts = [rng.randrange(1, args.size) for _ in range(args.consistency_samples)]
    with _bench.temp_dir() as tmp, _bench.database(db, tmp) as url:
        key = keys.generate()
        key_file = tmp / "log-key.json"
        write_new_key(key_file, key)  # the server signs with the same key and origin
        signer = LogSigner(default_origin(key), key)
        print(f"[{db}] building {args.size:,} leaves ...", file=sys.stderr, flush=True)
        built = build(url, args.size, signer, set(firsts))
        print(
            f"[{db}] built in {built['build_s']:.1f} s; storage-layer proofs ...",
            file=sys.stderr,
            flush=True,
        )
        background = _bench.warn_if_busy()
        st = storage_latency(url, args.size, indices, firsts)
        print(f"[{db}] HTTP proofs ...", file=sys.stderr, flush=True)
        with _bench.Server(
            tmp, url if db == "postgres" else "", log_key_file=key_file, origin=signer.origin
        ) as server:
            h = http_latency(server.url, args.size, indices, firsts, args.concurrency)
        checked = verify(args.size, built["roots"], indices, firsts, st["inc"], st["con"])
        checked += verify(args.size, built["roots"], indices, firsts, h["inc"], h["con"])
    common = {
        "db": db,
        "size": args.size,
        "node_rows": built["node_rows"],
        "build_s": built["build_s"],
        "hash_s": built["hash_s"],
        "insert_s": built["insert_s"],
        "verified": checked,
        "bg_cpu%": background,
    }
    rows = []
    for layer, kind, lat, n in [
        ("storage", "inclusion", st["inc_lat"], len(indices)),
        ("storage", "consistency", st["con_lat"], len(firsts)),
        ("http", "inclusion", h["inc_lat"], len(indices)),
        ("http", "consistency", h["con_lat"], len(firsts)),
    ]:
        row = {
            **common,
            "layer": layer,
            "proof": kind,
            "n": n,
            **_bench.latency_summary_ms(lat),
            "per_s_1conn": n / sum(lat),
        }
        if layer == "http" and kind == "inclusion":
            row[f"per_s_{args.concurrency}conn"] = h["inc_rate"]
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="leaves in the log")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--samples", type=int, default=10_000, help="inclusion proofs timed")
    parser.add_argument("--consistency-samples", type=int, default=1_000)
    parser.add_argument(
        "--concurrency", type=int, default=16, help="connections for the throughput run"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if args.size < 2:
        parser.error("--size must be at least 2")

    rows = []
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        rows += run(db, args)
    first = rows[0]
    print(
        f"\nbuilt {first['size']:,} leaves / {first['node_rows']:,} node rows: "
        + "; ".join(
            f"{r['db']} {r['build_s']:.1f} s "
            f"(hashing {r['hash_s']:.1f} s, inserting {r['insert_s']:.1f} s)"
            for r in rows[::4]
        )
        + f"; {sum(r['verified'] for r in rows[::4]):,} proofs verified"
    )
    columns = [
        "db",
        "layer",
        "proof",
        "n",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "per_s_1conn",
        f"per_s_{args.concurrency}conn",
    ]
    _bench.print_table(rows, columns, title="proof latency (per_s = proofs per second)")
    if args.json:
        _bench.emit_json(rows)


if __name__ == "__main__":
    main()
