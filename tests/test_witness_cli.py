"""Witnessing end to end through the CLI (issue 20): two `dataledger witness serve` processes,
`dataledger serve --witness-policy` with a quorum of 2 of 2, and `receipt verify` of a
tlog-proof under that policy -- met while both witness, not met once one is stopped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.test_cli import ROOT, cli, free_port, start_server


def _witness(tmp_path: Path, i: int, logs: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    key = tmp_path / f"w{i}.key"
    cli("keygen", "--out", str(key))
    name = f"witness{i}.test"
    vkey = json.loads(cli("witness", "vkey", "--key", str(key), "--name", name, "--json").stdout)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "witness", "serve", "--key", str(key), "--name", name,
         "--logs", str(logs), "--state", str(tmp_path / f"w{i}.db"), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return process, vkey["vkey"], url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("witness did not start")


@pytest.mark.slow
def test_two_witness_servers_a_policy_and_a_verified_tlog_proof(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(f"sqlite:///{tmp_path / 'seed.db'}", data)  # to learn the log's vkey
    log_vkey = httpx.get(first.url + "/v1/log/key").text.strip()
    first.stop()
    logs = tmp_path / "logs.txt"
    logs.write_text(f"logs/v0\nvkey {log_vkey}\nqpd 86400\n")
    witnesses = [_witness(tmp_path, i, logs) for i in (1, 2)]
    policy = tmp_path / "policy.txt"
    policy.write_text(
        f"log {log_vkey}\n"
        + "".join(f"witness W{i} {v} {u}\n" for i, (_, v, u) in enumerate(witnesses, 1))
        + "group both all W1 W2\nquorum both\n"
    )
    server = start_server(
        f"sqlite:///{tmp_path / 'seed.db'}",
        data,
        env={"DATALEDGER_WITNESS_POLICY": str(policy), "DATALEDGER_WITNESS_MIN_INTERVAL": "0.1"},
    )
    try:
        key = tmp_path / "party.key"
        cli("keygen", "--out", str(key))
        cli("party", "register", "--key", str(key), "--name", "Witnessed", url=server.url)

        def proof_of(index: int, out: Path, cosigners: int) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cli("log", "tlog-proof", str(index), "--out", str(out), url=server.url)
                if out.read_text().count("\n— witness") >= cosigners:
                    return
                time.sleep(0.2)
            raise AssertionError(f"the checkpoint did not get {cosigners} cosignatures")

        good = tmp_path / "good.tlog-proof"
        proof_of(0, good, 2)
        verified = cli("receipt", "verify", str(good), "--vkey", log_vkey, "--policy", str(policy),
                       "--json")  # fmt: skip
        assert json.loads(verified.stdout)["cosigners"] == ["W1", "W2"]

        witnesses[1][0].terminate()
        witnesses[1][0].wait(timeout=10)
        other = tmp_path / "other.key"
        cli("keygen", "--out", str(other))
        cli("party", "register", "--key", str(other), "--name", "Later", url=server.url)
        time.sleep(1.5)  # the pusher's rounds: W1 cosigns, W2 is gone
        short = tmp_path / "short.tlog-proof"
        cli("log", "tlog-proof", "1", "--out", str(short), url=server.url)
        refused = cli("receipt", "verify", str(short), "--vkey", log_vkey, "--policy", str(policy),
                      check=False)  # fmt: skip
        assert refused.returncode != 0 and "witness quorum" in refused.stderr, refused.stderr
        # without a policy, the log's signature and the inclusion proof still verify
        cli("receipt", "verify", str(short), "--vkey", log_vkey)
    finally:
        server.stop()
        for process, _, _ in witnesses:
            process.terminate()
            process.wait(timeout=10)
