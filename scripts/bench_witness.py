"""Witnessing costs (issue 20): the witness server's add-checkpoint rate, and what pushing
checkpoints to two witnesses costs the log's appends.

(a) `witness`: one `dataledger witness serve` subprocess (uvicorn, as the CLI runs it) follows
`--logs` logs; a keep-alive connection per log sends consecutive add-checkpoint requests, each
a checkpoint `--step` leaves bigger than the last with a real RFC 6962 consistency proof from
the previous one (a tree built with ledger.merkle's CompactRange, notes pre-signed before the
timed phase), so every request is checked, recorded (SQLite, fsync) and cosigned. Reported:
requests/s, p50/p99 latency, non-200 answers (must be 0), and the same bodies against a
do-nothing POST handler served by the same stack (uvicorn + Litestar) in the same run: x_noop.

(b) `append`: `dataledger serve` (SQLite, as scripts/_bench.py starts it) driven with
party.register appends as scripts/bench_append.py does, once with `DATALEDGER_WITNESS_POLICY`
naming two witness servers started here (quorum 2 of 2) and once without, alternating
(none, witnesses, none, ...) `--rounds` times; medians and their ratio are reported, with how
many checkpoints each witness cosigned (the log's /metrics `dataledger_witness_requests_total`
and the witness's own state) and the witnesses' CPU. The witnesses run on the same machine, so
their CPU is part of what the log loses here; on separate machines it would not be.

    python scripts/bench_witness.py [--duration 8] [--rounds 2] [--only witness|append]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
# Subprocesses (servers, witnesses) import this checkout too, not an installed copy.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

import _bench  # noqa: E402
import bench_append  # noqa: E402
import httpx  # noqa: E402
import nacl.signing  # noqa: E402
from litestar import Litestar, Request, Response, get, post  # noqa: E402

from api.keyfiles import write_new_key  # noqa: E402
from ledger.checkpoint import Checkpoint, sign_checkpoint  # noqa: E402
from ledger.cosignature import format_cosigner_vkey  # noqa: E402
from ledger.merkle import CompactRange, consistency_proof, leaf_hash  # noqa: E402
from ledger.note import format_vkey  # noqa: E402

# --- (a) the witness server's add-checkpoint rate ----------------------------------------------


def noop_app() -> Litestar:
    """The do-nothing baseline: reads the body, answers 200 with one fixed line."""
    line = "— noop.witness " + base64.b64encode(bytes(76)).decode() + "\n"  # a cosignature's size

    @post("/add-checkpoint", status_code=200)
    async def add(request: Request[Any, Any, Any]) -> Response[str]:
        await request.body()
        return Response(line, media_type="text/plain; charset=utf-8")

    @get("/", sync_to_thread=False)
    def about() -> str:
        return "noop\n"

    return Litestar([add, about], openapi_config=None)


def serve_noop(port: int) -> None:
    import uvicorn

    # exactly as `dataledger witness serve` runs its app (api/cli_audit.py)
    uvicorn.run(noop_app(), host="127.0.0.1", port=port, log_level="warning")


@dataclass
class Chain:
    """Pre-built add-checkpoint bodies for one log: sizes step, 2*step, ... with proofs."""

    origin: str
    vkey: str
    bodies: list[bytes]


def build_chains(logs: int, requests: int, step: int) -> list[Chain]:
    size = requests * step
    nodes: dict[tuple[int, int], bytes] = {}
    roots = {0: b""}
    cr = CompactRange.empty()
    for i in range(size):
        for level, index, h in cr.append(leaf_hash(i.to_bytes(8, "big"))):
            nodes[level, index] = h
        if (i + 1) % step == 0:
            roots[i + 1] = cr.root()
    proofs = [
        b"".join(
            base64.b64encode(p) + b"\n"
            for p in consistency_proof(old, old + step, lambda lv, i: nodes[lv, i])
        )
        if old
        else b""
        for old in range(0, size, step)
    ]
    chains = []
    for n in range(logs):
        key = nacl.signing.SigningKey.generate()
        origin = f"bench.example/witnessed-log-{n}"
        bodies = []
        for r, old in enumerate(range(0, size, step)):
            note = sign_checkpoint(Checkpoint(origin, old + step, roots[old + step]), origin, key)
            bodies.append(f"old {old}\n".encode() + proofs[r] + b"\n" + note.encode())
        chains.append(Chain(origin, format_vkey(origin, bytes(key.verify_key)), bodies))
    return chains


@dataclass
class Load:
    elapsed: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exhausted: bool = False


def _raw_post(host: str, port: int, body: bytes) -> bytes:
    return (
        f"POST /add-checkpoint HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _drive_chains(
    url: str, chains: list[list[bytes]], duration: float, cycle: bool = False
) -> Load:
    """One keep-alive connection per chain, each sending its bodies in order until the
    deadline (a chain is consecutive: the next request's old size is this one's size);
    `cycle`: start a chain over when it runs out (for the no-op, which checks nothing)."""
    host, port_text = url.removeprefix("http://").split(":")
    port = int(port_text)
    load = Load()
    conns = [_bench.RawConnection(host, port) for _ in chains]
    await asyncio.gather(*(c.open() for c in conns))

    async def worker(conn: _bench.RawConnection, bodies: list[bytes], deadline: float) -> None:
        for body in itertools.cycle(bodies) if cycle else bodies:
            if time.perf_counter() >= deadline:
                return
            t0 = time.perf_counter()
            status, text = await conn.request(_raw_post(host, port, body))
            load.latencies.append(time.perf_counter() - t0)
            load.statuses[status] = load.statuses.get(status, 0) + 1
            if status != 200 and len(load.errors) < 5:
                load.errors.append(f"{status}: {text[:200]!r}")
        load.exhausted = True

    t0 = time.perf_counter()
    try:
        await asyncio.gather(
            *(worker(c, b, t0 + duration) for c, b in zip(conns, chains, strict=True))
        )
    finally:
        load.elapsed = time.perf_counter() - t0
        for c in conns:
            c.close()
    return load


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode})")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}: not up after {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def witness_server(tmp: Path, name: str, logs_text: str) -> Iterator[tuple[str, str, Any]]:
    """`dataledger witness serve` on a free port: yields (url, vkey, process)."""
    key_file = tmp / f"{name}.key"
    key = write_new_key(key_file)
    logs = tmp / f"{name}.logs"
    logs.write_text(logs_text, encoding="utf-8")
    port = _bench.free_port()
    cmd = [
        sys.executable, "-m", "api.cli", "witness", "serve", "--key", str(key_file),
        "--name", name, "--logs", str(logs), "--state", str(tmp / f"{name}.db"),
        "--port", str(port),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        yield url, format_cosigner_vkey(name, bytes(key.verify_key)), proc
    finally:
        _stop(proc)


def _summary(load: Load) -> dict[str, Any]:
    lat = _bench.latency_summary_ms(load.latencies)
    ok = load.statuses.get(200, 0)
    return {
        "req/s": ok / load.elapsed if load.elapsed else 0.0,
        "p50_ms": lat["p50_ms"],
        "p99_ms": lat["p99_ms"],
        "sent": sum(load.statuses.values()),
        "non200": sum(n for s, n in load.statuses.items() if s != 200),
        "exhausted": load.exhausted,
        "errors": load.errors,
    }


def bench_witness(args: argparse.Namespace) -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    chains = build_chains(args.logs, args.requests, args.step)
    print(
        f"[witness] built {args.logs} chain(s) of {args.requests:,} add-checkpoint bodies "
        f"(+{args.step} leaves each) in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    logs_text = "logs/v0\n" + "".join(f"vkey {c.vkey}\nqpd 86400000\n" for c in chains)
    rows = []
    for round_ in range(args.rounds):
        for kind in ("witness", "noop"):
            with _bench.temp_dir() as tmp:
                if kind == "witness":
                    ctx = witness_server(tmp, "bench.witness", logs_text)
                    url, _, proc = ctx.__enter__()
                else:
                    port = _bench.free_port()
                    url = f"http://127.0.0.1:{port}"
                    proc = subprocess.Popen(
                        [sys.executable, __file__, "--serve-noop", str(port)],
                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )  # fmt: skip
                    _wait_up(url, proc)
                try:
                    cpu0 = _bench.session_cpu_seconds(proc.pid)
                    load = _bench.run_async(
                        _drive_chains(
                            url, [c.bodies for c in chains], args.duration, kind == "noop"
                        )
                    )
                    cpu = _bench.session_cpu_seconds(proc.pid) - cpu0
                finally:
                    if kind == "witness":
                        ctx.__exit__(None, None, None)
                    else:
                        _stop(proc)
            row = {"server": kind, "round": round_ + 1, "logs": args.logs, **_summary(load)}
            row["srv_cpu%"] = 100 * cpu / load.elapsed if load.elapsed else 0.0
            rows.append(row)
            print(f"  {kind} round {round_ + 1}: {row['req/s']:,.0f} req/s", file=sys.stderr)
    return rows


# --- (b) the log's appends with and without two witnesses --------------------------------------

_METRIC = re.compile(
    r'dataledger_witness_requests_total\{witness="([^"]+)",outcome="([^"]+)"\} (\d+)'
)


def _witness_metrics(url: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    text = httpx.get(url + "/metrics", timeout=10).text
    for w, outcome, n in _METRIC.findall(text):
        out.setdefault(w, {})[outcome] = out.get(w, {}).get(outcome, 0) + int(n)
    return out


def _stored_cosignatures(db: Path) -> dict[str, int]:
    """Cosignatures the log verified and stored, by witness (its `cosignatures` table)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT party_id, count(*) FROM cosignatures GROUP BY party_id")
        return {str(k).removeprefix("policy:"): int(n) for k, n in rows}


def _cosigned_in_state(state: Path) -> tuple[int, int]:
    """(checkpoints cosigned, the largest size) from a witness's own SQLite state."""
    with sqlite3.connect(state) as db:
        n, top = db.execute("SELECT count(*), coalesce(max(size), 0) FROM cosigned").fetchone()
    return int(n), int(top)


def append_run(
    witnessed: bool, work: bench_append.Workload, args: argparse.Namespace
) -> dict[str, Any]:
    with _bench.temp_dir() as tmp:
        log_key_file = tmp / "log-key.json"
        log_key = write_new_key(log_key_file)
        log_vkey = format_vkey(_bench.BENCH_ORIGIN, bytes(log_key.verify_key))
        env: dict[str, str] = {}
        witnesses: list[tuple[str, str, Any]] = []
        contexts = []
        try:
            if witnessed:
                logs_text = f"logs/v0\nvkey {log_vkey}\nqpd 86400000\n"
                for i in (1, 2):
                    ctx = witness_server(tmp, f"witness{i}.bench", logs_text)
                    witnesses.append(ctx.__enter__())
                    contexts.append(ctx)
                policy = tmp / "policy.txt"
                policy.write_text(
                    f"log {log_vkey}\n"
                    + "".join(f"witness W{i} {v} {u}\n" for i, (u, v, _) in enumerate(witnesses, 1))
                    + "group both all W1 W2\nquorum both\n",
                    encoding="utf-8",
                )
                env = {
                    "DATALEDGER_WITNESS_POLICY": str(policy),
                    "DATALEDGER_WITNESS_MIN_INTERVAL": str(args.witness_interval),
                }
            (tmp / "data").mkdir()
            with _bench.Server(tmp / "data", log_key_file=log_key_file, env=env) as server:
                assert server.proc is not None
                if work.warmup:
                    w = bench_append.drive("raw", server.url, work.warmup, 8, None)
                    if w.statuses.get(201, 0) != len(work.warmup):
                        raise RuntimeError(f"warm-up failed: {w.statuses} {w.errors}")
                cpu0 = _bench.session_cpu_seconds(server.proc.pid)
                busy0 = _bench.machine_busy_seconds()
                wcpu0 = sum(_bench.session_cpu_seconds(p.pid) for _, _, p in witnesses)
                load = bench_append.drive(
                    "raw", server.url, work.timed, args.concurrency, args.duration, work.path
                )
                server_cpu = _bench.session_cpu_seconds(server.proc.pid) - cpu0
                box = _bench.machine_busy_seconds() - busy0
                wcpu = sum(_bench.session_cpu_seconds(p.pid) for _, _, p in witnesses) - wcpu0
                time.sleep(args.witness_interval + 0.5 if witnessed else 0)  # the last round
                metrics = _witness_metrics(server.url) if witnessed else {}
                head = httpx.get(server.url + "/v1/log/checkpoint", timeout=10)
                tree = int(head.text.split("\n")[1]) if head.status_code == 200 else -1
            stored = _stored_cosignatures(tmp / "data" / "dataledger.db") if witnessed else {}
            states = (
                [_cosigned_in_state(tmp / f"witness{i}.bench.db") for i in (1, 2)]
                if witnessed
                else []
            )
        finally:
            for ctx in reversed(contexts):
                ctx.__exit__(None, None, None)
    lat = _bench.latency_summary_ms(load.latencies)
    accepted = load.statuses.get(201, 0)
    row: dict[str, Any] = {
        "witnesses": 2 if witnessed else 0,
        "appends/s": accepted / load.elapsed,
        "p50_ms": lat["p50_ms"],
        "p99_ms": lat["p99_ms"],
        "non201": sum(n for s, n in load.statuses.items() if s != 201),
        "tree": tree,
        "srv_cpu%": 100 * server_cpu / load.elapsed,
        "wit_cpu%": 100 * wcpu / load.elapsed,
        # CPU per append (the log's processes and the witnesses'): steadier than appends/s
        # when neighbours take cores, since it counts only the work done
        "cpu_ms/app": 1e3 * (server_cpu + wcpu) / accepted if accepted else 0.0,
        "box_cpu%": 100 * box / load.elapsed,
        "exhausted": load.exhausted,
        "errors": load.errors,
    }
    if witnessed:
        for i, (n, top) in enumerate(states, 1):
            outcomes = metrics.get(f"W{i}", {})
            row[f"W{i}_metric"] = outcomes.get("cosigned", 0)
            row[f"W{i}_stored"] = stored.get(f"W{i}", 0)
            row[f"W{i}_state"] = f"{n} up to {top:,}"
    return row


def bench_appends(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    work: bench_append.Workload | None = None
    signed_at = 0.0
    for round_ in range(args.rounds):
        for witnessed in (False, True):
            if work is None or time.monotonic() - signed_at > 150:  # well inside the clock skew
                t0 = time.perf_counter()
                work = bench_append.party_workload(args.warmup + args.pregen, args.warmup)
                signed_at = time.monotonic()
                print(
                    f"[append] pre-signed {args.warmup + args.pregen:,} envelopes in "
                    f"{time.perf_counter() - t0:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            row = {"round": round_ + 1, **append_run(witnessed, work, args)}
            rows.append(row)
            print(
                f"  {'2 witnesses' if witnessed else 'no witness'} round {round_ + 1}: "
                f"{row['appends/s']:,.0f} appends/s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve-noop", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["witness", "append"], default=None)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per timed run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each configuration")
    parser.add_argument("--logs", type=int, default=2, help="(a) logs, one connection each")
    parser.add_argument("--requests", type=int, default=8000, help="(a) bodies per log")
    parser.add_argument("--step", type=int, default=5, help="(a) leaves between checkpoints")
    parser.add_argument("--concurrency", type=int, default=64, help="(b) connections")
    parser.add_argument("--pregen", type=int, default=40_000, help="(b) envelopes per run")
    parser.add_argument("--warmup", type=int, default=200, help="(b) untimed appends first")
    parser.add_argument(
        "--witness-interval",
        type=float,
        default=1.0,
        help="(b) DATALEDGER_WITNESS_MIN_INTERVAL: seconds between requests to each witness "
        "(1.0 is the service's default)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    if args.serve_noop:
        serve_noop(args.serve_noop)
        return
    print(f"background CPU: {_bench.background_cpu_percent():.0f}%", file=sys.stderr)
    failed = False
    out: dict[str, Any] = {}
    if args.only in (None, "witness"):
        rows = bench_witness(args)
        out["witness"] = rows
        _bench.print_table(
            rows,
            ["server", "round", "logs", "sent", "req/s", "p50_ms", "p99_ms", "non200", "srv_cpu%"],
            title=f"(a) add-checkpoint, {args.logs} log(s) x 1 connection, {args.duration:g} s "
            f"each, +{args.step} leaves per checkpoint ({os.cpu_count()} cores)",
        )
        med = {
            k: statistics.median(r["req/s"] for r in rows if r["server"] == k)
            for k in ("witness", "noop")
        }
        p50 = statistics.median(r["p50_ms"] for r in rows if r["server"] == "witness")
        p99 = statistics.median(r["p99_ms"] for r in rows if r["server"] == "witness")
        print(
            f"witness / noop: {med['witness'] / med['noop']:.3f} (median {med['witness']:,.0f} / "
            f"{med['noop']:,.0f} req/s); witness p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )
        for r in rows:
            failed |= bool(r["non200"])
            if r["exhausted"]:
                print(f"  warning: {r['server']} ran out of bodies; raise --requests")
            for e in r["errors"]:
                print(f"  non-200: {e}")
    if args.only in (None, "append"):
        rows = bench_appends(args)
        out["append"] = rows
        _bench.print_table(
            rows,
            [
                "witnesses",
                "round",
                "appends/s",
                "p50_ms",
                "p99_ms",
                "non201",
                "tree",
                "srv_cpu%",
                "wit_cpu%",
                "cpu_ms/app",
                "box_cpu%",
                "W1_state",
                "W1_stored",
                "W1_metric",
                "W2_state",
                "W2_stored",
                "W2_metric",
            ],
            title=f"(b) appends (SQLite, 1 worker, {args.concurrency} connections, "
            f"{args.duration:g} s each), witness interval {args.witness_interval:g} s; "
            "\nW*_state: checkpoints the witness cosigned (its state) up to which size; W*_stored: "
            "cosignatures the log verified and stored; W*_metric: `cosigned` rounds in the log's "
            "/metrics dataledger_witness_requests_total",
        )
        base = statistics.median(r["appends/s"] for r in rows if not r["witnesses"])
        wit = statistics.median(r["appends/s"] for r in rows if r["witnesses"])
        print(
            f"2 witnesses / none: {wit / base:.3f} (median {wit:,.0f} / {base:,.0f} appends/s; "
            f"cost {100 * (1 - wit / base):+.1f} %, target <= 5 %)"
        )
        cbase = statistics.median(r["cpu_ms/app"] for r in rows if not r["witnesses"])
        cwit = statistics.median(r["cpu_ms/app"] for r in rows if r["witnesses"])
        print(
            f"CPU per append, 2 witnesses / none: {cwit / cbase:.3f} (median {cwit:.3f} / "
            f"{cbase:.3f} ms; cost {100 * (cwit / cbase - 1):+.1f} %)"
        )
        for r in rows:
            failed |= bool(r["non201"])
            if r["exhausted"]:
                print("  warning: ran out of pre-signed envelopes; raise --pregen")
            for e in r["errors"]:
                print(f"  non-201: {e}")
    if args.json:
        _bench.emit_json(out)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
