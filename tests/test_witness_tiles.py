"""Witnessing and tlog-tiles: cosignatures only from witnesses, a witness that refuses a forked
log, `verify --state` catching the fork, and the root and a proof rebuilt from tiles alone."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from api.client import ApiError
from api.verify import StateFile, verify_log
from api.witness import ForkDetected, witness_once
from ledger import merkle, tiles
from ledger.checkpoint import open_checkpoint
from ledger.cosignature import cosigner_key_id
from ledger.errors import VerificationError
from ledger.logsigner import LogSigner
from ledger.note import parse_note, parse_vkey
from ledger.storage import store
from tests.world import World


def test_a_witness_cosigns_and_the_log_serves_the_cosignature(world: World, tmp_path: Path) -> None:
    witness = world.party("Witness")
    world.party("Someone")
    client = world.client()
    with pytest.raises(ApiError) as not_yet:
        witness_once(client, witness, tmp_path / "w.json")
    assert not_yet.value.code == "role-required"  # not a witness: nothing stored
    assert len(parse_note(client.checkpoint_note()).signatures) == 1

    world.grant(witness, "witness")
    result = witness_once(client, witness, tmp_path / "w.json")
    note = client.checkpoint_note()
    lines = parse_note(note).signatures
    assert len(lines) == 2 and lines[1].key_id == cosigner_key_id(
        lines[1].name, bytes(witness.verify_key)
    )
    assert result.previous_size is None
    # The log's own signature still verifies with the cosignature on the note.
    open_checkpoint(note, client.verifier())

    world.party("Later")
    again = witness_once(client, witness, tmp_path / "w.json")
    assert again.previous_size == result.checkpoint.size < again.checkpoint.size
    assert (
        world.http.get("/v1/log/checkpoint", params={"cosigned": "true"}).text.count("\u2014") == 2
    )


def test_cosignatures_must_verify(world: World) -> None:
    witness = world.party("Witness")
    world.grant(witness, "witness")
    note = world.client().checkpoint_note()
    size = int(note.splitlines()[1])
    forged = "\u2014 w " + base64.b64encode(b"\x00" * 76).decode()
    response = world.http.post(
        "/v1/log/cosignatures", json={"tree_size": size, "cosignature": forged}
    )
    assert response.status_code in (403, 422) and response.headers["content-type"].startswith(
        "application/problem+json"
    )


def _fork(engine: Engine, signer: LogSigner, index: int) -> None:
    """Rewrite entry `index` and every hash above it, and re-sign the newest checkpoint: a
    different tree at the same size, signed by the log key (going around the triggers)."""
    with engine.begin() as conn:
        size = store.tree_size(conn)
        entries = store.entries_range(conn, 0, size)
        forged = [e.entry for e in entries]
        forged[index] = forged[index].replace(b'"integrated_at":"2', b'"integrated_at":"1', 1)
        tree = merkle.CompactRange.empty()
        nodes = [node for entry in forged for node in tree.append(merkle.leaf_hash(entry))]
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            for table in ("ledger_entries", "merkle_nodes", "checkpoints"):
                for op in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        conn.execute(
            text("UPDATE ledger_entries SET entry = :e WHERE idx = :i"),
            {"e": forged[index], "i": index},
        )
        for level, idx, digest in nodes:
            conn.execute(
                text("UPDATE merkle_nodes SET hash = :h WHERE level = :l AND idx = :i"),
                {"h": digest, "l": level, "i": idx},
            )
        conn.execute(
            text("UPDATE checkpoints SET root_hash = :r, note = :n WHERE tree_size = :s"),
            {"r": tree.root(), "n": signer.sign_checkpoint(size, tree.root()), "s": size},
        )


def test_a_forked_log_is_refused_by_the_witness_and_caught_by_verify(
    world: World, tmp_path: Path
) -> None:
    witness = world.party("Witness")
    world.grant(witness, "witness")
    for name in ("A", "B", "C"):
        world.party(name)
    client = world.client()
    verifier = client.verifier()
    state = StateFile(tmp_path / "verify.json")
    verify_log(client, verifier, state=state, workers=1)
    witness_once(client, witness, tmp_path / "w.json")

    _fork(world.service.engine, world.service.signer, 2)
    verify_log(world.client(), verifier, workers=1)  # the fork is internally consistent...
    with pytest.raises(VerificationError, match="not consistent with the checkpoint saved"):
        verify_log(world.client(), verifier, state=state, workers=1)  # ...but not with history
    with pytest.raises(ForkDetected) as refused:
        witness_once(world.client(), witness, tmp_path / "w.json")
    evidence: dict[str, Any] = refused.value.evidence
    assert evidence["previous_checkpoint"] != evidence["checkpoint"]
    assert (
        json.loads((tmp_path / "w.json").read_text())["checkpoint"]
        == evidence["previous_checkpoint"]
    )


def test_the_root_and_a_proof_rebuilt_from_tiles_alone(world: World) -> None:
    from tests.factories import register_envelope, submission

    subs = [submission(register_envelope()[1]) for _ in range(600)]
    futures = [world.service.sequencer.submit(s) for s in subs]
    for f in futures:
        f.result(timeout=120)
    http = world.http
    vkey = http.get("/v1/log/key").text.strip()
    checkpoint, _ = open_checkpoint(http.get("/checkpoint").text, parse_vkey(vkey))
    size = checkpoint.size
    fetched: dict[tuple[int, int], list[bytes]] = {}

    def tile(level: int, n: int) -> list[bytes]:
        if (level, n) not in fetched:
            width = tiles.tile_width(level, n, size)
            response = http.get("/" + tiles.tile_path(level, n, width))
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/octet-stream"
            fetched[(level, n)] = tiles.split_tile(response.content)
        return fetched[(level, n)]

    def node(level: int, index: int) -> bytes:
        tile_level, n, first, count = tiles.tile_coordinates(level, index)
        hashes = tile(tile_level, n)[first : first + count]
        subtree = merkle.CompactRange.empty()
        for h in hashes:
            subtree.append(h)
        return subtree.root()

    assert merkle.root_hash(size, node) == checkpoint.root_hash
    assert any(level == 1 for level, _ in fetched)  # level-1 tiles carried the 256-leaf subtrees
    index = 437
    proof = merkle.inclusion_proof(index, size, node)
    bundle = http.get(
        "/" + tiles.tile_path(0, 1, tiles.tile_width(0, 1, size)).replace("tile/0", "tile/entries")
    )
    entry = tiles.unbundle(bundle.content)[index - 256]
    merkle.verify_inclusion(index, size, merkle.leaf_hash(entry), proof, checkpoint.root_hash)
    assert http.get("/tile/0/999").status_code == 404
    assert http.get("/tile/0/x1/2").status_code == 400


def test_tiles_are_served_to_the_letter(world: World) -> None:
    """tlog-tiles: the checkpoint's content type exactly, and one path per tile (issue 20)."""
    http = world.http
    checkpoint = http.get("/checkpoint")
    assert checkpoint.headers.get_list("content-type") == ["text/plain; charset=utf-8"]
    assert http.get("/tile/0/000").status_code in (200, 404)  # size may be under a full tile
    for alias in ("/tile/00/000", "/tile/01/000", "/tile/64/000"):
        assert http.get(alias).status_code in (400, 404), alias
