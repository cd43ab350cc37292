"""End to end: `dataledger demo` tells its story on a server it starts, and on one already running
(--url); then `dataledger verify` (and `replay --check`) accept what it left behind."""

from __future__ import annotations

import json
import random
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.demo import cast_of, clinic_visits, container_moves, grid_load
from api.keyfiles import write_new_key
from tests.test_cli import Server, cli, start_server

SEED = "7"
# Every kind of step the issue asks the story to show, in the order it shows them.
STORY = [
    "operator",
    "party.register",
    "role.grant",
    "asset.register",
    "asset.object",
    "objection.resolve",
    "asset.certify",
    "rights.offer",
    "rights.accept",
    "offer.publish",
    "licence.refused",
    "licence.request",
    "licence.approve",
    "licence.regulator_approve",
    "licence.exclusive",
    "licence.reject",
    "payment.record",
    "payment.confirm",
    "usage.report",
    "usage.summary",
    "market.history",
    "valuation.quote",
    "alert",
    "asset.freeze",
    "usage.refused",
    "witness.cosign",
    "verify.receipt",
    "verify.log",
]


def demo(*args: str, cwd: Path) -> tuple[dict[str, Any], str]:
    """Run the demo with --json: (the summary on stdout, the narration on stderr)."""
    result = cli("demo", "--seed", SEED, *args, "--json", cwd=cwd)
    return json.loads(result.stdout), result.stderr


def first_seen(steps: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(s["step"] for s in steps))


def step(steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [s for s in steps if s["step"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


def check_story(summary: dict[str, Any], narration: str) -> None:
    """What both modes must show: every step, each entry's index in order, the refusals with
    the server's problem details, a real alert, and verification."""
    steps = summary["steps"]
    assert first_seen(steps) == STORY, first_seen(steps)
    indices = [i for s in steps for i in (s["index"], s["last_index"]) if i is not None]
    assert indices == sorted(indices) and len(set(indices)) == len(indices), indices
    assert indices[-1] == summary["tree_size"] - 1  # the freeze is the last entry
    history = step(steps, "market.history")
    assert history["last_index"] - history["index"] + 1 == 30 * 4

    refusal = step(steps, "licence.refused")["text"]
    assert "422 lawful-basis-required" in refusal and "declare a lawful basis" in refusal
    assert "nothing appended" in refusal
    assert "409 exclusive-conflict" in step(steps, "licence.exclusive")["text"]
    assert "403 asset-frozen" in step(steps, "usage.refused")["text"]

    quote = step(steps, "valuation.quote")
    flagged = [a for a in summary["alerts"] if a["kind"] == "price-outside-interval"]
    assert len(flagged) == 1, summary["alerts"]
    alert = flagged[0]
    assert alert["asset_id"] == summary["assets"]["harbour"]["asset_id"]
    assert alert["evidence"][0] == quote["index"] and "above the 90% interval" in alert["reason"]
    assert "price-outside-interval" in step(steps, "alert")["text"]
    assert "cosigns" in step(steps, "witness.cosign")["text"]
    assert step(steps, "verify.log")["text"].endswith("OK")

    # The narration: one line per step, led by the entry's index, then where to look next.
    assert re.search(
        r'^\[\s*\d+\] Northwind registers asset "Clinic visits 2025" \(personal data\)',
        narration,
        re.M,
    ), narration
    assert re.search(r"^\[\s*--\] Meridian asks for a licence of personal data", narration, re.M)
    assert "Where to look next" in narration and " verify --vkey " in narration


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], str, Path]]:
    """One run of the demo on a server it starts itself (shared by the tests below)."""
    home = tmp_path_factory.mktemp("demo")
    summary, narration = demo("--data-dir", str(home / "ledger"), cwd=home)
    yield summary, narration, home / "ledger"


def test_demo_on_its_own_server_then_verify(local: tuple[dict[str, Any], str, Path]) -> None:
    summary, narration, data_dir = local
    check_story(summary, narration)
    assert summary["server"] == "started" and summary["data_dir"] == str(data_dir)
    assert [s["step"] for s in summary["steps"]].count("asset.certify") == 3
    assert "server stopped" in narration
    with pytest.raises(httpx.TransportError):  # ...and it was: nothing answers there now
        httpx.get(summary["url"] + "/healthz", timeout=2)

    # The kept ledger: `verify` checks it down to every stored node, `replay --check` rebuilds
    # every projection from the entries alone and finds them equal.
    database, vkey = summary["database_url"], summary["vkey_file"]
    verified = cli("verify", "--vkey", vkey, "--database-url", database).stdout
    assert verified.startswith(f"OK: {summary['tree_size']} entries"), verified
    replayed = cli(
        *("replay", "--check", "--database-url", database, "--notice-period", "3"),
        *("--log-key-file", str(data_dir / "log-key.json")),
    ).stdout
    assert replayed.startswith(f"OK: {summary['tree_size']} entries replayed"), replayed

    # A second demo refuses to reuse a directory that already holds a ledger.
    again = cli("demo", "--data-dir", str(data_dir), check=False)
    assert again.returncode == 2 and "already holds a ledger" in again.stderr, again.stderr


@pytest.fixture
def running(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A server as an operator runs it: the default (10-day) public notice."""
    srv = start_server(database_url, tmp_path / "data")  # its key: tmp_path/data/log-key.json
    yield srv
    srv.stop()


def test_demo_drives_a_running_server(
    running: Server, tmp_path: Path, local: tuple[dict[str, Any], str, Path]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    operator_key = tmp_path / "data" / "log-key.json"
    files = tmp_path / "files"
    args = ("--url", running.url, "--operator-key", str(operator_key), "--data-dir", str(files))
    summary, narration = demo(*args, cwd=elsewhere)
    check_story(summary, narration)
    assert summary["server"] == "given" and summary["url"] == running.url
    certify = step(summary["steps"], "asset.certify")
    assert certify["index"] is None and "will certify the assets then" in certify["text"]

    # The same seed told the same story: the same parties, data, steps and (but for the three
    # certifications the 10-day notice postpones) the same entry indices.
    ours, theirs = local[0], summary
    assert {r: p["party_id"] for r, p in theirs["parties"].items()} == {
        r: p["party_id"] for r, p in ours["parties"].items()
    }
    assert {n: a["fingerprint"] for n, a in theirs["assets"].items()} == {
        n: a["fingerprint"] for n, a in ours["assets"].items()
    }

    def shifted(steps: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
        out, certified = [], 0
        for s in steps:
            if s["step"] == "asset.certify":
                certified += s["index"] is not None
                continue
            out.append((s["step"], None if s["index"] is None else s["index"] - certified))
        return out

    assert shifted(theirs["steps"]) == shifted(ours["steps"])

    vkey = summary["vkey_file"]
    assert cli("verify", "--vkey", vkey, "--url", running.url).stdout.startswith("OK: ")

    # From the server's working directory it finds the operator key itself; the seed has run.
    again = cli("demo", "--url", running.url, "--seed", SEED, cwd=tmp_path, check=False)
    assert again.returncode == 1 and f"seed {SEED} already ran" in again.stderr, again.stderr
    # A key that is not the server's log key is refused before anything is signed.
    wrong = tmp_path / "wrong.key"
    write_new_key(wrong)
    refused = cli("demo", "--url", running.url, "--operator-key", str(wrong), check=False)
    assert refused.returncode == 1 and "not this server's log key" in refused.stderr
    without = cli("demo", "--url", running.url, cwd=elsewhere, check=False)
    assert without.returncode == 2 and "--operator-key" in without.stderr, without.stderr


def test_the_seed_decides_keys_and_data(tmp_path: Path) -> None:
    def data(seed: int, folder: Path) -> list[bytes]:
        rng = random.Random(seed)
        made = [make(rng, folder) for make in (clinic_visits, container_moves, grid_load)]
        return [f.path.read_bytes() for f in made]

    assert cast_of(7)["owner"].key.encode() == cast_of(7)["owner"].key.encode()
    assert len({a.party_id for a in cast_of(7).values()} | {cast_of(8)["owner"].party_id}) == 6
    assert data(7, tmp_path / "a") == data(7, tmp_path / "b") != data(8, tmp_path / "c")


def test_where_to_look_next_runs_as_printed(local: tuple[dict[str, Any], str, Path]) -> None:
    """The closing commands name the venv's own `dataledger` (not on PATH until the venv is
    activated) and the port the demo's server had; served again with the printed command, the
    printed reads work against it as they stand."""
    summary, narration, data_dir = local
    advice = narration.split("Where to look next", 1)[1]
    commands = [line.strip() for line in advice.splitlines() if line.startswith("    ")]
    exe = str(Path(sys.executable).parent / "dataledger")
    assert commands and all(c.startswith(exe + " ") for c in commands), commands
    port = urlsplit(summary["url"]).port
    assert port is not None and port != 8000
    serve = next(c for c in commands if " serve " in c)
    assert serve == f"{exe} serve --data-dir {data_dir} --port {port} --notice-period 3", serve
    assert all(f"--url {summary['url']} " in c for c in commands if " asset " in c)
    assert f"{summary['url']}/schema/docs" in advice

    server = subprocess.Popen(
        shlex.split(serve), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, "the printed serve command exited"
            try:
                if httpx.get(summary["url"] + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        history = next(c for c in commands if " asset history " in c)
        run = subprocess.run(
            history, shell=True, capture_output=True, text=True, timeout=60, check=False
        )
        assert run.returncode == 0, run.stderr
        assert "asset.register" in run.stdout and "receipts verified offline" in run.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
