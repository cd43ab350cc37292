"""Known-answer tests: the RFC 6962 vectors of transparency-dev/merkle (see vectors/README.md)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ConsistencyProofError, InclusionProofError
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)


def _vectors_dir() -> Path | None:
    here = Path(__file__).resolve().parents[2] / "shared" / "vectors"
    if here.is_dir():
        return here
    env = os.environ.get("DATALEDGER_VECTORS")
    return Path(env) if env and Path(env).is_dir() else None


VECTORS = _vectors_dir()
pytestmark = pytest.mark.skipif(
    VECTORS is None, reason="test vectors not found: ../shared/vectors or $DATALEDGER_VECTORS"
)


def _cases(kind: str) -> list[Path]:
    return sorted((VECTORS / "rfc6962" / kind).rglob("*.json")) if VECTORS else []


def _id(path: Path) -> str:
    assert VECTORS is not None
    return str(path.relative_to(VECTORS / "rfc6962"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _b(s: str | None) -> bytes:
    return base64.b64decode(s or "")


def _proof(v: dict[str, Any]) -> list[bytes]:
    return [_b(p) for p in v["proof"] or []]


def _reference() -> dict[str, Any]:
    assert VECTORS is not None
    tree: dict[str, Any] = _load(VECTORS / "rfc6962" / "hashes.json")["reference_tree"]
    return tree


def _reference_nodes() -> dict[tuple[int, int], bytes]:
    """Every stored node of the 8-leaf reference tree, built by appending with CompactRange."""
    nodes: dict[tuple[int, int], bytes] = {}
    cr = CompactRange.empty()
    for entry in _reference()["leaf_inputs"]:
        for level, index, h in cr.append(leaf_hash(bytes.fromhex(entry))):
            nodes[level, index] = h
    return nodes


def test_vector_counts() -> None:
    assert len(_cases("inclusion")) == 98
    assert len(_cases("consistency")) == 98


@pytest.mark.parametrize("path", _cases("inclusion"), ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    args = (v["leafIdx"], v["treeSize"], _b(v["leafHash"]), _proof(v), _b(v["root"]))
    if v["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _cases("consistency"), ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    args = (v["size1"], v["size2"], _proof(v), _b(v["root1"]), _b(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_hasher_vectors() -> None:
    assert VECTORS is not None
    for case in _load(VECTORS / "rfc6962" / "hashes.json")["hasher_vectors"]:
        want = bytes.fromhex(case["want"])
        if case["op"] == "empty_root":
            assert want == EMPTY_ROOT
        elif case["op"] == "leaf":
            assert leaf_hash(bytes.fromhex(case["input"])) == want, case["desc"]
        else:
            got = node_hash(bytes.fromhex(case["left"]), bytes.fromhex(case["right"]))
            assert got == want, case["desc"]


def test_reference_tree_roots_and_nodes() -> None:
    ref = _reference()
    cr = CompactRange.empty()
    assert cr.root() == bytes.fromhex(ref["root_hashes"][0])
    for n, entry in enumerate(ref["leaf_inputs"], start=1):
        cr.append(leaf_hash(bytes.fromhex(entry)))
        assert cr.root() == bytes.fromhex(ref["root_hashes"][n]), f"root of {n} leaves"
    nodes = _reference_nodes()
    want = {
        (level, i): bytes.fromhex(h)
        for level, row in enumerate(ref["node_hashes"])
        for i, h in enumerate(row)
    }
    assert nodes == want
    for n, root in enumerate(ref["root_hashes"]):
        assert root_hash(n, lambda level, i: nodes[level, i]) == bytes.fromhex(root)


def _happy(kind: str) -> list[Path]:
    return [p for p in _cases(kind) if p.name == "happy-path.json"]


@pytest.mark.parametrize("path", _happy("inclusion"), ids=_id)
def test_generated_inclusion_proof_matches_vector(path: Path) -> None:
    v = _load(path)
    nodes = _reference_nodes()
    proof = inclusion_proof(v["leafIdx"], v["treeSize"], lambda level, i: nodes[level, i])
    assert proof == _proof(v)


@pytest.mark.parametrize("path", _happy("consistency"), ids=_id)
def test_generated_consistency_proof_matches_vector(path: Path) -> None:
    v = _load(path)
    nodes = _reference_nodes()
    proof = consistency_proof(v["size1"], v["size2"], lambda level, i: nodes[level, i])
    assert proof == _proof(v)
