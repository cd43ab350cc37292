"""The registry through the HTTP API: every rule refused when it should be (problem details,
nothing appended) and accepted when it should be, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import msgspec
import nacl.signing
import pytest

from api.client import ApiError
from api.service import contact_commitment, new_salt
from ledger.receipts import Receipt, verify_receipt
from tests.audit import audit_database
from tests.factories import TEST_ORIGIN
from tests.world import NOTICE_SECONDS, World, asset_fields, pid, refused, wait_notice

# An objection of substance: grounds a person can act on and the digest of the evidence held.
OBJECTION = {
    "grounds": "We collected these sensor readings ourselves in 2024",
    "evidence_fingerprint": "e" * 64,
}

# --- the happy path ---------------------------------------------------------------------------


def test_register_object_resolve_certify_and_move_a_right(world: World) -> None:
    owner, other, buyer = world.party("Owner"), world.party("Objector"), world.party("Buyer")
    regulator = world.regulator()
    asset = world.client().register_asset(owner, **asset_fields())
    detail = world.client().get_json(f"/v1/assets/{asset.id}")
    assert detail["status"] == "on_notice" and detail["owner_id"] == pid(owner)

    objection = world.client().sign_and_submit(
        other, "asset.object", **OBJECTION, asset_id=asset.id
    )
    assert world.service.certify_due() == []  # an open objection blocks certification
    world.client().sign_and_submit(
        regulator,
        "objection.resolve",
        objection_id=objection.id,
        outcome="dismissed",
        reason="no evidence",
    )
    assert world.service.certify_due() == []  # notice not over yet
    wait_notice()
    assert world.service.certify_due() == [asset.id]
    assert world.service.certify_due() == []  # idempotent

    cert = world.client().get_json(f"/v1/assets/{asset.id}/certificate")
    assert cert["asset_id"] == asset.id and cert["owner_id"] == pid(owner)
    reader = world.client()
    entry, _ = verify_receipt(msgspec.convert(cert["receipt"], Receipt), reader.verifier())
    assert entry.index == cert["certified_index"]
    html = world.http.get(f"/v1/assets/{asset.id}/certificate", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and asset.id in html.text
    assert "frame-ancestors 'none'" in html.headers["content-security-policy"]
    assert html.headers["x-content-type-options"] == "nosniff"
    assert html.headers["referrer-policy"] == "same-origin"
    docs = world.http.get("/schema/docs")  # more of it in tests/test_api.py
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert docs.headers["x-content-type-options"] == "nosniff"

    transfer = world.client().sign_and_submit(
        owner, "rights.offer", asset_id=asset.id, right="operation", to_party=pid(buyer)
    )
    world.client().sign_and_submit(buyer, "rights.accept", transfer_id=transfer.id)
    rights = world.client().get_json(f"/v1/assets/{asset.id}/rights")
    holders = {h["right"]: h["holder_id"] for h in rights["holders"]}
    assert holders == {"holding": pid(owner), "processing": pid(owner), "operation": pid(buyer)}
    assert [len(t["receipts"]) for t in rights["transfers"]] == [2]

    history = world.client().get_json(f"/v1/assets/{asset.id}/history")["entries"]
    kinds = []
    for receipt in history:
        entry, _ = verify_receipt(msgspec.convert(receipt, Receipt), reader.verifier())
        kinds.append(json.loads(base64.b64decode(entry.envelope.payload))["kind"])
    assert kinds == [
        "asset.register",
        "asset.object",
        "objection.resolve",
        "asset.certify",
        "rights.offer",
        "rights.accept",
    ]
    whole = world.client().get_json(f"/v1/assets/{asset.id}/history")
    assert whole["next_cursor"] is None and whole["truncated"] is False
    # Page by page: each page says where the next begins, and together they are the whole.
    paged, cursor = [], None
    while True:
        params = {"limit": 2} | ({} if cursor is None else {"after": cursor})
        page = world.client().get_json(f"/v1/assets/{asset.id}/history", **params)
        paged += page["entries"]
        assert page["truncated"] is (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == history and len(paged) == 6
    assert world.client().asset_history(asset.id) == msgspec.convert(history, list[Receipt])
    audit_database(world.service.engine, world.service.signer)


# --- refusals ---------------------------------------------------------------------------------


def test_only_the_operator_grants_roles(world: World) -> None:
    someone, target = world.party("Someone"), world.party("Target")
    refused(
        world,
        "operator-only",
        403,
        lambda: world.client().sign_and_submit(
            someone, "role.grant", party_id=pid(target), role="regulator"
        ),
    )
    world.grant(target, "regulator")
    refused(world, "role-already-held", 409, lambda: world.grant(target, "regulator"))
    assert world.client().get_json(f"/v1/parties/{pid(target)}")["roles"] == ["regulator"]
    world.client().sign_and_submit(
        world.operator, "role.revoke", party_id=pid(target), role="regulator"
    )
    assert world.client().get_json(f"/v1/parties/{pid(target)}")["roles"] == []


def test_objections_need_a_regulator_and_an_open_notice(world: World) -> None:
    owner, other = world.party("Owner"), world.party("Other")
    asset = world.client().register_asset(owner, **asset_fields())
    refused(
        world,
        "own-asset",
        409,
        lambda: world.client().sign_and_submit(
            owner, "asset.object", **OBJECTION, asset_id=asset.id
        ),
    )
    objection = world.client().sign_and_submit(
        other, "asset.object", **OBJECTION, asset_id=asset.id
    )
    refused(
        world,
        "role-required",
        403,
        lambda: world.client().sign_and_submit(
            other, "objection.resolve", objection_id=objection.id, outcome="upheld", reason="me"
        ),
    )
    regulator = world.regulator()
    world.client().sign_and_submit(
        regulator, "objection.resolve", objection_id=objection.id, outcome="upheld", reason="proven"
    )
    refused(
        world,
        "objection-closed",
        409,
        lambda: world.client().sign_and_submit(
            regulator,
            "objection.resolve",
            objection_id=objection.id,
            outcome="dismissed",
            reason="x",
        ),
    )
    assert world.client().get_json(f"/v1/assets/{asset.id}")["status"] == "rejected"
    wait_notice()
    assert world.service.certify_due() == []  # rejected registrations are never certified

    late = world.client().register_asset(owner, **asset_fields())
    wait_notice()
    refused(
        world,
        "notice-closed",
        409,
        lambda: world.client().sign_and_submit(
            other, "asset.object", **OBJECTION, asset_id=late.id
        ),
    )


def test_certification_is_the_ledgers_alone_and_waits_for_the_notice(world: World) -> None:
    owner = world.party("Owner")
    asset = world.client().register_asset(owner, **asset_fields())
    refused(
        world,
        "operator-only",
        403,
        lambda: world.client().sign_and_submit(owner, "asset.certify", asset_id=asset.id),
    )
    refused(
        world,
        "notice-not-over",
        409,
        lambda: world.client().sign_and_submit(world.operator, "asset.certify", asset_id=asset.id),
    )


def test_lineage_must_name_known_assets(world: World) -> None:
    owner = world.party("Owner")
    refused(
        world,
        "unknown-asset",
        422,
        lambda: world.client().register_asset(owner, **asset_fields(derived_from=["0" * 32])),
    )
    parent = world.client().register_asset(owner, **asset_fields())
    child = world.client().register_asset(owner, **asset_fields(derived_from=[parent.id]))
    assert world.client().get_json(f"/v1/assets/{child.id}")["derived_from"] == [parent.id]
    assert world.client().get_json(f"/v1/assets/{parent.id}")["derived_into"] == [child.id]


def test_rights_move_only_by_offer_and_acceptance(world: World) -> None:
    owner, buyer, stranger = world.party("Owner"), world.party("Buyer"), world.party("Stranger")
    asset = world.client().register_asset(owner, **asset_fields())
    refused(
        world,
        "right-not-held",
        403,
        lambda: world.client().sign_and_submit(
            stranger, "rights.offer", asset_id=asset.id, right="holding", to_party=pid(buyer)
        ),
    )
    offer = world.client().sign_and_submit(
        owner, "rights.offer", asset_id=asset.id, right="processing", to_party=pid(buyer)
    )
    refused(
        world,
        "not-the-recipient",
        403,
        lambda: world.client().sign_and_submit(stranger, "rights.accept", transfer_id=offer.id),
    )
    world.client().sign_and_submit(buyer, "rights.accept", transfer_id=offer.id)
    refused(
        world,
        "transfer-closed",
        409,
        lambda: world.client().sign_and_submit(buyer, "rights.accept", transfer_id=offer.id),
    )
    # The old holder no longer holds it and cannot offer it again.
    refused(
        world,
        "right-not-held",
        403,
        lambda: world.client().sign_and_submit(
            owner, "rights.offer", asset_id=asset.id, right="processing", to_party=pid(stranger)
        ),
    )


def test_private_fields_and_contact_details_are_not_for_everyone(world: World) -> None:
    salt = new_salt()
    details = {"email": "ops@acme.example", "phone": "+86 10 5555 0000", "address": "Beijing"}
    owner = nacl.signing.SigningKey.generate()
    world.client().register_party(owner, "Owner", contact_commitment(salt, details))
    me = world.client(owner)
    with pytest.raises(ApiError) as wrong:
        me._request(
            "PUT", f"/v1/parties/{pid(owner)}/contact", json={"salt": new_salt(), **details}
        )
    assert wrong.value.code == "commitment-mismatch"
    me._request("PUT", f"/v1/parties/{pid(owner)}/contact", json={"salt": salt, **details})
    asset = me.register_asset(owner, **asset_fields())

    stranger = world.party("Stranger")
    regulator = world.regulator()
    anonymous, other, reg = world.client(), world.client(stranger), world.client(regulator)
    for reader in (anonymous, other):
        public = reader.get_json(f"/v1/assets/{asset.id}")
        assert public["declared_cost_minor"] is None and public["quality"] is None
        assert "contact" not in reader.get_json(f"/v1/parties/{pid(owner)}") or (
            reader.get_json(f"/v1/parties/{pid(owner)}")["contact"] is None
        )
    assert me.get_json(f"/v1/assets/{asset.id}")["declared_cost_minor"] == 125_000
    assert reg.get_json(f"/v1/assets/{asset.id}")["quality_score"] == 75
    assert reg.get_json(f"/v1/parties/{pid(owner)}/contact")["email"] == details["email"]
    with pytest.raises(ApiError) as forbidden:
        other.get_json(f"/v1/parties/{pid(owner)}/contact")
    assert forbidden.value.status == 403
    with pytest.raises(ApiError) as anon:
        anonymous.get_json(f"/v1/parties/{pid(owner)}/contact")
    assert anon.value.status == 401

    # Erasure: gone for good, and the ledger still verifies.
    with pytest.raises(ApiError):
        other._request("DELETE", f"/v1/parties/{pid(owner)}/contact")
    me._request("DELETE", f"/v1/parties/{pid(owner)}/contact")
    with pytest.raises(ApiError) as gone:
        reg.get_json(f"/v1/parties/{pid(owner)}/contact")
    assert gone.value.status == 404
    audit_database(world.service.engine, world.service.signer)


def test_rotated_and_revoked_keys_stop_signing(world: World) -> None:
    old = world.party("Owner")
    new = nacl.signing.SigningKey.generate()
    world.client().sign_and_submit(
        old, "party.rotate_key", new_public_key=base64.b64encode(bytes(new.verify_key)).decode()
    )
    refused(world, "key-revoked", 403, lambda: world.client().register_asset(old, **asset_fields()))
    asset = world.client().register_asset(new, **asset_fields())
    assert world.client().get_json(f"/v1/assets/{asset.id}")["owner_id"] == pid(old)  # same party
    world.client().sign_and_submit(new, "party.revoke_key", keyid=pid(new), reason="lost laptop")
    refused(world, "key-revoked", 403, lambda: world.client().register_asset(new, **asset_fields()))
    with pytest.raises(ApiError) as login:
        world.client().login(new)
    assert login.value.status == 401
    # Earlier signatures by both keys still verify.
    audit_database(world.service.engine, world.service.signer)


def test_conflicting_fingerprints_wait_for_a_regulator(world: World) -> None:
    first, second = world.party("First"), world.party("Second")
    fingerprint = secrets.token_hex(32)
    a = world.client().register_asset(first, **asset_fields(fingerprint=fingerprint))
    refused(
        world,
        "already-registered",
        409,
        lambda: world.client().register_asset(first, **asset_fields(fingerprint=fingerprint)),
    )
    b = world.client().register_asset(second, **asset_fields(fingerprint=fingerprint))
    for asset_id in (a.id, b.id):
        assert world.client().get_json(f"/v1/assets/{asset_id}")["conflict"] is True
    wait_notice()
    assert world.service.certify_due() == []
    regulator = world.regulator()
    refused(
        world,
        "role-required",
        403,
        lambda: world.client().sign_and_submit(
            first, "conflict.resolve", fingerprint=fingerprint, rightful_asset_id=a.id, reason="x"
        ),
    )
    world.client().sign_and_submit(
        regulator,
        "conflict.resolve",
        fingerprint=fingerprint,
        rightful_asset_id=a.id,
        reason="first",
    )
    assert world.client().get_json(f"/v1/assets/{b.id}")["status"] == "rejected"
    assert world.service.certify_due() == [a.id]
    assert world.client().get_json(f"/v1/conflicts/{fingerprint}")["rightful_asset_id"] == a.id


def test_new_versions_keep_the_id_and_need_the_holding_right(world: World) -> None:
    owner, other = world.party("Owner"), world.party("Other")
    asset = world.client().register_asset(owner, **asset_fields())
    refused(
        world,
        "right-required",
        403,
        lambda: world.client().sign_and_submit(
            other,
            "asset.version",
            asset_id=asset.id,
            fingerprint=secrets.token_hex(32),
            size_bytes=1,
            record_count=1,
        ),
    )
    world.client().sign_and_submit(
        owner,
        "asset.version",
        asset_id=asset.id,
        fingerprint=secrets.token_hex(32),
        size_bytes=2,
        record_count=2,
        note="March update",
    )
    versions = world.client(owner).get_json(f"/v1/assets/{asset.id}/versions")
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["note"] == "March update"
    public = world.client().get_json(f"/v1/assets/{asset.id}/versions")
    assert public[1]["note"] is None  # the note is private (ledger.privacy)
    assert world.client().get_json(f"/v1/assets/{asset.id}")["version"] == 2


def test_login_cannot_be_replayed(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    from api.client import new_statement, sign_statement
    from ledger.encoding import canonical_json, format_rfc3339_utc

    key = world.party("P")
    envelope = sign_statement(
        key,
        new_statement(
            "auth.login",
            origin=TEST_ORIGIN,
            expires_at=format_rfc3339_utc(datetime.now(UTC) + timedelta(minutes=5)),
        ),
    )
    body = canonical_json(envelope)
    headers = {"content-type": "application/json"}
    assert world.http.post("/v1/auth/login", content=body, headers=headers).status_code == 200
    again = world.http.post("/v1/auth/login", content=body, headers=headers)
    assert again.status_code == 409 and again.json()["type"].endswith("nonce-reused")
    bad = world.http.get(
        f"/v1/parties/{pid(key)}/contact", headers={"authorization": "Bearer dl1.forged.token"}
    )
    assert bad.status_code == 401


# --- the catalog --------------------------------------------------------------------------------


def test_catalog_search_filters_and_pages(world: World) -> None:
    owner, other = world.party("Owner"), world.party("Other")
    made = []
    for i in range(7):
        made.append(
            world.client()
            .register_asset(
                owner if i % 2 else other,
                **asset_fields(
                    title=f"气象数据 weather {i}" if i < 3 else f"traffic counts {i}",
                    category="weather" if i < 3 else "transport",
                    classification="important" if i == 6 else "general",
                ),
            )
            .id
        )
    client = world.client()
    page = client.get_json("/v1/assets", limit=3)
    assert [a["asset_id"] for a in page["assets"]] == made[::-1][:3]
    rest = client.get_json("/v1/assets", limit=10, cursor=page["next_cursor"])
    assert [a["asset_id"] for a in rest["assets"]] == made[::-1][3:] and rest["next_cursor"] is None
    assert {a["asset_id"] for a in client.get_json("/v1/assets", q="气象数据")["assets"]} == set(
        made[:3]
    )
    assert {a["asset_id"] for a in client.get_json("/v1/assets", q="WEATHER")["assets"]} == set(
        made[:3]
    )
    assert len(client.get_json("/v1/assets", q="气")["assets"]) == 3  # short queries work too
    page = client.get_json("/v1/assets", q="weather", limit=2)  # text search pages too
    rest = client.get_json("/v1/assets", q="weather", limit=2, cursor=page["next_cursor"])
    assert [a["asset_id"] for a in page["assets"] + rest["assets"]] == made[:3][::-1]
    assert rest["next_cursor"] is None
    assert {
        a["asset_id"] for a in client.get_json("/v1/assets", category="transport")["assets"]
    } == set(made[3:])
    assert [
        a["asset_id"] for a in client.get_json("/v1/assets", classification="important")["assets"]
    ] == [made[6]]
    assert len(client.get_json("/v1/assets", owner=pid(owner))["assets"]) == 3
    assert len(client.get_json("/v1/assets", status="on_notice")["assets"]) == 7
    assert client.get_json("/v1/assets", q="'; DROP TABLE assets; --")["assets"] == []
    assert client.get_json("/v1/assets", q='100%_"x"')["assets"] == []


# --- replay -------------------------------------------------------------------------------------


def test_replay_rebuilds_every_projection_and_catches_a_tampered_one(
    world: World, tmp_path: Path
) -> None:
    from datetime import timedelta

    from sqlalchemy import text

    from ledger.storage.engine import make_engine
    from ledger.storage.migrate import upgrade
    from ledger.storage.replay import compare, replay

    owner, other, buyer = world.party("Owner"), world.party("Other"), world.party("Buyer")
    regulator = world.regulator()
    asset = world.client().register_asset(owner, **asset_fields())
    objection = world.client().sign_and_submit(
        other, "asset.object", **OBJECTION, asset_id=asset.id
    )
    world.client().sign_and_submit(
        regulator, "objection.resolve", objection_id=objection.id, outcome="dismissed", reason="r"
    )
    offer = world.client().sign_and_submit(
        owner, "rights.offer", asset_id=asset.id, right="holding", to_party=pid(buyer)
    )
    world.client().sign_and_submit(buyer, "rights.accept", transfer_id=offer.id)
    fingerprint = secrets.token_hex(32)
    world.client().register_asset(owner, **asset_fields(fingerprint=fingerprint))
    world.client().register_asset(other, **asset_fields(fingerprint=fingerprint))
    wait_notice()
    world.service.certify_due()

    def rebuilt(name: str) -> Any:
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        upgrade(engine)
        replay(
            world.service.engine, engine, world.service.operator, timedelta(seconds=NOTICE_SECONDS)
        )
        return engine

    fresh = rebuilt("replay1.db")
    assert compare(world.service.engine, fresh) == []

    with world.service.engine.begin() as conn:
        conn.execute(
            text("UPDATE assets SET title = 'forged' WHERE asset_id = :a"), {"a": asset.id}
        )
    differences = compare(world.service.engine, rebuilt("replay2.db"))
    assert len(differences) == 1 and differences[0].table == "assets"
    assert "forged" in differences[0].describe()


def test_an_objection_needs_grounds_of_substance_and_evidence(world: World) -> None:
    owner, other = world.party("Owner"), world.party("Other")

    def file(**fields: Any) -> Any:
        # a fresh registration for each try: the test's short notice must not end under it
        asset = world.client().register_asset(owner, **asset_fields())
        return lambda: world.client().sign_and_submit(
            other, "asset.object", asset_id=asset.id, **fields
        )

    for thin in ("x", "mine", "no no no no no no no no", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"):
        problem = refused(world, "grounds-too-thin", 422, file(**{**OBJECTION, "grounds": thin}))
        assert "20 non-blank characters" in problem["detail"]
    refused(world, "evidence-required", 422, file(grounds=OBJECTION["grounds"]))
    asset = world.client().register_asset(owner, **asset_fields())
    world.client().sign_and_submit(  # Chinese grounds count by character
        other, "asset.object", asset_id=asset.id,
        grounds="这批传感器读数是我们在二零二四年自行采集并发布的原始数据",
        evidence_fingerprint="e" * 64,
    )  # fmt: skip
    assert world.client(owner).get_json(f"/v1/assets/{asset.id}")["open_objections"] == 1


def test_a_regulator_dismisses_a_run_of_objections_at_once(world: World) -> None:
    owner, regulator = world.party("Owner"), world.regulator()
    griefers = [world.party(f"Griefer {i}") for i in range(6)]  # registered before the notice
    asset = world.client().register_asset(owner, **asset_fields())
    other = world.client().register_asset(owner, **asset_fields())
    flood = [
        world.client().sign_and_submit(g, "asset.object", **OBJECTION, asset_id=a).id
        for g, a in zip(griefers, [asset.id] * 4 + [other.id] * 2, strict=True)
    ]
    dismiss = "objections.dismiss"
    refused(
        world,
        "role-required",
        403,
        lambda: world.client().sign_and_submit(
            owner, dismiss, objection_ids=flood, reason="no evidence of prior collection"
        ),
    )
    for bad, code, status in (
        ([*flood, flood[0]], "duplicate-objection", 422),
        ([*flood, "0" * 32], "unknown-objection", 404),
    ):
        refused(
            world,
            code,
            status,
            lambda ids=bad: world.client().sign_and_submit(  # type: ignore[misc]
                regulator, dismiss, objection_ids=ids, reason="baseless"
            ),
        )
    for objection_id in flood:  # all or nothing: a refused run dismissed none of them
        assert world.client(regulator).get_json(f"/v1/objections/{objection_id}")["status"] == (
            "open"
        )
    world.client().sign_and_submit(regulator, dismiss, objection_ids=flood, reason="baseless")
    for objection_id in flood:
        shown = world.client(regulator).get_json(f"/v1/objections/{objection_id}")
        assert shown["status"] == "dismissed" and shown["reason"] == "baseless"
    refused(
        world,
        "objection-closed",
        409,
        lambda: world.client().sign_and_submit(
            regulator, dismiss, objection_ids=flood[:1], reason="again"
        ),
    )
    wait_notice()
    assert sorted(world.service.certify_due()) == sorted([asset.id, other.id])
