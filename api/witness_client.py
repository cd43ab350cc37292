"""The log as a C2SP tlog-witness client: push each new checkpoint to the policy's witnesses.

For every witness with a URL in the `--witness-policy` file (c2sp.org/tlog-policy), a thread
sends `add-checkpoint` with a consistency proof from the size that witness last cosigned. It
follows the spec's answers: a 409 (`text/x.tlog.size`) says what the witness holds, and the
request is sent again from there at once; any other refusal is logged and counted, and that
witness waits for the next checkpoint instead of being retried blindly. Returned
cosignatures are verified against the witness's key and stored in the append-only
`cosignatures` table, so the served checkpoints, tiles `/checkpoint` and receipts carry them.

Each witness has its own thread and keep-alive connection, and is sent at most one request
per `min_interval` seconds (a log on the public witness network has a daily budget): a slow or
dead witness delays nobody, and appends never wait for witnesses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from ledger.cosignature import cosigner_key_id, parse_cosignature_line, verify_cosignature
from ledger.encoding import b64encode, format_rfc3339_utc
from ledger.errors import NoteError
from ledger.note import parse_note
from ledger.policy import Policy, PolicyError, PolicyWitness, parse_policy
from ledger.storage import store
from ledger.storage.engine import write_transaction

log = logging.getLogger("dataledger.witness")

Head = Callable[[], tuple[int, str] | None]  # (tree size, signed checkpoint note) of the log
Proof = Callable[[int, int], list[bytes]]
Store = Callable[[int, PolicyWitness, str, int], None]  # (size, witness, line, timestamp)


@dataclass
class WitnessState:
    """What the log knows of one witness (kept in memory; a restart learns it from a 409)."""

    witness: PolicyWitness
    size: int = 0  # the size this witness last cosigned, as far as the log knows
    last_sent: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)  # "cosigned", "409", "http-404", ...

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class WitnessPusher:
    def __init__(
        self,
        policy: Policy,
        head: Head,
        proof: Proof,
        store: Store,
        *,
        min_interval: float = 1.0,
        timeout: float = 5.0,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        self.policy = policy
        self._head, self._proof, self._store = head, proof, store
        self.min_interval, self.timeout = min_interval, timeout
        self._on_outcome = on_outcome or (lambda _w, _o: None)
        self.states = {
            w.name: WitnessState(w) for w in policy.witnesses.values() if w.url is not None
        }
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for state in self.states.values():
            thread = threading.Thread(
                target=self._run, args=(state,), name=f"witness-{state.witness.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)

    def _run(self, state: WitnessState) -> None:
        with httpx.Client(timeout=self.timeout) as http:
            while not self._stop.is_set():
                wait = state.last_sent + self.min_interval - time.monotonic()
                if wait > 0:
                    self._stop.wait(max(wait, 0.05))
                    continue
                try:
                    self.push(state, http)
                except Exception:  # never let one witness's trouble end its thread
                    log.exception("witness %s: push failed", state.witness.name)
                self._stop.wait(max(self.min_interval, 0.05))  # never a busy loop

    def push_all(self) -> dict[str, str]:
        """One round for every witness, in the calling thread (for tests and one-off runs)."""
        with httpx.Client(timeout=self.timeout) as http:
            return {name: self.push(state, http) for name, state in self.states.items()}

    def push(self, state: WitnessState, http: httpx.Client) -> str:
        """Send the newest checkpoint to one witness if it has not cosigned it; the outcome."""
        head = self._head()
        if head is None or head[0] <= state.size:
            return "up-to-date"
        size, note = head
        outcome = ""
        for _ in range(2):  # the second try follows a 409's size hint
            state.last_sent = time.monotonic()
            outcome = self._send(state, http, size, note)
            if outcome != "409":
                break
        state.count(outcome)
        self._on_outcome(state.witness.name, outcome)
        return outcome

    def _send(self, state: WitnessState, http: httpx.Client, size: int, note: str) -> str:
        w = state.witness
        old = state.size if state.size <= size else 0
        proof = self._proof(old, size) if 0 < old < size else []
        body = f"old {old}\n" + "".join(b64encode(h) + "\n" for h in proof) + "\n" + note
        assert w.url is not None
        url = w.url.rstrip("/") + "/add-checkpoint"
        try:
            response = http.post(url, content=body.encode())
        except httpx.HTTPError as exc:
            log.warning("witness %s unreachable: %s", w.name, exc)
            return "unreachable"
        if response.status_code == 409:
            hint = response.text.strip()
            if response.headers.get("content-type", "").split(";")[0] == "text/x.tlog.size" and (
                hint.isdigit()
            ):
                state.size = int(hint)
                if state.size > size:
                    log.warning("witness %s holds size %d, above ours %d", w.name, state.size, size)
                    return "ahead"
                return "409"
            return "http-409"
        if response.status_code != 200:
            log.warning(
                "witness %s refused size %d: %d %s",
                w.name,
                size,
                response.status_code,
                response.text[:200],
            )
            return f"http-{response.status_code}"
        text = parse_note(note).text
        stored = 0
        for line in response.text.splitlines(keepends=True):
            try:
                signature = parse_cosignature_line(note, line)
                cosig = verify_cosignature(text, signature, w.key_name, w.public_key)
            except NoteError:
                continue  # a cosignature by another key of the witness: ignored, as the spec says
            self._store(size, w, cosig.line, cosig.timestamp)
            stored += 1
        if not stored:
            log.warning("witness %s answered 200 without a cosignature by its key", w.name)
            return "no-cosignature"
        state.size = size
        return "cosigned"


def witness_keyid(w: PolicyWitness) -> str:
    return cosigner_key_id(w.key_name, w.public_key).hex()


def build_witness_pusher(
    policy_file: Path, engine: Engine, *, min_interval: float = 1.0, metrics: Any = None
) -> WitnessPusher:
    """A pusher for the witnesses of the policy file, reading and writing the log's store."""
    policy = parse_policy(policy_file.read_text(encoding="utf-8"))
    if not any(w.url for w in policy.witnesses.values()):
        raise PolicyError(f"{policy_file}: no witness has a URL to submit checkpoints to")

    def head() -> tuple[int, str] | None:
        with engine.connect() as conn:
            found = store.latest_checkpoint(conn)
        return None if found is None else (found.tree_size, found.note)

    def proof(old: int, new: int) -> list[bytes]:
        with engine.connect() as conn:
            return store.consistency_proof(conn, old, new)

    def keep(size: int, w: PolicyWitness, line: str, timestamp: int) -> None:
        with write_transaction(engine) as conn:
            store.insert_cosignature(
                conn,
                size,
                witness_keyid(w),
                timestamp,
                f"policy:{w.name}",
                w.key_name,
                line,
                format_rfc3339_utc(datetime.now(UTC)),
            )

    def counted(witness: str, outcome: str) -> None:
        if metrics is not None:
            metrics.witness_outcome(witness, outcome)

    return WitnessPusher(policy, head, proof, keep, min_interval=min_interval, on_outcome=counted)
