"""The sequencing process: one `Sequencer`, served on a Unix socket to this host's HTTP workers.

    python -m api.sequencing.server SOCKET_PATH      (settings from DATALEDGER_* variables)

`serve` starts it (`supervisor.SequencerProcess`). It prints `ready` on stdout once the log's
state is loaded and the socket listens, and it stops when its stdin closes: the parent that
started it is gone, even if it was killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import sys
from dataclasses import dataclass, field

import msgspec
from sqlalchemy.exc import InterfaceError, OperationalError

from api.sequencing import wire
from api.settings import Settings
from ledger.errors import StatementRejected
from ledger.storage.sequencer import AppendResult, Sequencer, Submission

log = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20


@dataclass(eq=False)
class _Peer:
    """One HTTP worker's connection: frames in, replies out (buffered while the socket is
    full)."""

    sock: socket.socket
    inbox: list[tuple[int, Submission]] = field(default_factory=list)
    outbox: bytearray = field(default_factory=bytearray)
    frames: wire.FrameBuffer = field(init=False)

    def __post_init__(self) -> None:
        self.frames = wire.FrameBuffer(self._on_frame)

    def _on_frame(self, body: bytes) -> None:
        req = wire.request_decoder.decode(body)
        self.inbox.append(
            (
                req.tag,
                Submission(
                    req.envelope,
                    req.statement,
                    req.signer_keyid,
                    req.envelope_sha256,
                    req.statement_id,
                    req.openings,
                ),
            )
        )


def _reply(tag: int, outcome: AppendResult | BaseException, batch: int, size: int) -> bytes:
    if isinstance(outcome, AppendResult):
        reply = wire.AppendReply(tag, outcome.receipt, outcome.created, batch, size)
    else:
        if isinstance(outcome, StatementRejected):
            refusal = wire.Refusal("rejected", outcome.message, outcome.code, outcome.status)
        elif isinstance(outcome, OperationalError | InterfaceError):
            refusal = wire.Refusal("database", str(outcome).splitlines()[0])
        else:
            refusal = wire.Refusal("internal", f"{type(outcome).__name__}: {outcome}")
        reply = wire.AppendReply(tag, None, False, batch, size, refusal)
    return wire.frame(wire.reply_encoder.encode(reply))


class SequencerServer:
    """One thread does everything: read what the workers sent, commit it as one batch, write
    the replies, repeat. While a batch commits, new frames wait in the socket buffers, so the
    next batch takes them all at once (group commit) and nothing contends for the GIL."""

    def __init__(self, sequencer: Sequencer, listener: socket.socket, stop_fd: int) -> None:
        self._sequencer = sequencer
        self._listener = listener
        self._stop_fd = stop_fd
        self._selector = selectors.DefaultSelector()
        self._peers: dict[socket.socket, _Peer] = {}
        self._running = True

    def serve_forever(self) -> None:
        listener = self._listener
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(self._stop_fd, selectors.EVENT_READ)
        while self._running:
            for key, mask in self._selector.select():
                if key.fileobj is listener:
                    self._accept()
                elif key.fileobj == self._stop_fd:
                    self._check_stop()
                else:
                    peer = self._peers.get(key.fileobj)  # type: ignore[call-overload]
                    if peer is None:
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(peer)
                    if mask & selectors.EVENT_WRITE and peer.sock in self._peers:
                        self._write(peer)
            self._commit_waiting()
        for peer in list(self._peers.values()):
            self._close(peer)

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        peer = _Peer(sock)
        self._peers[sock] = peer
        self._selector.register(sock, selectors.EVENT_READ)

    def _check_stop(self) -> None:
        if not os.read(self._stop_fd, 4096):
            log.info("the process that started this sequencer is gone: stopping")
            self._selector.unregister(self._stop_fd)
            self._running = False

    def _read(self, peer: _Peer) -> None:
        # Read everything already there, so that one batch takes it all.
        while True:
            try:
                data = peer.sock.recv(_READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                self._close(peer)
                return
            if not data:
                self._close(peer)
                return
            try:
                peer.frames.feed(data)
            except (ValueError, msgspec.DecodeError) as exc:
                log.error("dropping a worker connection that sent a bad frame: %s", exc)
                self._close(peer)
                return
            if len(data) < _READ_CHUNK:
                return

    def _commit_waiting(self) -> None:
        waiting = [(peer, tag, sub) for peer in self._peers.values() for tag, sub in peer.inbox]
        for peer in self._peers.values():
            peer.inbox.clear()
        if not waiting:
            return
        stats = self._sequencer.stats
        size = self._sequencer.max_batch
        for start in range(0, len(waiting), size):
            chunk = waiting[start : start + size]
            outcomes = self._sequencer.commit_batch([sub for _, _, sub in chunk])
            for (peer, tag, _), outcome in zip(chunk, outcomes, strict=True):
                peer.outbox += _reply(tag, outcome, stats.batches, stats.last_batch_size)
        for peer in {peer for peer, _, _ in waiting}:
            if peer.sock in self._peers:
                self._write(peer)

    def _write(self, peer: _Peer) -> None:
        try:
            sent = peer.sock.send(peer.outbox) if peer.outbox else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(peer)  # its replies are lost with it: that worker is gone
            return
        del peer.outbox[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.outbox else 0)
        self._selector.modify(peer.sock, events)

    def _close(self, peer: _Peer) -> None:
        self._peers.pop(peer.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(peer.sock)
        peer.sock.close()


def run(settings: Settings, socket_path: str) -> None:
    """Serve the sequencer on `socket_path` until stdin closes."""
    from api.app import build_sequencer  # the same engine, key checks and rules as `serve`
    from api.witness_client import build_witness_pusher

    # Signals sent to the whole group (Ctrl-C, systemd, `timeout`) are for the parent: it
    # drains its requests first, then closes our stdin, and we stop on that.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    sequencer = build_sequencer(settings)
    try:
        sequencer.prepare()  # folds the log into the in-memory state
        if os.path.exists(socket_path):
            os.unlink(socket_path)  # left by a sequencer that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(socket_path)
        os.chmod(socket_path, 0o600)
        listener.listen(128)
        print("ready", flush=True)
        log.info("sequencer listening on %s", socket_path)
        pusher = (
            build_witness_pusher(
                settings.witness_policy,
                sequencer.engine,
                min_interval=settings.witness_min_interval_seconds,
            )
            if settings.witness_policy is not None
            else None
        )
        if pusher is not None:
            pusher.start()
        try:
            SequencerServer(sequencer, listener, sys.stdin.fileno()).serve_forever()
        finally:
            if pusher is not None:
                pusher.stop()
        listener.close()
    finally:
        sequencer.engine.dispose()


def main() -> None:
    from api.observability import configure_json_logging

    configure_json_logging()
    if len(sys.argv) != 2:
        sys.exit("usage: python -m api.sequencing.server SOCKET_PATH")
    run(Settings.from_env(), sys.argv[1])


if __name__ == "__main__":
    main()
