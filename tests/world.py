"""A running app with an operator key and helpers to act as parties: shared by the
registry and licence tests."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from litestar.testing import TestClient

from api.app import build_service, create_app
from api.client import ApiError, Client
from api.keyfiles import read_key
from api.service import LedgerService
from api.settings import Settings
from tests.factories import TEST_ORIGIN

NOTICE_SECONDS = 2


@dataclass
class World:
    service: LedgerService
    http: TestClient[Any]
    operator: nacl.signing.SigningKey

    def client(self, key: nacl.signing.SigningKey | None = None) -> Client:
        """A fresh SDK client on the test app (its own bearer token, if it logs in)."""
        client = Client(
            "http://testserver.local", http=_clone(self.http), vkey=self.service.signer.vkey
        )
        if key is not None:
            client.login(key)
        return client

    def party(self, name: str) -> nacl.signing.SigningKey:
        key = nacl.signing.SigningKey.generate()
        self.client().register_party(key, name)
        return key

    def regulator(self) -> nacl.signing.SigningKey:
        key = self.party("Regulator")
        self.grant(key, "regulator")
        return key

    def grant(self, key: nacl.signing.SigningKey, role: str) -> None:
        self.client().sign_and_submit(self.operator, "role.grant", party_id=pid(key), role=role)

    def size(self) -> int:
        return int(self.http.get("/v1/log/checkpoint").text.splitlines()[1])


def _clone(http: TestClient[Any]) -> TestClient[Any]:
    # Share the running app but not the headers (each client logs in as someone else).
    clone = TestClient(http.app, base_url=str(http.base_url))
    clone.blocking_portal = http.blocking_portal  # type: ignore[attr-defined]
    return clone


def pid(key: nacl.signing.SigningKey) -> str:
    return hashlib.sha256(bytes(key.verify_key)).hexdigest()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        origin=TEST_ORIGIN,
        notice_period_seconds=NOTICE_SECONDS,
        certify_interval_seconds=0,  # tests certify explicitly, deterministically
    )
    service = build_service(settings)
    with TestClient(create_app(settings, service)) as http:
        yield World(service, http, read_key(settings.resolved_log_key_file))


def asset_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "城市交通流量 Traffic flows 2026",
        "description": "Hourly vehicle counts from 1,200 road sensors",
        "category": "transport",
        "classification": "general",
        "personal_info": "none",
        "fingerprint": secrets.token_hex(32),
        "size_bytes": 123_456,
        "record_count": 1000,
        "declared_cost": {"amount_minor": 125_000, "currency": "CNY"},
        "quality": {"completeness": 90, "accuracy": 80, "consistency": 70, "timeliness": 60},
        "schema": [{"name": "sensor_id", "type": "string"}],
    }
    fields.update(overrides)
    return fields


def refused(world: World, code: str, status: int, action: Any) -> dict[str, Any]:
    """`action` must fail with problem `code`, and the log must not grow."""
    before = world.size()
    with pytest.raises(ApiError) as info:
        action()
    assert info.value.code == code, info.value.problem
    assert info.value.status == status, info.value.problem
    assert world.size() == before, "a refused statement changed the log"
    return info.value.problem


def wait_notice() -> None:
    time.sleep(NOTICE_SECONDS + 0.2)
