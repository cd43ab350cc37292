"""PostgreSQL restarted while clients append (issue 15): no acknowledged entry is lost, requests
during the outage get a 503 problem (never a hang or a 500), and the server recovers by itself.

It restarts the machine's PostgreSQL cluster, so it needs to be root with `pg_ctlcluster` (as CI
is); elsewhere it skips, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from api.client import Client
from ledger.encoding import b64decode
from ledger.entries import decode_entry
from ledger.receipts import Receipt
from tests.factories import register_envelope
from tests.test_cli import start_server

CLUSTERS = Path("/etc/postgresql")


def _cluster() -> tuple[str, str] | None:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None or not CLUSTERS.is_dir():
        return None
    versions = sorted(p.name for p in CLUSTERS.iterdir() if (p / "main").is_dir())
    return (versions[-1], "main") if versions else None


@pytest.mark.slow
def test_a_postgresql_restart_loses_nothing_acknowledged(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("restarts the PostgreSQL server: PostgreSQL only")
    cluster = _cluster()
    if cluster is None:
        pytest.skip("needs root and pg_ctlcluster to restart the local PostgreSQL cluster")
    # Four clients registering as fast as they can are far over the per-address registration
    # limit; this test is about the outage, and the limits have their own tests.
    server = start_server(database_url, tmp_path / "data", env={"DATALEDGER_RATE_LIMITS": "off"})
    with Client(server.url, trust_on_first_use=True) as first:
        origin = first.origin
    acknowledged: list[Receipt] = []
    statuses: dict[int, int] = {}
    bad: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def append() -> None:
        with httpx.Client(base_url=server.url, timeout=20) as http:
            while not stop.is_set():
                _, envelope = register_envelope(origin=origin)
                started = time.monotonic()
                response = http.post(
                    "/v1/parties",
                    content=envelope.canonical(),
                    headers={"content-type": "application/json"},
                )
                took = time.monotonic() - started
                with lock:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 201:
                        acknowledged.append(msgspec.convert(response.json(), Receipt))
                    elif response.status_code == 503:
                        body = response.json()
                        if not body["type"].endswith(":database-unavailable"):
                            bad.append(response.text)
                    else:
                        bad.append(f"{response.status_code}: {response.text[:300]}")
                    if took > 15:
                        bad.append(f"a request hung for {took:.1f} s")

    threads = [threading.Thread(target=append) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        before = len(acknowledged)
        subprocess.run(["pg_ctlcluster", *cluster, "restart"], check=True, timeout=120)
        time.sleep(3)  # appends go on against the restarted server
        stop.set()
        for t in threads:
            t.join(timeout=60)
        print("statuses during the restart:", statuses)
        assert bad == [], bad[:5]
        assert before > 0 and len(acknowledged) > before, statuses  # it recovered by itself
        with Client(server.url, trust_on_first_use=True) as client:
            size = client.checkpoint().size
            served = {
                i: b64decode(e["entry"])
                for start in range(0, size, 1000)
                for i, e in enumerate(client.entries(start, min(1000, size - start)), start)
            }
        for receipt in acknowledged:  # every acknowledged entry is in the log, byte for byte
            assert served[receipt.index] == b64decode(receipt.entry)
            assert decode_entry(served[receipt.index]).index == receipt.index
        assert size >= len(acknowledged)
    finally:
        stop.set()
        server.stop()
