"""How the CLI fails (issue 18): ids and key files checked before any request, --url given with
the API's /v1, a key not yet registered, one line (or JSON with --json) and never a traceback,
and --json on every command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import api.cli_common
from api.cli import main
from api.cli_common import IdType
from api.client import Client
from api.keyfiles import KeyFileError, read_key, write_new_key
from ledger import keys
from tests.test_cli import Server, free_port, server  # noqa: F401

ASSET = "0123456789abcdef0123456789abcdef"
PARTY = "ab" * 32
VKEY = "dataledger.local/ee1b2f516304742b+0642ef2f+AadT1ofQgt7aLAn278Lb3/6IauHL9ai46llboC96vtNh"


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> str:
    """DATALEDGER_URL of a port nothing listens on: a command that sent a request would fail
    with "cannot reach" instead of the local check a test expects."""
    url = f"http://127.0.0.1:{free_port()}"
    for name in ("DATALEDGER_KEY", "DATALEDGER_VKEY", "DATALEDGER_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATALEDGER_URL", url)
    return url


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def failure(*args: str, code: int | None = None) -> str:
    """Run a command that must fail cleanly; return its stderr."""
    result = run(*args)
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    return result.stderr


def json_failure(*args: str) -> dict[str, Any]:
    """Run with --json a command that must fail: its error object, the last line of stderr."""
    result = run(*args, "--json")
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert set(error) >= {"type", "title", "detail", "status"}, error
    return dict(error)


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["asset", "show", ""], "asset id must be 32 hex characters (0-9, a-f), got ''"),
        (["licence", "show", ""], "licence id must be 32 hex characters"),
        (["party", "show", ""], "party id must be 64 hex characters (0-9, a-f), got ''"),
        (["objection", "show", ""], "objection id must be 32 hex characters"),
        (["asset", "show", "not-an-id"], "got 'not-an-id'"),
        (["asset", "show", PARTY], "64 hex characters is a party id"),
        (["rights", "accept", "x"], "transfer id must be 32"),
        (["payment", "show", "g" * 32], "payment id must be 32"),
        (["offer", "show", ""], "offer id must be 32"),
        (["conflict", "show", ASSET], "fingerprint must be 64"),
        (["party", "revoke-key", "k"], "keyid must be 64"),
        (["asset", "list", "--owner", "me"], "party id must be 64"),
        (["audit", "alerts", "--licence", "l"], "licence id must be 32"),
        (["objection", "dismiss", ASSET, "", "--reason", "r"], "objection id must be 32"),
        (["rights", "offer", ASSET, "--right", "holding", "--to", ASSET], "party id must be 64"),
    ],
)
def test_ids_are_checked_before_any_request(nowhere: str, args: list[str], message: str) -> None:
    stderr = failure(*args, code=2)
    assert message in stderr and "cannot reach" not in stderr, stderr
    error = json_failure(*args)
    assert error["type"] == "usage" and error["status"] is None and message in error["detail"]


def test_upper_case_hex_is_the_same_id() -> None:
    assert IdType("asset id", api.cli_common.ID_PATTERN).convert(ASSET.upper(), None, None) == ASSET


def _walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    yield " ".join(path) or "dataledger", command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))


ID_NAMES = {
    "asset",
    "licence",
    "party",
    "owner",
    "rightful",
    "to_party",
    "derived_from",
    "keyid",
    "fingerprint",
}


def test_every_id_parameter_is_checked_locally() -> None:
    """Each argument or option that takes an id has an IdType: the check is in one place."""
    unchecked = [
        f"{path} {param.name}"
        for path, command in _walk(main)
        for param in command.params
        if param.name
        and (param.name.endswith(("_id", "_ids")) or param.name in ID_NAMES)
        and not isinstance(param.type, IdType)
    ]
    assert unchecked == []


# --- key files ----------------------------------------------------------------------------------


def test_key_files_are_checked_for_what_they_are(tmp_path: Path) -> None:
    vkey = tmp_path / "log.vkey"
    vkey.write_text(VKEY + "\n")
    empty = tmp_path / "empty.key"
    empty.write_bytes(b"")
    receipt = tmp_path / "receipt.json"
    receipt.write_text('{"index": 3, "entry": "..."}')
    garbage = tmp_path / "notes.txt"
    garbage.write_text("my key is somewhere else\n")
    damaged = tmp_path / "damaged.key"
    write_new_key(damaged)
    damaged.write_text(damaged.read_text().replace('"private_key": "', '"private_key": "AA'))
    expected = {
        vkey: "is a verifier key",
        empty: "is empty, not a key file",
        receipt: "is JSON but not a key file",
        garbage: "is not a dataledger key file",
        damaged: "is a damaged dataledger key file",
    }
    for path, message in expected.items():
        with pytest.raises(KeyFileError, match=message):
            read_key(path)
    good = tmp_path / "good.key"
    made = write_new_key(good)
    assert keys.keyid_of(read_key(good)) == keys.keyid_of(made)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (VKEY, "is a verifier key (a log's public key, as `dataledger log key` prints), not a key"),
        ("", "is empty, not a key file"),
        ('{"openings": {}}', "is JSON but not a key file"),
        (None, "no key file at"),
    ],
    ids=["verifier-key", "empty", "other-json", "missing"],
)
def test_a_command_names_what_its_key_file_is(
    nowhere: str, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "given.key"
    if content is not None:
        path.write_text(content)
    args = ("party", "register", "--name", "Acme", "--key", str(path))
    stderr = failure(*args, code=2)
    assert message in stderr and "cannot reach" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    error = json_failure(*args)
    assert error["type"] == "key-file" and message in error["detail"]
    assert "is a directory" in failure("login", "--key", str(tmp_path))


# --- --url --------------------------------------------------------------------------------------


def test_url_must_be_a_base_url(nowhere: str) -> None:
    stderr = failure("log", "key", "--url", "127.0.0.1:8000", code=2)
    assert "give the server's base URL, e.g. http://host:8000" in stderr
    # /v1 is dropped (with a note), and the request goes to the base URL.
    stderr = failure("log", "key", "--url", nowhere + "/v1/")
    assert "--url is the server's base URL: using " + nowhere in stderr
    assert f"cannot reach {nowhere}/v1/log/key" in stderr, stderr


# --- one line, never a traceback; JSON with --json ----------------------------------------------


def test_bad_input_never_shows_a_traceback(nowhere: str, tmp_path: Path) -> None:
    key = tmp_path / "a.key"
    write_new_key(key)
    vkey = tmp_path / "log.vkey"
    vkey.write_text(VKEY)
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    samples = [
        ["licence", "show", "", "--key", str(key)],
        ["asset", "show", ""],
        ["party", "show", ""],
        ["asset", "show", ASSET],  # nothing listens: cannot reach
        ["log", "receipt", "abc"],
        ["log", "receipt", "--", "-1"],
        ["verify", "--vkey", "garbage"],
        ["receipt", "verify", str(junk), "--vkey", str(vkey)],
        ["audit", "verify", str(junk), "--vkey", "garbage"],
        ["keygen", "--out", str(key)],
        ["login", "--key", str(vkey)],
        ["party", "register", "--name", "A", "--key", str(junk)],
        ["asset", "certificate", ASSET, "--html", "--json"],
        ["usage", "summary"],
        ["no-such-command"],
        ["offer", "publish", ASSET, "--action", "read", "--purpose", "x", "--term-days", "0"],
    ]
    for args in samples:
        result = run(*args)
        assert result.exit_code != 0, (args, result.output)
        assert isinstance(result.exception, SystemExit), (args, result.exception)
        assert "Traceback" not in result.output, (args, result.output)
        assert result.stderr.strip(), args
        as_json = run("--json", *args)  # the root option (json_failure puts it last)
        assert as_json.exit_code == result.exit_code, (args, as_json.output)
        last = json.loads(as_json.stderr.strip().splitlines()[-1])
        assert set(last["error"]) == {"type", "title", "detail", "status"}, (args, last)


def test_an_unexpected_error_is_one_line(nowhere: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> str:
        raise ValueError("dictionary update sequence element #0 has length 1; 2 is required")

    monkeypatch.setattr(Client, "log_vkey", broken)
    stderr = failure("log", "key", code=1)
    assert stderr.startswith("error: unexpected ValueError: dictionary update") and (
        "DATALEDGER_DEBUG=1" in stderr and len(stderr.strip().splitlines()) == 1
    ), stderr
    assert json_failure("log", "key")["type"] == "internal"
    monkeypatch.setenv("DATALEDGER_DEBUG", "1")  # for developers: the exception itself
    assert isinstance(run("log", "key").exception, ValueError)


def test_every_command_takes_json() -> None:
    lacking = [
        path
        for path, command in _walk(main)
        if not isinstance(command, click.Group)
        and not any("--json" in p.opts for p in command.params if isinstance(p, click.Option))
    ]
    assert lacking == []
    assert any("--json" in p.opts for p in main.params)


# --- against a server ---------------------------------------------------------------------------


def test_against_a_server(server: Server, tmp_path: Path) -> None:  # noqa: F811
    # log key and log checkpoint print JSON with --json.
    key_json = json.loads(run("log", "key", "--json", "--url", server.url).stdout)
    assert key_json["vkey"].startswith(key_json["name"] + "+")
    checkpoint = json.loads(run("log", "checkpoint", "--json", "--url", server.url).stdout)
    assert checkpoint["tree_size"] == 0 and len(checkpoint["root_hash"]) == 64
    assert checkpoint["note"].startswith(checkpoint["origin"] + "\n0\n")

    # --url with the API's /v1 works (with a note); another path is the router's 404, named.
    listed = run("asset", "list", "--url", server.url + "/v1", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)["assets"] == [], listed.output
    assert f"using {server.url}" in listed.stderr
    error = json_failure("asset", "list", "--url", server.url + "/api")
    assert error["type"] == "no-such-endpoint" and error["status"] == 404
    assert "the server's base URL" in error["detail"]

    # A key not registered yet: told to register it, for a login and for a statement.
    key = tmp_path / "new.key"
    write_new_key(key)
    hint = "this key is not registered on this ledger: run `dataledger party register --key"
    for args in (["login"], ["offer", "withdraw", ASSET]):
        full = [*args, "--key", str(key), "--url", server.url]
        assert hint in failure(*full, code=1)
        error = json_failure(*full)
        assert error["type"] == "unknown-key" and error["status"] == 403, error

    # The server's refusals as JSON: its problem code, title, detail and status.
    error = json_failure("asset", "show", ASSET, "--url", server.url)
    assert error == {
        "type": "not-found",
        "title": "Not found",
        "detail": f"no asset {ASSET}",
        "status": 404,
    }
    human = failure("asset", "show", ASSET, "--url", server.url, code=1)
    assert human.strip() == f"error: server refused (not-found): 404 Not found: no asset {ASSET}"


def test_serve_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    """Not uvicorn's exit 3 with the cause in a JSON log line: one plain line, before anything
    is made (no database, no log key)."""
    import socket

    from tests.test_cli import cli

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        data = tmp_path / "data"
        result = cli("serve", "--port", str(port), "--data-dir", str(data), check=False)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: port {port} is already in use (127.0.0.1:{port}: ")
        assert "--port" in lines[0]
        assert not (data / "log-key.json").exists() and not (data / "dataledger.db").exists()
        refused = cli("serve", "--port", str(port), "--data-dir", str(data), "--json", check=False)
        error = json.loads(refused.stderr.strip().splitlines()[-1])["error"]
        assert (refused.returncode, error["type"]) == (1, "port-in-use"), refused.stderr
