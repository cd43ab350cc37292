"""End to end: the market commands of the CLI (offers, licences, usage, payments, freezing) against
a real server, then `export` (database and server paths), `replay --check` and `verify`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import polars as pl
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from api.cli import main
from api.cli_market import parse_tiers, show_money
from api.keyfiles import write_new_key
from ledger.encoding import format_rfc3339_utc
from ledger.storage.engine import make_engine
from tests.test_cli import Server, cli
from tests.test_cli_registry import as_json, new_key, refused, register_party, server
from tests.test_licences import Market
from tests.world import World
from valuation.contract import ASSETS, TRANSACTIONS, USAGE

__all__ = ["server"]  # the fixture: a server with a short notice period, DATALEDGER_URL set


def test_market_export_replay_verify(server: Server, tmp_path: Path) -> None:
    owner, owner_id = new_key(tmp_path, "owner")
    buyer, buyer_id = new_key(tmp_path, "buyer")
    regulator, regulator_id = new_key(tmp_path, "regulator")
    for key, name in ((owner, "Acme Data"), (buyer, "Buyer Ltd"), (regulator, "Data Bureau")):
        register_party(key, name)
    cli("operator", "grant-role", "--party", regulator_id, "--role", "regulator", cwd=tmp_path)

    data = tmp_path / "patients.csv"
    data.write_text("id,age\n1,40\n2,51\n")
    asset_id = cli(
        *("asset", "register", "--file", str(data), "--title", "Clinic visits"),
        *("--category", "health.visits", "--classification", "important"),
        *("--personal-info", "personal", "--key", owner),
    ).stdout.strip()

    publish = ("offer", "publish", asset_id, "--action", "use", "--action", "train")
    publish += ("--purpose", "research", "--term-days", "90", "--max-units", "1000")
    offer_id = cli(*publish, "--price", "100.00", "--per-unit", "0.50", "--key", owner)
    offer_id = offer_id.stdout.strip()
    policy = as_json("offer", "show", offer_id)["policy"]
    assert policy["pricing"] == {
        "model": "per_unit",
        "currency": "CNY",
        "fixed_minor": 10_000,
        "unit_price_minor": 50,
        "tiers": [],
    }
    assert (policy["max_units"], policy["territory"], policy["actions"]) == (
        1000,
        ["CN"],
        ["use", "train"],
    )
    tiered = as_json(*publish, "--price", "0", "--tiers", "100:0.50,:0.25", "--key", owner)
    assert as_json("offer", "show", tiered["offer_id"])["policy"]["pricing"]["tiers"] == [
        {"up_to": 100, "unit_price_minor": 50},
        {"up_to": None, "unit_price_minor": 25},
    ]
    cli("offer", "withdraw", tiered["offer_id"], "--reason", "one offer is enough", "--key", owner)
    assert [o["offer_id"] for o in as_json("offer", "list", "--asset", asset_id)] == [offer_id]
    assert len(as_json("offer", "list", "--asset", asset_id, "--all")) == 2

    # Personal information: no licence without a lawful basis (the server's refusal, shown).
    request = ("licence", "request", offer_id, "--purpose", "research", "--term-days", "30")
    request += ("--units", "500", "--key", buyer)
    assert "lawful-basis-required" in refused(*request)
    licence_id = cli(*request, "--lawful-basis", "consent").stdout.strip()
    cli("licence", "approve", licence_id, "--price", "350.00", "--key", owner)
    shown = as_json("licence", "show", licence_id, "--key", buyer)
    assert (shown["status"], shown["territory"]) == ("awaiting_regulator", ["CN"])
    cli("licence", "regulator-approve", licence_id, "--key", regulator)

    cli("usage", "report", licence_id, "--units", "200", "--key", buyer)
    start = format_rfc3339_utc(datetime.now(UTC))
    end = format_rfc3339_utc(datetime.now(UTC) + timedelta(seconds=1))
    period = ("--period-start", start, "--period-end", end)
    cli(
        "usage",
        "report",
        licence_id,
        "--units",
        "250",
        "--kind",
        "api_calls",
        *period,
        "--key",
        buyer,
    )
    assert "quota-exceeded" in refused(
        "usage", "report", licence_id, "--units", "51", "--key", buyer
    )
    summary = cli("usage", "summary", licence_id, "--key", buyer).stdout
    assert "total 450 of 500 units (50 left)" in summary, summary
    by_asset = as_json("usage", "summary", "--asset", asset_id, "--key", owner)
    assert by_asset["total_units"] == 450 and sum(d["reports"] for d in by_asset["daily"]) == 2

    payment_id = cli(
        "payment",
        "record",
        licence_id,
        "--amount",
        "350.00",
        "--reference",
        "INV-1",
        "--key",
        buyer,
    ).stdout.strip()
    cli("payment", "confirm", payment_id, "--key", owner)
    assert as_json("payment", "show", payment_id, "--key", buyer)["status"] == "confirmed"
    out = cli("licence", "show", licence_id, "--key", buyer).stdout
    for line in ("agreed: 350.00 CNY", "paid: 350.00 CNY", "confirmed: 350.00 CNY"):
        assert line in out, out
    listed = as_json("licence", "list", "--status", "active", "--key", owner)
    assert [x["licence_id"] for x in listed] == [licence_id]

    cli("asset", "freeze", asset_id, "--reason", "consent under review", "--key", regulator)
    assert "asset-frozen" in refused("usage", "report", licence_id, "--units", "1", "--key", buyer)
    cli("asset", "unfreeze", asset_id, "--reason", "consent confirmed", "--key", regulator)
    cli("usage", "report", licence_id, "--units", "10", "--key", buyer)

    # Export: straight from the database, then from the server as a regulator.
    assert "only parquet" in refused("export", "--format", "csv", "--out", str(tmp_path / "x"))
    out_dir = tmp_path / "export"
    exported = cli(
        "export",
        "--format",
        "parquet",
        "--out",
        str(out_dir),
        "--database-url",
        server.database_url,
        "--json",
    )
    counts = json.loads(exported.stdout)["rows"]
    assert counts == {"assets": 1, "transactions": 1, "usage": 3}, counts
    assert "usage: 3 rows" in exported.stderr
    assets = pl.read_parquet(out_dir / "assets.parquet")
    transactions = pl.read_parquet(out_dir / "transactions.parquet")
    used = pl.read_parquet(out_dir / "usage" / "*" / "*.parquet")
    assert (assets.schema, transactions.schema, used.schema) == (ASSETS, TRANSACTIONS, USAGE)
    assert transactions.row(0, named=True)["price_minor"] == 35_000
    assert sorted(used["units"].to_list()) == [10, 200, 250]
    assert assets["owner_id"].to_list() == [owner_id]
    assert transactions["buyer_id"].to_list() == [buyer_id]
    remote = as_json(
        "export", "--out", str(tmp_path / "remote"), "--url", server.url, "--key", regulator
    )
    assert remote["rows"] == counts
    assert "forbidden" in refused(
        "export", "--out", str(tmp_path / "no"), "--url", server.url, "--key", buyer
    )

    # Replay (operator key and notice period found as the server finds them), then verify.
    replayed = cli("replay", "--check", "--database-url", server.database_url, cwd=tmp_path)
    assert replayed.stdout.startswith("OK: ") and "every projection matches" in replayed.stdout
    assert "--check" in refused("replay", "--database-url", server.database_url)
    assert cli("verify", "--vkey", cli("log", "key").stdout.strip()).stdout.startswith("OK: ")


def test_replay_check_names_a_tampered_projection(world: World, tmp_path: Path) -> None:
    m = Market(world, personal="none")
    licence_id = m.active()
    m.usage(licence_id, 40)
    url = str(world.service.engine.url.render_as_string(hide_password=False))
    args = ["replay", "--check", "--database-url", url, "--notice-period", "2"]
    args += ["--log-key-file", str(tmp_path / "data" / "log-key.json")]
    runner = CliRunner()
    ok = runner.invoke(main, args)
    assert ok.exit_code == 0 and ok.stdout.startswith("OK: "), ok.output

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE licences SET units_used = 0 WHERE licence_id = :l"), {"l": licence_id}
        )
    engine.dispose()
    bad = runner.invoke(main, [*args, "--json"])
    assert bad.exit_code == 1, (bad.output, bad.exception)
    found = json.loads(bad.stdout)
    assert not found["ok"] and [d["table"] for d in found["differences"]] == ["licences"]
    assert found["differences"][0]["live"]["units_used"] == 0
    assert found["differences"][0]["replayed"]["units_used"] == 40
    assert "licences" in bad.stderr

    # A log key that is not the server's is refused before anything is replayed.
    wrong = tmp_path / "wrong.key"
    write_new_key(wrong)
    refusal = runner.invoke(main, [*args[:-2], "--log-key-file", str(wrong)])
    assert refusal.exit_code == 2 and "did not sign" in refusal.output, refusal.output


@pytest.mark.parametrize(
    ("spec", "tiers"),
    [
        ("1000:0.50,10000:0.40,:0.30", [(1000, 50), (10000, 40), (None, 30)]),
        (":1", [(None, 100)]),
        (" 5 : 0.05 ", [(5, 5)]),
    ],
)
def test_tiers_parse_exactly(spec: str, tiers: list[tuple[int | None, int]]) -> None:
    assert [(t["up_to"], t["unit_price_minor"]) for t in parse_tiers(spec)] == tiers


@pytest.mark.parametrize("spec", ["1000", "0:1", "x:1", "10:0.001", "10:-1", ""])
def test_tiers_refuse_nonsense(spec: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_tiers(spec)


def test_show_money_inverts_minor_units() -> None:
    assert show_money(125_050, "CNY") == "1,250.50 CNY"
    assert show_money(125_050, "JPY") == "125,050 JPY"
    assert show_money(5) == "0.05"
    assert show_money(None) == "-"
