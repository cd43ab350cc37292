"""RFC 6962 / RFC 9162 SHA-256 Merkle tree: hashing, proofs, and the compact range.

Storage model: only the hashes of *perfect, aligned* subtrees are stored, addressed by
``(level, index)``. Node ``(L, i)`` is the root of leaves ``[i * 2**L, (i + 1) * 2**L)``; level 0
holds the leaf hashes. Every hash of a non-perfect range is recomputed from those on demand, so the
generators below take a ``NodeGetter`` and never see the storage itself.

Generators raise ``ValueError`` on out-of-range arguments (their callers validate first).
Verifiers return ``None`` or raise ``InclusionProofError`` / ``ConsistencyProofError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ledger.errors import ConsistencyProofError, InclusionProofError, VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""``(level, index)`` of a perfect, aligned subtree."""

NodeGetter = Callable[[int, int], bytes]
"""Returns the stored hash of node ``(level, index)``."""


def leaf_hash(data: bytes) -> bytes:
    """Hash of one entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2): where RFC 9162 splits a range."""
    return 1 << ((n - 1).bit_length() - 1)


# --- generation -------------------------------------------------------------------------------


def subtree_hash(lo: int, hi: int, get: NodeGetter) -> bytes:
    """MTH of leaves ``[lo, hi)``, asking ``get`` only for perfect, aligned nodes."""
    n = hi - lo
    if lo < 0 or n <= 0:
        raise ValueError(f"empty or negative leaf range [{lo}, {hi})")
    if n & (n - 1) == 0 and lo % n == 0:
        level = n.bit_length() - 1
        return get(level, lo >> level)
    # Not a stored node: split as RFC 9162 does (an unaligned perfect range recurses to leaves).
    k = _split(n)
    return node_hash(subtree_hash(lo, lo + k, get), subtree_hash(lo + k, hi, get))


def root_hash(size: int, get: NodeGetter) -> bytes:
    """Root hash of the tree of the first ``size`` leaves (``EMPTY_ROOT`` for 0)."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, get)


def _path(index: int, lo: int, hi: int, get: NodeGetter) -> list[bytes]:
    # RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]); siblings are appended on the way back up,
    # so the list runs from the leaf level to the root.
    if hi - lo == 1:
        return []
    mid = lo + _split(hi - lo)
    if index < mid:
        return [*_path(index, lo, mid, get), subtree_hash(mid, hi, get)]
    return [*_path(index, mid, hi, get), subtree_hash(lo, mid, get)]


def inclusion_proof(index: int, size: int, get: NodeGetter) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return _path(index, 0, size, get)


def _subproof(m: int, lo: int, hi: int, complete: bool, get: NodeGetter) -> list[bytes]:
    # RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b) with m an absolute leaf count, lo < m <= hi.
    if m == hi:
        return [] if complete else [subtree_hash(lo, hi, get)]
    mid = lo + _split(hi - lo)
    if m <= mid:
        return [*_subproof(m, lo, mid, complete, get), subtree_hash(mid, hi, get)]
    return [*_subproof(m, mid, hi, False, get), subtree_hash(lo, mid, get)]


def consistency_proof(first: int, second: int, get: NodeGetter) -> list[bytes]:
    """Proof that the tree of ``first`` leaves is a prefix of the one of ``second`` (§2.1.4)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    return _subproof(first, 0, second, True, get)


def _recorded(run: Callable[[NodeGetter], object]) -> set[NodeId]:
    """Run a generator with a getter that only records what it is asked for."""
    asked: set[NodeId] = set()

    def get(level: int, index: int) -> bytes:
        asked.add((level, index))
        return bytes(HASH_SIZE)

    run(get)
    return asked


def inclusion_nodes(index: int, size: int) -> set[NodeId]:
    """The stored nodes ``inclusion_proof(index, size, ...)`` will read (O(log size))."""
    return _recorded(lambda get: inclusion_proof(index, size, get))


def consistency_nodes(first: int, second: int) -> set[NodeId]:
    """The stored nodes ``consistency_proof(first, second, ...)`` will read (O(log second))."""
    return _recorded(lambda get: consistency_proof(first, second, get))


def root_nodes(size: int) -> set[NodeId]:
    """The stored nodes ``root_hash(size, ...)`` will read: the frontier of ``size``."""
    return _recorded(lambda get: root_hash(size, get))


# --- compact range ----------------------------------------------------------------------------


class CompactRange:
    """The frontier of a tree: roots of the perfect subtrees that make up ``size``, left to right.

    It is all an appender needs to extend the tree and compute its root without reading storage.
    """

    def __init__(self, size: int, nodes: Sequence[bytes]) -> None:
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        if len(nodes) != size.bit_count():
            raise ValueError(
                f"size {size} needs {size.bit_count()} frontier nodes, got {len(nodes)}"
            )
        if any(len(h) != HASH_SIZE for h in nodes):
            raise ValueError(f"frontier hashes must be {HASH_SIZE} bytes")
        self._size = size
        self._nodes = list(nodes)

    @classmethod
    def empty(cls) -> CompactRange:
        """The frontier of the empty tree."""
        return cls(0, [])

    @staticmethod
    def frontier_ids(size: int) -> list[NodeId]:
        """``(level, index)`` of the frontier nodes of ``size``, left (highest level) to right."""
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        # Each set bit L of size is one perfect subtree of 2**L leaves; it is the last whole
        # 2**L-block before leaf `size`, so its index is (size >> L) - 1.
        return [
            (level, (size >> level) - 1)
            for level in reversed(range(size.bit_length()))
            if size >> level & 1
        ]

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    @property
    def nodes(self) -> list[bytes]:
        """Frontier hashes, left to right (a copy)."""
        return list(self._nodes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return every new perfect node ``(level, index, hash)``, leaf first."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        level, index, h = 0, self._size, leaf
        created = [(level, index, h)]
        # Each trailing 1-bit of the old size is a finished left sibling: merge with it.
        while self._size >> level & 1:
            h = node_hash(self._nodes.pop(), h)
            level, index = level + 1, index >> 1
            created.append((level, index, h))
        self._nodes.append(h)
        self._size += 1
        return created

    def root(self) -> bytes:
        """Root hash of the tree (``EMPTY_ROOT`` when empty)."""
        if not self._nodes:
            return EMPTY_ROOT
        # MTH(D[0:n]) = node(largest perfect left part, MTH(rest)): fold from the right.
        h = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> CompactRange:
        """An independent copy."""
        return CompactRange(self._size, self._nodes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


# --- verification -----------------------------------------------------------------------------


def _check_hashes(proof: Sequence[bytes], error: type[VerificationError]) -> None:
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise error(f"proof element {i} is {len(p)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Root implied by an inclusion proof (RFC 9162 §2.1.3.2); raises InclusionProofError."""
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is not in a tree of size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise InclusionProofError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    _check_hashes(proof, InclusionProofError)
    # fn walks the leaf's position up the tree, sn the last leaf's; when they meet, the node
    # has no right sibling at that level, so levels are skipped until fn is a left child again.
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise InclusionProofError(f"proof of {len(proof)} elements is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionProofError(f"proof of {len(proof)} elements is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``."""
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if computed != root:
        raise InclusionProofError(
            f"inclusion proof for leaf {index} of {size} leads to a different root",
            expected=root,
            computed=computed,
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size1, root1) is a prefix of (size2, root2) (RFC 9162 §2.1.4.2)."""
    if size1 <= 0:
        # Following transparency-dev/merkle: a proof from the empty tree proves nothing.
        raise ConsistencyProofError(f"no consistency proof from tree size {size1}")
    if size2 < size1:
        raise ConsistencyProofError(f"tree size went backwards: {size1} -> {size2}")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError("proof between equal sizes must be empty")
        if root1 != root2:
            raise ConsistencyProofError(
                f"roots of the same size {size1} differ", expected=root1, computed=root2
            )
        return
    if not proof:
        raise ConsistencyProofError(f"empty proof from size {size1} to {size2}")
    _check_hashes(proof, ConsistencyProofError)

    # If the old tree is a perfect subtree, the proof omits its root: put it back.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    # Skip the levels where the old tree's last node is a right child: the proof's first
    # element is the root of the largest perfect subtree ending at leaf size1 - 1.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError(f"proof from {size1} to {size2} is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ConsistencyProofError(f"proof from {size1} to {size2} is too short")
    if fr != root1:
        raise ConsistencyProofError(
            f"consistency proof does not lead to the size-{size1} root", expected=root1, computed=fr
        )
    if sr != root2:
        raise ConsistencyProofError(
            f"consistency proof does not lead to the size-{size2} root", expected=root2, computed=sr
        )
