"""Fuzzing the API with schemathesis against the service's own OpenAPI document.

A real server (uvicorn, SQLite) holds a small market: parties, a regulator, an asset, an offer,
an approved licence with usage and a payment. Schemathesis generates requests for every
operation in /schema/openapi.json with a fixed seed and a bounded number of cases; about half
of them carry the ids that exist and about half the regulator's bearer token, so the fuzzing
reaches past 404 and 401. Every response must be: no 5xx, a documented status and content type,
a body and headers that match the schema, and a documented `Allow` for undeclared methods.

One check is left out: `positive_data_acceptance` (a request that fits the schema must be
accepted). A signed statement that fits the schema still needs a valid signature by a known key,
a fresh `issued_at` and a rule that allows it — no schema can say that, so refusing it is right.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from api.app import build_service, create_app
from api.client import Client
from api.keyfiles import read_key
from api.openapi import document_problems
from api.settings import Settings
from tests.factories import TEST_ORIGIN
from tests.test_licences import Market
from tests.world import pid

CASES_PER_OPERATION = 25


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir / "data",
        origin=TEST_ORIGIN,
        database_url=f"sqlite:///{data_dir}/dataledger.db",
        notice_period_seconds=3600,
        certify_interval_seconds=0,
    )


def _published_schema() -> dict[str, Any]:
    """The document the service serves at /schema/openapi.json (read without a server)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings_ = _settings(Path(tmp))
        app = create_app(settings_, build_service(settings_))
        document: dict[str, Any] = app.openapi_schema.to_schema()
    document_problems(document)
    return document


schema = schemathesis.openapi.from_dict(_published_schema())


class LiveWorld:
    """Enough of tests.world.World for `Market`, over real HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: list[Client] = []

    def client(self, key: nacl.signing.SigningKey | None = None) -> Client:
        client = Client(self.url, trust_on_first_use=True)  # the test's own server
        self.clients.append(client)
        if key is not None:
            client.login(key)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def party(self, name: str) -> nacl.signing.SigningKey:
        key = nacl.signing.SigningKey.generate()
        self.client().register_party(key, name)
        return key


class Server:
    def __init__(self, app: Any) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings_ = _settings(tmp_path_factory.mktemp("schemathesis"))
    app = create_app(settings_, build_service(settings_))
    with Server(app) as server:
        world = LiveWorld(server.url)
        market = Market(world)  # type: ignore[arg-type]
        licence_id = market.active(units=100)
        market.usage(licence_id, 5)
        payment = market.sign(
            market.buyer,
            "payment.record",
            licence_id=licence_id,
            amount={"amount_minor": 15_000, "currency": "CNY"},
        )
        regulator = world.party("Regulator")
        operator = read_key(settings_.resolved_log_key_file)
        world.client().sign_and_submit(
            operator, "role.grant", party_id=pid(regulator), role="regulator"
        )
        token = world.client().login(regulator)["token"]
        world.close()
        yield {
            "url": server.url,
            "token": token,
            "ids": {
                "asset_id": market.asset,
                "offer_id": market.offer,
                "licence_id": licence_id,
                "payment_id": payment.id,
                "party_id": pid(market.owner),
                "index": 1,
                "tree_size": 3,
            },
        }


def _pick(case: Any, salt: int) -> bool:
    """A deterministic coin for `case` (Python's str hash is salted per process)."""
    return bool(zlib.crc32(repr((case.path_parameters, case.query, salt)).encode()) & 1)


@schema.parametrize()
@settings(
    max_examples=CASES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_own_schema(case: Any, live: dict[str, Any]) -> None:
    if case.path_parameters and _pick(case, 1):
        for name, value in live["ids"].items():
            if name in case.path_parameters:
                case.path_parameters[name] = value
    headers = {"authorization": f"Bearer {live['token']}"} if _pick(case, 2) else None
    case.call_and_validate(
        base_url=live["url"],
        headers=headers,
        excluded_checks=[positive_data_acceptance],
        timeout=30,
    )
