"""Pages bounded by bytes as well as by count: the one rule for every list an API page holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def within_bytes(items: Iterable[T], size: Callable[[T], int], max_bytes: int) -> list[T]:
    """The leading `items` whose sizes add up to `max_bytes` at most, and always the first one
    (a page never comes back empty while items remain). Stops reading at the first item over:
    a lazy `items` is not consumed further."""
    page: list[T] = []
    total = 0
    for item in items:
        total += size(item)
        if page and total > max_bytes:
            break
        page.append(item)
    return page
