"""Figures too slow for a page (alerts, market statistics, the valuation model), computed off
the request path and kept in memory.

A page reads what is there at once. A missing or stale value starts ONE refresh in a background
thread; the page waits for it at most a small budget, so a small ledger shows fresh figures on
first load and a large one never holds a page for a computation that takes seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Reading(Generic[T]):
    value: T | None
    computed_at: datetime | None
    computing: bool
    error: str | None  # why the last refresh failed, when there is no value to show


class Snapshot(Generic[T]):
    def __init__(
        self,
        name: str,
        compute: Callable[[], T],
        *,
        max_age: float,
        retry_after: float = 60.0,
    ) -> None:
        self.name = name
        self._compute = compute
        self._max_age = max_age
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._value: T | None = None
        self._computed = 0.0  # monotonic time of the value
        self._computed_at: datetime | None = None
        self._error: str | None = None
        self._failed = 0.0
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._closed = False

    def read(self, wait: float = 0.0) -> Reading[T]:
        """What is there now; refreshes in the background when missing or stale."""
        with self._lock:
            started = self._start_if_due()
            done = self._done
        if started and wait > 0:
            done.wait(wait)
        with self._lock:
            computing = self._thread is not None and self._thread.is_alive()
            error = self._error if self._value is None else None
            return Reading(self._value, self._computed_at, computing, error)

    def _start_if_due(self) -> bool:
        now = time.monotonic()
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return False
        fresh = self._value is not None and now - self._computed < self._max_age
        recently_failed = self._error is not None and now - self._failed < self._retry_after
        if fresh or recently_failed:
            return False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"web-{self.name}", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        try:
            value = self._compute()
        except Exception as exc:  # noqa: BLE001 - a failed refresh must not kill the process
            log.warning("background %s failed: %s", self.name, exc)
            with self._lock:
                self._error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                self._failed = time.monotonic()
        else:
            with self._lock:
                self._value = value
                self._computed = time.monotonic()
                self._computed_at = datetime.now(UTC)
                self._error = None
        finally:
            self._done.set()

    def close(self, timeout: float = 30.0) -> None:
        """Start nothing more and wait for a refresh in flight (before the engine goes away)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
