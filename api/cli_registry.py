"""The registry commands of the `dataledger` CLI: parties, operator, assets, objections, conflicts,
rights and login. Attached to the main group by `api.cli` (which imports this module)."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import msgspec

from api.cli import main, party
from api.cli_common import (
    ASSET_ID,
    FINGERPRINT,
    KEYID,
    OBJECTION_ID,
    PARTY_ID,
    TRANSFER_ID,
    CliError,
    Context,
    _run_api,
    common_options,
    load_key,
    read_vkey,
)
from api.client import Client, Submitted
from ledger import keys
from ledger.encoding import b64encode
from ledger.entries import Entry
from ledger.errors import VerificationError
from ledger.money import parse_money
from ledger.names import party_label
from ledger.receipts import Receipt
from ledger.statements import SchemaField

CHUNK = 1 << 20  # files are hashed 1 MiB at a time, never read whole
MAX_MINOR = 2**63 - 1
DEFAULT_OPERATOR_KEY = Path("data") / "log-key.json"  # the server's default data dir
RIGHTS = ("holding", "processing", "operation")
RIGHT_NAMES = {"holding": "holding", "processing": "processing/use", "operation": "operation"}


# --- local helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileDigest:
    fingerprint: str  # hex SHA-256
    size: int
    lines: int
    binary: bool  # saw a NUL byte: lines mean nothing


def digest_file(path: Path) -> FileDigest:
    """Stream `path` through SHA-256 (1 MiB chunks); count lines on the way."""
    sha = hashlib.sha256()
    size = lines = 0
    binary = False
    last = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                sha.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
                binary = binary or b"\0" in chunk
                last = chunk[-1:]
    except OSError as exc:
        raise click.FileError(str(path), hint=exc.strerror or str(exc)) from exc
    if size and last != b"\n":
        lines += 1  # an unterminated last line
    return FileDigest(sha.hexdigest(), size, lines, binary)


CSV_DIALECTS = {".csv": ",", ".tsv": "\t"}


def data_problem(path: Path, digest: FileDigest) -> str | None:
    """Why `path` looks like no data: empty, or (for .csv/.tsv) not parseable as such by the
    csv module in strict mode (an unclosed quote, stray characters after a quote) or ragged
    (rows whose number of fields differs from the first row's). None if it looks fine."""
    if digest.size == 0:
        return f"{path} is empty (0 bytes)"
    delimiter = CSV_DIALECTS.get(path.suffix.lower())
    if delimiter is None or digest.binary:
        return None
    width: int | None = None
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for row in reader:
                if not row:
                    continue  # a blank line
                if width is None:
                    width = len(row)
                elif len(row) != width:
                    return (
                        f"{path} is not a well-formed CSV: line {reader.line_num} has "
                        f"{len(row)} fields, the first row {width}"
                    )
    except csv.Error as exc:
        return f"{path} is not a well-formed CSV: line {reader.line_num}: {exc}"
    except OSError as exc:
        raise click.FileError(str(path), hint=exc.strerror or str(exc)) from exc
    return None


def check_data(obj: Context, path: Path, digest: FileDigest, force: bool) -> None:
    """Refuse an empty or malformed data file unless --force (then only warn, on stderr)."""
    problem = data_problem(path, digest)
    if problem is None:
        return
    if not force:
        raise CliError(
            f"{problem}; give --force to register it anyway",
            type="bad-data-file",
            title="Suspicious data file",
        )
    obj.note(f"warning: {problem}; registering it anyway (--force)")


FORCE_HELP = (
    "Register even an empty file, or a .csv/.tsv that the csv module (strict mode) cannot parse "
    "or whose rows have differing numbers of fields."
)


def record_count(digest: FileDigest, records: int | None, path: Path) -> int:
    if records is not None:
        return records
    if digest.binary:
        raise click.UsageError(f"{path} looks binary: give its record count with --records N")
    return digest.lines


def minor_units(amount: str, currency: str | None = None) -> int:
    """'1250.00' -> 125000, exactly (`ledger.money.parse_money`): refuses more decimals than the
    currency's minor unit has (2 for CNY, 0 for JPY) and negatives."""
    try:
        minor = parse_money(amount, currency)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if minor > MAX_MINOR:
        raise click.BadParameter(f"{amount!r} is too large")
    return minor


def parse_quality(text: str) -> dict[str, int]:
    names = ("completeness", "accuracy", "consistency", "timeliness")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 100 for p in parts):
        raise click.BadParameter(
            "give four integers 0..100: completeness,accuracy,consistency,"
            "timeliness (e.g. 90,95,85,80)"
        )
    return dict(zip(names, map(int, parts), strict=True))


def read_schema(path: Path | None) -> list[dict[str, Any]] | None:
    """A JSON list of fields: [{"name": ..., "type": ..., "description": ...}, ...]."""
    if path is None:
        return None
    try:
        fields = msgspec.convert(json.loads(path.read_text(encoding="utf-8")), list[SchemaField])
    except (ValueError, msgspec.ValidationError) as exc:
        raise click.BadParameter(f"{path}: not a list of schema fields: {exc}") from None
    return [msgspec.to_builtins(f) for f in fields]


def submit(
    client: Client, key: Any, kind: str, path: str = "/v1/statements", **fields: Any
) -> Submitted:
    """Sign and submit a statement; verify its receipt offline before reporting success."""
    done = client.sign_and_submit(key, kind, path, **fields)
    client.verify_receipt(done.receipt)
    return done


def describe(data: dict[str, Any], fields: str) -> str:
    """Aligned `field: value` lines for the space-separated `fields`, skipping empty values."""
    shown = [(f, data[f]) for f in fields.split() if data.get(f) not in (None, "")]
    width = max((len(f) for f, _ in shown), default=0)
    return "\n".join(
        f"{f + ':':<{width + 1}} {v if isinstance(v, str | int) else json.dumps(v)}"
        for f, v in shown
    )


def label_of(found: dict[str, Any]) -> str:
    """A party as GET /v1/parties/{id} describes it, the way the CLI shows every party."""
    return party_label(
        found.get("name"),
        found.get("roles", []),
        str(found["party_id"]),
        name_shared=bool(found.get("name_shared")),
    )


def statement_of(entry: Entry) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(base64.b64decode(entry.envelope.payload))
    return payload


def submitted(obj: Context, what: str, done: Submitted, human: str) -> None:
    """Report a write: its id and receipt, and the openings of its private fields (keep them:
    `dataledger receipt verify --opening` checks them against the logged commitments)."""
    obj.emit({what: done.id, "receipt": done.receipt, "openings": done.openings}, human)


# --- parties ------------------------------------------------------------------------------------


@party.command("show")
@click.argument("party_id", type=PARTY_ID)
@common_options
@click.pass_obj
def party_show(obj: Context, party_id: str) -> None:
    """Show a party: name, keys, roles; its contact details too when --key may read them."""

    def action() -> None:
        with obj.client() as client:
            if obj.key_path:
                obj.login(client)
            found = client.party(party_id)
        # Never the name alone (issue 16): another party may bear it.
        shown = {**found, "party": label_of(found)}
        lines = [describe(shown, "party party_id registered_index registered_at")]
        lines.append(f"roles: {', '.join(found['roles']) or '-'}")
        for k in found["keys"]:
            state = f"revoked at {k['revoked_index']}" if k["revoked_index"] is not None else "live"
            lines.append(f"key {k['keyid']} (added at {k['added_index']}, {state})")
        if found.get("contact_commitment"):
            lines.append(f"contact commitment: {found['contact_commitment']}")
        if found.get("contact"):
            lines.append(describe(found["contact"], "email phone address"))
        obj.emit(found, "\n".join(lines))

    _run_api(action)


@party.command("rotate-key")
@click.option(
    "--new-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Key file of the new key (make it with `dataledger keygen`).",
)
@common_options
@click.pass_obj
def party_rotate_key(obj: Context, new_key: Path) -> None:
    """Replace your signing key (--key, the current one) by --new-key; the old key stops working."""

    def action() -> None:
        key = obj.signing_key()
        replacement = load_key(new_key)
        new_public = b64encode(keys.public_key_bytes(replacement))
        with obj.client() as client:
            done = submit(client, key, "party.rotate_key", new_public_key=new_public)
        kid = keys.keyid_of(replacement)
        obj.emit(
            {"keyid": kid, "receipt": done.receipt, "openings": done.openings},
            f"rotated to key {kid} at index {done.receipt.index}; sign with {new_key} from now on",
        )

    _run_api(action)


@party.command("revoke-key")
@click.argument("keyid", type=KEYID)
@click.option("--reason", default="", help="Why (e.g. compromised).")
@common_options
@click.pass_obj
def party_revoke_key(obj: Context, keyid: str, reason: str) -> None:
    """Revoke one of your keys, KEYID (signed with --key). Earlier signatures stay valid."""

    def action() -> None:
        with obj.client() as client:
            done = submit(client, obj.signing_key(), "party.revoke_key", keyid=keyid, reason=reason)
        obj.emit(
            {"keyid": keyid, "receipt": done.receipt, "openings": done.openings},
            f"revoked key {keyid} at index {done.receipt.index}",
        )

    _run_api(action)


@party.command("erase-contact")
@click.argument("party_id", required=False, type=PARTY_ID)
@common_options
@click.pass_obj
def party_erase_contact(obj: Context, party_id: str | None) -> None:
    """Erase stored contact details for good (default: your own; logs in with --key first)."""

    def action() -> None:
        with obj.client() as client:
            who = obj.login(client)
            target = party_id or str(who["party_id"])
            client.erase_contact(target)
        obj.emit({"party_id": target, "erased": True}, f"erased contact details of {target}")

    _run_api(action)


# --- operator -----------------------------------------------------------------------------------


@main.group()
def operator() -> None:
    """Operator actions, signed with the server's log key."""


def _operator_role(obj: Context, operator_key: Path, kind: str, party_id: str, role: str) -> None:
    def action() -> None:
        if not operator_key.exists():
            raise CliError(
                f"no operator key at {operator_key}: run this on the server's machine from its "
                "working directory, or give --operator-key FILE",
                type="key-file",
                title="Not a key file",
                exit_code=2,
            )
        key = load_key(operator_key, "operator key file")
        with obj.client() as client:
            done = submit(client, key, kind, party_id=party_id, role=role)
        verb = "granted" if kind == "role.grant" else "revoked"
        obj.emit(
            {
                "party_id": party_id,
                "role": role,
                "receipt": done.receipt,
                "openings": done.openings,
            },
            f"{verb} role {role} {'to' if verb == 'granted' else 'from'} {party_id} "
            f"at index {done.receipt.index}",
        )

    _run_api(action)


def _role_options(command: Any) -> Any:
    command = click.option(
        "--operator-key",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_OPERATOR_KEY,
        show_default=True,
        help="The server's log key file.",
    )(command)
    command = click.option(
        "--role", required=True, type=click.Choice(["regulator", "witness"]), help="The role."
    )(command)
    return click.option(
        "--party", "party_id", required=True, type=PARTY_ID, help="The party's id."
    )(command)


@operator.command("grant-role")
@_role_options
@common_options
@click.pass_obj
def operator_grant_role(obj: Context, party_id: str, role: str, operator_key: Path) -> None:
    """Grant a party a role (regulator or witness)."""
    _operator_role(obj, operator_key, "role.grant", party_id, role)


@operator.command("revoke-role")
@_role_options
@common_options
@click.pass_obj
def operator_revoke_role(obj: Context, party_id: str, role: str, operator_key: Path) -> None:
    """Withdraw a role from a party."""
    _operator_role(obj, operator_key, "role.revoke", party_id, role)


# --- assets -------------------------------------------------------------------------------------


@main.group()
def asset() -> None:
    """Data assets: register by fingerprint, version, look up, object."""


DATA_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
RECORDS_HELP = (
    "Number of records. Default: the number of lines of the file, a CSV's header line included "
    "(so give --records N to count data rows only); an unterminated last line counts, an empty "
    "file has 0; required for binary files (those containing a NUL byte)."
)


@asset.command("register")
@click.option(
    "--file",
    "file",
    required=True,
    type=DATA_FILE,
    help="The data (hashed locally, never uploaded).",
)
@click.option("--title", required=True, help="Public title.")
@click.option("--description", default="", help="Public description.")
@click.option("--category", required=True, help="Category, e.g. finance.credit (a-z0-9_.-).")
@click.option(
    "--classification", required=True, type=click.Choice(["general", "important", "core"])
)
@click.option(
    "--personal-info",
    required=True,
    type=click.Choice(["none", "anonymized", "personal", "sensitive_personal"]),
)
@click.option("--records", type=click.IntRange(min=0), help=RECORDS_HELP)
@click.option(
    "--derived-from",
    multiple=True,
    type=ASSET_ID,
    help="Id of an asset this one derives from (repeat).",
)
@click.option(
    "--declared-cost", help="What the data cost to make, e.g. 1250.00 (at most 2 decimals)."
)
@click.option("--currency", default="CNY", show_default=True, help="ISO 4217 code of the cost.")
@click.option(
    "--schema",
    type=DATA_FILE,
    help='JSON file: [{"name": ..., "type": ..., "description": ...}, ...] (private).',
)
@click.option(
    "--quality",
    help="Self-assessed completeness,accuracy,consistency,timeliness, each 0..100 (private).",
)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@common_options
@click.pass_obj
def asset_register(
    obj: Context,
    file: Path,
    title: str,
    description: str,
    category: str,
    classification: str,
    personal_info: str,
    records: int | None,
    derived_from: tuple[str, ...],
    declared_cost: str | None,
    currency: str,
    schema: Path | None,
    quality: str | None,
    force: bool,
) -> None:
    """Register a data asset by fingerprint (SHA-256 of --file); prints the asset id.

    The file stays where it is: the CLI streams it through SHA-256 and sends only the
    fingerprint, size and record count. The record count is the file's number of lines unless
    --records says otherwise: a CSV's header line counts as a record. An empty file, or a
    .csv/.tsv the csv module cannot parse strictly or with ragged rows, is refused unless
    --force. Cost, quality and schema are visible to the owner and regulators only.
    """
    fields: dict[str, Any] = {
        "title": title,
        "description": description,
        "category": category,
        "classification": classification,
        "personal_info": personal_info,
        "derived_from": list(derived_from),
    }
    if declared_cost is not None:
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise click.BadParameter("an ISO 4217 code such as CNY", param_hint="--currency")
        try:
            amount = minor_units(declared_cost, currency)
        except click.BadParameter as exc:
            exc.param_hint = "--declared-cost"
            raise
        fields["declared_cost"] = {"amount_minor": amount, "currency": currency}
    if quality is not None:
        fields["quality"] = parse_quality(quality)
    fields["schema"] = read_schema(schema)
    digest = digest_file(file)
    check_data(obj, file, digest, force)
    fields.update(
        fingerprint=digest.fingerprint,
        size_bytes=digest.size,
        record_count=record_count(digest, records, file),
    )

    def action() -> None:
        with obj.client() as client:
            done = client.register_asset(obj.signing_key(), **fields)
            client.verify_receipt(done.receipt)
        obj.emit(
            {
                "asset_id": done.id,
                "fingerprint": digest.fingerprint,
                "receipt": done.receipt,
                "openings": done.openings,
            },
            done.id,
        )

    _run_api(action)


@asset.command("version")
@click.argument("asset_id", type=ASSET_ID)
@click.option("--file", "file", required=True, type=DATA_FILE, help="The new content.")
@click.option("--records", type=click.IntRange(min=0), help=RECORDS_HELP)
@click.option("--note", default="", help="What changed.")
@click.option("--schema", type=DATA_FILE, help="JSON schema fields of the new version.")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@common_options
@click.pass_obj
def asset_version(
    obj: Context,
    asset_id: str,
    file: Path,
    records: int | None,
    note: str,
    schema: Path | None,
    force: bool,
) -> None:
    """Record a new version (new content) of ASSET_ID; needs the holding right.

    The file is checked as by `asset register` (empty or malformed CSV: refused unless --force).
    """
    digest = digest_file(file)
    check_data(obj, file, digest, force)
    fields: dict[str, Any] = {
        "asset_id": asset_id,
        "fingerprint": digest.fingerprint,
        "size_bytes": digest.size,
        "record_count": record_count(digest, records, file),
        "schema": read_schema(schema),
        "note": note,
    }

    def action() -> None:
        with obj.client() as client:
            done = submit(client, obj.signing_key(), "asset.version", **fields)
        obj.emit(
            {
                "asset_id": asset_id,
                "fingerprint": digest.fingerprint,
                "receipt": done.receipt,
                "openings": done.openings,
            },
            f"new version of {asset_id} ({digest.fingerprint}) at index {done.receipt.index}",
        )

    _run_api(action)


ASSET_FIELDS = (
    "asset_id title description owner_id status status_reason conflict frozen "
    "category classification personal_info fingerprint size_bytes record_count "
    "version registered_index registered_at notice_ends_at certified_index "
    "open_objections derived_from unconfirmed_derived_from derived_into "
    "unconfirmed_derived_into declared_cost_minor "
    "declared_cost_currency quality quality_score schema"
)
CERTIFICATE_FIELDS = (
    "asset_id title owner owner_id fingerprint version registered_index certified_index"
)
OBJECTION_FIELDS = (
    "objection_id asset_id objector_id grounds evidence_fingerprint status reason filed_index "
    "filed_at resolved_index"
)
CONFLICT_FIELDS = (
    "fingerprint status asset_ids rightful_asset_id reason opened_index resolved_index"
)


@asset.command("show")
@click.argument("asset_id", type=ASSET_ID)
@common_options
@click.pass_obj
def asset_show(obj: Context, asset_id: str) -> None:
    """Show an asset; with --key (its owner or a regulator) the private fields too."""

    def action() -> None:
        with obj.client() as client:
            if obj.key_path:
                obj.login(client)
            found = client.asset(asset_id)
        obj.emit(found, describe(found, ASSET_FIELDS))

    _run_api(action)


@asset.command("list")
@click.option("--q", help="Text to find in titles and descriptions.")
@click.option("--category")
@click.option("--classification", type=click.Choice(["general", "important", "core"]))
@click.option("--owner", type=PARTY_ID, help="Owner's party id.")
@click.option("--status", type=click.Choice(["on_notice", "certified", "rejected", "frozen"]))
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--cursor", type=click.IntRange(min=0), help="From a previous page's next cursor.")
@common_options
@click.pass_obj
def asset_list(
    obj: Context,
    q: str | None,
    category: str | None,
    classification: str | None,
    owner: str | None,
    status: str | None,
    limit: int,
    cursor: int | None,
) -> None:
    """Search the catalog, newest first."""

    def action() -> None:
        with obj.client() as client:
            page = client.assets(
                q=q,
                category=category,
                classification=classification,
                owner=owner,
                status=status,
                limit=limit,
                cursor=cursor,
            )
        lines = [
            f"{a['asset_id']}  {a['status']:<9}  {a['classification']:<9}  {a['category']}  "
            f"{a['title']}"
            for a in page["assets"]
        ]
        if page.get("next_cursor") is not None:
            lines.append(f"(more: --cursor {page['next_cursor']})")
        obj.emit(page, "\n".join(lines) or "no assets")

    _run_api(action)


VKEY_OPTION = click.option(
    "--vkey",
    help="Pin the log's verifier key (the line, or a file); default: the one the server shows.",
)


def _verifier_note(client: Client, pinned: bool) -> str:
    name = client.verifier().name
    return f"log key {name} ({'pinned' if pinned else 'as served; pin it with --vkey'})"


@asset.command("history")
@click.argument("asset_id", type=ASSET_ID)
@VKEY_OPTION
@common_options
@click.pass_obj
def asset_history(obj: Context, asset_id: str, vkey: str | None) -> None:
    """Every entry about an asset, each receipt verified offline with the log key."""
    pinned = read_vkey(vkey)

    def action() -> None:
        with obj.client(pinned) as client:
            receipts = client.asset_history(asset_id)
            rows = []
            for receipt in receipts:
                entry = client.verify_receipt(receipt)
                statement = statement_of(entry)
                rows.append(
                    {
                        "index": entry.index,
                        "integrated_at": entry.integrated_at,
                        "kind": statement["kind"],
                        "signer": entry.envelope.signatures[0].keyid,
                        "statement": statement,
                        "receipt": receipt,
                    }
                )
            note = _verifier_note(client, pinned is not None)
        human = [
            f"{r['index']:>6}  {r['integrated_at']}  {r['kind']:<18} by {r['signer']}" for r in rows
        ]
        human.append(f"all {len(rows)} receipts verified offline against {note}")
        obj.emit({"asset_id": asset_id, "verified": True, "entries": rows}, "\n".join(human))

    _run_api(action)


@asset.command("certificate")
@click.argument("asset_id", type=ASSET_ID)
@click.option("--html", "as_html", is_flag=True, help="Print the printable HTML page instead.")
@VKEY_OPTION
@common_options
@click.pass_obj
def asset_certificate(obj: Context, asset_id: str, as_html: bool, vkey: str | None) -> None:
    """Fetch an asset's certificate and verify the receipt inside it offline."""
    if as_html and obj.as_json:
        raise click.UsageError("give --html or --json, not both")
    pinned = read_vkey(vkey)

    def action() -> None:
        with obj.client(pinned) as client:
            cert = client.certificate(asset_id)
            receipt = msgspec.convert(cert["receipt"], Receipt)
            entry = client.verify_receipt(receipt)
            statement = statement_of(entry)
            if (
                entry.index != cert["certified_index"]
                or statement.get("kind") != "asset.certify"
                or statement.get("asset_id") != asset_id
            ):
                raise VerificationError(
                    f"the certificate's receipt (entry {entry.index}) is not the certification "
                    f"of {asset_id}"
                )
            if cert["log_key"] != client.verifier().vkey:
                raise VerificationError("the certificate names a different log key")
            note = _verifier_note(client, pinned is not None)
            page = client.certificate_html(asset_id) if as_html else None
        if page is not None:
            click.echo(page, nl=False)
            obj.note(f"certificate receipt verified against {note}")
            return
        holders = [f"{RIGHT_NAMES[h['right']]} right: {h['holder_id']}" for h in cert["holders"]]
        owner = party_label(
            cert["owner_name"],
            cert.get("owner_roles", []),
            cert["owner_id"],
            name_shared=bool(cert.get("owner_name_shared")),
        )
        human = [
            describe({**cert, "owner": owner}, CERTIFICATE_FIELDS),
            *holders,
            f"certificate receipt (entry {entry.index}) verified offline against {note}",
        ]
        obj.emit({**cert, "verified": True}, "\n".join(human))

    _run_api(action)


@asset.command("object")
@click.argument("asset_id", type=ASSET_ID)
@click.option(
    "--grounds", required=True, help="Why the registration should not stand (20+ characters)."
)
@click.option(
    "--evidence",
    type=DATA_FILE,
    required=True,
    help="Evidence file (only its SHA-256 is sent; keep the file).",
)
@common_options
@click.pass_obj
def asset_object(obj: Context, asset_id: str, grounds: str, evidence: Path) -> None:
    """Object to a registration while it is on public notice; prints the objection id."""
    fields: dict[str, Any] = {
        "asset_id": asset_id,
        "grounds": grounds,
        "evidence_fingerprint": digest_file(evidence).fingerprint,
    }

    def action() -> None:
        with obj.client() as client:
            done = submit(client, obj.signing_key(), "asset.object", **fields)
        submitted(obj, "objection_id", done, done.id)

    _run_api(action)


@asset.command("confirm-lineage")
@click.argument("asset_id", type=ASSET_ID)
@click.argument("parent_id", type=ASSET_ID)
@common_options
@click.pass_obj
def asset_confirm_lineage(obj: Context, asset_id: str, parent_id: str) -> None:
    """Accept that ASSET_ID is derived from PARENT_ID (--key is the parent's owner, the holder
    of its holding right): until then the link shows as unconfirmed."""

    def action() -> None:
        with obj.client() as client:
            done = submit(
                client, obj.signing_key(), "lineage.confirm", asset_id=asset_id, parent_id=parent_id
            )
        obj.emit(
            {"asset_id": asset_id, "parent_id": parent_id, "receipt": done.receipt},
            f"confirmed that {asset_id} is derived from {parent_id} at index {done.receipt.index}",
        )

    _run_api(action)


# --- objections and conflicts (regulators) ------------------------------------------------------


@main.group()
def objection() -> None:
    """Objections to registrations."""


@objection.command("show")
@click.argument("objection_id", type=OBJECTION_ID)
@common_options
@click.pass_obj
def objection_show(obj: Context, objection_id: str) -> None:
    """Show an objection and its outcome (its grounds and evidence are private: log in with
    --key as the objector, the asset's owner or a regulator to see them)."""

    def action() -> None:
        with obj.client() as client:
            if obj.key_path:
                obj.login(client)
            found = client.objection(objection_id)
        obj.emit(found, describe(found, OBJECTION_FIELDS))

    _run_api(action)


@objection.command("resolve")
@click.argument("objection_id", type=OBJECTION_ID)
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(["upheld", "dismissed"]),
    help="upheld rejects the registration.",
)
@click.option(
    "--reason", required=True, help="The decision's reasons (for the objector and the owner)."
)
@common_options
@click.pass_obj
def objection_resolve(obj: Context, objection_id: str, outcome: str, reason: str) -> None:
    """Decide an objection (a regulator's --key)."""

    def action() -> None:
        with obj.client() as client:
            done = submit(
                client,
                obj.signing_key(),
                "objection.resolve",
                objection_id=objection_id,
                outcome=outcome,
                reason=reason,
            )
        submitted(
            obj,
            "objection_id",
            done,
            f"objection {objection_id} {outcome} at index {done.receipt.index}",
        )

    _run_api(action)


@objection.command("dismiss")
@click.argument("objection_ids", nargs=-1, required=True, type=OBJECTION_ID)
@click.option("--reason", required=True, help="Why they are dismissed (one reason for all).")
@common_options
@click.pass_obj
def objection_dismiss(obj: Context, objection_ids: tuple[str, ...], reason: str) -> None:
    """Dismiss a run of open objections at once, all or none (a regulator's --key)."""

    def action() -> None:
        with obj.client() as client:
            done = submit(
                client,
                obj.signing_key(),
                "objections.dismiss",
                objection_ids=list(objection_ids),
                reason=reason,
            )
        submitted(
            obj,
            "statement_id",
            done,
            f"{len(objection_ids)} objections dismissed at index {done.receipt.index}",
        )

    _run_api(action)


@main.group()
def conflict() -> None:
    """Conflicting claims on one fingerprint."""


@conflict.command("show")
@click.argument("fingerprint", type=FINGERPRINT)
@common_options
@click.pass_obj
def conflict_show(obj: Context, fingerprint: str) -> None:
    """Show the claims on FINGERPRINT and how they were decided."""

    def action() -> None:
        with obj.client() as client:
            found = client.conflict(fingerprint)
        obj.emit(found, describe(found, CONFLICT_FIELDS))

    _run_api(action)


@conflict.command("resolve")
@click.argument("fingerprint", type=FINGERPRINT)
@click.option("--rightful", type=ASSET_ID, help="The asset whose claim stands.")
@click.option("--none", "none_", is_flag=True, help="No claim stands: reject them all.")
@click.option("--reason", required=True, help="The decision's reasons (public).")
@common_options
@click.pass_obj
def conflict_resolve(
    obj: Context, fingerprint: str, rightful: str | None, none_: bool, reason: str
) -> None:
    """Decide which claim on FINGERPRINT stands (a regulator's --key)."""
    if (rightful is None) == (not none_):
        raise click.UsageError("give exactly one of --rightful ASSET_ID or --none")

    def action() -> None:
        with obj.client() as client:
            done = submit(
                client,
                obj.signing_key(),
                "conflict.resolve",
                fingerprint=fingerprint,
                rightful_asset_id=rightful,
                reason=reason,
            )
        outcome = f"asset {rightful} stands" if rightful else "every claim rejected"
        obj.emit(
            {
                "fingerprint": fingerprint,
                "rightful_asset_id": rightful,
                "receipt": done.receipt,
                "openings": done.openings,
            },
            f"conflict on {fingerprint} resolved at index {done.receipt.index}: {outcome}",
        )

    _run_api(action)


# --- rights -------------------------------------------------------------------------------------


@main.group()
def rights() -> None:
    """The three rights (holding, processing/use, operation): offer, accept, show."""


@rights.command("offer")
@click.argument("asset_id", type=ASSET_ID)
@click.option("--right", required=True, type=click.Choice(RIGHTS))
@click.option("--to", "to_party", required=True, type=PARTY_ID, help="The receiving party's id.")
@common_options
@click.pass_obj
def rights_offer(obj: Context, asset_id: str, right: str, to_party: str) -> None:
    """Offer a right you hold to another party; prints the transfer id."""

    def action() -> None:
        with obj.client() as client:
            done = submit(
                client,
                obj.signing_key(),
                "rights.offer",
                asset_id=asset_id,
                right=right,
                to_party=to_party,
            )
        submitted(obj, "transfer_id", done, done.id)

    _run_api(action)


@rights.command("accept")
@click.argument("transfer_id", type=TRANSFER_ID)
@common_options
@click.pass_obj
def rights_accept(obj: Context, transfer_id: str) -> None:
    """Accept a right offered to you (--key is the receiving party)."""

    def action() -> None:
        with obj.client() as client:
            done = submit(client, obj.signing_key(), "rights.accept", transfer_id=transfer_id)
        submitted(
            obj,
            "transfer_id",
            done,
            f"accepted transfer {transfer_id} at index {done.receipt.index}",
        )

    _run_api(action)


@rights.command("show")
@click.argument("asset_id", type=ASSET_ID)
@common_options
@click.pass_obj
def rights_show(obj: Context, asset_id: str) -> None:
    """Who holds each right of ASSET_ID, and every transfer."""

    def action() -> None:
        with obj.client() as client:
            found = client.asset_rights(asset_id)
        lines = [
            f"{RIGHT_NAMES[h['right']]}: {h['holder_id']} (since {h['since_index']})"
            for h in found["holders"]
        ]
        lines += [
            f"transfer {t['transfer_id']}: {t['right']} {t['from_party']} -> {t['to_party']} "
            f"({t['status']})"
            for t in found["transfers"]
        ]
        obj.emit(found, "\n".join(lines))

    _run_api(action)


# --- login --------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--lifetime",
    type=click.IntRange(1, 24 * 60),
    default=60,
    show_default=True,
    help="Minutes the token lives (the server caps it at 24 h).",
)
@common_options
@click.pass_obj
def login(obj: Context, lifetime: int) -> None:
    """Log in with --key; prints a bearer token and its expiry (use --json in scripts)."""
    from datetime import timedelta

    def action() -> None:
        with obj.client() as client:
            result = client.login(obj.signing_key(), timedelta(minutes=lifetime))
        obj.emit(result, f"{result['token']}\nexpires {result['expires_at']}")

    _run_api(action)
