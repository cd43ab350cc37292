"""Confidential on a public log (issue 14): private values are committed, never written.

A small market plants a unique marker in every private field it can, then everything an
anonymous reader can fetch is downloaded (log entries, tiles, histories, records, explorer pages)
and searched, base64 decoded, for the markers. Entitled readers get each value back with an
opening that verifies against the signed, logged commitment.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from api.app import build_service, create_app
from api.client import ApiError, new_statement, seal_and_sign, sign_statement
from api.settings import Settings
from ledger import dsse
from ledger.encoding import canonical_json
from ledger.entries import decode_entry
from ledger.privacy import Opening, seal, verify_openings
from tests.factories import TEST_ORIGIN
from tests.test_licences import Market, now
from tests.world import World, asset_fields, wait_notice


def _marker(tag: str) -> str:
    return f"MK{tag}{secrets.token_hex(6)}"


class Planted:
    """Markers planted in private fields: text markers, and numbers nothing else uses."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.numbers: dict[str, int] = {}

    def text(self, where: str) -> str:
        self.texts[where] = _marker(where.replace(".", "").replace("_", ""))
        return self.texts[where]

    def number(self, where: str, low: int = 900_000_001, high: int = 989_999_999) -> int:
        self.numbers[where] = secrets.randbelow(high - low) + low
        return self.numbers[where]


def _build_market(world: World) -> tuple[Planted, Market, dict[str, Any]]:
    """Every kind with private fields, each private value a marker."""
    p = Planted()
    m = Market(world, max_units=10**9)
    regulator = world.regulator()
    objector = world.party("Objector")
    c = world.client
    # The Market's asset was registered with the usual (non-marker) values; register one more.
    asset = (
        c()
        .register_asset(
            m.owner,
            **asset_fields(
                declared_cost={"amount_minor": p.number("asset.declared_cost"), "currency": "CNY"},
                schema=[{"name": p.text("asset.schema"), "type": "string"}],
            ),
        )
        .id
    )
    c().sign_and_submit(
        m.owner,
        "asset.version",
        asset_id=asset,
        fingerprint=secrets.token_hex(32),
        size_bytes=10,
        record_count=10,
        schema=[{"name": p.text("version.schema"), "type": "string"}],
        note=p.text("version.note"),
    )
    objection = (
        c()
        .sign_and_submit(
            objector,
            "asset.object",
            asset_id=asset,
            grounds=p.text("object.grounds"),
            evidence_fingerprint="e" * 64,
        )
        .id
    )
    c().sign_and_submit(
        regulator,
        "objection.resolve",
        objection_id=objection,
        outcome="dismissed",
        reason=p.text("objection.reason"),
    )
    c().sign_and_submit(regulator, "asset.freeze", asset_id=m.asset, reason=p.text("freeze"))
    c().sign_and_submit(regulator, "asset.unfreeze", asset_id=m.asset, reason=p.text("unfreeze"))
    licence = m.request(units=p.number("request.units", 700_000_001, 799_999_999))
    m.sign(
        m.owner,
        "licence.approve",
        licence_id=licence,
        price={
            "amount_minor": p.number("approve.price", 990_000_001, 998_999_999),
            "currency": "CNY",
        },
    )
    units = p.number("usage.units", 300_000_001, 399_999_999)
    m.usage(licence, units)
    payment = m.sign(
        m.buyer,
        "payment.record",
        licence_id=licence,
        amount={"amount_minor": p.number("payment.amount"), "currency": "CNY"},
        reference=p.text("payment.reference"),
    ).id
    m.sign(m.owner, "payment.confirm", payment_id=payment)
    dispute = m.sign(
        m.buyer, "dispute.open", licence_id=licence, grounds=p.text("dispute.grounds")
    ).id
    m.sign(m.owner, "dispute.answer", dispute_id=dispute, answer=p.text("dispute.answer"))
    m.sign(
        regulator,
        "dispute.resolve",
        dispute_id=dispute,
        decision=p.text("dispute.decision"),
        refund={"amount_minor": p.number("dispute.refund", 100_000_001, 199_999_999)},
        usage_correction=p.number("dispute.correction", 1_000_001, 9_999_999),
    )
    rejected = m.request(m.other, units=5)
    m.sign(m.owner, "licence.reject", licence_id=rejected, reason=p.text("reject.reason"))
    other = m.active(m.other, units=5)
    m.sign(m.other, "licence.terminate", licence_id=other, reason=p.text("terminate.reason"))
    offer = m.publish()
    m.sign(m.owner, "offer.withdraw", offer_id=offer, reason=p.text("withdraw.reason"))
    wait_notice()
    world.service.certify_due()
    keys = {
        "owner": m.owner,
        "buyer": m.buyer,
        "other": m.other,
        "objector": objector,
        "regulator": regulator,
    }
    return p, m, keys


def _decoded(data: bytes) -> bytes:
    """`data` plus everything base64 inside it, decoded, to any depth (entries, payloads)."""
    out = [data]
    frontier = [data]
    seen: set[bytes] = set()
    while frontier:
        chunk = frontier.pop()
        for match in re.findall(rb"[A-Za-z0-9+/]{24,}={0,2}", chunk):
            if match in seen:
                continue
            seen.add(match)
            try:
                raw = base64.b64decode(match + b"=" * (-len(match) % 4), validate=False)
            except (binascii.Error, ValueError):
                continue
            out.append(raw)
            frontier.append(raw)
    return b"\n".join(out)


def _anonymous_download(world: World, asset_ids: list[str], licence_ids: list[str]) -> bytes:
    http = world.client()._http  # anonymous: no bearer token
    size = world.size()
    got: list[bytes] = []

    def fetch(path: str, **params: Any) -> None:
        response = http.get(path, params=params, headers={"accept": "text/html,application/json"})
        got.append(path.encode() + b" " + str(response.status_code).encode())
        got.append(response.content)

    for start in range(0, size, 1000):
        fetch("/v1/log/entries", start=start, limit=1000)
    for index in range(size):
        fetch(f"/v1/log/entries/{index}")
        fetch(f"/v1/log/entries/{index}/receipt")
        fetch(f"/v1/log/entries/{index}/openings")
        fetch(f"/log/entries/{index}")  # the explorer's entry page
    fetch("/checkpoint")
    for n in range(size // 256 + 1):
        width = min(256, size - n * 256)
        suffix = "" if width == 256 else f".p/{width}"
        fetch(f"/tile/entries/{n:03d}{suffix}")
        fetch(f"/tile/0/{n:03d}{suffix}")
    fetch("/v1/assets")
    fetch("/")
    fetch("/log")
    for asset in asset_ids:
        for tail in ("", "/versions", "/history", "/rights", "/objections", "/usage"):
            fetch(f"/v1/assets/{asset}{tail}")
        fetch(f"/v1/assets/{asset}/certificate", format="json")
        fetch(f"/v1/assets/{asset}/certificate", format="html")
        fetch(f"/assets/{asset}")
        fetch("/v1/offers", asset_id=asset, open_only="false")
    for licence in licence_ids:
        fetch(f"/v1/licences/{licence}")
        fetch(f"/licences/{licence}")
    for table in ("assets", "usage", "transactions"):
        fetch(f"/v1/export/{table}")
    fetch("/v1/audit/bundle", start=0, end=size)
    return _decoded(b"\n".join(got))


def test_an_anonymous_reader_finds_no_private_value_and_entitled_readers_get_them_all(
    world: World,
) -> None:
    planted, _market, keys = _build_market(world)
    with world.service.engine.connect() as conn:
        assets = [r[0] for r in conn.exec_driver_sql("SELECT asset_id FROM assets")]
        licences = [r[0] for r in conn.exec_driver_sql("SELECT licence_id FROM licences")]
        objections = [r[0] for r in conn.exec_driver_sql("SELECT objection_id FROM objections")]
    everything = _anonymous_download(world, assets, licences)
    http = world.client()._http
    for objection in objections:
        everything += http.get(f"/v1/objections/{objection}").content

    leaked = [w for w, m in planted.texts.items() if m.encode() in everything]
    leaked += [w for w, n in planted.numbers.items() if str(n).encode() in everything]
    assert leaked == [], f"private values readable anonymously: {leaked}"

    # Entitled readers (regulators read everything) get every value with a verifying opening.
    regulator = world.client(keys["regulator"])
    opened: list[Any] = []
    for index in range(world.size()):
        body = regulator.get_json(f"/v1/log/entries/{index}/openings")
        entry = decode_entry(
            base64.b64decode(regulator.get_json(f"/v1/log/entries/{index}")["entry"])
        )
        payload = dsse.payload_bytes(entry.envelope)
        verify_openings(payload, index, msgspec.convert(body["openings"], dict[str, Opening]))
        opened += [opening["value"] for opening in body["openings"].values()]
    found = canonical_json(opened)
    missing = [w for w, m in planted.texts.items() if m.encode() not in found]
    missing += [w for w, n in planted.numbers.items() if str(n).encode() not in found]
    assert missing == [], f"not returned to a regulator: {missing}"


def test_parties_read_the_openings_of_their_own_deals_only(world: World) -> None:
    m = Market(world)
    licence = m.active()
    usage = m.usage(licence, 7)
    index = usage.receipt.index
    buyer, seller, other = world.client(m.buyer), world.client(m.owner), world.client(m.other)
    for reader in (buyer, seller):
        body = reader.get_json(f"/v1/log/entries/{index}/openings")
        assert body["openings"]["units"]["value"] == 7 and body["erased"] == []
    with pytest.raises(ApiError) as refused:
        other.get_json(f"/v1/log/entries/{index}/openings")
    assert refused.value.status == 403 and refused.value.code == "forbidden"
    with pytest.raises(ApiError) as anonymous:
        world.client().get_json(f"/v1/log/entries/{index}/openings")
    assert anonymous.value.status == 401
    # The submitter kept the same openings; they verify against the entry offline.
    entry = decode_entry(base64.b64decode(usage.receipt.entry))
    verify_openings(dsse.payload_bytes(entry.envelope), index, usage.openings)


def _post(world: World, body: Any, path: str = "/v1/statements") -> Any:
    return world.http.post(
        path, content=canonical_json(body), headers={"content-type": "application/json"}
    )


def _sealed_usage(world: World) -> tuple[Market, str, Any]:
    m = Market(world)
    licence = m.active()
    statement = new_statement(
        "usage.report",
        origin=TEST_ORIGIN,
        licence_id=licence,
        units=3,
        period_start=now(),
        period_end=now(),
    )
    return m, licence, statement


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        ("missing", "opening-missing"),
        ("wrong-value", "opening-mismatch"),
        ("wrong-salt", "opening-mismatch"),
        ("extra", "opening-unexpected"),
        ("short-salt", "malformed"),
        ("empty-salt", "malformed"),
        ("in-clear", "invalid-statement"),
    ],
)
def test_wrong_or_missing_openings_are_refused_and_nothing_is_appended(
    world: World, spoil: str, code: str
) -> None:
    m, _licence, statement = _sealed_usage(world)
    signed = seal_and_sign(m.buyer, statement)
    body: Any = msgspec.to_builtins(signed)
    openings = body["openings"]
    if spoil == "missing":
        del openings["units"]
    elif spoil == "wrong-value":
        openings["units"]["value"] = 4
    elif spoil == "wrong-salt":
        openings["units"]["salt"] = secrets.token_hex(32)
    elif spoil == "extra":
        openings["licence_id"] = {"salt": secrets.token_hex(32), "value": "x"}
    elif spoil == "short-salt":
        openings["units"]["salt"] = secrets.token_hex(15)
    elif spoil == "empty-salt":
        openings["units"]["salt"] = ""
    elif spoil == "in-clear":
        body = {"envelope": sign_statement(m.buyer, statement), "openings": {}}
    before = world.size()
    answer = _post(world, body)
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith(":" + code), answer.json()
    assert world.size() == before


def test_a_statement_for_another_log_is_refused(world: World) -> None:
    """Entries copied from one ledger's public log are not accepted by another."""
    key = world.party("Copycat")
    for origin in ("other.example/log", TEST_ORIGIN + "x"):
        statement = new_statement(
            "asset.register", origin=origin, **asset_fields(declared_cost=None)
        )
        before = world.size()
        answer = _post(world, seal_and_sign(key, statement), "/v1/assets")
        assert answer.status_code == 422 and answer.json()["type"].endswith(":wrong-log")
        assert TEST_ORIGIN in answer.json()["detail"]
        assert world.size() == before
    # And a login meant for another log does not log in here.
    login = new_statement(
        "auth.login", origin="other.example/log", expires_at=now(timedelta(minutes=5))
    )
    answer = _post(world, sign_statement(key, login), "/v1/auth/login")
    assert answer.status_code == 422 and answer.json()["type"].endswith(":wrong-log")


def test_an_entry_copied_from_another_server_is_refused(world: World) -> None:
    """The review's finding: a party's register entry replayed from another ledger's log."""
    world.party("Original")
    envelope = decode_entry(base64.b64decode(world.client().receipt(world.size() - 1).entry))
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), certify_interval_seconds=0)
        with TestClient(create_app(settings, build_service(settings))) as second:
            answer = second.post(
                "/v1/parties",
                content=canonical_json(envelope.envelope),
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 422 and answer.json()["type"].endswith(":wrong-log")
            assert second.get("/v1/log/checkpoint").text.splitlines()[1] == "0"


def test_seal_commits_each_private_field_with_its_own_salt() -> None:
    statement = new_statement(
        "payment.record",
        origin=TEST_ORIGIN,
        licence_id="a" * 32,
        amount={"amount_minor": 5, "currency": "CNY"},
        reference="INV-1",
    )
    sealed = seal(statement)
    assert "amount" not in sealed.statement and "reference" not in sealed.statement
    assert set(sealed.statement["commitments"]) == {"amount", "reference"}
    salts = {o.salt for o in sealed.openings.values()}
    assert len(salts) == 2 and all(len(s) == 64 for s in salts)
    assert json.dumps(sealed.statement).find("INV-1") == -1
    opening = sealed.openings["reference"]
    assert (
        opening.commitment("payment.record", "reference")
        == sealed.statement["commitments"]["reference"]
    )
    # The same value under another field or kind commits differently (domain separation).
    assert (
        Opening(opening.salt, "INV-1").commitment("payment.record", "amount")
        != (sealed.statement["commitments"]["reference"])
    )


def test_erasing_private_text_leaves_no_trace_and_replay_still_agrees(
    world: World, tmp_path: Path
) -> None:
    from ledger.storage.engine import make_engine
    from ledger.storage.migrate import upgrade
    from ledger.storage.replay import compare, replay

    m = Market(world)
    licence = m.active()
    grounds = _marker("erase")
    dispute = m.sign(m.buyer, "dispute.open", licence_id=licence, grounds=grounds)
    index = dispute.receipt.index
    units = m.usage(licence, 3).receipt.index
    buyer = world.client(m.buyer)
    assert buyer.entry_openings(index)["openings"]["grounds"]["value"] == grounds

    # Only private text is erasable, only by its signer or the operator.
    with pytest.raises(ApiError) as needed:
        buyer.erase_opening(units, "units")
    assert needed.value.code == "not-erasable"
    with pytest.raises(ApiError) as stranger:
        world.client(m.other).erase_opening(index, "grounds")
    assert stranger.value.status == 403
    buyer.erase_opening(index, "grounds")

    assert buyer.entry_openings(index) == {"index": index, "openings": {}, "erased": ["grounds"]}
    assert buyer.get_json(f"/v1/disputes/{dispute.id}")["grounds"] == "[erased]"
    if world.service.engine.dialect.name == "sqlite":
        data_dir = Path(str(world.service.engine.url.database)).parent
        for path in data_dir.iterdir():
            if path.is_file():
                assert grounds.encode() not in path.read_bytes(), path.name

    rebuilt = make_engine(f"sqlite:///{tmp_path / 'replay.db'}")
    upgrade(rebuilt)
    report = replay(world.service.engine, rebuilt, world.service.operator, timedelta(seconds=2))
    assert report.unopened == [(index, "grounds")]
    assert compare(world.service.engine, rebuilt) == []


def test_verify_database_checks_every_opening_against_its_commitment(world: World) -> None:
    from sqlalchemy import text

    from ledger.errors import VerificationError
    from ledger.storage.integrity import check_database

    m = Market(world)
    licence = m.active()
    index = m.usage(licence, 3).receipt.index
    verifier = world.service.signer.verifier
    assert check_database(world.service.engine, verifier) == world.size()
    with world.service.engine.begin() as conn:
        row = conn.execute(
            text("SELECT openings FROM statement_openings WHERE entry_index = :i"), {"i": index}
        ).one()
        forged = json.loads(row[0])
        forged["units"]["value"] = 4
        conn.execute(
            text("UPDATE statement_openings SET openings = :o WHERE entry_index = :i"),
            {"i": index, "o": json.dumps(forged)},
        )
    with pytest.raises(VerificationError) as found:
        check_database(world.service.engine, verifier)
    assert f"entry {index}" in str(found.value) and "units" in str(found.value)


def test_a_regulators_audit_bundle_carries_the_openings_and_they_verify(world: World) -> None:
    from ledger.bundle import BundleError, verify_bundle

    m = Market(world)
    licence = m.active()
    index = m.usage(licence, 11).receipt.index
    regulator = world.client(world.regulator())
    body = regulator._http.get("/v1/audit/bundle").content
    lines = body.splitlines()
    report = verify_bundle(lines, world.service.signer.verifier)
    assert report.entries == world.size() - 0 or report.entries > 0
    opened = [json.loads(line) for line in lines[1:] if json.loads(line)["index"] == index]
    assert opened[0]["openings"]["units"]["value"] == 11
    forged = [
        line
        if json.loads(line).get("index") != index
        else line.replace(b'"value":11', b'"value":12')
        for line in lines
    ]
    with pytest.raises(BundleError) as refused:
        verify_bundle(forged, world.service.signer.verifier)
    assert f"entry {index}" in str(refused.value)
