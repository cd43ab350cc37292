"""What crosses the socket between the HTTP workers and the sequencing process.

Frames are a 4-byte big-endian length and a msgpack body. The socket lives in a directory
only this user can enter (mode 0700): the sequencing process trusts what its workers send,
because they have already verified it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import msgspec

from ledger.dsse import Envelope
from ledger.privacy import Opening
from ledger.receipts import Receipt
from ledger.statements import AnyStatement

MAX_FRAME = 16 * 1024 * 1024  # far above any statement (45 kB) and its openings
_LENGTH = struct.Struct(">I")


class AppendRequest(msgspec.Struct, array_like=True, frozen=True):
    """A verified, opened submission (`ledger.storage.sequencer.Submission`) and its tag."""

    tag: int
    envelope: Envelope
    statement: AnyStatement
    signer_keyid: str
    envelope_sha256: bytes
    statement_id: str
    openings: dict[str, Opening]


class Refusal(msgspec.Struct, array_like=True, frozen=True):
    """Why a submission got no receipt. `kind`: `rejected` (the rules said no: `code`,
    `status`), `database` (the database cannot be reached) or `internal` (a bug)."""

    kind: str
    message: str
    code: str = ""
    status: int = 0


class AppendReply(msgspec.Struct, array_like=True, frozen=True):
    tag: int
    receipt: Receipt | None
    created: bool
    batch: int  # the sequencer's batch counter after the commit (for metrics)
    batch_size: int
    refusal: Refusal | None = None


request_encoder = msgspec.msgpack.Encoder()
request_decoder = msgspec.msgpack.Decoder(AppendRequest)
reply_encoder = msgspec.msgpack.Encoder()
reply_decoder = msgspec.msgpack.Decoder(AppendReply)


def frame(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


class FrameBuffer:
    """Reassembles frames from a byte stream; calls `on_frame` with each complete body."""

    def __init__(self, on_frame: Callable[[bytes], None]) -> None:
        self._buffer = bytearray()
        self._on_frame = on_frame

    def feed(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        start, end = 0, len(buf)
        try:
            while end - start >= 4:
                (length,) = _LENGTH.unpack_from(buf, start)
                if length > MAX_FRAME:
                    raise ValueError(f"frame of {length} bytes is over the limit")
                if end - start - 4 < length:
                    break
                self._on_frame(bytes(buf[start + 4 : start + 4 + length]))
                start += 4 + length
        finally:
            if start:
                del buf[:start]
