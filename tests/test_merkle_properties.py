"""Properties of the Merkle tree, checked exhaustively on small trees and with hypothesis."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import ConsistencyProofError, InclusionProofError
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    NodeId,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300  # inclusion: every (index, size) up to here
MAX_FLIP_SIZE = 160  # inclusion: every (index, size) up to here with each part tampered
MAX_CONSISTENCY = 100  # consistency: every (m, n) up to here


def _naive_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(_naive_mth(leaves[:k]), _naive_mth(leaves[k:]))


def _flip(b: bytes, bit: int) -> bytes:
    bit %= 8 * len(b)
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


class Tree:
    """A tree of MAX_SIZE leaves, stored as the storage layer would: (level, index) -> hash."""

    def __init__(self, size: int) -> None:
        self.leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
        self.nodes: dict[NodeId, bytes] = {}
        self.roots = [EMPTY_ROOT]
        cr = CompactRange.empty()
        for leaf in self.leaves:
            for level, index, h in cr.append(leaf):
                assert (level, index) not in self.nodes  # every node is created exactly once
                self.nodes[level, index] = h
            self.roots.append(cr.root())
        self.asked: set[NodeId] = set()

    def get(self, level: int, index: int) -> bytes:
        self.asked.add((level, index))
        return self.nodes[level, index]


TREE = Tree(MAX_SIZE)


def _bound(size: int) -> int:
    return 2 * math.ceil(math.log2(size)) + 2 if size > 1 else 2


def test_compact_range_root_matches_naive_mth() -> None:
    for n in range(MAX_SIZE + 1):
        assert TREE.roots[n] == _naive_mth(TREE.leaves[:n]), n


def test_root_hash_and_frontier() -> None:
    for n in range(MAX_SIZE + 1):
        TREE.asked.clear()
        assert root_hash(n, TREE.get) == TREE.roots[n]
        ids = CompactRange.frontier_ids(n)
        assert TREE.asked == root_nodes(n) == set(ids)
        # Rebuilding a CompactRange from stored frontier nodes gives the same root.
        cr = CompactRange(n, [TREE.nodes[i] for i in ids])
        assert cr.root() == TREE.roots[n]
        # ... and it keeps appending correctly.
        if n < MAX_SIZE:
            cr.copy().append(TREE.leaves[n])
            cr.append(TREE.leaves[n])
            assert cr.root() == TREE.roots[n + 1]


def test_append_creates_about_two_nodes_per_leaf() -> None:
    assert len(TREE.nodes) < 2 * MAX_SIZE


def test_every_inclusion_proof_verifies() -> None:
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            TREE.asked.clear()
            proof = inclusion_proof(index, size, TREE.get)
            verify_inclusion(index, size, TREE.leaves[index], proof, TREE.roots[size])
            nodes = inclusion_nodes(index, size)
            assert TREE.asked == nodes
            assert len(nodes) <= _bound(size)


def _assert_inclusion_fails(
    index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes
) -> None:
    # try/except rather than pytest.raises: this runs ~400k times and must stay cheap.
    try:
        verify_inclusion(index, size, leaf, proof, root)
    except InclusionProofError:
        return
    pytest.fail(f"tampered inclusion proof for ({index}, {size}) verified")


def test_inclusion_flipped_bits_fail() -> None:
    # One flipped bit in each part (leaf, every proof element, root), for every (index, size)
    # up to MAX_FLIP_SIZE (all 300 would take ~9 s); hypothesis covers the larger trees below.
    for size in range(1, MAX_FLIP_SIZE + 1):
        root = TREE.roots[size]
        for index in range(size):
            leaf = TREE.leaves[index]
            proof = inclusion_proof(index, size, TREE.get)
            bit = index * 31 + size
            _assert_inclusion_fails(index, size, _flip(leaf, bit), proof, root)
            _assert_inclusion_fails(index, size, leaf, proof, _flip(root, bit))
            for i in range(len(proof)):
                bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
                _assert_inclusion_fails(index, size, leaf, bad, root)


@given(st.data())
def test_inclusion_any_flipped_bit_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, MAX_SIZE))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, TREE.get)
    parts = [TREE.leaves[index], *proof, TREE.roots[size]]
    which = data.draw(st.integers(0, len(parts) - 1))
    parts[which] = _flip(parts[which], data.draw(st.integers(0, 8 * HASH_SIZE - 1)))
    _assert_inclusion_fails(index, size, parts[0], parts[1:-1], parts[-1])


@given(
    index=st.integers(-3, MAX_SIZE + 3),
    size=st.integers(-3, MAX_SIZE + 3),
    leaf=st.binary(max_size=40),
    proof=st.lists(st.binary(max_size=40), max_size=12),
    root=st.binary(max_size=40),
)
def test_inclusion_garbage_raises_only_typed_error(
    index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes
) -> None:
    try:
        verify_inclusion(index, size, leaf, proof, root)
    except InclusionProofError:
        return
    # Accepting garbage is only possible for the real leaf, proof and root.
    assert root == TREE.roots[size]


@given(st.data())
def test_inclusion_wrong_shape_fails(data: st.DataObject) -> None:
    # (The size is not varied: a proof alone does not pin it, (0, 3) and (0, 4) share a path.)
    size = data.draw(st.integers(2, MAX_SIZE))
    index, other_index = data.draw(
        st.lists(st.integers(0, size - 1), min_size=2, max_size=2, unique=True)
    )
    proof = inclusion_proof(index, size, TREE.get)
    leaf, root = TREE.leaves[index], TREE.roots[size]
    _assert_inclusion_fails(other_index, size, leaf, proof, root)
    _assert_inclusion_fails(index, size, leaf, [*proof, proof[-1]], root)
    _assert_inclusion_fails(index, size, leaf, proof[:-1], root)


def _assert_consistency_fails(
    m: int, n: int, proof: list[bytes], root1: bytes, root2: bytes
) -> None:
    with pytest.raises(ConsistencyProofError):
        verify_consistency(m, n, proof, root1, root2)


def test_every_consistency_proof_verifies_and_flipped_bits_fail() -> None:
    for n in range(1, MAX_CONSISTENCY + 1):
        for m in range(1, n + 1):
            TREE.asked.clear()
            proof = consistency_proof(m, n, TREE.get)
            nodes = consistency_nodes(m, n)
            assert TREE.asked == nodes
            assert len(nodes) <= _bound(n)
            r1, r2 = TREE.roots[m], TREE.roots[n]
            verify_consistency(m, n, proof, r1, r2)
            bit = m * 37 + n
            _assert_consistency_fails(m, n, proof, _flip(r1, bit), r2)
            _assert_consistency_fails(m, n, proof, r1, _flip(r2, bit))
            for i in range(len(proof)):
                bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
                _assert_consistency_fails(m, n, bad, r1, r2)
            if m < n:
                _assert_consistency_fails(m, n, proof[:-1], r1, r2)
                _assert_consistency_fails(m, n, [*proof, r1], r1, r2)


@given(st.data())
def test_consistency_large_trees(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, MAX_SIZE))
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(m, n, TREE.get)
    verify_consistency(m, n, proof, TREE.roots[m], TREE.roots[n])
    if m < n:
        # The same proof must not link other sizes.
        other = data.draw(st.integers(1, n - 1).filter(lambda k: k != m))
        _assert_consistency_fails(other, n, proof, TREE.roots[other], TREE.roots[n])


@given(
    m=st.integers(-3, 40),
    n=st.integers(-3, 40),
    proof=st.lists(st.binary(max_size=40), max_size=10),
    root1=st.binary(max_size=40),
    root2=st.binary(max_size=40),
)
def test_consistency_garbage_raises_only_typed_error(
    m: int, n: int, proof: list[bytes], root1: bytes, root2: bytes
) -> None:
    try:
        verify_consistency(m, n, proof, root1, root2)
    except ConsistencyProofError:
        return
    assert m == n and not proof and root1 == root2


def test_generators_reject_out_of_range_arguments() -> None:
    for args in [(0, 0), (5, 5), (-1, 3)]:
        with pytest.raises(ValueError, match="not in a tree"):
            inclusion_proof(*args, TREE.get)
    for args in [(0, 3), (4, 3), (-1, 2)]:
        with pytest.raises(ValueError, match="no consistency proof"):
            consistency_proof(*args, TREE.get)
    with pytest.raises(ValueError, match="frontier nodes"):
        CompactRange(3, [bytes(32)])
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange.empty().append(b"short")


def test_frontier_ids_examples() -> None:
    assert CompactRange.frontier_ids(0) == []
    assert CompactRange.frontier_ids(1) == [(0, 0)]
    assert CompactRange.frontier_ids(8) == [(3, 0)]
    assert CompactRange.frontier_ids(13) == [(3, 0), (2, 2), (0, 12)]


def test_append_reports_new_nodes() -> None:
    cr = CompactRange.empty()
    leaves = [leaf_hash(bytes([i])) for i in range(4)]
    assert [x[:2] for x in cr.append(leaves[0])] == [(0, 0)]
    assert [x[:2] for x in cr.append(leaves[1])] == [(0, 1), (1, 0)]
    assert [x[:2] for x in cr.append(leaves[2])] == [(0, 2)]
    created = cr.append(leaves[3])
    assert [x[:2] for x in created] == [(0, 3), (1, 1), (2, 0)]
    assert created[-1][2] == cr.root() == _naive_mth(leaves)
    assert cr.size == 4 and cr.nodes == [cr.root()]
