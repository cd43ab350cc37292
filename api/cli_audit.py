"""The regulators' and witnesses' commands: `audit ...` and `witness`. Attached to the main
group by `api.cli` (which imports this module)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from api.cli import main
from api.cli_common import (
    ASSET_ID,
    LICENCE_ID,
    PARTY_ID,
    CliError,
    Context,
    _run_api,
    common_options,
    json_option,
    load_key,
    read_vkey,
)
from api.witness import ForkDetected, default_name, witness_once
from ledger.bundle import verify_bundle
from ledger.cosignature import format_cosigner_vkey
from ledger.money import format_money
from ledger.note import parse_vkey

F = TypeVar("F", bound=Callable[..., Any])


@main.group()
def audit() -> None:
    """Regulators: alerts, statistics, search, timelines, verifiable exports."""


@audit.command("alerts")
@click.option("--kind", help="Only this kind (e.g. wash-cycle, repeated-refused-usage).")
@click.option("--asset", type=ASSET_ID, help="Only alerts about this asset.")
@click.option("--licence", type=LICENCE_ID, help="Only alerts about this licence.")
@click.option("--party", type=PARTY_ID, help="Only alerts involving this party.")
@click.option("--severity", type=click.Choice(["info", "warning", "high"]))
@common_options
@click.pass_obj
def audit_alerts(
    obj: Context,
    kind: str | None,
    asset: str | None,
    licence: str | None,
    party: str | None,
    severity: str | None,
) -> None:
    """Suspicious patterns, each with its evidence (entry indices) and reason."""

    def action() -> None:
        client = obj.client()
        client.login(obj.signing_key())
        filters = {"kind": kind, "asset": asset, "licence": licence, "party": party}
        filters["severity"] = severity
        found = client.get_json(
            "/v1/audit/alerts", **{k: v for k, v in filters.items() if v is not None}
        )["alerts"]
        lines = [
            f"[{a['severity']}] {a['kind']}: {a['reason']}"
            + (
                f"\n    evidence: entries {', '.join(map(str, a['evidence']))}"
                if a["evidence"]
                else ""
            )
            + (
                f"\n    refusals on record: {', '.join(f'#{r}' for r in a['refusals'])}"
                if a["refusals"]
                else ""
            )
            for a in found
        ]
        obj.emit({"alerts": found}, "\n".join(lines) if lines else "no alerts")

    _run_api(action)


def statistics_table(rows: list[dict[str, Any]]) -> str:
    """The statistics as a table for people: money as '9,800.00 CNY', counts grouped."""
    header = (
        f"{'category':<16} {'month':<8} {'licences':>8} {'value':>22} {'index':>8} "
        f"{'HHI sell':>9} {'HHI buy':>8} {'personal':>8}"
    )
    body = [
        f"{r['category']:<16} {r['month']:<8} {r['licences']:>8,} "
        f"{format_money(r['total_value_minor'], r.get('currency')):>22} "
        f"{r['price_index']:>8,.1f} {r['hhi_sellers']:>9,.0f} {r['hhi_buyers']:>8,.0f} "
        f"{r['personal_share']:>8.0%}"
        for r in rows
    ]
    return "\n".join([header, *body])


@audit.command("statistics")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table.")
@common_options
@click.pass_obj
def audit_statistics(obj: Context, as_csv: bool) -> None:
    """Per category, currency and month: licences, value, price index, HHI, personal share."""
    if as_csv and obj.as_json:
        raise click.UsageError("give --csv or --json, not both")

    def action() -> None:
        client = obj.client()
        client.login(obj.signing_key())
        if as_csv:
            click.echo(client.get_text("/v1/audit/statistics", format="csv"), nl=False)
            return
        rows = client.get_json("/v1/audit/statistics")["statistics"]
        obj.emit({"statistics": rows}, statistics_table(rows))

    _run_api(action)


@audit.command("search")
@click.argument("kind", type=click.Choice(["transactions", "licences", "usage", "registrations"]))
@click.option("--party", type=PARTY_ID)
@click.option("--asset", type=ASSET_ID)
@click.option("--since", help="RFC 3339 time or date (inclusive).")
@click.option("--until", help="RFC 3339 time or date (exclusive).")
@click.option("--min-price", type=int, help="Minor units.")
@click.option("--max-price", type=int, help="Minor units.")
@click.option("--limit", type=int, default=100, show_default=True)
@common_options
@click.pass_obj
def audit_search(
    obj: Context,
    kind: str,
    party: str | None,
    asset: str | None,
    since: str | None,
    until: str | None,
    min_price: int | None,
    max_price: int | None,
    limit: int,
) -> None:
    """Search transactions, licences, usage or registrations."""

    def action() -> None:
        client = obj.client()
        client.login(obj.signing_key())
        params = {
            "kind": kind,
            "party": party,
            "asset": asset,
            "since": since,
            "until": until,
            "min_price": min_price,
            "max_price": max_price,
            "limit": limit,
        }
        page = client.get_json(
            "/v1/audit/search", **{k: v for k, v in params.items() if v is not None}
        )
        obj.emit(
            page, "\n".join(json.dumps(r, sort_keys=True) for r in page["rows"]) or "nothing found"
        )

    _run_api(action)


@audit.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--start", type=int, default=0, show_default=True)
@click.option("--end", type=int, help="Exclusive; default: the newest checkpoint's size.")
@common_options
@click.pass_obj
def audit_export(obj: Context, out: Path, start: int, end: int | None) -> None:
    """Stream a range of the log, with proofs and the checkpoint, to an NDJSON file."""

    def action() -> None:
        client = obj.client()
        client.login(obj.signing_key())
        params = {"start": start} | ({"end": end} if end is not None else {})
        written = client.download("/v1/audit/bundle", out, **params)
        obj.emit({"out": str(out), "bytes": written}, f"wrote {written} bytes to {out}")

    _run_api(action)


@audit.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vkey", required=True, help="The log's verifier key, or a file holding it.")
@common_options
@click.pass_obj
def audit_verify(obj: Context, file: Path, vkey: str) -> None:
    """Check an exported range offline: every signature, leaf, proof and the checkpoint."""

    def action() -> None:
        verifier = parse_vkey(read_vkey(vkey) or "")
        with (
            file.open("rb") as handle,
            obj.progressbar(max(sum(1 for _ in file.open("rb")) - 1, 0), "verifying") as bar,
        ):
            report = verify_bundle(handle, verifier, progress=bar.update)
        obj.emit(
            {
                "ok": True,
                "start": report.start,
                "end": report.end,
                "tree_size": report.checkpoint.size,
            },
            f"OK: entries {report.start}..{report.end - 1} verified against the checkpoint of size "
            f"{report.checkpoint.size}",
        )

    _run_api(action)


@main.group()
def witness() -> None:
    """Witness logs: `witness serve` runs a C2SP tlog-witness server for any C2SP log,
    `witness vkey` prints its key, `witness pull` is the older pull mode for this log."""


@witness.command("pull")
@click.option(
    "--state",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the witness remembers the last checkpoint it cosigned.",
)
@click.option("--vkey", help="The log's verifier key to pin (first run; then kept in --state).")
@click.option("--name", help="The witness's key name (default: dataledger-witness/<keyid>).")
@common_options
@click.pass_obj
def witness_pull(obj: Context, state: Path, vkey: str | None, name: str | None) -> None:
    """Check this log only grew since last time, then cosign its newest checkpoint and hand the
    cosignature to the log (a party with the witness role; the log's own protocol, kept beside
    the C2SP one that `serve` speaks).

    Refuses to sign, and exits 3 with the evidence, if the log shows a checkpoint that is not
    consistent with the one it saw before.
    """

    def action() -> None:
        key = obj.signing_key()
        with obj.client() as client:
            try:
                result = witness_once(
                    client, key, state, log_vkey=read_vkey(vkey), name=name or default_name(key)
                )
            except ForkDetected as fork:
                raise CliError(
                    fork.message,
                    type="fork-detected",
                    title="Refused to cosign",
                    exit_code=3,
                    extra={"evidence": fork.evidence},
                    human=f"REFUSED: {fork.message}\n{json.dumps(fork.evidence, indent=2)}",
                ) from None
        obj.emit(
            {
                "tree_size": result.checkpoint.size,
                "previous_size": result.previous_size,
                "cosignature": result.cosignature,
                "witness_vkey": result.vkey,
            },
            f"cosigned the checkpoint of size {result.checkpoint.size}"
            + (
                f" (consistent with size {result.previous_size})"
                if result.previous_size is not None
                else " (first checkpoint seen)"
            )
            + f"\nwitness key: {result.vkey}",
        )

    _run_api(action)


def _witness_identity(command: F) -> F:
    """--key (the witness's key file) and --name (its key name), shared by vkey and serve."""
    command = click.option(
        "--name", required=True, help="The witness's key name, e.g. witness.example.org."
    )(command)
    return click.option(
        "--key",
        "key_file",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The witness's Ed25519 key file (`dataledger keygen`).",
    )(command)


@witness.command("vkey")
@_witness_identity
@json_option
@click.pass_obj
def witness_vkey(obj: Context, key_file: Path, name: str) -> None:
    """Print the witness's cosignature/v1 verifier key, for logs' policy files."""
    key = load_key(key_file)
    vkey = format_cosigner_vkey(name, bytes(key.verify_key))
    obj.emit({"vkey": vkey, "name": name}, vkey)


@witness.command("serve")
@_witness_identity
@click.option(
    "--logs",
    "logs_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The logs it witnesses, in the witness network's `logs/v0` list format.",
)
@click.option(
    "--state",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Its SQLite state: the latest checkpoint cosigned per log (kept for good).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@json_option
@click.pass_obj
def witness_serve(
    obj: Context, key_file: Path, name: str, logs_file: Path, state: Path, host: str, port: int
) -> None:
    """Run a C2SP tlog-witness server (POST /add-checkpoint, GET /<origin hash>/checkpoint)
    for the logs listed, this one or any other C2SP log."""
    import uvicorn

    from api.witness_server import Witness, create_witness_app
    from ledger.witnessing import parse_log_list

    try:
        logs = parse_log_list(logs_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CliError(f"{logs_file}: {exc}", type="bad-log-list", title="Bad log list") from None
    w = Witness(load_key(key_file), name, logs, state)
    started = {"vkey": w.vkey, "logs": sorted(logs), "url": f"http://{host}:{port}"}
    obj.emit(started, f"witness {w.vkey}\nlogs: {', '.join(sorted(logs))}\n{started['url']}")
    uvicorn.run(create_witness_app(w), host=host, port=port, log_level="warning")
