"""Several server processes on one database under concurrent appends of every statement kind.

`dataledger serve --workers 3` runs three processes on one database (PostgreSQL in production;
SQLite works too). Four client threads each play a whole market story that uses every kind a
party can sign, all at once, while the servers' background rounds certify assets; a separate
process expires licences; and every thread also races usage reports on one shared licence.
Afterwards the log must verify (`dataledger verify --database-url`), the projections must be
exactly what a replay of the log gives (`dataledger replay --check`), every statement kind must
be in the log, and the shared licence's quota must hold exactly.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import nacl.signing
import pytest

from api.app import build_service
from api.client import ApiError, Client
from api.keyfiles import read_key
from api.service import LedgerService
from api.settings import Settings
from ledger import dsse
from ledger.encoding import b64decode, format_rfc3339_utc
from ledger.entries import decode_entry
from ledger.statements import Statement
from ledger.storage import catalog
from tests.test_cli import cli, start_server
from tests.test_licences import Market
from tests.world import asset_fields, pid

STORIES = 4
WORKERS = 3
SHARED_QUOTA = 100
SHARED_REPORT = 7  # 14 reports fit in the quota, the 15th does not
REPORTS_PER_STORY = 5  # 4 stories x 5 = 20 attempts > 14
EXTRA_TRADES = 7  # the valuation model needs 30 paid trades in all

ALL_KINDS = {
    cls.__struct_config__.tag
    for cls in Statement.__subclasses__()
    if isinstance(cls.__struct_config__.tag, str) and cls.__struct_config__.tag != "auth.login"
}


class LiveWorld:
    """Enough of tests.world.World for `Market`, over real HTTP to the worker processes."""

    def __init__(self, url: str, operator: nacl.signing.SigningKey) -> None:
        self.url, self.operator = url, operator
        self.clients: list[Client] = []
        self.lock = threading.Lock()

    def client(self, key: nacl.signing.SigningKey | None = None) -> Client:
        client = Client(self.url, trust_on_first_use=True)  # the test's own server
        with self.lock:
            self.clients.append(client)
        if key is not None:
            client.login(key)
        return client

    def party(self, name: str) -> nacl.signing.SigningKey:
        key = nacl.signing.SigningKey.generate()
        self.client().register_party(key, name)
        return key

    def grant(self, key: nacl.signing.SigningKey, role: str) -> None:
        self.client().sign_and_submit(self.operator, "role.grant", party_id=pid(key), role=role)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def story(
    world: LiveWorld, regulator: nacl.signing.SigningKey, shared: Market, shared_licence: str
) -> int:
    """One market's life, using every kind a party signs. Returns accepted shared reports."""
    m = Market(world)  # type: ignore[arg-type] - party.register x3, asset.register, offer.publish
    m.sign(m.owner, "party.set_contact", contact_commitment=secrets.token_hex(32))

    m.sign(
        m.owner,
        "asset.version",
        asset_id=m.asset,
        fingerprint=secrets.token_hex(32),
        size_bytes=2,
        record_count=2,
    )
    objection = m.sign(
        m.other,
        "asset.object",
        asset_id=m.asset,
        grounds="I collected this data myself",
        evidence_fingerprint="e" * 64,
    )
    baseless = m.sign(
        m.buyer,
        "asset.object",
        asset_id=m.asset,
        grounds="Another objection with no merit",
        evidence_fingerprint="f" * 64,
    )
    m.sign(regulator, "objections.dismiss", objection_ids=[baseless.id], reason="no merit")
    m.sign(
        regulator,
        "objection.resolve",
        objection_id=objection.id,
        outcome="dismissed",
        reason="no evidence",
    )
    fingerprint = secrets.token_hex(32)
    first = world.client().register_asset(m.owner, **asset_fields(fingerprint=fingerprint))
    world.client().register_asset(m.other, **asset_fields(fingerprint=fingerprint))
    m.sign(
        regulator,
        "conflict.resolve",
        fingerprint=fingerprint,
        rightful_asset_id=first.id,
        reason="registered first",
    )
    transfer = m.sign(
        m.owner, "rights.offer", asset_id=first.id, right="processing", to_party=pid(m.other)
    )
    m.sign(m.other, "rights.accept", transfer_id=transfer.id)
    derived = world.client().register_asset(m.other, **asset_fields(derived_from=[m.asset]))
    m.sign(m.owner, "lineage.confirm", asset_id=derived.id, parent_id=m.asset)

    withdrawn = m.publish()
    m.sign(m.owner, "offer.withdraw", offer_id=withdrawn, reason="repricing")
    m.sign(m.owner, "licence.reject", licence_id=m.request(), reason="not a fit")
    m.sign(m.owner, "licence.revoke", licence_id=m.active(), reason="breach of terms")
    m.sign(m.buyer, "licence.terminate", licence_id=m.active(), reason="done")
    licence_id = m.active(units=100)

    gateway = world.party("Gateway")
    m.sign(m.owner, "gateway.set", asset_id=m.asset, gateway_party=pid(gateway), enabled=True)
    m.usage(licence_id, 3)
    m.usage(licence_id, 2, key=gateway)
    paid(m, licence_id)
    dispute = m.sign(m.buyer, "dispute.open", licence_id=licence_id, grounds="short delivery")
    m.sign(m.owner, "dispute.answer", dispute_id=dispute.id, answer="sent in full")
    m.sign(regulator, "dispute.resolve", dispute_id=dispute.id, decision="no fault found")

    important = Market(world, classification="important")  # type: ignore[arg-type]
    pending = important.request()
    important.approve(pending)
    important.sign(regulator, "licence.regulator_approve", licence_id=pending)

    m.sign(regulator, "asset.freeze", asset_id=m.asset, reason="investigation")
    m.sign(regulator, "asset.unfreeze", asset_id=m.asset, reason="cleared")
    for _ in range(EXTRA_TRADES):
        paid(m, m.active(units=10))
    try:
        quote(world, m)
    except ApiError as early:  # other stories may not have traded enough yet
        assert early.code == "valuation-unavailable", early.problem

    world.grant(m.other, "regulator")
    world.client().sign_and_submit(
        world.operator, "role.revoke", party_id=pid(m.other), role="regulator"
    )
    new_key = nacl.signing.SigningKey.generate()
    m.sign(
        m.other,
        "party.rotate_key",
        new_public_key=base64.b64encode(bytes(new_key.verify_key)).decode(),
    )
    world.client().sign_and_submit(new_key, "party.revoke_key", keyid=pid(new_key), reason="lost")

    accepted = 0
    for _ in range(REPORTS_PER_STORY):
        try:
            shared.usage(shared_licence, SHARED_REPORT)
            accepted += 1
        except ApiError as refused:
            assert refused.code == "quota-exceeded", refused.problem
    return accepted


def verify_and_replay(database_url: str, vkey: str, log_key: Path, *replay_options: str) -> None:
    """`dataledger verify --database-url` and `replay --check` on the database, both must pass."""
    cli("verify", "--vkey", vkey, "--database-url", database_url)
    cli(
        "replay",
        "--check",
        "--database-url",
        database_url,
        "--log-key-file",
        str(log_key),
        *replay_options,
    )


def paid(m: Market, licence_id: str) -> None:
    """payment.record and payment.confirm: a trade, as the valuation model counts them."""
    payment = m.sign(
        m.buyer,
        "payment.record",
        licence_id=licence_id,
        amount={"amount_minor": 15_000, "currency": "CNY"},
    )
    m.sign(m.owner, "payment.confirm", payment_id=payment.id)


def quote(world: LiveWorld, m: Market) -> None:
    world.client(m.buyer).post_json(
        "/v1/valuations/quote", {"asset_id": m.asset, "units": 10, "term_days": 30}
    )


def _statements(client: Client) -> list[dict[str, Any]]:
    size = client.checkpoint().size
    statements = []
    for start in range(0, size, 500):
        for item in client.entries(start, min(500, size - start)):
            entry = decode_entry(b64decode(item["entry"] if isinstance(item, dict) else item))
            statements.append(msgspec.json.decode(dsse.payload_bytes(entry.envelope)))
    return statements


def _kinds_in_log(client: Client) -> Counter[str]:
    return Counter(statement["kind"] for statement in _statements(client))


def _due_for_certification(service: LedgerService) -> list[str]:
    with service.engine.connect() as conn:
        return catalog.due_for_certification(conn, format_rfc3339_utc(datetime.now(UTC)))


def _certified(client: Client) -> list[str]:
    return [s["asset_id"] for s in _statements(client) if s["kind"] == "asset.certify"]


@pytest.mark.slow
def test_every_kind_concurrently_on_several_workers(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATALEDGER_NOTICE_PERIOD", "2")
    monkeypatch.setenv("DATALEDGER_CERTIFY_INTERVAL", "1")
    data_dir = tmp_path / "data"
    # The stories open a client (a keep-alive connection) per step and keep them to the end:
    # far over the edge's per-address connection cap, which has its own tests.
    server = start_server(
        database_url,
        data_dir,
        workers=WORKERS,
        env={"DATALEDGER_MAX_CONNECTIONS_PER_CLIENT": "100000"},
    )
    world = LiveWorld(server.url, read_key(data_dir / "log-key.json"))
    try:
        regulator = world.party("Regulator")
        world.grant(regulator, "regulator")
        shared = Market(world, max_units=SHARED_QUOTA)  # type: ignore[arg-type]
        shared_licence = shared.active(units=SHARED_QUOTA)

        with ThreadPoolExecutor(STORIES) as pool:
            accepted = sum(
                pool.map(lambda _: story(world, regulator, shared, shared_licence), range(STORIES))
            )

        quote(world, shared)  # by now there is history enough
        assert accepted == SHARED_QUOTA // SHARED_REPORT
        licence = shared.licence(shared_licence)
        assert licence["units_used"] == accepted * SHARED_REPORT <= SHARED_QUOTA

        # The workers' background rounds certify every asset whose notice is over.
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            notice_period_seconds=2,  # every process on a log shares its rules' settings
            certify_interval_seconds=0,
        )
        service = build_service(settings)
        deadline = time.monotonic() + 60
        while _due_for_certification(service):
            assert time.monotonic() < deadline, "the workers left assets uncertified for 60 s"
            time.sleep(0.5)

        # Licence expiry is the ledger's own round too: run it from yet another process on the
        # same database, with a clock after every term (30 days), once nothing else is due.
        later = datetime.now(UTC) + timedelta(days=31)
        service.sequencer._clock = lambda: later  # type: ignore[attr-defined]
        service.sequencer.start()
        try:
            assert service.expire_due(later)
        finally:
            service.sequencer.stop()
            service.engine.dispose()

        client = world.client()
        kinds = _kinds_in_log(client)
        assert set(kinds) == ALL_KINDS, f"missing: {ALL_KINDS - set(kinds)}"
        assert kinds["asset.certify"] == len(set(_certified(client)))  # each asset once
        vkey = cli("log", "key", url=server.url).stdout.strip()
    finally:
        world.close()
        server.stop()

    verify_and_replay(database_url, vkey, data_dir / "log-key.json", "--notice-period", "2")


@pytest.mark.slow
def test_two_hosts_on_one_database_share_one_tree_and_one_quota(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `dataledger serve` processes on different ports (two hosts) and one database: each
    decides against its own in-memory state and must fold in what the other appended, so a
    quota shared across both holds exactly, and the log is one tree with no gap."""
    monkeypatch.setenv("DATALEDGER_CERTIFY_INTERVAL", "0")
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first = start_server(database_url, first_dir)
    second_dir.mkdir()
    (second_dir / "log-key.json").write_bytes((first_dir / "log-key.json").read_bytes())
    (second_dir / "log-key.json").chmod(0o600)
    second = start_server(database_url, second_dir)
    operator = read_key(first_dir / "log-key.json")
    hosts = [LiveWorld(first.url, operator), LiveWorld(second.url, operator)]
    try:
        m = Market(hosts[0], max_units=SHARED_QUOTA)  # type: ignore[arg-type]
        licence = m.active(units=SHARED_QUOTA)
        buyers = [h.client(m.buyer) for h in hosts]

        def report(n: int) -> bool:
            try:
                buyers[n % 2].sign_and_submit(
                    m.buyer,
                    "usage.report",
                    licence_id=licence,
                    units=SHARED_REPORT,
                    period_start=format_rfc3339_utc(datetime.now(UTC)),
                    period_end=format_rfc3339_utc(datetime.now(UTC)),
                )
                return True
            except ApiError as refused:
                assert refused.code == "quota-exceeded", refused.problem
                return False

        with ThreadPoolExecutor(6) as pool:
            accepted = sum(pool.map(report, range(2 * (SHARED_QUOTA // SHARED_REPORT) + 6)))
        assert accepted == SHARED_QUOTA // SHARED_REPORT
        # Each host now knows what the other did: a party registered on one acts on the other.
        newcomer = hosts[1].party("Newcomer")
        hosts[0].client().sign_and_submit(
            newcomer, "asset.register", "/v1/assets", **asset_fields()
        )
        sizes = {h.client().checkpoint().size for h in hosts}
        assert len(sizes) == 1
        vkey = cli("log", "key", url=first.url).stdout.strip()
    finally:
        for h in hosts:
            h.close()
        first.stop()
        second.stop()
    verify_and_replay(database_url, vkey, first_dir / "log-key.json")
