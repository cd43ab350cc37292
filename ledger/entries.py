"""Ledger entries (DESIGN §4): an accepted envelope wrapped with its index and integration time.

The entry bytes are compact JSON with sorted keys and are stored verbatim; the Merkle leaf is
SHA-256(0x00 || entry bytes). Verifiers always work from the stored bytes, never a re-encoding.
"""

from __future__ import annotations

import msgspec

from ledger.dsse import Envelope
from ledger.encoding import canonical_json
from ledger.errors import EncodingError

ENTRY_VERSION = 1


class Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    envelope: Envelope
    index: int
    integrated_at: str
    v: int


_entry_decoder = msgspec.json.Decoder(Entry)


def encode_entry(envelope: Envelope, index: int, integrated_at: str) -> bytes:
    """The canonical bytes of entry `index`."""
    return canonical_json(
        Entry(envelope=envelope, index=index, integrated_at=integrated_at, v=ENTRY_VERSION)
    )


def decode_entry(data: bytes) -> Entry:
    """Parse stored entry bytes strictly."""
    try:
        entry = _entry_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EncodingError(f"entry is not a valid ledger entry: {exc}") from exc
    if entry.v != ENTRY_VERSION:
        raise EncodingError(f"unsupported entry version {entry.v}")
    return entry
