"""C2SP tlog-cosignature v1 known answers (issue 20): tests/vectors/cosignature-v1.json, made by
scripts/gen_cosignature_vectors.py straight from the spec text, recomputed here with
ledger.cosignature; then the witness server run against checkpoints signed by the public
signed-note test key (../shared/vectors/signed-note) over the RFC 6962 reference tree, with the
consistency-proof vectors of ../shared/vectors/rfc6962, for the spec's status codes."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from litestar.testing import TestClient

from api.witness_server import Witness, create_witness_app
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import (
    cosign,
    cosigner_key_id,
    format_cosigner_vkey,
    signed_message,
    verify_cosignature,
)
from ledger.errors import NoteError
from ledger.note import parse_note, parse_skey, parse_vkey, sign_note, verify_note
from ledger.policy import parse_policy
from ledger.witnessing import origin_hash, parse_log_list
from tests.conftest import VECTORS

ROOT = Path(__file__).resolve().parents[1]
KAT = json.loads((ROOT / "tests" / "vectors" / "cosignature-v1.json").read_text(encoding="utf-8"))
CASES = KAT["cases"]


@pytest.mark.parametrize("v", CASES, ids=[c["desc"] for c in CASES])
def test_cosignature_line_is_the_known_answer(v: dict[str, Any]) -> None:
    seed = bytes.fromhex(v["seed_hex"])
    assert hashlib.sha256(v["seed_label"].encode()).digest() == seed
    key = nacl.signing.SigningKey(seed)
    public = bytes(key.verify_key)
    assert base64.b64encode(public).decode() == v["public_key_b64"]
    assert cosigner_key_id(v["name"], public).hex() == v["key_id_hex"]
    assert format_cosigner_vkey(v["name"], public) == v["vkey"]
    body, ts = v["checkpoint_body"], v["timestamp"]
    assert signed_message(body, ts) == v["signed_message"].encode()
    assert cosign(body, v["name"], key, ts) == v["cosignature_line"]

    signature = parse_note(body + "\n" + v["cosignature_line"]).signatures[0]
    cosig = verify_cosignature(body, signature, v["name"], public)
    assert (cosig.timestamp, cosig.line) == (ts, v["cosignature_line"])
    assert signature.signature[8:] == base64.b64decode(v["signature_b64"])
    # a policy naming the witness by its vkey counts the line as its cosignature
    policy = parse_policy(f"witness w {v['vkey']}\nquorum w\n")
    assert policy.cosigners(body + "\n" + v["cosignature_line"]) == {"w"}


@pytest.mark.parametrize("v", CASES[:3], ids=[c["desc"] for c in CASES[:3]])
def test_a_tampered_cosignature_fails(v: dict[str, Any]) -> None:
    body, line, name = v["checkpoint_body"], v["cosignature_line"], v["name"]
    public = base64.b64decode(v["public_key_b64"])
    signature = parse_note(body + "\n" + line).signatures[0]
    other_body = body.replace("\n", "\nx", 1)  # another origin line... and another message
    for text, sig, who in (
        (other_body, signature, name),
        (body, signature, name + "x"),
    ):
        with pytest.raises(NoteError):
            verify_cosignature(text, sig, who, public)
    raw = bytearray(signature.signature)
    for i in (7, 8, 71):  # the timestamp's last byte, the signature's first and last
        raw[i] ^= 1
        bad = type(signature)(signature.name, signature.key_id, bytes(raw))
        with pytest.raises(NoteError):
            verify_cosignature(body, bad, name, public)
        raw[i] ^= 1


def test_the_vectors_file_is_what_the_generator_makes() -> None:
    script = ROOT / "scripts" / "gen_cosignature_vectors.py"
    done = subprocess.run([sys.executable, str(script), "--check"], check=False)
    assert done.returncode == 0, "tests/vectors/cosignature-v1.json is out of date"


# --- the witness server against the shared vectors -------------------------------------------

NOTE_VECTOR = VECTORS / "signed-note" / "peterneumann.json"
TREE_VECTOR = VECTORS / "rfc6962" / "hashes.json"
needs_shared = pytest.mark.skipif(
    not (NOTE_VECTOR.is_file() and TREE_VECTOR.is_file()),
    reason="test vectors not found: ../shared/vectors or $DATALEDGER_VECTORS",
)
ORIGIN = KAT["reference_tree"]["origin"]
# The known-answer case the witness must reproduce exactly: witness 1, size 8, 2026-01-01.
EXPECTED = next(
    c
    for c in CASES
    if c["name"] == "witness.example.com"
    and c["timestamp"] == 1767225600
    and c["checkpoint_body"].startswith(ORIGIN + "\n8\n")
)


def _b(s: str | None) -> bytes:
    return base64.b64decode(s or "")


def _roots() -> list[bytes]:
    tree = json.loads(TREE_VECTOR.read_text(encoding="utf-8"))["reference_tree"]
    return [bytes.fromhex(h) for h in tree["root_hashes"]]


class VectorLog:
    """Checkpoints of the RFC 6962 reference tree, signed by the signed-note vector key
    (PeterNeumann: a public test key, its seed in the vector's skey)."""

    def __init__(self) -> None:
        v = json.loads(NOTE_VECTOR.read_text(encoding="utf-8"))
        name, seed = parse_skey(v["skey"])
        self.name, self.key, self.vkey = name, nacl.signing.SigningKey(seed), v["vkey"]

    def note(self, size: int, root: bytes) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, size, root), self.name, self.key)


def _request(old: int, proof: list[bytes], note: str) -> bytes:
    lines = "".join(base64.b64encode(p).decode() + "\n" for p in proof)
    return f"old {old}\n{lines}\n{note}".encode()


def expected_status(case: dict[str, Any], held_size: int, held_root: bytes) -> int | str:
    """The status c2sp.org/tlog-witness gives a request made from a consistency vector
    (old = size1, the vector's proof, a validly signed checkpoint of size2 and root2) to a
    witness holding (held_size, held_root); a string says why the vector does not fit."""
    if _b(case["root1"]) != held_root:
        return "the request carries no root1: the witness checks against the root it cosigned"
    if any(not _b(p) for p in case["proof"] or []):
        return "an empty proof element cannot be sent: an empty line ends the request's proof"
    if any(len(_b(p)) != 32 for p in case["proof"] or []) or len(_b(case["root2"])) != 32:
        return 400  # a proof line or the checkpoint's root is not a hash: malformed
    if case["size1"] > case["size2"]:
        return 400  # old size above the checkpoint's
    if case["size1"] != held_size:
        return 409
    return 422 if case["wantErr"] else 200


def _folders() -> list[Path]:
    base = VECTORS / "rfc6962" / "consistency"
    return (
        sorted(p for p in base.iterdir() if p.is_dir() and p.name.isdigit())
        if base.is_dir()
        else []
    )


@pytest.fixture
def clock() -> list[float]:
    return [float(EXPECTED["timestamp"])]


@pytest.fixture
def http(tmp_path: Path, clock: list[float]) -> Iterator[TestClient]:  # type: ignore[type-arg]
    log = VectorLog()
    logs = parse_log_list(f"logs/v0\nvkey {log.vkey}\norigin {ORIGIN}\n")
    key = nacl.signing.SigningKey(bytes.fromhex(EXPECTED["seed_hex"]))
    witness = Witness(key, EXPECTED["name"], logs, tmp_path / "w.db", clock=lambda: clock[0])
    with TestClient(create_witness_app(witness)) as client:
        yield client


@needs_shared
@pytest.mark.parametrize("folder", _folders(), ids=lambda p: f"consistency/{p.name}")
def test_witness_statuses_on_the_consistency_vectors(
    folder: Path,
    http: TestClient,  # type: ignore[type-arg]
) -> None:
    log, roots = VectorLog(), _roots()
    happy = json.loads((folder / "happy-path.json").read_text(encoding="utf-8"))
    size1, size2 = happy["size1"], happy["size2"]
    assert (_b(happy["root1"]), _b(happy["root2"])) == (roots[size1], roots[size2])

    def add(old: int, proof: list[bytes], note: str) -> tuple[int, str]:
        r = http.post("/add-checkpoint", content=_request(old, proof, note))
        return r.status_code, r.text

    # first submission: cosigned
    assert add(0, [], log.note(size1, roots[size1]))[0] == 200
    # a fork: the same size, another root, validly signed by the log's key
    fork = hashlib.sha256(b"fork").digest()
    assert add(size1, [], log.note(size1, fork))[0] == 422
    # every must-fail vector of the folder that fits a request
    checked, skipped = 0, []  # skipped: vectors that do not fit a request (see expected_status)
    for path in sorted(folder.glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        if not case["wantErr"]:
            continue
        want = expected_status(case, size1, roots[size1])
        if isinstance(want, str):
            skipped.append(path.name)
            continue
        # the checkpoint text as is, even with a root that is not a hash, validly signed
        text = f"{ORIGIN}\n{case['size2']}\n{case['root2']}\n"
        note = sign_note(text, log.name, log.key)
        got = add(case["size1"], [_b(p) for p in case["proof"] or []], note)
        assert got[0] == want, (path.name, case["desc"], got)
        checked += 1
    assert checked >= (0 if folder.name == "0" else 10), (checked, skipped)
    # none of that moved the witness; the happy path is cosigned
    status, line = add(size1, [_b(p) for p in happy["proof"] or []], log.note(size2, roots[size2]))
    assert status == 200
    if size2 == 8:
        assert line == EXPECTED["cosignature_line"]  # the known answer, byte for byte
    signature = parse_note(log.note(size2, roots[size2]) + line).signatures[-1]
    public = base64.b64decode(EXPECTED["public_key_b64"])
    body = Checkpoint(ORIGIN, size2, roots[size2]).body()
    assert verify_cosignature(body, signature, EXPECTED["name"], public).timestamp == 1767225600
    # the witness holds size2 now: a stale old size is answered with it
    if size1 != size2:
        assert add(size1, [], log.note(size2, roots[size2])) == (409, f"{size2}\n")
    # and a fork at the new size is refused too
    assert add(size2, [], log.note(size2, fork))[0] == 422


@needs_shared
def test_served_checkpoint_keeps_the_log_signature_and_the_known_cosignature(
    http: TestClient,  # type: ignore[type-arg]
) -> None:
    log, roots = VectorLog(), _roots()
    assert (
        http.post("/add-checkpoint", content=_request(0, [], log.note(8, roots[8]))).status_code
        == 200
    )
    served = http.get(f"/{origin_hash(ORIGIN)}/checkpoint").text
    signed = verify_note(served, [parse_vkey(log.vkey)])
    assert signed.text == EXPECTED["checkpoint_body"]
    assert served == log.note(8, roots[8]) + EXPECTED["cosignature_line"]
