"""Read-only access to the log: key, checkpoint, entries, receipts, proofs (DESIGN §5)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, MediaType, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.deps import OptionalCount, Reader, require_reader
from api.paging import within_bytes
from api.problems import NotFound
from api.responses import PLAIN_UTF8, exact
from api.service import EntryOpenings, LedgerService
from api.throttle import limited
from ledger import tiles
from ledger.encoding import b64encode
from ledger.receipts import Receipt
from ledger.storage.store import StoredEntry

MAX_ENTRIES_PER_PAGE = 1000


NO_STORE = {"cache-control": "no-store"}


class CosignatureIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tree_size: Annotated[int, msgspec.Meta(ge=0, le=2**62)]
    cosignature: Annotated[str, msgspec.Meta(max_length=1000)]  # one note signature line


class CosignatureOut(msgspec.Struct, frozen=True):
    tree_size: int
    witness_party_id: str
    timestamp: int
    created: bool


class EntryBody(msgspec.Struct, frozen=True):
    index: int
    entry: str  # base64 of the entry bytes
    leaf_hash: str


class EntriesBody(msgspec.Struct, frozen=True):
    """A page of entries. `next_start` is set when the page stopped short of what was asked,
    at its byte limit: ask again from there."""

    entries: list[EntryBody]
    next_start: int | None = None


ENTRIES_PAGE_BYTES = 2 << 20  # 1,000 entries of up to ~60 kB each would be 60 MiB


class InclusionProofBody(msgspec.Struct, frozen=True):
    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]


class ConsistencyProofBody(msgspec.Struct, frozen=True):
    first: int
    second: int
    hashes: list[str]


def _entry_body(stored: StoredEntry) -> EntryBody:
    return EntryBody(stored.index, b64encode(stored.entry), b64encode(stored.leaf_hash))


Ledger = NamedDependency[LedgerService]
EntryIndex = Annotated[int, PathParameter(ge=0, le=2**62)]
FieldName = Annotated[str, PathParameter(pattern=r"^[a-z_]{1,64}$")]
Size = Annotated[int, QueryParameter(ge=0, le=2**62)]
OptionalSize = OptionalCount


class LogController(Controller):
    path = "/v1/log"
    tags = ["log"]

    @get("/key", media_type=MediaType.TEXT, operation_id="getLogKey", sync_to_thread=False)
    def key(self, ledger: Ledger) -> str:
        """The log's verifier key, in the C2SP signed-note vkey format."""
        return ledger.signer.vkey + "\n"

    @get(
        "/checkpoint", media_type=MediaType.TEXT, operation_id="getCheckpoint", sync_to_thread=True
    )
    def checkpoint(
        self, ledger: Ledger, cosigned: Annotated[bool, QueryParameter()] = False
    ) -> Response[str]:
        """The newest checkpoint, a C2SP signed note, with the witness cosignatures collected
        for it (`cosigned=true`: the newest checkpoint that has any)."""
        return Response(ledger.checkpoint_note(cosigned=cosigned), headers=NO_STORE)

    @get(
        "/checkpoints/{tree_size:int}",
        media_type=MediaType.TEXT,
        operation_id="getCheckpointAt",
        sync_to_thread=True,
    )
    def checkpoint_at(
        self, ledger: Ledger, tree_size: Annotated[int, PathParameter(ge=0, le=2**62)]
    ) -> str:
        """The checkpoint the log signed at `tree_size`, with its cosignatures."""
        return ledger.checkpoint_note(tree_size)

    @post(
        "/cosignatures",
        operation_id="addCosignature",
        status_code=HTTP_201_CREATED,
        sync_to_thread=True,
        guards=[limited("client.writes")],
    )
    def cosignature(self, ledger: Ledger, data: JSONBody[CosignatureIn]) -> CosignatureOut:
        """A witness's cosignature (C2SP tlog-cosignature v1) of the checkpoint of `tree_size`."""
        party_id, timestamp, created = ledger.add_cosignature(data.tree_size, data.cosignature)
        return CosignatureOut(data.tree_size, party_id, timestamp, created)

    @get("/entries/{index:int}", operation_id="getEntry", sync_to_thread=True)
    def entry(self, ledger: Ledger, index: EntryIndex) -> EntryBody:
        """One entry: its bytes (base64) and leaf hash."""
        return _entry_body(ledger.entry(index))

    @get("/entries/{index:int}/openings", operation_id="getEntryOpenings", sync_to_thread=True)
    def entry_openings(self, ledger: Ledger, reader: Reader, index: EntryIndex) -> EntryOpenings:
        """The openings (salt and value) of an entry's private fields, for the parties entitled
        to them and regulators: check each against the entry's commitment yourself."""
        return ledger.entry_openings(reader, index)

    @delete(
        "/entries/{index:int}/openings/{field:str}",
        operation_id="eraseEntryOpening",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def erase_opening(
        self, ledger: Ledger, reader: Reader, index: EntryIndex, field: FieldName
    ) -> None:
        """Erase the opening of a private text field (a reason, grounds, a note) for good: the
        operator or the entry's signer. The logged commitment stays, unopenable."""
        ledger.erase_opening(require_reader(reader), index, field)

    @get(
        "/entries",
        operation_id="listEntries",
        sync_to_thread=True,
        guards=[limited("client.reads")],
    )
    def entries(
        self,
        ledger: Ledger,
        start: Size = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_ENTRIES_PER_PAGE)] = 100,
    ) -> EntriesBody:
        """Entries [start, start+limit): at most 1000, and at most 2 MiB of them, per page
        (then `next_start` says where the rest begins)."""
        found = ledger.entries(start, limit)
        page = within_bytes(found, lambda e: len(e.entry), ENTRIES_PAGE_BYTES)
        cut = len(page) < len(found)
        return EntriesBody(
            [_entry_body(e) for e in page], next_start=start + len(page) if cut else None
        )

    @get("/entries/{index:int}/receipt", operation_id="getReceipt", sync_to_thread=True)
    def receipt(self, ledger: Ledger, index: EntryIndex) -> Receipt:
        """A receipt for an entry against the newest checkpoint, verifiable offline."""
        return ledger.receipt(index)

    @get(
        "/entries/{index:int}/tlog-proof",
        operation_id="getTlogProof",
        media_type=MediaType.TEXT,
        sync_to_thread=True,
    )
    def tlog_proof(self, ledger: Ledger, index: EntryIndex) -> Response[bytes]:
        """c2sp.org/tlog-proof@v1 text (save as `.tlog-proof`): the entry (as the extra line),
        its inclusion proof and the newest checkpoint with its witnesses' cosignatures."""
        proof = ledger.tlog_proof(index)
        return exact(proof.text(), PLAIN_UTF8)

    @get("/proof/inclusion", operation_id="getInclusionProof", sync_to_thread=True)
    def inclusion(
        self,
        ledger: Ledger,
        index: Size,
        tree_size: OptionalSize = None,
    ) -> InclusionProofBody:
        """RFC 9162 inclusion proof of `index` in the tree of `tree_size` (default: newest)."""
        size, leaf, hashes = ledger.inclusion_proof(index, tree_size)
        return InclusionProofBody(index, size, b64encode(leaf), [b64encode(h) for h in hashes])

    @get("/proof/consistency", operation_id="getConsistencyProof", sync_to_thread=True)
    def consistency(
        self,
        ledger: Ledger,
        first: Size,
        second: OptionalSize = None,
    ) -> ConsistencyProofBody:
        """RFC 9162 consistency proof between tree sizes `first` and `second` (default: newest)."""
        size, hashes = ledger.consistency_proof(first, second)
        return ConsistencyProofBody(first, size, [b64encode(h) for h in hashes])


IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
TilePath = Annotated[str, PathParameter(max_length=100)]


class TilesController(Controller):
    """The log as C2SP tlog-tiles, for monitors and witnesses that speak it."""

    path = "/"
    tags = ["tlog-tiles"]

    @get(
        "/checkpoint",
        media_type=MediaType.TEXT,
        operation_id="tilesCheckpoint",
        sync_to_thread=True,
    )
    def checkpoint(self, ledger: Ledger) -> Response[bytes]:
        # exactly `text/plain; charset=utf-8`, as tlog-tiles requires
        return exact(ledger.checkpoint_note(), PLAIN_UTF8, headers=NO_STORE)

    @get("/tile/entries/{index:path}", operation_id="entryBundle", sync_to_thread=True)
    def entries(self, ledger: Ledger, index: TilePath) -> Response[bytes]:
        """An entry bundle: uint16-length-prefixed entries, 256 per full bundle."""
        n, width = tiles.parse_index(index.lstrip("/"))
        return Response(
            ledger.entry_bundle(n, width), media_type="application/octet-stream", headers=IMMUTABLE
        )

    @get("/tile/{level:str}/{index:path}", operation_id="tile", sync_to_thread=True)
    def tile(
        self,
        ledger: Ledger,
        # a decimal without leading zeroes: tlog-tiles gives each tile exactly one path
        level: Annotated[str, PathParameter(pattern=r"^(0|[1-9][0-9]?)$")],
        index: TilePath,
    ) -> Response[bytes]:
        """Tile (level, N): consecutive hashes of subtrees of height 8 x level."""
        height = int(level)
        if height > 63:
            raise NotFound(f"no tile level {height}")
        n, width = tiles.parse_index(index.lstrip("/"))
        return Response(
            ledger.tile(height, n, width), media_type="application/octet-stream", headers=IMMUTABLE
        )
