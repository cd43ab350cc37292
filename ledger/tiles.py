"""C2SP tlog-tiles: paths and shapes of tiles and entry bundles (pure).

Tile (L, N) holds the hashes of the perfect subtrees of height 8·L at positions
256·N .. 256·N + W - 1, i.e. exactly our stored Merkle nodes (level 8·L, index i). A tile is
full (W = 256) or, at the right edge of a tree, partial (`.p/W`).
"""

from __future__ import annotations

import struct

from ledger.errors import EncodingError

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_SIZE = 0xFFFF  # entry bundles prefix each entry with a big-endian uint16 length


def encode_index(n: int) -> str:
    """Tile index as zero-padded 3-digit path elements, all but the last prefixed by `x`."""
    if n < 0:
        raise ValueError("tile index must be non-negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    return "/".join([f"x{g}" for g in reversed(groups[1:])] + [groups[0]])


def tile_path(level: int, n: int, width: int = TILE_WIDTH) -> str:
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(n)}{suffix}"


def parse_index(path: str) -> tuple[int, int]:
    """`x001/x234/067[.p/W]` -> (N, W); W = 256 for a full tile."""
    width = TILE_WIDTH
    if ".p/" in path:
        path, _, w = path.partition(".p/")
        if not w.isdigit() or w != str(int(w)) or not 1 <= int(w) < TILE_WIDTH:
            raise EncodingError(f"partial tile width must be 1..255, got {w!r}")
        width = int(w)
    parts = path.split("/")
    for i, part in enumerate(parts):
        digits = part[1:] if i < len(parts) - 1 and part.startswith("x") else part
        if i < len(parts) - 1 and not part.startswith("x"):
            raise EncodingError("every element but the last of a tile index starts with x")
        if len(digits) != 3 or not digits.isdigit():
            raise EncodingError(f"bad tile index element {part!r}")
    n = 0
    for part in parts:
        n = n * 1000 + int(part.lstrip("x"))
    if len(parts) > 1 and parts[0] == "x000":
        raise EncodingError("tile index has a leading zero element")
    return n, width


def tile_width(level: int, n: int, tree_size: int) -> int:
    """How many hashes tile (level, n) has in a tree of `tree_size` (0: it does not exist)."""
    hashes_at_level = tree_size >> (TILE_HEIGHT * level)  # complete subtrees of height 8·level
    return max(0, min(TILE_WIDTH, hashes_at_level - n * TILE_WIDTH))


def bundle(entries: list[bytes]) -> bytes:
    """An entry bundle: each entry prefixed with its big-endian uint16 length."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise EncodingError(f"an entry of {len(entry)} bytes does not fit an entry bundle")
        out += struct.pack(">H", len(entry)) + entry
    return bytes(out)


def unbundle(data: bytes) -> list[bytes]:
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise EncodingError("entry bundle ends inside a length prefix")
        (size,) = struct.unpack(">H", data[pos : pos + 2])
        if pos + 2 + size > len(data):
            raise EncodingError("entry bundle ends inside an entry")
        entries.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return entries


def split_tile(data: bytes) -> list[bytes]:
    """The hashes in a tile's bytes."""
    if len(data) % 32 or not 0 < len(data) <= TILE_WIDTH * 32:
        raise EncodingError(f"a tile is 1 to 256 hashes of 32 bytes, got {len(data)} bytes")
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def tile_coordinates(level: int, index: int) -> tuple[int, int, int, int]:
    """Where Merkle node (level, index) lives: (tile level, tile index, first hash, hash count).

    The node is the root of 2**r consecutive hashes of tile level k = level // 8 (r = level % 8),
    starting at hash `first` of tile `tile index`: it is recomputed by hashing them together.
    """
    k, r = divmod(level, TILE_HEIGHT)
    start = index << r
    return k, start // TILE_WIDTH, start % TILE_WIDTH, 1 << r
