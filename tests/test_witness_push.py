"""The log pushes its checkpoints to C2SP witnesses under a tlog-policy (issue 20): two witness
servers, quorum 2 of 2; the served checkpoint carries both cosignatures, which verify with
the witnesses' keys; a stopped witness leaves the newest checkpoint short of the quorum; a
log that forgot what a witness holds learns it from the 409 and goes on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nacl.signing
import pytest
import uvicorn

from api.witness_client import build_witness_pusher
from api.witness_server import Witness, create_witness_app
from ledger.cosignature import format_cosigner_vkey
from ledger.note import format_vkey, parse_vkey, verify_note
from ledger.policy import PolicyError, parse_policy
from ledger.witnessing import parse_log_list
from tests.factories import register_envelope, submission
from tests.world import World


class Running:
    def __init__(self, witness: Witness) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(
            create_witness_app(witness), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _append(world: World, n: int) -> None:
    for f in [world.service.sequencer.submit(submission(register_envelope()[1])) for _ in range(n)]:
        f.result(timeout=60)


@pytest.fixture
def witnesses(world: World, tmp_path: Path) -> Iterator[list[tuple[Running, str]]]:
    log_vkey = world.http.get("/v1/log/key").text.strip()
    logs = parse_log_list(f"logs/v0\nvkey {log_vkey}\n")
    if parse_vkey(log_vkey).name not in logs:  # pragma: no cover - origin = key name here
        pytest.skip("the log's origin differs from its key name")
    running = []
    for i in (1, 2):
        key = nacl.signing.SigningKey.generate()
        name = f"witness{i}.test/w"
        w = Witness(key, name, logs, tmp_path / f"w{i}.db")
        running.append((Running(w), format_cosigner_vkey(name, bytes(key.verify_key))))
    yield running
    for r, _ in running:
        r.stop()


def _policy(tmp_path: Path, log_vkey: str, witnesses: list[tuple[Running, str]]) -> Path:
    lines = [f"log {log_vkey}"]
    lines += [f"witness W{i} {vkey} {r.url}" for i, (r, vkey) in enumerate(witnesses, 1)]
    lines += ["group both all W1 W2", "quorum both"]
    path = tmp_path / "policy.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_of_two_witnesses_cosign_and_a_stopped_one_breaks_the_quorum(
    world: World, tmp_path: Path, witnesses: list[tuple[Running, str]]
) -> None:
    log_vkey = world.http.get("/v1/log/key").text.strip()
    policy_file = _policy(tmp_path, log_vkey, witnesses)
    policy = parse_policy(policy_file.read_text())
    pusher = build_witness_pusher(policy_file, world.service.engine, min_interval=0)
    _append(world, 5)
    assert pusher.push_all() == {"W1": "cosigned", "W2": "cosigned"}
    served = world.http.get("/checkpoint").text
    verify_note(served, [parse_vkey(log_vkey)])
    assert policy.cosigners(served) == {"W1", "W2"} and policy.satisfied({"W1", "W2"})
    assert world.http.get("/v1/log/checkpoint").text == served
    metrics = world.http.get("/metrics").text
    size = int(served.split("\n")[1])
    assert f'dataledger_witness_cosigned_size{{witness="witness1.test/w"}} {size}' in metrics
    assert f"dataledger_tree_size {size}" in metrics

    _append(world, 7)  # consistency proofs from the cosigned size
    assert pusher.push_all() == {"W1": "cosigned", "W2": "cosigned"}
    assert pusher.push_all() == {"W1": "up-to-date", "W2": "up-to-date"}

    witnesses[1][0].stop()
    _append(world, 3)
    assert pusher.push_all() == {"W1": "cosigned", "W2": "unreachable"}
    newest = world.http.get("/checkpoint").text
    assert policy.cosigners(newest) == {"W1"} and not policy.satisfied(policy.cosigners(newest))

    # a log restarted without its memory of the witnesses: 409, then on from the witness's size
    again = build_witness_pusher(policy_file, world.service.engine, min_interval=0)
    _append(world, 2)
    with httpx.Client() as http:
        assert again.push(again.states["W1"], http) == "cosigned"
    assert again.states["W1"].outcomes == {"cosigned": 1}


def test_a_policy_without_witness_urls_is_refused(tmp_path: Path) -> None:
    key = nacl.signing.SigningKey.generate()
    path = tmp_path / "p.txt"
    path.write_text(
        f"witness W {format_cosigner_vkey('w.test', bytes(key.verify_key))}\nquorum W\n"
    )
    with pytest.raises(PolicyError):
        build_witness_pusher(path, None)  # type: ignore[arg-type]


def _vkey(name: str) -> str:
    return format_cosigner_vkey(name, bytes(nacl.signing.SigningKey.generate().verify_key))


def test_policy_quorums_and_strict_syntax() -> None:
    x = [_vkey(f"x{i}.test") for i in range(3)]
    y = [_vkey(f"y{i}.test") for i in range(2)]
    policy = parse_policy(
        "# two organisations\n"
        + "".join(f"witness X{i} {v}\n" for i, v in enumerate(x))
        + "".join(f"  witness\tY{i} {v} https://y{i}.test/\n" for i, v in enumerate(y))
        + "group X 2 X0 X1 X2\ngroup Y any Y0 Y1\ngroup XY all X Y\nquorum XY\n"
    )
    assert policy.satisfied({"X0", "X2", "Y1"})
    assert not policy.satisfied({"X0", "Y1"}) and not policy.satisfied({"X0", "X1", "X2"})
    assert parse_policy("quorum none\n").satisfied(set())
    for bad in (
        "",  # no quorum
        f"witness A {x[0]}\nquorum A\nquorum A\n",  # two quorum lines
        "quorum A\n",  # not defined before
        f"witness A {x[0]}\nwitness B {x[0]}\nquorum A\n",  # duplicate key
        f"witness A {x[0]}\ngroup G 2 A\nquorum G\n",  # k above n
        f"witness A {x[0]}\ngroup G any A A\nquorum G\n",  # member twice
        f"witness none {x[0]}\nquorum none\n",  # reserved name
        f"witness A {parse_vkey_log()}\nquorum A\n",  # a log key, not a cosigner key
        "frobnicate\nquorum none\n",
    ):
        with pytest.raises(PolicyError):
            parse_policy(bad)


def parse_vkey_log() -> str:
    return format_vkey("log.test", bytes(nacl.signing.SigningKey.generate().verify_key))


def test_tlog_proof_verifies_in_the_specs_order(
    world: World, tmp_path: Path, witnesses: list[tuple[Running, str]]
) -> None:
    from ledger.tlog_proof import TlogProofError, parse_tlog_proof, verify_tlog_proof

    log_vkey = world.http.get("/v1/log/key").text.strip()
    log_key = [parse_vkey(log_vkey)]
    policy_file = _policy(tmp_path, log_vkey, witnesses)
    policy = parse_policy(policy_file.read_text())
    _append(world, 9)
    build_witness_pusher(policy_file, world.service.engine, min_interval=0).push_all()
    response = world.http.get("/v1/log/entries/4/tlog-proof")
    assert response.status_code == 200
    assert response.headers.get_list("content-type") == ["text/plain; charset=utf-8"]
    text = response.text
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ") and "\nindex 4\n" in text
    proof = parse_tlog_proof(text)
    assert parse_tlog_proof(proof.text()) == proof  # the format round-trips
    checkpoint = verify_tlog_proof(proof, log_key, policy=policy)  # good
    assert checkpoint.size >= 9

    def failed(step: str, **kwargs: object) -> None:
        with pytest.raises(TlogProofError) as err:
            verify_tlog_proof(**{"proof": proof, "logs": log_key, **kwargs})  # type: ignore[arg-type]
        assert err.value.step == step, err.value

    assert proof.extra is not None
    flipped = bytes([proof.extra[0] ^ 1]) + proof.extra[1:]
    failed("inclusion", entry=flipped)  # a flipped leaf
    stranger = format_vkey(log_key[0].name, bytes(nacl.signing.SigningKey.generate().verify_key))
    failed("log signature", logs=[parse_vkey(stranger)])  # the wrong log key
    # quorum not met: a policy asking for a third witness nobody has
    third = _vkey("third.test")
    strict = parse_policy(
        policy_file.read_text().replace(
            "quorum both", f"witness W3 {third}\ngroup all3 all W1 W2 W3\nquorum all3"
        )
    )
    failed("witness quorum", policy=strict)
    # a proof from another tree: the same index and path against a different entry's tree
    moved = type(proof)(proof.index + 1, proof.proof, proof.checkpoint_note, proof.extra)
    failed("inclusion", proof=moved)
    assert world.http.get("/v1/log/entries/999999/tlog-proof").status_code == 404
