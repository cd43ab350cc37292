"""Rate limits and daily quotas (api/throttle.py): 429 problems with Retry-After, counted in
metrics, the ledger unchanged; quotas shown to the party itself; the same counts shared
through Redis by several workers."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from api.app import build_service, create_app
from api.client import ApiError, new_statement, seal_and_sign
from api.keyfiles import read_key
from api.settings import RateLimits, Settings
from api.throttle import QuotaUse, Throttle, Throttled
from ledger.dsse import Envelope, Signature
from ledger.encoding import canonical_json
from tests.factories import TEST_ORIGIN, register_envelope
from tests.world import World, asset_fields, pid

REDIS_URL = os.environ.get("DATALEDGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UNLIMITED = RateLimits(
    client_writes="",
    client_registrations="",
    client_logins="",
    client_quotes="",
    client_reads="",
    party_writes="",
    party_quotes="",
)


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.exceptions.RedisError:
        return False


needs_redis = pytest.mark.skipif(
    not _redis_reachable(), reason=f"no Redis at {REDIS_URL} (set DATALEDGER_TEST_REDIS_URL)"
)


def _world(tmp_path: Path, limits: RateLimits) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path / "data",
        origin=TEST_ORIGIN,
        certify_interval_seconds=0,
        rate_limits=limits,
    )
    service = build_service(settings)
    with TestClient(create_app(settings, service)) as http:
        yield World(service, http, read_key(settings.resolved_log_key_file))


@pytest.fixture
def limited_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, request.param)


def _post(world: World, envelope: Envelope) -> Any:
    return world.http.post(
        "/v1/parties",
        content=canonical_json(envelope),
        headers={"content-type": "application/json"},
    )


def _assert_429(response: Any, code: str, limit: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    problem = response.json()
    assert problem["type"] == f"urn:dataledger:problem:{code}"
    assert problem["limit"] == limit
    assert problem["retry_after"] == int(response.headers["retry-after"])


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, client_registrations="2/hour")], indirect=True
)
def test_registrations_per_address_are_limited(limited_world: World) -> None:
    world = limited_world
    for _ in range(2):
        assert _post(world, register_envelope()[1]).status_code == 201
    before = world.size()
    refused = _post(world, register_envelope()[1])
    _assert_429(refused, "rate-limited", "client.registrations")
    assert world.size() == before
    metrics = world.http.get("/metrics").text
    assert 'dataledger_throttled_total{limit="client.registrations"} 1' in metrics


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, client_writes="3/minute")], indirect=True
)
def test_writes_per_address_are_refused_before_the_body_is_read(limited_world: World) -> None:
    world = limited_world
    for _ in range(3):
        assert _post(world, register_envelope()[1]).status_code == 201
    # Not even a malformed body is looked at once the address is over its limit.
    refused = world.http.post(
        "/v1/statements", content=b"{not json", headers={"content-type": "application/json"}
    )
    _assert_429(refused, "rate-limited", "client.writes")


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, party_entries_per_day=3)], indirect=True
)
def test_daily_entry_quota_per_party(limited_world: World) -> None:
    world = limited_world
    owner = world.party("Quota Owner")  # counted against the address, not the new party
    client = world.client(owner)
    for _ in range(3):
        client.register_asset(owner, **asset_fields())
    before = world.size()
    with pytest.raises(ApiError) as info:
        client.register_asset(owner, **asset_fields())
    assert info.value.status == 429
    assert info.value.code == "quota-exceeded"
    assert world.size() == before

    mine = world.client(owner).party(pid(owner))
    entries = mine["quotas"]["entries"]
    assert entries["limit"] == 3
    assert entries["used"] == 3 and entries["remaining"] == 0
    assert entries["resets_at"] is not None
    assert mine["quotas"]["bytes"]["used"] > 0
    # Others (and anonymous readers) don't see it.
    assert world.client().party(pid(owner))["quotas"] is None
    stranger = world.party("Stranger")
    assert world.client(stranger).party(pid(owner))["quotas"] is None
    # Another party's quota is its own.
    world.client(stranger).register_asset(stranger, **asset_fields())


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, party_bytes_per_day=6_000)], indirect=True
)
def test_daily_byte_quota_per_party(limited_world: World) -> None:
    world = limited_world
    owner = world.party("Byte Owner")
    client = world.client(owner)
    big = "x" * 1500
    with pytest.raises(ApiError) as info:
        for _ in range(5):
            client.register_asset(owner, **asset_fields(description=big))
    assert info.value.code == "quota-exceeded"
    assert "bytes" in info.value.problem["detail"]
    used = world.client(owner).party(pid(owner))["quotas"]["bytes"]
    assert used["limit"] == 6_000 and used["used"] <= 6_000


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, party_entries_per_day=2)], indirect=True
)
def test_a_forged_envelope_spends_nobody_s_quota(limited_world: World) -> None:
    world = limited_world
    victim = world.party("Victim")
    client = world.client(victim)
    client.register_asset(victim, **asset_fields())  # 1 of 2
    signed = seal_and_sign(
        victim, new_statement("asset.register", origin=TEST_ORIGIN, **asset_fields())
    )
    assert signed.envelope is not None
    envelope = signed.envelope
    forged = msgspec.structs.replace(
        signed,
        envelope=Envelope(
            payloadType=envelope.payloadType,
            payload=envelope.payload,
            signatures=[Signature(keyid=envelope.signatures[0].keyid, sig="A" * 86 + "==")],
        ),
    )
    for _ in range(3):
        response = world.http.post(
            "/v1/statements",
            content=msgspec.json.encode(forged),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 403, response.text
    client.register_asset(victim, **asset_fields())  # 2 of 2: still available


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, client_logins="2/minute")], indirect=True
)
def test_logins_per_address_are_limited(limited_world: World) -> None:
    world = limited_world
    key = world.party("Login")
    world.client(key)
    world.client(key)
    with pytest.raises(ApiError) as info:
        world.client(key)
    assert info.value.status == 429 and info.value.code == "rate-limited"


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, client_reads="2/minute")], indirect=True
)
def test_expensive_reads_per_address_are_limited(limited_world: World) -> None:
    world = limited_world
    for _ in range(2):
        assert world.http.get("/v1/log/entries").status_code == 200
    _assert_429(world.http.get("/v1/assets/"), "rate-limited", "client.reads")
    # Cheap reads are not counted.
    assert world.http.get("/v1/log/checkpoint").status_code == 200


def test_limits_can_be_switched_off_and_set_from_the_environment() -> None:
    env = {
        "DATALEDGER_RATE_LIMITS": "off",
        "DATALEDGER_RATE_PARTY_WRITES": "5/second;100/minute",
        "DATALEDGER_QUOTA_ENTRIES_PER_DAY": "7",
        "DATALEDGER_REDIS_URL": "redis://cache:6379/2",
    }
    limits = Settings.from_env(env).rate_limits
    assert not limits.enabled
    assert limits.party_writes == "5/second;100/minute"
    assert limits.party_entries_per_day == 7
    assert limits.redis_url == "redis://cache:6379/2"
    # A worker of `serve` rebuilds the same limits from the environment it is given.
    assert Settings.from_env(Settings(rate_limits=limits).to_env()).rate_limits == limits


def _spend_all(throttles: list[Throttle], who: str, attempts: int) -> int:
    async def run() -> int:
        admitted = 0
        for i in range(attempts):
            try:
                await throttles[i % len(throttles)].rate("party.writes", who)
                admitted += 1
            except Throttled:
                pass
        for throttle in throttles:
            await throttle.aclose()
        return admitted

    return asyncio.run(run())


@needs_redis
def test_two_workers_share_one_count_through_redis() -> None:
    limits = replace(UNLIMITED, redis_url=REDIS_URL, party_writes="64/hour")
    who = secrets.token_hex(8)
    workers = [Throttle(limits), Throttle(limits)]
    admitted = _spend_all(workers, who, 200)
    # Leases may leave a few units reserved but unused; never more than the limit.
    assert 64 - 2 * (64 // 16) <= admitted <= 64
    # Memory is per process: the same two workers would admit twice the limit.
    alone = [Throttle(replace(limits, redis_url="")), Throttle(replace(limits, redis_url=""))]
    assert 128 - 2 * (64 // 16) <= _spend_all(alone, who, 200) <= 128


@needs_redis
def test_daily_quota_through_redis_refuses_with_retry_after() -> None:
    limits = replace(UNLIMITED, redis_url=REDIS_URL, party_entries_per_day=5)
    who = secrets.token_hex(8)
    throttle = Throttle(limits)

    async def run() -> tuple[Throttled, dict[str, QuotaUse]]:
        for _ in range(5):
            await throttle.append(who, 100)
        with pytest.raises(Throttled) as info:
            await throttle.append(who, 100)
        quotas = await throttle.quotas(who)
        await throttle.aclose()
        return info.value, quotas

    refused, quotas = asyncio.run(run())  # one loop: the Redis connections belong to it
    assert refused.code == "quota-exceeded"
    assert 3600 < refused.retry_after <= 86_400
    assert quotas["entries"].used == 5 and quotas["entries"].remaining == 0


def test_an_unreachable_store_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    limits = replace(UNLIMITED, redis_url="redis://127.0.0.1:9/0", party_writes="1/hour")
    throttle = Throttle(limits)
    who = secrets.token_hex(8)

    async def run() -> None:
        for _ in range(3):
            await throttle.rate("party.writes", who)
        await throttle.aclose()

    asyncio.run(run())
    assert "rate-limit store unavailable" in caplog.text


@needs_redis
@pytest.mark.parametrize(
    "limited_world",
    [replace(UNLIMITED, redis_url=REDIS_URL, party_entries_per_day=2)],
    indirect=True,
)
def test_the_api_refuses_over_quota_with_redis(limited_world: World) -> None:
    world = limited_world
    owner = world.party("Redis Owner")
    client = world.client(owner)
    client.register_asset(owner, **asset_fields())
    client.register_asset(owner, **asset_fields())
    with pytest.raises(ApiError) as info:
        client.register_asset(owner, **asset_fields())
    assert info.value.status == 429 and info.value.code == "quota-exceeded"
    entries = world.client(owner).party(pid(owner))["quotas"]["entries"]
    assert entries["remaining"] == 0


@pytest.mark.parametrize(
    "limited_world", [replace(UNLIMITED, client_writes="3/second")], indirect=True
)
def test_the_sdk_waits_out_a_short_rate_limit(limited_world: World) -> None:
    world = limited_world
    before = world.size()
    for i in range(7):  # more than two windows' worth: the SDK resends after Retry-After
        world.party(f"Burst {i}")
    assert world.size() == before + 7
    assert 'dataledger_throttled_total{limit="client.writes"}' in world.http.get("/metrics").text
