"""Append throughput of a real `dataledger serve` over HTTP.

What it measures: for each configuration (database x server workers) a fresh server is started
as a subprocess on 127.0.0.1 (SQLite in a temp dir, or a fresh PostgreSQL database that is
dropped afterwards), then C concurrent keep-alive connections POST `party.register` envelopes
(each by a fresh key) to /v1/parties for a fixed duration or count. Reported: appends/s (201
responses per second over the timed phase), p50/p99 latency, non-201 responses (must be 0),
server batches (checkpoints committed, read from the database), CPU used by the server and by
the load generator, and the time `dataledger verify` takes on the result; the verified tree
size must equal the number of accepted appends.

How: envelopes are generated and signed (on all cores) BEFORE the timed phase, so the load
generator only does HTTP. Two load generators: `raw` (asyncio streams speaking minimal
HTTP/1.1 keep-alive, on uvloop; the default, cheapest) and `httpx` (httpx.AsyncClient with a
connection pool), selectable with --client to compare their cost. The load generator shares
the machine with the server, so its CPU share is printed too.

    python scripts/bench_append.py --db sqlite --workers 1,2 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench

PATH = "/v1/parties"


@dataclass
class LoadResult:
    elapsed: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0
    exhausted: bool = False


async def _drive_raw(
    url: str, bodies: list[bytes], concurrency: int, duration: float | None, path: str
) -> LoadResult:
    host, port = url.removeprefix("http://").split(":")
    conns = [_bench.RawConnection(host, int(port)) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    requests = iter([_bench.post_request(host, int(port), path, b) for b in bodies])
    result = LoadResult(0.0)

    async def worker(conn: _bench.RawConnection, deadline: float) -> None:
        while time.perf_counter() < deadline:
            raw = next(requests, None)  # shared iterator: each body is sent exactly once
            if raw is None:
                result.exhausted = True
                return
            t0 = time.perf_counter()
            status, body = await conn.request(raw)
            result.latencies.append(time.perf_counter() - t0)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status != 201 and len(result.errors) < 5:
                result.errors.append(f"{status}: {body[:300]!r}")

    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + duration if duration else float("inf")
    try:
        await asyncio.gather(*(worker(c, deadline) for c in conns))
    finally:
        result.elapsed = time.perf_counter() - t0
        result.client_cpu = time.process_time() - cpu0
        for c in conns:
            c.close()
    return result


async def _drive_httpx(
    url: str, bodies: list[bytes], concurrency: int, duration: float | None, path: str
) -> LoadResult:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    result = LoadResult(0.0)
    bodies_iter = iter(bodies)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        # Open the pool's connections before timing.
        await asyncio.gather(*(client.get("/healthz") for _ in range(concurrency)))

        async def worker(deadline: float) -> None:
            while time.perf_counter() < deadline:
                body = next(bodies_iter, None)
                if body is None:
                    result.exhausted = True
                    return
                t0 = time.perf_counter()
                response = await client.post(path, content=body, headers=headers)
                result.latencies.append(time.perf_counter() - t0)
                status = response.status_code
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status != 201 and len(result.errors) < 5:
                    result.errors.append(f"{status}: {response.text[:300]}")

        cpu0, t0 = time.process_time(), time.perf_counter()
        deadline = t0 + duration if duration else float("inf")
        try:
            await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))
        finally:
            result.elapsed = time.perf_counter() - t0
            result.client_cpu = time.process_time() - cpu0
    return result


def drive(
    client: str,
    url: str,
    bodies: list[bytes],
    concurrency: int,
    duration: float | None,
    path: str = PATH,
) -> LoadResult:
    """Run the timed phase; bounded by len(bodies) and by duration (+ a generous hard timeout)."""
    fn = _drive_raw if client == "raw" else _drive_httpx
    hard_limit = (duration or 0) + 60 + len(bodies) / 50

    async def bounded() -> LoadResult:
        return await asyncio.wait_for(fn(url, bodies, concurrency, duration, path), hard_limit)

    return _bench.run_async(bounded())


def _start_py_spy(
    out: str, pid: int, duration: float | None, idle: bool
) -> subprocess.Popen[bytes]:
    """Sample the server (and its worker processes) for the timed phase with py-spy."""
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(out).suffix, "raw")
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [
        str(spy if spy.exists() else "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--duration",
        str(int(duration or 10)),
        "--format",
        fmt,
        "--output",
        out,
        "--nonblocking",
    ]
    cmd += ["--idle"] if idle else []
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_noop(work: Workload, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same client and bodies against the do-nothing Litestar handler (scripts/noop_app.py)
    under the same ASGI server: the ceiling the service is compared with."""
    port = _bench.free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).resolve().parent),
        "noop_app:app", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _bench.wait_healthy(url, proc)
        drive(args.client, url, work.warmup, min(args.concurrency, len(work.warmup) or 1), None)
        load = drive(args.client, url, work.timed, args.concurrency, args.duration, work.path)
    finally:
        proc.terminate()
        proc.wait(30)
    lat = _bench.latency_summary_ms(load.latencies)
    return {
        "appends/s": load.statuses.get(201, 0) / load.elapsed,
        "p99_ms": lat["p99_ms"],
        "non201": sum(n for s, n in load.statuses.items() if s != 201),
    }


@dataclass
class Workload:
    """What is appended: `warmup` bodies to /v1/parties first (untimed), then `timed` to `path`."""

    name: str
    warmup: list[bytes]
    timed: list[bytes]
    path: str = PATH


def party_workload(per_run: int, warmup: int) -> Workload:
    bodies = _bench.party_envelopes(per_run)
    return Workload("party.register", bodies[:warmup], bodies[warmup:])


def asset_workload(count: int, private: bool, owners: int = 64) -> Workload:
    """`asset.register` by `owners` parties, with or without the three private fields (schema,
    declared cost, quality: each a commitment in the log and an opening beside it)."""
    parties, bodies = _bench.asset_envelopes(count, private=private, owners=owners)
    name = "asset.register+openings" if private else "asset.register"
    return Workload(name, parties, bodies, "/v1/assets")


def run_one(
    db: str, workers: int, work: Workload, args: argparse.Namespace, limiter: str = "memory"
) -> dict[str, Any]:
    warmup, timed = work.warmup, work.timed
    env = _bench.limiter_env(limiter)
    with _bench.temp_dir() as tmp, _bench.database(db, tmp) as db_url:
        url = db_url if db == "postgres" else ""
        with _bench.Server(tmp, url, workers=workers, env=env) as server:
            assert server.proc is not None
            if warmup:
                w = drive(args.client, server.url, warmup, min(args.concurrency, len(warmup)), None)
                if w.statuses.get(201, 0) != len(warmup):
                    raise RuntimeError(f"warm-up failed: {w.statuses} {w.errors}")
            background = _bench.warn_if_busy()
            cpu0 = _bench.session_cpu_seconds(server.proc.pid)
            busy0 = _bench.machine_busy_seconds()
            spy = (
                _start_py_spy(args.py_spy, server.proc.pid, args.duration, args.py_spy_idle)
                if args.py_spy
                else None
            )
            load = drive(args.client, server.url, timed, args.concurrency, args.duration, work.path)
            if spy is not None:
                try:
                    spy.wait(60)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
            server_cpu = _bench.session_cpu_seconds(server.proc.pid) - cpu0
            machine_cpu = _bench.machine_busy_seconds() - busy0
            verify_s, report = _bench.run_cli_verify(server.url, server.vkey)
            batches = _bench.count_batches(db_url)
            rc = server.stop()
        accepted = load.statuses.get(201, 0)
        lat = _bench.latency_summary_ms(load.latencies)
        tree = int(report["tree_size"])
        expected_tree = accepted + len(warmup)
        row = {
            "statement": work.name,
            "limiter": limiter,
            "db": db,
            "workers": workers,
            "client": args.client,
            "conc": args.concurrency,
            "sent": sum(load.statuses.values()),
            "appends/s": accepted / load.elapsed,
            "p50_ms": lat["p50_ms"],
            "p99_ms": lat["p99_ms"],
            "non201": sum(n for s, n in load.statuses.items() if s != 201),
            "batches": batches,
            "avg_batch": tree / batches if batches else 0.0,
            "srv_cpu%": 100 * server_cpu / load.elapsed,
            "cli_cpu%": 100 * load.client_cpu / load.elapsed,
            "box_cpu%": 100 * machine_cpu / load.elapsed,
            "bg_cpu%": background,
            "verify_s": verify_s,
            "tree_size": tree,
            "tree_ok": tree == expected_tree,
            "elapsed_s": load.elapsed,
            "server_exit": rc,
            "statuses": load.statuses,
            "errors": load.errors,
            "pool_exhausted": bool(args.duration) and load.exhausted,
        }
        return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--workers", default="1", help="server worker processes; a comma list runs each (e.g. 1,2)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent connections")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--duration", type=float, default=None, help="seconds per run (default 10)")
    group.add_argument(
        "--count", type=int, default=None, help="requests per run instead of a duration"
    )
    parser.add_argument(
        "--pregen",
        type=int,
        default=40_000,
        help="envelopes pre-signed per run in --duration mode (upper bound)",
    )
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: raw asyncio HTTP/1.1 or httpx.AsyncClient",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        default=None,
        help="profile the server during the timed phase with py-spy (pip install "
        "py-spy); FILE.svg = flame graph, .json = speedscope, else collapsed stacks",
    )
    parser.add_argument(
        "--py-spy-idle",
        action="store_true",
        help="with --py-spy: sample waiting threads too (wall-clock profile)",
    )
    parser.add_argument(
        "--statements",
        choices=["party", "openings"],
        default="party",
        help="party: party.register (no private field); openings: asset.register without and "
        "with its three private fields, side by side, to measure what openings cost",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the do-nothing Litestar handler run beside each configuration",
    )
    parser.add_argument(
        "--limiter",
        default="memory",
        help="rate limits and quotas: off, memory (counted in each worker) or redis (shared, "
        "DATALEDGER_BENCH_REDIS_URL, default redis://127.0.0.1:6379/0); a comma list runs each "
        "side by side. Limits count every request but are set too high to refuse any",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if args.count is None and args.duration is None:
        args.duration = 10.0

    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    workers_list = [int(w) for w in args.workers.split(",")]
    per_run = args.warmup + (args.count if args.count is not None else args.pregen)
    rows = []
    kinds = [False, True] if args.statements == "openings" else [None]
    limiters = args.limiter.split(",")
    timed_count = per_run - args.warmup
    for db, workers, private, limiter in itertools.product(dbs, workers_list, kinds, limiters):
        t0 = time.perf_counter()
        work = (
            party_workload(per_run, args.warmup)
            if private is None
            else asset_workload(timed_count, private)
        )
        print(
            f"[{work.name}, {db}, {workers} worker(s), limiter {limiter}] pre-signed "
            f"{len(work.warmup) + len(work.timed):,} envelopes in "
            f"{time.perf_counter() - t0:.1f} s; running ...",
            file=sys.stderr,
            flush=True,
        )
        row = run_one(db, workers, work, args, limiter)
        if not args.no_baseline and limiter == limiters[0]:
            noop = run_noop(work, workers, args)
            row["noop/s"] = noop["appends/s"]
            row["x_noop"] = row["appends/s"] / noop["appends/s"] if noop["appends/s"] else 0.0
            row["noop_p99"] = noop["p99_ms"]
        if row["pool_exhausted"]:
            print(
                "  warning: ran out of pre-signed envelopes before the deadline; raise --pregen",
                file=sys.stderr,
            )
        for e in row["errors"]:
            print(f"  non-201: {e}", file=sys.stderr)
        rows.append(row)

    columns = [
        "statement",
        "limiter",
        "db",
        "workers",
        "client",
        "conc",
        "sent",
        "appends/s",
        *(() if args.no_baseline else ("noop/s", "x_noop", "noop_p99")),
        "p50_ms",
        "p99_ms",
        "non201",
        "batches",
        "avg_batch",
        "srv_cpu%",
        "cli_cpu%",
        "box_cpu%",
        "bg_cpu%",
        "verify_s",
        "tree_ok",
    ]
    _bench.print_table(
        rows,
        columns,
        title=f"append benchmark ({os.cpu_count()} cores; "
        "cpu% = CPU-seconds per wall-second of the timed phase: srv = server processes,\n"
        "cli = load generator, box = whole machine incl. PostgreSQL, bg = machine before the "
        "run (others), max "
        f"{100 * (os.cpu_count() or 1)}%)",
    )
    for plain, private in (
        zip(rows[::2], rows[1::2], strict=True) if args.statements == ("openings") else []
    ):
        ratio = private["appends/s"] / plain["appends/s"] if plain["appends/s"] else 0.0
        print(
            f"[{plain['db']}, {plain['workers']} worker(s)] with openings / without: "
            f"{ratio:.3f} ({private['appends/s']:,.0f} / {plain['appends/s']:,.0f} appends/s)"
        )
    if len(limiters) > 1:
        # Modes may repeat (off,memory,redis,off,...): compare the medians of each mode's runs.
        first = limiters[0]
        for config in dict.fromkeys((r["db"], r["workers"], r["statement"]) for r in rows):
            runs: dict[str, list[float]] = {}
            for r in rows:
                if (r["db"], r["workers"], r["statement"]) == config:
                    runs.setdefault(r["limiter"], []).append(r["appends/s"])
            base = statistics.median(runs[first])
            for mode, values in runs.items():
                if mode != first and base:
                    mid = statistics.median(values)
                    print(
                        f"[{config[2]}, {config[0]}, {config[1]} worker(s)] limiter {mode} / "
                        f"{first}: {mid / base:.3f} (median {mid:,.0f} of {len(values)} run(s) / "
                        f"{base:,.0f} of {len(runs[first])})"
                    )
    if args.json:
        _bench.emit_json(rows)
    if any(r["non201"] or not r["tree_ok"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
