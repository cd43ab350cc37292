"""Crash test: kill a loaded server with SIGKILL, many times, and check that nothing acknowledged
was lost or changed.

    python scripts/crash_test.py --kills 50                      # SQLite, the long form
    python scripts/crash_test.py --kills 50 --database-url postgresql://postgres@127.0.0.1:5432/db

Client threads keep registering parties against a real `dataledger serve` process; a killer
sends SIGKILL at random moments and restarts the server. A request cut off by a kill is retried
with the same envelope (so it is appended at most once: the server answers 200 with the original
receipt if it had committed it). After every restart, every receipt handed out so far must
verify offline, be included in the new checkpoint, and that checkpoint must be consistent with
the receipt's own checkpoint. At the end `dataledger verify` must pass and the log must hold each
acknowledged entry at its index, byte for byte, with no gap and no duplicate.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import nacl.signing

from api.client import Client, party_register_statement, sign_statement
from api.verify import verify_log
from ledger.encoding import b64decode, canonical_json
from ledger.merkle import verify_consistency
from ledger.note import parse_vkey
from ledger.receipts import Receipt, verify_receipt


@dataclass
class Report:
    kills: int = 0
    acknowledged: int = 0
    retried: int = 0
    tree_size: int = 0
    failures: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, workdir: Path, database_url: str | None, port: int) -> None:
        self.workdir, self.database_url, self.port = workdir, database_url, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.workdir / "data"),
            "--no-access-log",
        ]
        if self.database_url:
            command += ["--database-url", self.database_url]
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1]
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{tail}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server did not come up within 60 s")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


class Load:
    """Client threads that register parties until told to stop, keeping every receipt."""

    def __init__(self, url: str, threads: int, seed: int) -> None:
        self.url, self.threads = url, threads
        self.receipts: dict[int, Receipt] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        # Cleared while the receipts are checked: otherwise the load goes on during the check,
        # each check has more receipts than the one before, and the time between kills grows
        # with the log (a 50-kill run at today's append rate never ended).
        self.running = threading.Event()
        self.running.set()
        self.retried = 0
        self.seed = seed
        self.workers = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def start(self) -> None:
        with Client(self.url) as client:
            self.origin = client.origin  # every statement names the log it is for
        for w in self.workers:
            w.start()

    def pause(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def join(self) -> None:
        self.stop.set()
        self.running.set()
        for w in self.workers:
            w.join(timeout=120)

    def _run(self, number: int) -> None:
        http = httpx.Client(base_url=self.url, timeout=10)
        while not self.stop.is_set():
            self.running.wait()  # a statement already sent is still retried until answered
            key = nacl.signing.SigningKey.generate()
            statement = party_register_statement(key, f"p{number}", origin=self.origin)
            body = canonical_json(sign_statement(key, statement))
            while not self.stop.is_set():  # retry the same envelope until it is answered
                try:
                    response = http.post(
                        "/v1/parties", content=body, headers={"content-type": "application/json"}
                    )
                except httpx.HTTPError:
                    with self.lock:
                        self.retried += 1
                    time.sleep(0.05)
                    continue
                if response.status_code in (200, 201):
                    receipt = msgspec.convert(response.json(), Receipt)
                    with self.lock:
                        earlier = self.receipts.get(receipt.index)
                        if earlier is not None and earlier.entry != receipt.entry:
                            raise AssertionError(f"index {receipt.index} acknowledged twice")
                        self.receipts[receipt.index] = receipt
                    break
                time.sleep(0.05)  # 5xx while shutting down, etc.: retry
        http.close()


class Checker:
    """Checks receipts as they come, each once, and chains the heads seen after restarts.

    A receipt proves inclusion in its own checkpoint; a consistency proof from that checkpoint
    to the current head then proves inclusion in the head. Heads are chained with consistency
    proofs too, so every receipt checked once stays checked against every later head.
    """

    def __init__(self, url: str, vkey: str) -> None:
        self.url, self.vkey = url, vkey
        self.verifier = parse_vkey(vkey)
        self.checked: set[int] = set()
        self.head = None

    def check(self, receipts: list[Receipt]) -> list[str]:
        failures: list[str] = []
        with Client(self.url, vkey=self.vkey) as client:
            head = client.checkpoint()
            proven: dict[int, bool] = {}
            if self.head is not None:
                failures += self._consistent(client, self.head, head, "previous head")
            for receipt in receipts:
                if receipt.index in self.checked:
                    continue
                self.checked.add(receipt.index)
                try:
                    _, old = verify_receipt(receipt, self.verifier)
                except Exception as exc:  # noqa: BLE001 - collect every failure for the report
                    failures.append(f"receipt {receipt.index}: {exc}")
                    continue
                if old.size not in proven:
                    problems = self._consistent(client, old, head, f"receipt {receipt.index}")
                    proven[old.size] = not problems
                    failures += problems
            self.head = head
        return failures

    @staticmethod
    def _consistent(client: Client, old: object, new: object, what: str) -> list[str]:
        assert hasattr(old, "size") and hasattr(new, "size")
        try:
            if old.size > new.size:
                return [f"{what}: the log shrank from {old.size} to {new.size}"]
            if old.size == new.size:
                return [] if old.root_hash == new.root_hash else [f"{what}: a different root"]
            if old.size == 0:
                return []
            hashes = client.consistency_proof(old.size, new.size)
            verify_consistency(
                old.size, new.size, [b64decode(h) for h in hashes], old.root_hash, new.root_hash
            )
        except Exception as exc:  # noqa: BLE001
            return [f"{what}: {exc}"]
        return []


def run(
    kills: int,
    *,
    database_url: str | None = None,
    threads: int = 8,
    seed: int = 1,
    workdir: Path | None = None,
    min_interval: float = 0.2,
    max_interval: float = 1.0,
) -> Report:
    rng = random.Random(seed)
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        root = workdir or Path(tmp)
        server = Server(root, database_url, _free_port())
        try:
            return _run(server, report, rng, kills, threads, seed, min_interval, max_interval)
        finally:
            server.stop()  # never leave a server behind, whatever happened


def _run(
    server: Server,
    report: Report,
    rng: random.Random,
    kills: int,
    threads: int,
    seed: int,
    min_interval: float,
    max_interval: float,
) -> Report:
    server.start()
    vkey = httpx.get(server.url + "/v1/log/key").text.strip()
    checker = Checker(server.url, vkey)
    load = Load(server.url, threads, seed)
    load.start()
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(min_interval, max_interval))
            server.kill()
            report.kills += 1
            server.start()
            load.pause()
            with load.lock:
                taken = list(load.receipts.values())
            report.failures += checker.check(taken)
            load.resume()
        time.sleep(min_interval)
    finally:
        load.join()
    with load.lock:
        receipts = dict(load.receipts)
    report.failures += checker.check(list(receipts.values()))
    with Client(server.url, vkey=vkey) as client:
        try:
            checked = verify_log(client, parse_vkey(vkey), workers=1)
            report.tree_size = checked.checkpoint.size
        except Exception as exc:  # noqa: BLE001
            report.failures.append(f"verify: {exc}")
        served: dict[int, str] = {}
        for start in range(0, report.tree_size, 1000):
            served.update((e["index"], e["entry"]) for e in client.entries(start, 1000))
        for index, receipt in receipts.items():
            if served.get(index) != receipt.entry:
                report.failures.append(f"entry {index} differs from its receipt")
    report.acknowledged, report.retried = len(receipts), load.retried
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    report = run(args.kills, database_url=args.database_url, threads=args.threads, seed=args.seed)
    print(
        f"kills: {report.kills}  acknowledged appends: {report.acknowledged}  "
        f"tree size: {report.tree_size}  retried requests: {report.retried}  "
        f"time: {time.monotonic() - started:.0f} s"
    )
    if report.failures:
        print(f"FAILED ({len(report.failures)}):", *report.failures[:20], sep="\n  ")
        sys.exit(1)
    print("OK: every acknowledged entry survived every kill; the log verifies")


if __name__ == "__main__":
    main()
