"""End to end for regulators and witnesses: `audit export|verify|alerts|statistics|search`
and `witness`, driving the CLI against a server process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import Server, cli
from tests.test_cli_registry import as_json, new_key, refused, register_party, server  # noqa: F401


def test_audit_and_witness_commands(server: Server, tmp_path: Path) -> None:  # noqa: F811
    regulator_key, regulator = new_key(tmp_path, "regulator")
    witness_key, witness = new_key(tmp_path, "witness")
    register_party(regulator_key, "Regulator")
    register_party(witness_key, "Witness")
    data = str(tmp_path / "data" / "log-key.json")
    cli(
        "operator",
        "grant-role",
        "--party",
        regulator,
        "--role",
        "regulator",
        "--operator-key",
        data,
    )
    vkey = cli("log", "key").stdout.strip()

    # A witness: refused before it has the role, cosigns after, and the log carries it.
    state = tmp_path / "witness.json"
    assert "role" in refused(
        "witness", "pull", "--key", witness_key, "--state", str(state), "--vkey", vkey
    )
    cli("operator", "grant-role", "--party", witness, "--role", "witness", "--operator-key", data)
    first = as_json("witness", "pull", "--key", witness_key, "--state", str(state), "--vkey", vkey)
    assert first["previous_size"] is None and first["witness_vkey"].startswith(
        "dataledger-witness/"
    )
    register_party(new_key(tmp_path, "later")[0], "Later")
    again = as_json("witness", "pull", "--key", witness_key, "--state", str(state))
    assert again["previous_size"] == first["tree_size"] < again["tree_size"]
    assert "dataledger-witness/" in cli("log", "checkpoint").stdout

    # A verifiable export, checked offline; an altered copy fails.
    bundle = tmp_path / "bundle.ndjson"
    cli("audit", "export", "--out", str(bundle), "--key", regulator_key)
    ok = as_json("audit", "verify", str(bundle), "--vkey", vkey)
    assert ok["ok"] and ok["end"] == ok["tree_size"] == again["tree_size"]
    lines = bundle.read_text().splitlines()
    item = json.loads(lines[2])
    item["index"] = 7
    (tmp_path / "bad.ndjson").write_text(
        "\n".join([*lines[:2], json.dumps(item), *lines[3:]]) + "\n"
    )
    assert "expected entry 1" in refused(
        "audit", "verify", str(tmp_path / "bad.ndjson"), "--vkey", vkey
    )

    # Reading as a regulator; refused as anyone else.
    assert as_json("audit", "alerts", "--key", regulator_key)["alerts"] == []
    assert as_json("audit", "statistics", "--key", regulator_key)["statistics"] == []
    assert len(as_json("audit", "search", "registrations", "--key", regulator_key)["rows"]) == 0
    assert "forbidden" in refused("audit", "alerts", "--key", witness_key)
