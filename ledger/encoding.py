"""Small, strict codecs shared by the core: base64, hex, RFC 3339 timestamps, canonical JSON."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from ledger.errors import EncodingError, VerificationError

# Compact JSON with sorted keys: the one encoding used for everything the ledger signs or hashes.
_canonical = msgspec.json.Encoder(order="sorted")

# Arrays and objects nested deeper than this are refused before decoding (a statement needs a
# handful of levels): the decoder recurses, and 100,000 levels exhaust the stack.
MAX_JSON_DEPTH = 64

_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def canonical_json(value: Any) -> bytes:
    """Encode `value` as compact JSON with sorted keys (UTF-8)."""
    return _canonical.encode(value)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as everywhere in the protocol."""
    return base64.b64encode(data).decode("ascii")


def b64decode(
    text: str, *, what: str = "value", error: type[VerificationError] = EncodingError
) -> bytes:
    """Strict standard base64 with padding; anything else raises `error` naming `what`."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(f"{what} is not standard base64 with padding") from None
    # Non-canonical padding bits would let two strings carry the same bytes: refuse them.
    if base64.b64encode(raw).decode("ascii") != text:
        raise error(f"{what} is not canonical base64")
    return raw


def is_canonical_decimal(text: str, max_digits: int = 20) -> bool:
    """Plain ASCII digits, no sign, no leading zero (so one number has one spelling), and at
    most `max_digits` of them (20 holds any unsigned 64-bit value)."""
    return (
        0 < len(text) <= max_digits
        and all(c in "0123456789" for c in text)
        and (text == "0" or not text.startswith("0"))
    )


def hash_lines(lines: list[str], *, what: str = "proof line") -> tuple[bytes, ...]:
    """SHA-256 hashes, one per line in canonical base64 (the C2SP text proofs' format);
    `EncodingError` names the first bad line."""
    hashes = []
    for line in lines:
        node = b64decode(line, what=f"{what} {line!r}")
        if len(node) != 32:
            raise EncodingError(f"{what} {line!r} is not a 32-byte SHA-256 hash")
        hashes.append(node)
    return tuple(hashes)


def parse_rfc3339_utc(text: str, *, what: str = "timestamp") -> datetime:
    """Parse an RFC 3339 UTC timestamp that ends in `Z` (e.g. 2026-11-26T12:00:00.123456Z)."""
    if not _RFC3339_UTC.match(text):
        raise EncodingError(f"{what} must be an RFC 3339 UTC timestamp ending in Z, got {text!r}")
    main, _, frac = text[:-1].partition(".")
    try:
        # fromisoformat is fast; it takes at most microseconds, so longer fractions are cut.
        return datetime.fromisoformat(
            main + (f".{frac[:6].ljust(6, '0')}" if frac else "") + "+00:00"
        )
    except ValueError as exc:
        raise EncodingError(f"{what} is not a valid date and time: {text!r}") from exc


def format_rfc3339_utc(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with microseconds and `Z`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the ledger only deals in UTC")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# A string (possibly unterminated: it then runs to the end). The possessive quantifiers keep
# the scan linear whatever the input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?+', re.DOTALL)
_BRACKETS = bytes.maketrans(b"[]{}", b"()()")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` nests arrays and objects more than `limit` levels deep (brackets inside
    strings do not count). At most `limit` passes over the body's brackets, each in C: linear
    time, within the cost of decoding the body (a few tenths of a second for the worst 1 MiB)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case: too few brackets to be too deep
    shape = _STRING.sub(b"", body).translate(_BRACKETS, _NOT_BRACKETS)
    # Each pass removes every innermost pair, so it lowers every subtree by one level: brackets
    # still pairing after `limit` passes nest deeper than `limit`.
    for _ in range(limit):
        reduced = shape.replace(b"()", b"")
        if reduced == shape:
            break
        shape = reduced
    else:
        return b"()" in shape
    # Only unpaired brackets are left (the JSON is malformed, and the decoder will say where):
    # too deep if the unclosed ones alone nest deeper than the limit.
    return shape.count(b"(") > limit
