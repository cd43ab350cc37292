"""The `dataledger` command line."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import msgspec

import ledger
from api.cli_common import (  # noqa: F401 - re-exported for the command modules and tests
    KEYID,
    PARTY_ID,
    CliError,
    Context,
    LedgerGroup,
    _fail,
    _Printable,
    _run_api,
    common_options,
    json_option,
    printable_output,
    read_vkey,
)
from api.client import DEFAULT_URL
from api.keyfiles import write_new_key
from api.settings import Settings
from ledger import dsse, keys, tlog_proof
from ledger.checkpoint import open_checkpoint
from ledger.errors import EncodingError
from ledger.note import parse_vkey
from ledger.policy import parse_policy
from ledger.privacy import Opening, OpeningError, verify_openings
from ledger.receipts import Receipt, verify_receipt


@click.group(cls=LedgerGroup)
@click.version_option(ledger.__version__, prog_name="dataledger")
@click.option(
    "--url",
    envvar="DATALEDGER_URL",
    help=f"Server base URL, e.g. http://host:8000 (a trailing /v1 is dropped) [default "
    f"{DEFAULT_URL}].",
)
@click.option("--key", envvar="DATALEDGER_KEY", help="Key file to sign with.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Machine-readable JSON output; errors as JSON on stderr.",
)
@click.pass_context
def main(ctx: click.Context, url: str | None, key: str | None, as_json: bool) -> None:
    """dataledger: a data-asset registry and rights ledger on a signed Merkle log.

    Every command takes --json: its result as JSON on stdout, and a failure as
    {"error": {"type", "title", "detail", "status"}} on the last line of stderr (`status`: the
    server's HTTP status, null for a local failure), with a non-zero exit. Without --json a
    failure is one line, `error: ...`. Ids and key files are checked before any request.
    """
    ctx.obj = Context(url, key, as_json)
    # What the server sends is other people's text (titles, names, reasons): it must not
    # reach the terminal as escape sequences, piped or not.
    ctx.with_resource(printable_output())


# --- serve --------------------------------------------------------------------------------------


@main.command()
@click.option("--host", envvar="DATALEDGER_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="DATALEDGER_PORT", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    envvar="DATALEDGER_WORKERS",
    default=1,
    show_default=True,
    type=int,
    help="Server processes sharing the database.",
)
@click.option(
    "--data-dir",
    envvar="DATALEDGER_DATA_DIR",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite database and the generated log key live.",
)
@click.option(
    "--database-url",
    envvar="DATALEDGER_DATABASE_URL",
    default="",
    help="SQLAlchemy URL; default: SQLite file in --data-dir.",
)
@click.option(
    "--log-key-file",
    envvar="DATALEDGER_LOG_KEY_FILE",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The log's signing key; generated (mode 0600) on first start if missing.",
)
@click.option(
    "--origin",
    envvar="DATALEDGER_ORIGIN",
    default="",
    help="The log's origin line in checkpoints; default derived from the log key.",
)
@click.option(
    "--notice-period",
    type=click.IntRange(min=0),
    default=None,
    help="Seconds a new registration stays on public notice "
    "[env DATALEDGER_NOTICE_PERIOD; default 10 days].",
)
@click.option(
    "--certify-interval",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds between the ledger's rounds of certifications (notices that ended) and "
    "licence expiries; 0 turns them off [env DATALEDGER_CERTIFY_INTERVAL; default 5].",
)
@click.option(
    "--witness-policy",
    envvar="DATALEDGER_WITNESS_POLICY",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A C2SP tlog-policy file: push each new checkpoint to the witnesses it lists.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@json_option
@click.pass_obj
def serve(
    obj: Context,
    host: str,
    port: int,
    workers: int,
    data_dir: Path,
    database_url: str,
    log_key_file: Path | None,
    origin: str,
    notice_period: int | None,
    certify_interval: float | None,
    witness_policy: Path | None,
    access_log: bool,
) -> None:
    """Run the HTTP service (SQLite under ./data/ unless told otherwise).

    With --json, what it serves (version, log key, database, URL) is one JSON line on stdout.
    """
    import uvicorn
    from sqlalchemy.engine import make_url

    from api.app import LogKeyMismatch, open_log
    from api.sequencing.supervisor import SequencerFailed, SequencerProcess

    # The other DATALEDGER_* settings (clock skew, body size, ...) come from the environment.
    settings = replace(
        Settings.from_env(),
        data_dir=data_dir,
        database_url=database_url,
        log_key_file=log_key_file,
        origin=origin,
    )
    if notice_period is not None:
        settings = replace(settings, notice_period_seconds=notice_period)
    if certify_interval is not None:
        settings = replace(settings, certify_interval_seconds=certify_interval)
    if witness_policy is not None:
        from ledger.policy import PolicyError, parse_policy

        try:
            parse_policy(witness_policy.read_text(encoding="utf-8"))
        except PolicyError as exc:
            raise CliError(
                f"{witness_policy}: {exc}", type="bad-policy", title="Bad witness policy"
            ) from None
        settings = replace(settings, witness_policy=witness_policy.resolve())
    check_port_free(host, port)  # one plain line, not uvicorn's JSON log line and exit 3
    # Migrate and make the log key once, here, before any worker starts.
    try:
        engine, signer = open_log(settings)
    except LogKeyMismatch as exc:
        raise CliError(str(exc), type="log-key-mismatch", title="Wrong log key") from None
    engine.dispose()
    shown = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    if obj.as_json:
        started = {"version": ledger.__version__, "log_vkey": signer.vkey, "database": shown}
        obj.emit({**started, "url": f"http://{host}:{port}"}, "")
    else:
        click.echo(f"dataledger {ledger.__version__}: log {signer.vkey}", err=True)
        click.echo(f"database {shown}; http://{host}:{port}", err=True)
    # One sequencing process decides and commits; the HTTP workers verify and hand over.
    sequencer = SequencerProcess(settings)
    try:
        sequencer.start()
    except SequencerFailed as exc:
        raise CliError(str(exc), type="sequencer-failed", title="Sequencer failed") from None
    try:
        os.environ.update(replace(settings, sequencer_socket=sequencer.socket_path).to_env())
        os.environ["DATALEDGER_ACCESS_LOG"] = "1" if access_log else "0"
        uvicorn.run(
            "api.app:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http="api.edge:LimitedHttpToolsProtocol",  # header size, count and time limits
            access_log=False,  # the app logs each request itself, as JSON with its request id
            log_config=None,  # structured JSON logs, configured by the app in each worker
            log_level="info",
        )
    finally:
        sequencer.stop()


def check_port_free(host: str, port: int) -> None:
    """Refuse to start if HOST:PORT cannot be listened on (taken, or not ours to take), by
    binding a socket as uvicorn will (SO_REUSEADDR) and letting it go."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(
            f"cannot listen on {host}:{port} ({exc.strerror})", type="bad-address"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
            sock.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} is already in use ({host}:{port}: {exc.strerror}); "
                    "stop what holds it, or give --port",
                    type="port-in-use",
                    title="Port in use",
                ) from None
            raise CliError(
                f"cannot listen on {host}:{port} ({exc.strerror})", type="bad-address"
            ) from None


@main.command()
@click.option(
    "--database-url",
    envvar="DATALEDGER_DATABASE_URL",
    default=None,
    help="SQLAlchemy URL [env DATALEDGER_DATABASE_URL; default: SQLite file in ./data/].",
)
@click.option("--to", "revision", default="head", show_default=True, help="Alembic revision.")
@click.option("--show", is_flag=True, help="Only print the database's revision.")
@json_option
@click.pass_obj
def migrate(obj: Context, database_url: str | None, revision: str, show: bool) -> None:
    """Bring the database's schema up to date (`serve` does this at start too).

    Safe to run while other processes start: one migrates, the others wait for it.
    """
    from sqlalchemy.engine import make_url

    from ledger.storage.engine import make_engine
    from ledger.storage.migrate import current_revision, upgrade

    settings = Settings.from_env()
    url = database_url or settings.resolved_database_url
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        shown = make_url(url).render_as_string(hide_password=True)
        if show:
            obj.emit(
                {"database": shown, "revision": before},
                f"{shown}: revision {before or 'none (empty database)'}",
            )
            return
        upgrade(engine, revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    obj.emit(
        {"database": shown, "revision": after, "previous_revision": before},
        f"{shown}: already at revision {after}"
        if before == after
        else f"{shown}: migrated from {before or 'an empty database'} to revision {after}",
    )


# --- keys and parties ---------------------------------------------------------------------------


@main.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new key file (mode 0600; never overwritten).",
)
@common_options
@click.pass_obj
def keygen(obj: Context, out: Path) -> None:
    """Make a new Ed25519 key; prints its keyid (which is also your party id)."""
    try:
        key = write_new_key(out)
    except FileExistsError:
        _fail(f"{out} exists; refusing to overwrite a key", type="exists", title="File exists")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}", type="io", title="Cannot write")
    kid = keys.keyid_of(key)
    obj.emit({"keyid": kid, "path": str(out)}, kid)


@main.group()
def party() -> None:
    """Parties: register and manage keys."""


@party.command("register")
@click.option("--name", required=True, help="The party's public name.")
@click.option("--email", help="Contact e-mail (kept off the ledger, erasable).")
@click.option("--phone", help="Contact phone (kept off the ledger, erasable).")
@click.option("--address", help="Contact address (kept off the ledger, erasable).")
@common_options
@click.pass_obj
def party_register(
    obj: Context, name: str, email: str | None, phone: str | None, address: str | None
) -> None:
    """Register the party whose key is --key.

    Contact details never go on the ledger: only a salted commitment to them does; the details
    themselves are then stored with the server (after logging in) and can be erased later.
    """
    details = {"email": email, "phone": phone, "address": address}
    has_contact = any(v is not None for v in details.values())

    def action() -> None:
        key = obj.signing_key()
        party_id = keys.keyid_of(key)
        with obj.client() as client:
            if has_contact:
                from api.service import contact_commitment, new_salt

                salt = new_salt()
                receipt = client.register_party(key, name, contact_commitment(salt, details))
                client.verify_receipt(receipt)
                client.login(key)
                client.put_contact(party_id, salt, **details)
            else:
                receipt = client.register_party(key, name)
                client.verify_receipt(receipt)
        obj.emit(
            {"party_id": party_id, "receipt": receipt, "contact_stored": has_contact},
            f"registered party {party_id} at index {receipt.index} (receipt verified)"
            + ("; contact details stored off the ledger" if has_contact else ""),
        )

    _run_api(action)


# --- verification -------------------------------------------------------------------------------


@main.command()
@click.option(
    "--vkey", required=True, help="The log's verifier key (the vkey line), or a file holding it."
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Remember the checkpoint here and check consistency with the last run.",
)
@click.option(
    "--workers", type=int, default=None, help="Processes for signatures (default: all cores)."
)
@click.option(
    "--database-url",
    default=None,
    help="Operators: check this database directly instead of a server, down to every stored "
    "Merkle node and checkpoint, naming the first place that is wrong.",
)
@common_options
@click.pass_obj
def verify(
    obj: Context, vkey: str, state: Path | None, workers: int | None, database_url: str | None
) -> None:
    """Download the whole log and verify it with the log's public key alone."""
    from api.verify import StateFile, verify_log

    vkey_text = Path(vkey).read_text().strip() if os.path.isfile(vkey) else vkey.strip()
    if database_url:
        _verify_database(obj, database_url, parse_vkey(vkey_text))
        return

    def action() -> None:
        verifier = parse_vkey(vkey_text)
        with obj.client(vkey_text) as client:
            size = client.checkpoint().size
            with obj.progressbar(size, "verifying entries") as bar:
                report = verify_log(
                    client,
                    verifier,
                    state=StateFile(state) if state else None,
                    progress=bar.update,
                    workers=workers,
                )
        obj.emit(
            {
                "ok": True,
                "origin": report.checkpoint.origin,
                "tree_size": report.checkpoint.size,
                "root_hash": report.checkpoint.root_hash.hex(),
                "previous_size": report.previous_size,
            },
            f"OK: {report.entries} entries verified; root {report.checkpoint.root_hash.hex()}"
            + (
                f"; consistent with the saved checkpoint of size {report.previous_size}"
                if report.previous_size is not None
                else ""
            ),
        )

    _run_api(action)


def _verify_database(obj: Context, database_url: str, verifier: Any) -> None:
    from ledger.storage.engine import make_engine
    from ledger.storage.integrity import check_database

    def action() -> None:
        engine = make_engine(database_url)
        with obj.progressbar(0, "checking the database") as bar:
            size = check_database(engine, verifier, progress=bar.update)
        engine.dispose()
        obj.emit(
            {"ok": True, "tree_size": size},
            f"OK: {size} entries, every stored Merkle node, checkpoint and opening match",
        )

    _run_api(action)


@main.group("log")
def log_group() -> None:
    """Read the log: key, checkpoint, receipts."""


@log_group.command("key")
@common_options
@click.pass_obj
def log_key(obj: Context) -> None:
    """Print the log's verifier key (pin it for `verify`)."""

    def action() -> None:
        with obj.client() as client:
            vkey = client.log_vkey()
        name = parse_vkey(vkey).name  # a server that answers something else is caught here
        obj.emit({"vkey": vkey, "name": name}, vkey)

    _run_api(action)


@log_group.command("checkpoint")
@common_options
@click.pass_obj
def log_checkpoint(obj: Context) -> None:
    """Print the newest checkpoint (a signed note). With --json: its origin, size and root hash,
    its signature checked against the log key (DATALEDGER_VKEY, else the one the server shows),
    and the note itself."""

    def action() -> None:
        with obj.client() as client:
            note = client.checkpoint_note()
            if not obj.as_json:
                click.echo(note, nl=False)
                return
            checkpoint, _ = open_checkpoint(note, client.verifier())
        obj.emit(
            {
                "origin": checkpoint.origin,
                "tree_size": checkpoint.size,
                "root_hash": checkpoint.root_hash.hex(),
                "note": note,
            },
            note,
        )

    _run_api(action)


@log_group.command("receipt")
@click.argument("index", type=click.IntRange(min=0))
@common_options
@click.pass_obj
def log_receipt(obj: Context, index: int) -> None:
    """Fetch and verify the receipt of entry INDEX."""

    def action() -> None:
        with obj.client() as client:
            receipt = client.receipt(index)
            client.verify_receipt(receipt)
        obj.emit(receipt, json.dumps(msgspec.to_builtins(receipt), indent=2))

    _run_api(action)


@log_group.command("tlog-proof")
@click.argument("index", type=click.IntRange(min=0))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to FILE (by convention NAME.tlog-proof) instead of standard output.",
)
@common_options
@click.pass_obj
def log_tlog_proof(obj: Context, index: int, out: Path | None) -> None:
    """Fetch entry INDEX's c2sp.org/tlog-proof, checked against the pinned log key first."""

    def action() -> None:
        with obj.client() as client:
            text = client.get_text(f"/v1/log/entries/{index}/tlog-proof")
            proof = tlog_proof.parse_tlog_proof(text)
            checkpoint = tlog_proof.verify_tlog_proof(proof, [client.verifier()])
        if out is not None:
            out.write_text(text, encoding="utf-8")
        summary = {"index": index, "tree_size": checkpoint.size, "file": str(out) if out else None}
        if obj.as_json:
            obj.emit({**summary, "tlog_proof": text}, "")
        elif out is not None:
            click.echo(
                f"tlog-proof of entry {index} (tree size {checkpoint.size}) written to {out}"
            )
        else:
            click.echo(text, nl=False)

    _run_api(action)


@log_group.command("openings")
@click.argument("index", type=click.IntRange(min=0))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write them to FILE, for `dataledger receipt verify --opening FILE`.",
)
@common_options
@click.pass_obj
def log_openings(obj: Context, index: int, out: Path | None) -> None:
    """Fetch the openings of entry INDEX's private fields (log in with --key: its parties and
    regulators only), each checked against the entry's commitment before it is printed."""

    def action() -> None:
        with obj.client() as client:
            obj.login(client)
            body = client.get_json(f"/v1/log/entries/{index}/openings")
            receipt = client.receipt(index)
            entry = client.verify_receipt(receipt)
        openings = msgspec.convert(body["openings"], dict[str, Opening])
        verify_openings(dsse.payload_bytes(entry.envelope), index, openings)
        if out is not None:
            out.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        lines = [
            f"{name}: {json.dumps(o['value'], ensure_ascii=False)}"
            for name, o in sorted(body["openings"].items())
        ]
        lines += [f"{name}: (erased)" for name in body["erased"]]
        obj.emit(body, "\n".join(lines) or "this entry has no private fields")

    _run_api(action)


def _openings_file(path: Path) -> dict[str, Opening]:
    """Openings saved by `log openings --out` ({"openings": {...}}) or a bare {field: opening}."""
    try:
        body = json.loads(path.read_text())
        if isinstance(body, dict) and isinstance(body.get("openings"), dict):
            body = body["openings"]
        return msgspec.convert(body, dict[str, Opening])
    except (OSError, ValueError, msgspec.ValidationError) as exc:
        raise OpeningError("opening-invalid", f"{path} holds no openings: {exc}") from exc


@main.group("receipt")
def receipt_group() -> None:
    """Receipts, checked offline."""


@receipt_group.command("verify")
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vkey", required=True, help="The log's verifier key you trust (line or file).")
@click.option(
    "--opening",
    "opening_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of openings (`log openings --out`, or the `openings` a write returned) to "
    "check against the entry's commitments; repeatable.",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For a .tlog-proof: a C2SP tlog-policy whose witness quorum the checkpoint must meet.",
)
@click.option(
    "--entry",
    "entry_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For a .tlog-proof: the entry's bytes (default: the proof's extra line).",
)
@common_options
@click.pass_obj
def receipt_verify(
    obj: Context,
    receipt_file: Path,
    vkey: str,
    opening_files: tuple[Path, ...],
    policy_file: Path | None,
    entry_file: Path | None,
) -> None:
    """Verify a saved receipt, or a c2sp.org/tlog-proof file, with the log's key alone (and a
    witness policy), and any openings against it."""

    def action() -> None:
        raw = receipt_file.read_bytes()
        log_key = parse_vkey(read_vkey(vkey) or "")
        if raw.startswith(tlog_proof.HEADER.encode()):
            policy = parse_policy(policy_file.read_text(encoding="utf-8")) if policy_file else None
            proof = tlog_proof.parse_tlog_proof(raw.decode("utf-8"))
            data = entry_file.read_bytes() if entry_file else None
            checkpoint = tlog_proof.verify_tlog_proof(proof, [log_key], entry=data, policy=policy)
            cosigners = sorted(policy.cosigners(proof.checkpoint_note)) if policy else []
            obj.emit(
                {
                    "index": proof.index,
                    "tree_size": checkpoint.size,
                    "verified": True,
                    "cosigners": cosigners,
                },
                f"tlog-proof for entry {proof.index} in the tree of {checkpoint.size}: verified"
                + (f"; witnessed by {', '.join(cosigners)} (quorum met)" if policy else ""),
            )
            return
        if policy_file or entry_file:
            raise click.UsageError("--policy and --entry are for .tlog-proof files")
        try:
            receipt = msgspec.json.decode(raw, type=Receipt)
        except msgspec.DecodeError as exc:
            raise EncodingError(f"{receipt_file} is not a receipt: {exc}") from exc
        entry, _ = verify_receipt(receipt, log_key)
        payload = dsse.payload_bytes(entry.envelope)
        opened: dict[str, Any] = {}
        for path in opening_files:
            openings = _openings_file(path)
            verify_openings(payload, entry.index, openings)
            opened.update((name, o.value) for name, o in openings.items())
        summary = {"index": entry.index, "verified": True, "opened": opened}
        human = f"receipt for entry {entry.index}: verified with the pinned log key"
        human += "".join(
            f"\n{name}: {json.dumps(value, ensure_ascii=False)} (opens its commitment)"
            for name, value in sorted(opened.items())
        )
        obj.emit(summary, human)

    _run_api(action)


# --- demo ---------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--seed",
    type=int,
    help="The same seed tells the same story (keys, data, amounts); "
    "default: a random one, printed.",
)
@click.option(
    "--url",
    "demo_url",
    metavar="URL",
    help="Drive this running server instead of starting one (DATALEDGER_URL alone does not).",
)
@click.option(
    "--operator-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --url: the server's log key file [default: as the server finds it, "
    "./data/log-key.json].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo's server keeps its database and log key, and the demo its keys and "
    "files; kept afterwards [default: a new temporary directory].",
)
@click.option(
    "--json", "demo_json", is_flag=True, help="A JSON summary on stdout; the story on stderr."
)
@click.pass_context
def demo(
    ctx: click.Context,
    seed: int | None,
    demo_url: str | None,
    operator_key: Path | None,
    data_dir: Path | None,
    demo_json: bool,
) -> None:
    """Walk a realistic story on a ledger, narrating each step with its entry's index.

    Five parties register; three assets go through public notice (an objection, its
    resolution) and certification; a right moves; offers, licences (one refused for lack of a
    lawful basis, one exclusive), usage and payments follow; then a valuation quote, a deal the
    audit detectors flag, a freeze, a witness cosignature and an offline verification.
    """
    from api.demo import DemoOptions, run_demo

    obj = ctx.find_object(Context)
    group_url = None
    if ctx.parent is not None and (
        ctx.parent.get_parameter_source("url") is click.core.ParameterSource.COMMANDLINE
    ):
        group_url = obj.url if obj else None
    options = DemoOptions(
        seed=seed,
        url=demo_url or group_url,
        operator_key=operator_key,
        data_dir=data_dir,
        as_json=demo_json or bool(obj and obj.as_json),
    )
    _run_api(lambda: run_demo(options))


# The registry commands (parties, operator, assets, objections, conflicts, rights, login) live in
# api/cli_registry.py, which attaches them to `main` and `party` above.
import api.cli_audit  # noqa: E402
import api.cli_market  # noqa: E402
import api.cli_registry  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    # Run as `python -m api.cli`, this file is `__main__`; the commands were attached to the
    # importable `api.cli`, so run that one.
    from api.cli import main as _main

    _main()
