"""The C2SP tlog-witness server (issue 20): add-checkpoint with the spec's status codes, the
409 size hint, refusal of forks and bad proofs, persistence across restarts, the monitoring
read, and the witness network's log-list format."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest
from litestar.testing import TestClient

from api.witness_server import Witness, create_witness_app
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import parse_cosignature_line, verify_cosignature
from ledger.merkle import EMPTY_ROOT, CompactRange, consistency_proof, leaf_hash
from ledger.note import format_vkey, parse_vkey, verify_note
from ledger.witnessing import origin_hash, parse_log_list

ORIGIN = "example.test/log"
WITNESS = "example.test/witness"


class Log:
    """A log of `size` leaves (all nodes kept), signing checkpoints with its key."""

    def __init__(self, size: int, key: nacl.signing.SigningKey | None = None) -> None:
        self.key = key or nacl.signing.SigningKey.generate()
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.roots = [EMPTY_ROOT]
        cr = CompactRange.empty()
        for i in range(size):
            for level, index, h in cr.append(leaf_hash(i.to_bytes(4, "big"))):
                self.nodes[level, index] = h
            self.roots.append(cr.root())

    @property
    def vkey(self) -> str:
        return format_vkey(ORIGIN, bytes(self.key.verify_key))

    def note(self, size: int, root: bytes | None = None, origin: str = ORIGIN) -> str:
        cp = Checkpoint(origin, size, self.roots[size] if root is None else root)
        return sign_checkpoint(cp, origin, self.key)

    def proof(self, old: int, new: int) -> list[bytes]:
        return (
            [] if old in (0, new) else consistency_proof(old, new, lambda lv, i: self.nodes[lv, i])
        )


def body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = "".join(base64.b64encode(p).decode() + "\n" for p in proof)
    return f"old {old}\n{lines}\n{note}".encode()


LOG = Log(40)


@pytest.fixture
def witness_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def _witness(state: Path, key: nacl.signing.SigningKey) -> Witness:
    logs = parse_log_list(f"logs/v0\nvkey {LOG.vkey}\nqpd 86400\ncontact ops@example.test\n")
    return Witness(key, WITNESS, logs, state)


@pytest.fixture
def http(tmp_path: Path, witness_key: nacl.signing.SigningKey) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_witness_app(_witness(tmp_path / "w.db", witness_key))) as client:
        yield client


def add(http: TestClient, data: bytes) -> tuple[int, str, str]:  # type: ignore[type-arg]
    r = http.post("/add-checkpoint", content=data)
    return r.status_code, r.headers.get("content-type", ""), r.text


def test_first_checkpoint_is_cosigned_and_the_cosignature_verifies(
    http: TestClient,
    witness_key: nacl.signing.SigningKey,  # type: ignore[type-arg]
) -> None:
    note = LOG.note(5)
    status, kind, text = add(http, body(0, [], note))
    assert status == 200 and kind.startswith("text/plain"), text
    assert text.startswith("— " + WITNESS + " ") and text.endswith("\n") and text.count("\n") == 1
    signature = parse_cosignature_line(note, text)
    cosig = verify_cosignature(
        verify_note(note, [parse_vkey(LOG.vkey)]).text,
        signature,
        WITNESS,
        bytes(witness_key.verify_key),
    )
    assert cosig.timestamp > 0


def test_the_spec_status_for_each_failure(http: TestClient) -> None:  # type: ignore[type-arg]
    assert add(http, body(0, [], LOG.note(5)))[0] == 200
    # a stale old size: 409 with the latest cosigned size, as text/x.tlog.size
    assert add(http, body(0, [], LOG.note(9))) == (409, "text/x.tlog.size", "5\n")
    assert add(http, body(3, LOG.proof(3, 9), LOG.note(9)))[:3:2] == (409, "5\n")
    # consistent growth is cosigned
    assert add(http, body(5, LOG.proof(5, 9), LOG.note(9)))[0] == 200
    # a fork: same size, another root, signed by the log's key
    assert add(http, body(9, [], LOG.note(9, root=LOG.roots[8])))[0] == 422
    # a bad consistency proof
    bad = LOG.proof(9, 20)
    bad[0] = bytes(32)
    assert add(http, body(9, bad, LOG.note(20)))[0] == 422
    # a proof from another tree
    other = Log(40, LOG.key)
    other.roots = [EMPTY_ROOT] + [leaf_hash(b"x")] * 40
    assert add(http, body(9, LOG.proof(9, 20), other.note(20)))[0] == 422
    # old size above the checkpoint's
    assert add(http, body(12, [], LOG.note(10)))[0] == 400
    # unknown origin: 404; no trusted signature: 403
    assert add(http, body(0, [], LOG.note(3, origin="other.test/log")))[0] == 404
    stranger = Log(40)
    assert add(http, body(9, [], stranger.note(9)))[0] == 403
    # malformed bodies: 400
    for junk in (b"", b"old 01\n\n" + LOG.note(9).encode(), b"new 9\n\n", b"old 9\n!!\n\n"):
        assert add(http, junk)[0] == 400, junk
    # none of that moved the witness: it still holds size 9
    assert add(http, body(0, [], LOG.note(9)))[2] == "9\n"


def test_an_empty_tree_needs_the_empty_root(http: TestClient) -> None:  # type: ignore[type-arg]
    assert add(http, body(0, [], LOG.note(0, root=bytes(32))))[0] == 422
    assert add(http, body(0, [], LOG.note(0)))[0] == 200
    assert add(http, body(0, [LOG.roots[1]], LOG.note(1)))[0] == 422  # a proof from size 0


def test_state_survives_a_restart_and_the_monitoring_read(
    tmp_path: Path, witness_key: nacl.signing.SigningKey
) -> None:
    state = tmp_path / "w.db"
    with TestClient(create_witness_app(_witness(state, witness_key))) as http:
        assert add(http, body(0, [], LOG.note(7)))[0] == 200
    with TestClient(create_witness_app(_witness(state, witness_key))) as http:
        assert add(http, body(0, [], LOG.note(7))) == (409, "text/x.tlog.size", "7\n")
        assert add(http, body(7, LOG.proof(7, 30), LOG.note(30)))[0] == 200
        served = http.get(f"/{origin_hash(ORIGIN)}/checkpoint")
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/plain")
        note = verify_note(served.text, [parse_vkey(LOG.vkey)])
        assert note.text.split("\n")[1] == "30"
        ours = [s for s in note.signatures if s.name == WITNESS]
        assert len(ours) == 1  # only the newest cosignature
        verify_cosignature(note.text, ours[0], WITNESS, bytes(witness_key.verify_key))
        assert http.get(f"/{origin_hash('nobody')}/checkpoint").status_code == 404


def test_log_list_format() -> None:
    second = format_vkey("second.test/key", bytes(nacl.signing.SigningKey.generate().verify_key))
    logs = parse_log_list(
        "# comment\n\nlogs/v0\n"
        f"vkey {LOG.vkey}\norigin none\nbastion none\nqpd 24\ncontact a@b\n"
        f"vkey {second}\norigin example.test/log\n"
    )
    assert list(logs) == [ORIGIN]
    assert len(logs[ORIGIN].verifiers) == 2 and logs[ORIGIN].qpd == 24
    for bad in ("", "logs/v1\n", f"logs/v0\norigin x\nvkey {LOG.vkey}\n", "logs/v0\nvkey nope\n"):
        with pytest.raises(ValueError):
            parse_log_list(bad)
