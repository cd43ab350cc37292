"""End to end: the registry commands of the CLI against a real server with a short notice period."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from api.cli import _Printable
from api.cli_registry import minor_units
from api.keyfiles import write_new_key
from ledger import keys
from tests.test_cli import Server, cli, start_server

NOTICE_SECONDS = 6


@pytest.fixture
def server(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A server whose registrations are on notice for a few seconds, certified promptly."""
    monkeypatch.setenv("DATALEDGER_NOTICE_PERIOD", str(NOTICE_SECONDS))
    monkeypatch.setenv("DATALEDGER_CERTIFY_INTERVAL", "0.3")
    srv = start_server(database_url, tmp_path / "data")  # the operator key: ./data/log-key.json
    monkeypatch.setenv("DATALEDGER_URL", srv.url)  # for every CLI run below
    yield srv
    srv.stop()


def new_key(tmp_path: Path, name: str) -> tuple[str, str]:
    """(key file, party id)."""
    path = tmp_path / f"{name}.key"
    return str(path), keys.keyid_of(write_new_key(path))


def as_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def refused(*args: str) -> str:
    """Run a command that must fail; return its stderr."""
    result = cli(*args, check=False)
    assert result.returncode != 0, result.stdout
    return result.stderr


def register_party(key: str, name: str, *extra: str) -> str:
    return cli("party", "register", "--name", name, "--key", key, *extra).stdout


def register_asset(key: str, data: Path, *extra: str, check: bool = True) -> Any:
    args = ("asset", "register", "--file", str(data), "--title", "Credit scores 2026")
    args += ("--category", "finance.credit", "--classification", "important")
    args += ("--personal-info", "anonymized", "--key", key, *extra)
    return cli(*args, check=check)


def test_register_object_certify_transfer_verify(server: Server, tmp_path: Path) -> None:
    owner, owner_id = new_key(tmp_path, "owner")
    other, other_id = new_key(tmp_path, "other")
    regulator, regulator_id = new_key(tmp_path, "regulator")
    out = register_party(owner, "Acme Data", "--email", "ops@acme.example", "--phone", "123")
    assert owner_id in out and "contact details stored" in out
    register_party(other, "Buyer Ltd")
    register_party(regulator, "Data Bureau")
    grant = ("operator", "grant-role", "--party", regulator_id, "--role", "regulator")
    out = cli(*grant, cwd=tmp_path).stdout  # the server's ./data/log-key.json
    assert "granted role regulator" in out

    mine = as_json("party", "show", owner_id, "--key", owner)
    assert mine["contact"]["email"] == "ops@acme.example" and mine["contact"]["address"] is None
    assert as_json("party", "show", owner_id).get("contact") is None
    assert as_json("party", "show", regulator_id)["roles"] == ["regulator"]

    data = tmp_path / "scores.csv"
    data.write_bytes(b"id,score\n1,700\n2,650")  # 3 lines, the last one unterminated
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps([{"name": "id", "type": "int"}, {"name": "score", "type": "int"}]))
    private_fields = ("--declared-cost", "1250.50", "--schema", str(schema))
    asset_id = register_asset(owner, data, *private_fields, "--quality", "90,95,85,80").stdout
    asset_id = asset_id.strip()
    evidence = tmp_path / "evidence.pdf"
    evidence.write_bytes(b"%PDF-1.7 \x00 our original export")
    grounds = ("--grounds", "copied from our own export", "--evidence", str(evidence))
    objection_id = cli("asset", "object", asset_id, *grounds, "--key", other).stdout.strip()
    assert len(asset_id) == len(objection_id) == 32

    # Refusals: the server's (a party without the role) and the CLI's own (money with 3 decimals).
    resolve = ("objection", "resolve", objection_id)
    err = refused(*resolve, "--outcome", "upheld", "--reason", "agreed", "--key", other)
    assert "role-required" in err and "only a regulator may resolve objections" in err, err
    local = register_asset(owner, data, "--declared-cost", "1250.001", check=False)
    assert local.returncode == 2 and "more than 2 decimal places" in local.stderr, local.stderr
    decision = ("--outcome", "dismissed", "--reason", "the evidence shows no copying")
    cli(*resolve, *decision, "--key", regulator)
    shown = as_json("objection", "show", objection_id, "--key", other)
    assert shown["status"] == "dismissed"
    assert shown["evidence_fingerprint"] == hashlib.sha256(evidence.read_bytes()).hexdigest()
    public = as_json("objection", "show", objection_id)  # grounds and evidence are private
    assert public["status"] == "dismissed" and public["evidence_fingerprint"] is None

    private = as_json("asset", "show", asset_id, "--key", owner)
    assert private["fingerprint"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert (private["size_bytes"], private["record_count"]) == (len(data.read_bytes()), 3)
    assert (private["declared_cost_minor"], private["declared_cost_currency"]) == (125050, "CNY")
    assert private["quality_score"] == 87 and private["schema"][1]["name"] == "score"
    assert as_json("asset", "show", asset_id).get("declared_cost_minor") is None

    deadline = time.monotonic() + NOTICE_SECONDS + 30
    while (status := as_json("asset", "show", asset_id)["status"]) != "certified":
        assert status == "on_notice" and time.monotonic() < deadline, status
        time.sleep(0.5)

    vkey = tmp_path / "log.vkey"
    vkey.write_text(cli("log", "key").stdout)
    out = cli("asset", "certificate", asset_id, "--vkey", str(vkey)).stdout
    assert "Acme Data" in out and "verified offline" in out and "(pinned)" in out
    page = cli("asset", "certificate", asset_id, "--html")
    assert page.stdout.startswith("<!doctype html>") and "verified" in page.stderr
    history = cli("asset", "history", asset_id, "--vkey", str(vkey)).stdout
    for kind in ("asset.register", "asset.object", "objection.resolve", "asset.certify"):
        assert kind in history
    assert "all 4 receipts verified offline" in history

    transfer_id = cli(
        "rights", "offer", asset_id, "--right", "processing", "--to", other_id, "--key", owner
    ).stdout.strip()
    err = refused("rights", "accept", transfer_id, "--key", regulator)
    assert "not-the-recipient" in err
    cli("rights", "accept", transfer_id, "--key", other)
    holders = {h["right"]: h["holder_id"] for h in as_json("rights", "show", asset_id)["holders"]}
    assert holders == {"holding": owner_id, "processing": other_id, "operation": owner_id}
    assert other_id in cli("rights", "show", asset_id).stdout

    page_ = as_json("asset", "list", "--status", "certified", "--q", "Credit")
    assert [a["asset_id"] for a in page_["assets"]] == [asset_id]
    assert as_json("asset", "list", "--owner", other_id)["assets"] == []
    out = cli("verify", "--vkey", str(vkey)).stdout
    assert out.startswith("OK: ")


def test_keys_contacts_versions_and_conflicts(server: Server, tmp_path: Path) -> None:
    owner, owner_id = new_key(tmp_path, "owner")
    rival, rival_id = new_key(tmp_path, "rival")
    regulator, regulator_id = new_key(tmp_path, "regulator")
    register_party(owner, "Acme Data", "--address", "1 Data Road")
    register_party(rival, "Rival")
    register_party(regulator, "Data Bureau")
    operator_key = tmp_path / "data" / "log-key.json"
    grant = ("operator", "grant-role", "--party", regulator_id, "--role", "regulator")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    no_key = cli(*grant, cwd=elsewhere, check=False)  # no ./data/log-key.json there
    assert no_key.returncode != 0 and "--operator-key" in no_key.stderr
    cli(*grant, "--operator-key", str(operator_key))

    # Contact details: erased for good, and only the party (or the operator) may erase them.
    assert as_json("party", "show", owner_id, "--key", owner)["contact"]["address"]
    assert "forbidden" in refused("party", "erase-contact", owner_id, "--key", rival)
    cli("party", "erase-contact", "--key", owner)
    assert as_json("party", "show", owner_id, "--key", owner).get("contact") is None
    assert "not-found" in refused("party", "erase-contact", "--key", owner)

    # Two parties claim one fingerprint: a conflict, decided by the regulator.
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x00\x01binary")
    assert "--records" in register_asset(owner, data, check=False).stderr
    mine = register_asset(owner, data, "--records", "2").stdout.strip()
    theirs = register_asset(rival, data, "--records", "2").stdout.strip()
    fingerprint = hashlib.sha256(data.read_bytes()).hexdigest()
    assert sorted(as_json("conflict", "show", fingerprint)["asset_ids"]) == sorted([mine, theirs])
    resolve = ("conflict", "resolve", fingerprint, "--reason", "the owner's claim came first")
    assert "exactly one of" in refused(*resolve, "--rightful", mine, "--none")
    cli(*resolve, "--rightful", mine, "--key", regulator)
    assert as_json("asset", "show", theirs)["status"] == "rejected"

    newer = tmp_path / "data-v2.csv"
    newer.write_text("a\nb\nc\nd\n")
    cli("asset", "version", mine, "--file", str(newer), "--note", "Q2", "--key", owner)
    shown = as_json("asset", "show", mine)
    assert (shown["version"], shown["record_count"]) == (2, 4)

    # Key rotation: the old key stops working, the new one signs for the same party.
    rotated, rotated_id = new_key(tmp_path, "owner-2")
    cli("party", "rotate-key", "--new-key", rotated, "--key", owner)
    newest = tmp_path / "data-v3.csv"
    newest.write_text("a\n")
    version = ("asset", "version", mine, "--file", str(newest))
    assert "key-revoked" in refused(*version, "--key", owner)
    cli(*version, "--key", rotated)
    party_keys = as_json("party", "show", owner_id)["keys"]
    assert [(k["keyid"], k["revoked_index"] is None) for k in party_keys] == [
        (owner_id, False),
        (rotated_id, True),
    ]
    assert cli("login", "--key", rotated).stdout.startswith("dl1.")
    login = as_json("login", "--key", rotated)
    assert login["party_id"] == owner_id and login["token"] and login["expires_at"]

    cli("party", "revoke-key", rival_id, "--reason", "laptop lost", "--key", rival)
    assert "key-revoked" in refused(
        "rights", "offer", theirs, "--right", "holding", "--to", owner_id, "--key", rival
    )
    cli("operator", "revoke-role", *grant[2:], "--operator-key", str(operator_key))
    assert as_json("party", "show", regulator_id)["roles"] == []


def test_parties_sharing_a_name_are_shown_with_roles_and_ids(
    server: Server, tmp_path: Path
) -> None:
    """Issue 16, impersonation: `party show` and `asset certificate` show a party's roles, the
    start of its id and a warning when another party bears its name, never the name alone."""
    bureau, bureau_id = new_key(tmp_path, "bureau")
    impostor, impostor_id = new_key(tmp_path, "impostor")
    honest, honest_id = new_key(tmp_path, "honest")
    register_party(bureau, "Municipal Data Bureau")
    register_party(impostor, "Municipal Data Bureau")
    register_party(honest, "Honest Trader")
    cli("operator", "grant-role", "--party", bureau_id, "--role", "regulator", cwd=tmp_path)

    shared = "(name shared with another party)"
    real = cli("party", "show", bureau_id).stdout
    assert f" Municipal Data Bureau · regulator · {bureau_id[:8]} {shared}" in real
    fake = cli("party", "show", impostor_id).stdout
    assert f" Municipal Data Bureau · {impostor_id[:8]} {shared}" in fake
    assert "regulator" not in fake.replace("roles: -", "")
    assert all(shared in line for line in fake.splitlines() if "Municipal Data Bureau" in line), (
        fake
    )
    unique = cli("party", "show", honest_id).stdout
    assert f" Honest Trader · {honest_id[:8]}\n" in unique and shared not in unique
    assert as_json("party", "show", impostor_id)["name_shared"] is True
    assert as_json("party", "show", honest_id)["name_shared"] is False

    data = tmp_path / "official.csv"
    data.write_text("a,b\n1,2\n")
    asset_id = register_asset(impostor, data).stdout.strip()
    deadline = time.monotonic() + NOTICE_SECONDS + 30
    while as_json("asset", "show", asset_id)["status"] != "certified":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    out = cli("asset", "certificate", asset_id).stdout
    assert f" Municipal Data Bureau · {impostor_id[:8]} {shared}" in out
    assert all(shared in line for line in out.splitlines() if "Municipal Data Bureau" in line)


@pytest.mark.parametrize(
    ("text", "minor"),
    [("1250.00", 125000), ("1250", 125000), ("0.5", 50), ("1E+3", 100000), ("9.99", 999)],
)
def test_minor_units_are_exact(text: str, minor: int) -> None:
    assert minor_units(text) == minor


@pytest.mark.parametrize("text", ["1250.001", "-1", "abc", "NaN", "1e-3", "1" * 30])
def test_minor_units_refuses(text: str) -> None:
    with pytest.raises(click.BadParameter):
        minor_units(text)


def test_a_strangers_title_reaches_the_terminal_as_text_not_escapes(
    server: Server, tmp_path: Path
) -> None:
    """Clear screen, set window title: a title is someone else's text, shown escaped."""
    key, _ = new_key(tmp_path, "stranger")
    register_party(key, "Stranger\x1b[31m")
    data = tmp_path / "data.csv"
    data.write_text("a\nb\n")
    hostile = "Title\x1b[2J\x1b]0;pwned\x07\x9b"
    asset_id = as_json(*register_args(key, data, "--title", hostile))["asset_id"]
    shown = cli("asset", "show", asset_id)
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout and "\x9b" not in shown.stdout
    assert as_json("asset", "show", asset_id)["title"] == hostile  # JSON keeps the text exact
    # Piped, click drops the CSI sequence ("\x1b[2J") itself; the rest arrives escaped.
    assert "Title\\u001b]0;pwned\\u0007\\u009b\n" in shown.stdout


def test_printable_output_escapes_what_a_terminal_would_obey() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    printable = _Printable(screen)
    printable.write("Title\x1b[2J\x1b]0;pwned\x07\r\x9b\n\tok")
    assert screen.getvalue() == "Title\\u001b[2J\\u001b]0;pwned\\u0007\\u000d\\u009b\n\tok"
    assert printable.isatty()


def register_args(key: str, data: Path, *extra: str) -> tuple[str, ...]:
    return (
        "asset", "register", "--file", str(data), "--category", "finance.credit",
        "--classification", "general", "--personal-info", "none", "--key", key, *extra,
    )  # fmt: skip


def test_empty_and_malformed_data_files_need_force(server: Server, tmp_path: Path) -> None:
    """A 0-byte file, a CSV with an unclosed quote and a ragged CSV are refused before anything
    is sent, unless --force (then a warning); the record count is the number of lines, the
    header included, unless --records."""
    owner, owner_id = new_key(tmp_path, "owner")
    register_party(owner, "Acme Data")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    open_quote = tmp_path / "open-quote.csv"
    open_quote.write_text('id,name\n1,"Acme\n2,Blue\n')
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,name\n1,Acme\n2,Blue,extra\n")
    expected = {
        empty: "is empty (0 bytes)",
        open_quote: "is not a well-formed CSV: line 3: unexpected end of data",
        ragged: "is not a well-formed CSV: line 3 has 3 fields, the first row 2",
    }
    for path, problem in expected.items():
        result = register_asset(owner, path, check=False)
        assert result.returncode == 1, result.stdout
        assert result.stderr.strip() == (
            f"error: {path} {problem}; give --force to register it anyway"
        ), result.stderr
    assert as_json("asset", "list", "--owner", owner_id)["assets"] == []  # nothing was sent

    registered = {}
    for path, problem in expected.items():
        result = register_asset(owner, path, "--force")
        assert f"warning: {path} {problem}; registering it anyway (--force)" in result.stderr
        registered[path] = result.stdout.strip()
    counts = {
        path: as_json("asset", "show", asset_id, "--key", owner)["record_count"]
        for path, asset_id in registered.items()
    }
    assert counts == {empty: 0, open_quote: 3, ragged: 3}  # lines, the header line included

    good = tmp_path / "good.csv"
    good.write_text('id,name\n1,"Acme, Ltd"\n\n2,Blue\n')
    result = register_asset(owner, good)
    assert "warning" not in result.stderr
    asset_id = result.stdout.strip()
    assert as_json("asset", "show", asset_id, "--key", owner)["record_count"] == 4
    # A new version is checked the same way.
    refused_version = cli(
        "asset", "version", asset_id, "--file", str(ragged), "--key", owner, check=False
    )
    assert refused_version.returncode == 1 and "--force" in refused_version.stderr
