"""Shared helpers for the scripts/bench_*.py benchmarks (not a benchmark itself).

Everything here talks to 127.0.0.1 only: a throw-away PostgreSQL database, a `dataledger serve`
subprocess, and a small raw HTTP/1.1 keep-alive client for load generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import nacl.signing

if TYPE_CHECKING:
    from api.client import Client

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

# --- numbers and tables -------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in [0, 100])."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    s = sorted(seconds)
    return {
        "p50_ms": percentile(s, 50) * 1e3,
        "p99_ms": percentile(s, 99) * 1e3,
        "max_ms": (s[-1] if s else float("nan")) * 1e3,
    }


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "") -> None:
    """A plain fixed-width table; floats get 3 significant decimals at most."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if title:
        print(f"\n{title}")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_postgres_db(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """CREATE a database with a random name, yield its URL, DROP it afterwards (also on error)."""
    import psycopg

    name = f"dl_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database(kind: str, data_dir: Path) -> Iterator[str]:
    """A fresh, empty database URL of `kind` ("sqlite" in `data_dir`, or "postgres")."""
    if kind == "postgres":
        with fresh_postgres_db() as url:
            yield url
    elif kind == "sqlite":
        yield f"sqlite:///{(data_dir / 'dataledger.db').as_posix()}"
    else:
        raise ValueError(kind)


def count_batches(database_url: str) -> int:
    """Committed batches = checkpoints - 1: each batch commits one, plus the size-0 one at start."""
    from sqlalchemy import func, select

    from ledger.storage.engine import make_engine
    from ledger.storage.schema import checkpoints

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(checkpoints)).scalar_one()) - 1
    finally:
        engine.dispose()


# --- the server subprocess ----------------------------------------------------------------------


def dataledger_cmd() -> list[str]:
    """The `dataledger` console script of this interpreter's environment (else `python -m`)."""
    import shutil

    beside = Path(sys.executable).with_name("dataledger")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("dataledger")
    return [found] if found else [sys.executable, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The origin of the logs the benchmarks start, so statements can be signed before a server runs.
BENCH_ORIGIN = "bench.dataledger.local/log"


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until `url`/healthz answers 200; RuntimeError if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early (status {proc.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout} s")


# Rate limits on, counting every request as in production, but high enough never to refuse one
# of a benchmark's (its load comes from one address and makes thousands of parties).
_HIGH = "1000000/second"
COUNTING_LIMITS = {
    **{
        f"DATALEDGER_RATE_{name}": _HIGH
        for name in (
            "CLIENT_WRITES", "CLIENT_REGISTRATIONS", "CLIENT_LOGINS", "CLIENT_QUOTES",
            "CLIENT_READS", "PARTY_WRITES", "PARTY_QUOTES",
        )
    },
    "DATALEDGER_QUOTA_ENTRIES_PER_DAY": str(10**12),
    "DATALEDGER_QUOTA_BYTES_PER_DAY": str(10**15),
}  # fmt: skip
REDIS_URL = os.environ.get("DATALEDGER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def limiter_env(mode: str) -> dict[str, str]:
    """The server environment for a limiter mode: off, memory, or redis (shared store)."""
    if mode == "off":
        return {"DATALEDGER_RATE_LIMITS": "off"}
    if mode == "memory":
        return dict(COUNTING_LIMITS)
    if mode == "redis":
        return {**COUNTING_LIMITS, "DATALEDGER_REDIS_URL": REDIS_URL}
    raise ValueError(f"limiter mode {mode!r}: off, memory or redis")


class Server:
    """`dataledger serve` as a subprocess on 127.0.0.1; a context manager that always stops it.
    Rate limits count as in production but never refuse (`limiter_env`); `env` overrides."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str = "",
        workers: int = 1,
        log_key_file: Path | None = None,
        startup_timeout: float = 60.0,
        origin: str = BENCH_ORIGIN,
        env: dict[str, str] | None = None,
    ) -> None:
        self.origin = origin
        self.extra_env = {**COUNTING_LIMITS, **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir / "server.log"
        cmd = [
            *dataledger_cmd(), "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(data_dir), "--no-access-log",
            "--workers", str(workers),
        ]  # fmt: skip
        if database_url:
            cmd += ["--database-url", database_url]
        if log_key_file:
            cmd += ["--log-key-file", str(log_key_file)]
        self.cmd = cmd
        self._startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.vkey = ""

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATALEDGER_")}
        env["DATALEDGER_ORIGIN"] = self.origin
        env.update(self.extra_env)
        self._log = self.log_path.open("wb")
        # Own session: on a hard stop the whole group (uvicorn's workers too) can be ended.
        self.proc = subprocess.Popen(
            self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            self._wait_healthy()
            self.vkey = httpx.get(self.url + "/v1/log/key", timeout=10).text.strip()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        try:
            wait_healthy(self.url, self.proc, self._startup_timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; see {self.log_path}:\n{self.tail()}") from None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (uvicorn's clean shutdown), then SIGKILL to the process group if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def __exit__(self, *_: object) -> None:
        self.stop()


def run_cli_verify(url: str, vkey: str, timeout: float = 1800.0) -> tuple[float, dict[str, Any]]:
    """Run `dataledger verify --url URL --vkey VKEY --json`; return (seconds, its JSON output)."""
    cmd = [*dataledger_cmd(), "--json", "--url", url, "verify", "--vkey", vkey]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(
            f"dataledger verify failed ({out.returncode}): {out.stderr.decode()[-2000:]}"
        )
    return elapsed, json.loads(out.stdout)


@contextlib.contextmanager
def temp_dir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"dl_bench_{Path(sys.argv[0]).stem}_"))
    try:
        yield path
    finally:
        if not keep:
            import shutil

            shutil.rmtree(path, ignore_errors=True)


# --- pre-signed party.register envelopes --------------------------------------------------------


def _make_envelopes(args: tuple[int, int, str]) -> list[bytes]:
    from api.client import party_register_statement, sign_statement
    from ledger import keys

    start, count, origin = args
    out = []
    for i in range(start, start + count):
        key = keys.generate()
        statement = party_register_statement(key, f"bench party {i}", origin=origin)
        envelope = sign_statement(key, statement)
        out.append(envelope.canonical())
    return out


def party_envelopes(
    count: int, origin: str = BENCH_ORIGIN, workers: int | None = None
) -> list[bytes]:
    """`count` canonical-JSON party.register envelopes for the log `origin`, each by a fresh
    key, signed on all cores."""
    workers = workers or os.cpu_count() or 1
    chunk = 2000
    jobs = [(s, min(chunk, count - s), origin) for s in range(0, count, chunk)]
    if workers == 1 or count < 2 * chunk:
        return [e for job in jobs for e in _make_envelopes(job)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [e for part in pool.map(_make_envelopes, jobs) for e in part]


def _make_assets(args: tuple[list[bytes], int, int, bool, str]) -> list[bytes]:
    from api.client import new_statement, seal_and_sign
    from ledger.encoding import canonical_json

    seeds, start, count, private, origin = args
    owners = [nacl.signing.SigningKey(seed) for seed in seeds]
    out = []
    for i in range(start, start + count):
        fields: dict[str, Any] = {
            "title": f"bench asset {i}",
            "description": "a benchmark asset",
            "category": "transport",
            "classification": "general",
            "personal_info": "none",
            "fingerprint": os.urandom(32).hex(),
            "size_bytes": 1000 + i,
            "record_count": 10 + i,
        }
        if private:
            fields["schema"] = [{"name": "sensor_id", "type": "string"}]
            fields["declared_cost"] = {"amount_minor": 100_000 + i, "currency": "CNY"}
            fields["quality"] = {
                "completeness": 90,
                "accuracy": 80,
                "consistency": 70,
                "timeliness": 60,
            }
        statement = new_statement("asset.register", origin=origin, **fields)
        out.append(canonical_json(seal_and_sign(owners[i % len(owners)], statement)))
    return out


def asset_envelopes(
    count: int, *, private: bool, owners: int = 64, origin: str = BENCH_ORIGIN
) -> tuple[list[bytes], list[bytes]]:
    """(party.register bodies of `owners` parties, `count` asset.register bodies by them), the
    assets with or without their private fields; signed on all cores."""
    from api.client import party_register_statement, sign_statement

    keys_ = [nacl.signing.SigningKey.generate() for _ in range(owners)]
    parties = [
        sign_statement(
            k, party_register_statement(k, f"bench owner {n}", origin=origin)
        ).canonical()
        for n, k in enumerate(keys_)
    ]
    seeds = [bytes(k) for k in keys_]
    chunk = 2000
    jobs = [(seeds, s, min(chunk, count - s), private, origin) for s in range(0, count, chunk)]
    if count < 2 * chunk:
        return parties, [b for job in jobs for b in _make_assets(job)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return parties, [b for part in pool.map(_make_assets, jobs) for b in part]


# --- a small market set up through the SDK ------------------------------------------------------

# Unlimited per-unit offer: metered usage never runs into a quota or a flat price.
OFFER_POLICY: dict[str, Any] = {
    "actions": ["use"],
    "purposes": ["research"],
    "term_days": 365,
    "territory": ["CN"],
    "pricing": {"model": "per_unit", "unit_price_minor": 1},
}


@dataclass
class BenchMarket:
    """What `setup_licensed_market` made: keys, and (key, id) pairs of what they own or hold."""

    owners: list[Any]
    buyers: list[Any]
    assets: list[tuple[Any, str]] = field(default_factory=list)  # (owner key, asset id)
    offers: list[tuple[Any, str]] = field(default_factory=list)  # (owner key, offer id)
    licences: list[tuple[Any, str]] = field(default_factory=list)  # (buyer key, licence id)


def setup_licensed_market(
    client: Client,
    owner_names: Sequence[str],
    buyer_names: Sequence[str],
    asset_fields: Callable[[int], dict[str, Any]],
) -> BenchMarket:
    """Register owners and buyers (fresh keys, owners first), then per owner asset
    `asset_fields(i)` and an offer of it under OFFER_POLICY, then per buyer a licence request
    on the offers in turn, approved by its owner at 1 minor unit: every licence is active.
    """
    from ledger import keys

    market = BenchMarket(
        owners=[keys.generate() for _ in owner_names],
        buyers=[keys.generate() for _ in buyer_names],
    )
    for key, name in zip(market.owners + market.buyers, [*owner_names, *buyer_names], strict=True):
        client.register_party(key, name)
    for i, owner in enumerate(market.owners):
        asset = client.register_asset(owner, **asset_fields(i)).id
        offer = client.sign_and_submit(
            owner, "offer.publish", asset_id=asset, policy=OFFER_POLICY
        ).id
        market.assets.append((owner, asset))
        market.offers.append((owner, offer))
    for i, buyer in enumerate(market.buyers):
        owner, offer = market.offers[i % len(market.offers)]
        licence = client.sign_and_submit(
            buyer,
            "licence.request",
            offer_id=offer,
            purpose="research",
            term_days=365,
            territory=["CN"],
        ).id
        client.sign_and_submit(
            owner, "licence.approve", licence_id=licence, price={"amount_minor": 1}
        )
        market.licences.append((buyer, licence))
    return market


# --- a raw HTTP/1.1 keep-alive load generator ---------------------------------------------------


class RawConnection:
    """One keep-alive HTTP/1.1 connection with asyncio streams: no parsing beyond status line and
    Content-Length, so the load generator's CPU goes to the server, not to the client library."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length is None:
            raise RuntimeError("response without Content-Length (chunked is not supported)")
        body = await self.reader.readexactly(length)
        return status, body


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def get_request(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def run_async(coro: Any) -> Any:
    """Run `coro` on uvloop when available (it ships with uvicorn[standard]), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def machine_busy_seconds() -> float:
    """CPU-seconds the whole machine has spent not idle (all processes, all cores; /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def background_cpu_percent(seconds: float = 2.0) -> float:
    """CPU% (of 100 x cores) other processes use while we sleep: a noisy-neighbour check."""
    busy0 = machine_busy_seconds()
    time.sleep(seconds)
    return 100 * (machine_busy_seconds() - busy0) / seconds


def warn_if_busy(limit: float = 20.0) -> float:
    """Measure the background load, print it to stderr, warn when figures will be skewed."""
    load = background_cpu_percent()
    cap = 100 * (os.cpu_count() or 1)
    note = "  WARNING: other processes are busy; figures will be low" if load > limit else ""
    print(
        f"background CPU before the run: {load:.0f}% of {cap}%{note}", file=sys.stderr, flush=True
    )
    return load


def session_cpu_seconds(session_id: int) -> float:
    """user+system CPU seconds of every live process in session `session_id` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id:  # field 6 of stat: session
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick
