"""End to end: the `dataledger` CLI against a real server process; `verify` catching tampering."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import text

from ledger.storage.engine import make_engine

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    database_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def start_server(
    database_url: str, data_dir: Path, workers: int = 1, env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    log = open(data_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--data-dir",
            str(data_dir),
            "--database-url",
            database_url,
            "--no-access-log",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"server exited: {Path(log.name).read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(url, database_url, data_dir, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    log.close()
    raise RuntimeError("server did not start within 30 s")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(database_url, tmp_path / "data")
    yield srv
    srv.stop()


def cli(
    *args: str, url: str | None = None, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    if url:
        env["DATALEDGER_URL"] = url
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_version() -> None:
    import ledger

    assert ledger.__version__ in cli("--version").stdout


def test_keygen_register_verify(server: Server, tmp_path: Path) -> None:
    key_file = tmp_path / "owner.key"
    keyid = cli("keygen", "--out", str(key_file)).stdout.strip()
    assert len(keyid) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    refused = cli("keygen", "--out", str(key_file), check=False)
    assert refused.returncode != 0 and "refusing to overwrite" in refused.stderr

    out = cli("party", "register", "--name", "Acme Data", "--key", str(key_file), url=server.url)
    assert keyid in out.stdout and "index 0" in out.stdout
    buyer = tmp_path / "buyer.key"
    cli("keygen", "--out", str(buyer))
    as_json = json.loads(
        cli(
            "--json", "--key", str(buyer), "--url", server.url, "party", "register", "--name", "B"
        ).stdout
    )
    assert as_json["receipt"]["index"] == 1

    again = cli(
        "party", "register", "--name", "Acme", "--key", str(key_file), url=server.url, check=False
    )
    assert again.returncode != 0 and "already registered" in again.stderr

    vkey = cli("log", "key", url=server.url).stdout.strip()
    state = tmp_path / "state.json"
    first = cli("verify", "--vkey", vkey, "--state", str(state), url=server.url)
    assert "OK: 2 entries verified" in first.stdout
    cli("party", "register", "--name", "C", "--key", str(_new_key(tmp_path, "c")), url=server.url)
    second = cli("verify", "--vkey", vkey, "--state", str(state), "--json", url=server.url)
    report = json.loads(second.stdout)
    assert report["tree_size"] == 3 and report["previous_size"] == 2


def test_verify_refuses_a_different_log_key(server: Server, tmp_path: Path) -> None:
    cli("party", "register", "--name", "A", "--key", str(_new_key(tmp_path, "a")), url=server.url)
    import nacl.signing

    from ledger.logsigner import LogSigner

    impostor = LogSigner(
        cli("log", "key", url=server.url).stdout.split("+")[0], nacl.signing.SigningKey.generate()
    )
    result = cli("verify", "--vkey", impostor.vkey, url=server.url, check=False)
    assert result.returncode != 0 and "signature" in result.stderr


def _new_key(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.key"
    cli("keygen", "--out", str(path))
    return path


def _flip_stored_entry_byte(database_url: str, index: int, locate: bytes) -> None:
    """Change one byte of a stored entry, going around the append-only triggers."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        raw = bytes(
            conn.execute(
                text("SELECT entry FROM ledger_entries WHERE idx = :i"), {"i": index}
            ).scalar_one()
        )
        pos = raw.index(locate) + len(locate)
        tampered = raw[:pos] + bytes([raw[pos] ^ 0x01]) + raw[pos + 1 :]
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            conn.exec_driver_sql("DROP TRIGGER ledger_entries_no_update")
        conn.execute(
            text("UPDATE ledger_entries SET entry = :e WHERE idx = :i"), {"e": tampered, "i": index}
        )
    engine.dispose()


@pytest.mark.parametrize(
    "locate",
    [b'"integrated_at":"2', b'"sig":"', b'"payload":"eyJ'],
    ids=["integration-time", "signature", "payload"],
)
def test_verify_names_a_tampered_entry(server: Server, tmp_path: Path, locate: bytes) -> None:
    for i in range(4):
        cli(
            "party",
            "register",
            "--name",
            f"P{i}",
            "--key",
            str(_new_key(tmp_path, f"p{i}")),
            url=server.url,
        )
    vkey = cli("log", "key", url=server.url).stdout.strip()
    cli("verify", "--vkey", vkey, url=server.url)
    _flip_stored_entry_byte(server.database_url, 2, locate)
    result = cli("verify", "--vkey", vkey, url=server.url, check=False)
    assert result.returncode != 0
    assert "entry 2" in result.stderr, result.stderr


def test_options_before_the_command_beat_the_environment() -> None:
    """`dataledger --url B cmd` with DATALEDGER_URL=A set must talk to B (and sign with the
    `--key` given, not DATALEDGER_KEY)."""
    a, b = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "DATALEDGER_URL": a}
    for args in (["--url", b, "log", "checkpoint"], ["log", "checkpoint", "--url", b]):
        result = subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0 and f"cannot reach {b}/" in result.stderr, result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "log", "checkpoint"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert f"cannot reach {a}/" in result.stderr, result.stderr
