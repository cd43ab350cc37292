"""Rate limits and daily quotas, per client address and per party.

The counting is the `limits` library's: fixed windows in its storage, which is Redis when
`DATALEDGER_REDIS_URL` is set (shared by every worker and host) and this process's memory
otherwise. What is limited, and how much, is `RateLimits` (api/settings.py); docs/operations.md
lists every limit.

A hit on the store costs too much for the append path (a network round trip to Redis, several
microseconds even in memory). So a worker takes allowance in leases: one hit reserves a block
of units, later requests spend it locally. A lease lives at most `_LEASE_SECONDS` (or a quarter
of its window) and is sized by how fast it was used, at most 1/16 of the limit, so the units a
worker has reserved but not used are a small, bounded part of any limit.

If the shared store cannot be reached, requests are let through (and a warning logged every
`_WARN_EVERY` seconds): the limits protect the service, they must not be what takes it down.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio
from limits import RateLimitItem, RateLimitItemPerDay, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard
from redis.exceptions import RedisError

from api.observability import Metrics
from api.settings import RateLimits
from ledger.encoding import format_rfc3339_utc

_LEASE_SECONDS = 1.0
_LEASE_SHARE = 16  # a lease holds at most 1/16 of its limit
_LEASES_KEPT = 50_000  # leases of idle keys are dropped past this many
_WARN_EVERY = 10.0
_STORE_ERRORS = (RedisError, StorageError, OSError)

log = logging.getLogger(__name__)


class Throttled(Exception):
    """A rate limit or quota refused the request: 429 with Retry-After."""

    def __init__(self, code: str, detail: str, retry_after: int, limit: str) -> None:
        super().__init__(detail)
        self.code = code  # rate-limited | quota-exceeded
        self.detail = detail
        self.retry_after = retry_after
        self.limit = limit


@dataclass(frozen=True)
class QuotaUse:
    """One daily quota of a party, as its owner sees it in GET /v1/parties/{id}."""

    limit: int
    used: int
    remaining: int
    resets_at: str | None  # None: nothing counted in the current window


class _Limit:
    """One window of a named limit, with the size and lifetime of its leases."""

    __slots__ = ("cap", "item", "name", "number", "ttl")
    _numbers = itertools.count()

    def __init__(self, name: str, item: RateLimitItem) -> None:
        self.name = name
        self.item = item
        self.number = next(self._numbers)  # tells apart the windows of one name
        self.cap = max(1, item.amount // _LEASE_SHARE)
        self.ttl = min(_LEASE_SECONDS, item.get_expiry() / 4)


@dataclass
class _Lease:
    left: int
    size: int
    expires: float


class Throttle:
    """The limits of one process; `rate` and `append` refuse with `Throttled`."""

    def __init__(self, settings: RateLimits, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self._metrics = metrics
        self._storage: Storage
        self._pool: redis.asyncio.ConnectionPool | None = None
        if settings.redis_url:
            # Our own pool, with timeouts: a hung Redis must not hang the requests.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._storage = RedisStorage(
                _async_uri(settings.redis_url),
                implementation="redispy",
                key_prefix="dataledger",
                connection_pool=self._pool,  # type: ignore[arg-type]  # stubs: scalars only
            )
        else:
            self._storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._rates: dict[str, list[_Limit]] = {
            name: [_Limit(name, item) for item in parse_many(text)]
            for name, text in settings.rates().items()
            if text
        }
        self._daily = {
            "entries": _Limit(
                "party.entries_per_day", RateLimitItemPerDay(settings.party_entries_per_day)
            ),
            "bytes": _Limit(
                "party.bytes_per_day", RateLimitItemPerDay(settings.party_bytes_per_day)
            ),
        }
        self._leases: dict[tuple[str, int, str], _Lease] = {}
        self._warned_at = -_WARN_EVERY

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def rate(self, name: str, who: str) -> None:
        """One request of class `name` (e.g. `client.writes`) by `who` (an address or a party)."""
        if not self.settings.enabled:
            return
        for limit in self._rates.get(name, ()):
            if not await self._spend(limit, who, 1):
                retry = await self._retry_after(limit, who)
                self._refused(name)
                raise Throttled(
                    "rate-limited",
                    f"too many requests ({name} allows {limit.item}); try again in {retry} s",
                    retry,
                    name,
                )

    async def append(self, party_id: str, size: int) -> None:
        """A statement of `size` bytes from `party_id`: its write rate and its daily quotas."""
        if not self.settings.enabled:
            return
        await self.rate("party.writes", party_id)
        for unit, cost in (("entries", 1), ("bytes", size)):
            limit = self._daily[unit]
            if not await self._spend(limit, party_id, cost):
                retry = await self._retry_after(limit, party_id)
                self._refused(limit.name)
                raise Throttled(
                    "quota-exceeded",
                    f"daily quota of {limit.item.amount} {unit} reached for party {party_id}; "
                    f"it renews in {retry} s (GET /v1/parties/{party_id} shows it)",
                    retry,
                    limit.name,
                )

    async def aclose(self) -> None:
        """Close the connections to the shared store (they belong to the running loop)."""
        if self._pool is not None:
            await self._pool.disconnect()

    async def quotas(self, party_id: str) -> dict[str, QuotaUse]:
        """The party's daily quotas as counted now (leased units count as used); empty if the
        shared store cannot be reached."""
        out: dict[str, QuotaUse] = {}
        for unit, limit in self._daily.items():
            try:
                reset, remaining = await self._limiter.get_window_stats(
                    limit.item, limit.name, party_id
                )
            except _STORE_ERRORS as exc:
                self._store_failed(exc)
                return {}
            counted = limit.item.amount - remaining
            out[unit] = QuotaUse(
                limit=limit.item.amount,
                used=counted,
                remaining=remaining,
                resets_at=format_rfc3339_utc(datetime.fromtimestamp(reset, UTC))
                if counted
                else None,
            )
        return out

    # --- counting -------------------------------------------------------------------------

    async def _spend(self, limit: _Limit, who: str, cost: int) -> bool:
        key = (limit.name, limit.number, who)
        now = time.monotonic()
        lease = self._leases.get(key)
        if lease is not None and now < lease.expires and lease.left >= cost:
            lease.left -= cost  # the common case: no call to the store at all
            return True
        if cost > limit.item.amount:
            return False
        if lease is None:
            size = 1
        elif now < lease.expires:  # used up in time: the next lease may be larger
            size = min(limit.cap, lease.size * 2)
        else:  # expired: size it by what was used
            size = max(1, lease.size - lease.left)
        want = max(cost, size)
        try:
            if want > cost and await self._hit(limit, who, want):
                self._keep(key, _Lease(want - cost, want, now + limit.ttl))
                return True
            if await self._hit(limit, who, cost):
                self._keep(key, _Lease(0, cost, now + limit.ttl))
                return True
        except _STORE_ERRORS as exc:  # the store is down or unreachable: let the request in
            self._store_failed(exc)
            return True
        return False

    async def _hit(self, limit: _Limit, who: str, cost: int) -> bool:
        return await self._limiter.hit(limit.item, limit.name, who, cost=cost)

    def _keep(self, key: tuple[str, int, str], lease: _Lease) -> None:
        if len(self._leases) >= _LEASES_KEPT:
            now = time.monotonic()
            self._leases = {k: v for k, v in self._leases.items() if v.expires > now}
        self._leases[key] = lease

    async def _retry_after(self, limit: _Limit, who: str) -> int:
        try:
            reset, _ = await self._limiter.get_window_stats(limit.item, limit.name, who)
        except _STORE_ERRORS as exc:
            self._store_failed(exc)
            return 1
        return max(1, math.ceil(reset - time.time()))

    def _store_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("rate-limit store unavailable, requests are not limited: %s", exc)

    def _refused(self, name: str) -> None:
        if self._metrics is not None:
            self._metrics.throttled_request(name)


def _async_uri(url: str) -> str:
    """`redis://host:port/db` as the limits library's asyncio storage names it."""
    return url if url.startswith("async+") else f"async+{url}"


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The peer's address as the server saw it (behind a proxy: the proxy's; see docs)."""
    client = connection.client
    return client.host if client is not None else "unknown"


def limited(name: str) -> Guard:
    """A route guard: one request of class `name` per call, counted by client address, before
    the body is read."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        throttle: Throttle = connection.app.state["throttle"]
        await throttle.rate(name, client_address(connection))

    return guard
