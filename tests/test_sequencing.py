"""The sequencer in its own process (api/sequencing): the socket protocol, the client's errors,
and the supervisor that `serve` uses (restart after a crash, stop when its parent dies)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from api.sequencing import wire
from api.sequencing.client import SequencerClient, SequencerUnavailable
from api.sequencing.server import SequencerServer
from api.sequencing.supervisor import SequencerProcess
from api.settings import Settings
from ledger.errors import StatementRejected
from ledger.logsigner import LogSigner
from ledger.receipts import verify_receipt
from ledger.storage.sequencer import Sequencer, Submission
from tests.factories import TEST_ORIGIN, register_envelope, submission

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Not tmp_path: a Unix socket's path must stay under ~100 bytes.
    path = Path(tempfile.mkdtemp(prefix="dl-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class RunningServer:
    def __init__(self, sequencer: Sequencer, path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self._stop_read, self._stop_write = os.pipe()
        self.thread = threading.Thread(
            target=SequencerServer(sequencer, self.listener, self._stop_read).serve_forever
        )
        self.thread.start()

    def stop(self) -> None:
        os.close(self._stop_write)  # EOF: what the server sees when its parent is gone
        self.thread.join(10)
        assert not self.thread.is_alive()
        os.close(self._stop_read)
        self.listener.close()


@pytest.fixture
def signer() -> LogSigner:
    return LogSigner(TEST_ORIGIN, nacl.signing.SigningKey.generate())


@pytest.fixture
def served(engine: Engine, signer: LogSigner, socket_dir: Path) -> Iterator[str]:
    sequencer = Sequencer(engine, signer)
    sequencer.prepare()
    path = str(socket_dir / "s.sock")
    server = RunningServer(sequencer, path)
    yield path
    server.stop()


async def _appended(path: str, subs: list[Submission]) -> list[object]:
    client = SequencerClient(path)
    client.start()
    try:
        return await asyncio.gather(*(client.append_async(s) for s in subs), return_exceptions=True)
    finally:
        client.stop()


def test_appends_over_the_socket_get_durable_receipts(served: str, signer: LogSigner) -> None:
    subs = [submission(register_envelope()[1]) for _ in range(40)]
    results = asyncio.run(_appended(served, [*subs, subs[0]]))
    receipts = [r.receipt for r in results[:40]]  # type: ignore[attr-defined]
    assert sorted(r.index for r in receipts) == list(range(40))
    for receipt in receipts:
        verify_receipt(receipt, signer.verifier)
    again = results[40]
    assert again.created is False  # type: ignore[attr-defined]  # the same envelope: its receipt
    assert again.receipt.index == receipts[0].index  # type: ignore[attr-defined]


def test_a_refusal_crosses_the_socket_with_its_code(served: str) -> None:
    key, envelope = register_envelope()
    first = submission(envelope)
    _, other = register_envelope(key=key)  # the same key registered twice
    results = asyncio.run(_appended(served, [first]))
    assert not isinstance(results[0], BaseException)
    (refused,) = asyncio.run(_appended(served, [submission(other)]))
    assert isinstance(refused, StatementRejected)
    assert refused.code == "key-already-registered"


def test_no_sequencer_is_a_503_error_not_a_hang(socket_dir: Path) -> None:
    (result,) = asyncio.run(_appended(str(socket_dir / "absent.sock"), [_any_submission()]))
    assert isinstance(result, SequencerUnavailable)
    assert "nothing was appended" in str(result)


def test_a_connection_lost_mid_request_says_the_outcome_is_unknown(socket_dir: Path) -> None:
    path = str(socket_dir / "s.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def accept_read_and_hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(1 << 16)
        conn.close()

    thread = threading.Thread(target=accept_read_and_hang_up)
    thread.start()
    (result,) = asyncio.run(_appended(path, [_any_submission()]))
    thread.join(5)
    listener.close()
    assert isinstance(result, SequencerUnavailable)
    assert "may have been appended" in str(result)


def test_a_bad_frame_drops_only_that_connection(served: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bad:
        bad.connect(served)
        bad.sendall(wire.frame(b"\x93not an append request"))
        bad.settimeout(5)
        assert bad.recv(100) == b""  # closed by the server
    (result,) = asyncio.run(_appended(served, [_any_submission()]))
    assert not isinstance(result, BaseException)


def _any_submission() -> Submission:
    return submission(register_envelope()[1])


# --- frames -----------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(1, 64))
def test_frames_survive_any_split_of_the_stream(bodies: list[bytes], chunk: int) -> None:
    stream = b"".join(wire.frame(b) for b in bodies)
    got: list[bytes] = []
    frames = wire.FrameBuffer(got.append)
    for start in range(0, len(stream), chunk):
        frames.feed(stream[start : start + chunk])
    assert got == bodies


def test_an_oversized_frame_is_refused() -> None:
    frames = wire.FrameBuffer(lambda _: None)
    with pytest.raises(ValueError, match="over the limit"):
        frames.feed((wire.MAX_FRAME + 1).to_bytes(4, "big"))


def test_requests_round_trip_every_field() -> None:
    sub = _any_submission()
    req = wire.AppendRequest(
        7,
        sub.envelope,
        sub.statement,
        sub.signer_keyid,
        sub.envelope_sha256,
        sub.statement_id,
        dict(sub.openings),
    )
    back = wire.request_decoder.decode(wire.request_encoder.encode(req))
    assert back == req
    assert msgspec.structs.asdict(back.statement) == msgspec.structs.asdict(sub.statement)


# --- the process, as `serve` runs it -------------------------------------------------------------


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, origin=TEST_ORIGIN)


def _wait_for(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _answers(path: str) -> bool:
    (result,) = asyncio.run(_appended(path, [_any_submission()]))
    return not isinstance(result, BaseException)


def _child_pid(process: SequencerProcess) -> int:
    assert process._process is not None
    return process._process.pid


def test_the_supervisor_restarts_a_sequencer_that_died(tmp_path: Path) -> None:
    process = SequencerProcess(_settings(tmp_path))
    process.start()
    try:
        assert _answers(process.socket_path)
        first = _child_pid(process)
        os.kill(first, signal.SIGKILL)
        _wait_for(lambda: _child_pid(process) != first)
        _wait_for(lambda: _answers(process.socket_path))
    finally:
        process.stop()
    assert not Path(process.socket_path).parent.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(_child_pid(process), 0)


def test_the_sequencer_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from api.sequencing.supervisor import SequencerProcess\n"
        "from api.settings import Settings\n"
        "p = SequencerProcess(Settings(data_dir=Path(sys.argv[1]), origin=sys.argv[2]))\n"
        "p.start()\n"
        "print(p._process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), TEST_ORIGIN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no chance to clean up
    parent.wait()
    parent.stdout.close()

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        # A zombie until init reaps it: count that as gone.
        return Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"

    _wait_for(gone, timeout=20)


def test_group_signals_are_left_to_the_parent(tmp_path: Path) -> None:
    """Ctrl-C or systemd signal the whole group; the sequencer keeps going until the parent has
    drained its requests and closes its stdin."""
    process = SequencerProcess(_settings(tmp_path))
    process.start()
    try:
        os.kill(_child_pid(process), signal.SIGINT)
        os.kill(_child_pid(process), signal.SIGTERM)
        time.sleep(0.5)
        assert process._process is not None and process._process.poll() is None
        assert _answers(process.socket_path)
    finally:
        process.stop()
