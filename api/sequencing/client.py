"""An HTTP worker's handle on the sequencing process (see `api.sequencing.server`).

It has the surface `LedgerService` uses of an in-process `Sequencer`: `start`, `stop`,
`append_async` (in the event loop) and `append` (from any other thread). One connection per
worker, opened on first use and reopened after a loss; requests and replies are matched by tag,
and the requests of one loop turn go out in one write.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import cast

import msgspec

from api.sequencing import wire
from ledger.errors import StatementRejected
from ledger.storage.sequencer import AppendResult, Submission

log = logging.getLogger(__name__)


class SequencerUnavailable(Exception):
    """The sequencing process cannot be reached, or the connection to it broke while a request
    was on its way. In the second case the statement may have been appended: resubmitting the
    identical envelope is safe (it returns the original receipt)."""


class DatabaseUnavailable(Exception):
    """The sequencing process could not reach the database: nothing was appended."""


class _Connection(asyncio.Protocol):
    def __init__(self, on_lost: Callable[[_Connection], None]) -> None:
        self.pending: dict[int, asyncio.Future[wire.AppendReply]] = {}
        self._on_lost = on_lost
        self._frames = wire.FrameBuffer(self._on_frame)
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, data: bytes) -> None:
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        data, self._out = b"".join(self._out), []
        if self._transport is not None:
            self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            self._frames.feed(data)
        except (ValueError, msgspec.DecodeError) as exc:  # a reply we cannot read
            log.error("bad reply from the sequencer: %s", exc)
            if self._transport is not None:
                self._transport.close()

    def _on_frame(self, body: bytes) -> None:
        reply = wire.reply_decoder.decode(body)
        future = self.pending.pop(reply.tag, None)
        if future is not None and not future.done():
            future.set_result(reply)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._on_lost(self)
        error = SequencerUnavailable(
            "the connection to the sequencer broke while this statement was on its way; it may "
            "have been appended: resubmit the identical envelope to get its receipt"
        )
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()


class SequencerClient:
    def __init__(
        self,
        socket_path: str,
        *,
        on_append: Callable[[int | None], None] | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.socket_path = socket_path
        # Told of each new append; with the batch's size the first time a batch is seen.
        self._on_append = on_append
        self._connect_timeout = connect_timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tags = itertools.count(1)
        self._last_batch = 0

    def start(self) -> None:
        """Bind to the running event loop (the app's startup hook); connects on first use."""
        self._loop = asyncio.get_running_loop()
        self._connecting = asyncio.Lock()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _connection(self) -> _Connection:
        if self._conn is not None:
            return self._conn
        assert self._connecting is not None, "start() first"
        async with self._connecting:
            if self._conn is None:
                loop = asyncio.get_running_loop()
                try:
                    _, conn = await asyncio.wait_for(
                        loop.create_unix_connection(
                            lambda: _Connection(self._lost), self.socket_path
                        ),
                        self._connect_timeout,
                    )
                except (OSError, TimeoutError) as exc:
                    raise SequencerUnavailable(
                        f"the sequencer is not answering ({exc}); nothing was appended"
                    ) from exc
                self._conn = conn
            return self._conn

    def _lost(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None

    async def append_async(self, submission: Submission) -> AppendResult:
        conn = await self._connection()
        tag = next(self._tags)
        future: asyncio.Future[wire.AppendReply] = asyncio.get_running_loop().create_future()
        conn.pending[tag] = future
        request = wire.AppendRequest(
            tag,
            submission.envelope,
            submission.statement,
            submission.signer_keyid,
            submission.envelope_sha256,
            submission.statement_id,
            dict(submission.openings),
        )
        conn.send(wire.frame(wire.request_encoder.encode(request)))
        reply = await future
        if reply.refusal is not None:
            raise _error(reply.refusal)
        assert reply.receipt is not None
        if reply.created and self._on_append is not None:
            new_batch = reply.batch > self._last_batch
            self._last_batch = max(self._last_batch, reply.batch)
            self._on_append(reply.batch_size if new_batch else None)
        return AppendResult(reply.receipt, reply.created)

    def append(self, submission: Submission) -> AppendResult:
        """Submit and wait, from a thread other than the event loop's (ledger rounds, quotes)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the sequencer client is not started")
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("append() would block the event loop: await append_async()")
        return asyncio.run_coroutine_threadsafe(self.append_async(submission), loop).result()


def _error(refusal: wire.Refusal) -> Exception:
    if refusal.kind == "rejected":
        return StatementRejected(refusal.code, refusal.message, status=refusal.status)
    if refusal.kind == "database":
        return DatabaseUnavailable(refusal.message)
    return RuntimeError(f"the sequencer failed: {refusal.message}")
