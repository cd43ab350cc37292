"""Start, watch and stop the sequencing process of one `serve` (see `api.sequencing.server`)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from api.settings import Settings

log = logging.getLogger(__name__)


class SequencerFailed(RuntimeError):
    """The sequencing process exited before it was ready (its log says why)."""


class SequencerProcess:
    """The child process that sequences for this host's HTTP workers.

    Its socket is in a fresh directory only this user can enter. If the child exits while the
    service runs, it is started again (workers meanwhile answer 503 and reconnect); if this
    process dies, the child sees its stdin close and stops.
    """

    def __init__(self, settings: Settings, *, ready_timeout: float = 600.0) -> None:
        self._settings = settings
        self._ready_timeout = ready_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="dataledger-"))  # mode 0700
        self.socket_path = str(self._dir / "sequencer.sock")
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the child and wait until it has loaded the log's state and listens."""
        self._process = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="sequencer-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self._settings.to_env()}
        env.pop("DATALEDGER_SEQUENCER_SOCKET", None)  # the child is the sequencer
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "api.sequencing.server", self.socket_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        stdout = process.stdout
        assert stdout is not None
        ready: list[bytes] = []
        reader = threading.Thread(target=lambda: ready.append(stdout.readline()))
        reader.start()
        reader.join(self._ready_timeout)
        if not ready or ready[0].strip() != b"ready":
            process.kill()
            process.wait()
            _close_pipes(process)
            raise SequencerFailed(
                f"the sequencing process exited with {process.returncode} before it was ready; "
                "its log lines above say why"
            )
        return process

    def _watch(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.is_set():
                return
            _close_pipes(process)
            log.error("the sequencing process exited with %s; starting it again", code)
            while not self._stopping.is_set():
                try:
                    self._process = self._spawn()
                    delay = 0.5
                    break
                except (SequencerFailed, OSError) as exc:
                    log.error("%s; retrying in %.1f s", exc, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 30.0)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the child (it commits what it was given first) and remove its socket."""
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()  # the child stops on EOF, as if this process had died
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None:
            _close_pipes(process)
        if self._watcher is not None:
            self._watcher.join(timeout)
        shutil.rmtree(self._dir, ignore_errors=True)


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdin, process.stdout):
        if pipe is not None and not pipe.closed:
            pipe.close()
