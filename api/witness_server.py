"""`dataledger witness serve`: a C2SP tlog-witness server, for this log or any other C2SP log.

`POST /add-checkpoint` is judged by `ledger.witnessing.check_add_checkpoint`; checking the old
size and recording the new checkpoint happen in one SQLite transaction (BEGIN IMMEDIATE), so two
racing requests can never roll a log back, and the record is on disk before the cosignature is
returned. Every cosigned checkpoint is also kept, append-only, in `cosigned`: a witness never
forgets a log, across restarts included. `GET /<hex sha256(origin)>/checkpoint` serves the
latest cosigned checkpoint (the log's signatures and this witness's cosignature).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import nacl.signing
from litestar import Litestar, Request, Response, get, post
from litestar.params import PathParameter
from litestar.status_codes import HTTP_200_OK

from api.responses import exact
from ledger.cosignature import cosign, format_cosigner_vkey
from ledger.note import add_signature_lines, parse_note, signature_line
from ledger.witnessing import (
    SIZE_CONTENT_TYPE,
    Latest,
    WitnessedLog,
    WitnessRefusal,
    check_add_checkpoint,
    origin_hash,
    parse_add_checkpoint,
)

TEXT = "text/plain; charset=utf-8"
MAX_BODY = 64 * 1024  # 63 proof lines and a checkpoint with its signatures fit many times over

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
    origin TEXT PRIMARY KEY,
    origin_hash TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Cosigned:
    lines: str  # the cosignature line(s), each ending in a newline


class Witness:
    """The witness's key, the logs it follows and its state (one SQLite file)."""

    def __init__(
        self,
        key: nacl.signing.SigningKey,
        name: str,
        logs: Mapping[str, WitnessedLog],
        state: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key, self.name, self.logs = key, name, dict(logs)
        self.vkey = format_cosigner_vkey(name, bytes(key.verify_key))
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(state, check_same_thread=False, isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def latest(self, origin: str) -> Latest | None:
        row = self._db.execute(
            "SELECT size, root_hash FROM latest WHERE origin = ?", (origin,)
        ).fetchone()
        return None if row is None else Latest(int(row[0]), bytes(row[1]))

    def checkpoint_for(self, hashed_origin: str) -> str | None:
        row = self._db.execute(
            "SELECT note FROM latest WHERE origin_hash = ?", (hashed_origin,)
        ).fetchone()
        return None if row is None else str(row[0])

    def add_checkpoint(self, body: bytes) -> Cosigned:
        """Check, record and cosign, atomically; raise `WitnessRefusal` with the status."""
        request = parse_add_checkpoint(body)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # also excludes other processes on the file
            try:
                origin = request.note.split("\n", 1)[0]
                checkpoint = check_add_checkpoint(request, self.logs, self.latest(origin))
                now = max(1, int(self._clock()))  # a cosignature never omits its timestamp
                line = cosign(checkpoint.body(), self.name, self.key, now)
                note = add_signature_lines(_without(request.note, self.name), [line])
                values = (origin, checkpoint.size, checkpoint.root_hash, note, now)
                self._db.execute(
                    "INSERT INTO latest (origin, origin_hash, size, root_hash, note, cosigned_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET"
                    " size = excluded.size, root_hash = excluded.root_hash,"
                    " note = excluded.note, cosigned_at = excluded.cosigned_at",
                    (origin, origin_hash(origin), *values[1:]),
                )
                self._db.execute(
                    "INSERT INTO cosigned (origin, size, root_hash, note, cosigned_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    values,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Cosigned(line)


def _without(note: str, name: str) -> str:
    """The note without earlier signature lines of this witness's name (a resubmitted
    checkpoint may carry an older cosignature of ours; the served one has the new one only)."""
    signed = parse_note(note)
    kept = [
        signature_line(g.name, g.key_id, g.signature) for g in signed.signatures if g.name != name
    ]
    return signed.text + "\n" + "".join(kept)


def create_witness_app(witness: Witness) -> Litestar:
    @post("/add-checkpoint", status_code=HTTP_200_OK)
    async def add_checkpoint(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(
                f"request body over {MAX_BODY} bytes\n", status_code=413, media_type=TEXT
            )
        try:
            done = witness.add_checkpoint(body)
        except WitnessRefusal as refusal:
            if refusal.latest_size is not None:
                return exact(f"{refusal.latest_size}\n", SIZE_CONTENT_TYPE, status_code=409)
            return Response(refusal.message + "\n", status_code=refusal.status, media_type=TEXT)
        return Response(done.lines, media_type=TEXT)

    @get("/{hashed:str}/checkpoint", sync_to_thread=False)
    def checkpoint(hashed: Annotated[str, PathParameter(max_length=64)]) -> Response[str]:
        note = witness.checkpoint_for(hashed)
        if note is None:
            return Response(
                "no checkpoint cosigned for this log\n", status_code=404, media_type=TEXT
            )
        return Response(note, media_type=TEXT)

    @get("/", sync_to_thread=False)
    def about() -> Response[str]:
        logs = "".join(f"log {origin}\n" for origin in sorted(witness.logs))
        return Response(f"witness {witness.vkey}\n{logs}", media_type=TEXT)

    return Litestar(
        [add_checkpoint, checkpoint, about],
        on_shutdown=[witness.close],
        request_max_body_size=MAX_BODY,
        openapi_config=None,
    )
