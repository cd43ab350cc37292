"""Receipts (DESIGN §5): proof, verifiable offline with the log's public key alone, that an
entry is in the log."""

from __future__ import annotations

import msgspec

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.encoding import b64decode, b64encode
from ledger.entries import Entry, decode_entry
from ledger.errors import EncodingError, ReceiptError, VerificationError
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.note import NoteVerifier


class InclusionProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tree_size: int
    hashes: list[str]


class Receipt(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    index: int
    entry: str
    leaf_hash: str
    inclusion_proof: InclusionProof
    checkpoint: str


_receipt_decoder = msgspec.json.Decoder(Receipt)


def make_receipt(
    index: int, entry: bytes, proof: list[bytes], tree_size: int, checkpoint: str
) -> Receipt:
    return Receipt(
        index=index,
        entry=b64encode(entry),
        leaf_hash=b64encode(leaf_hash(entry)),
        inclusion_proof=InclusionProof(tree_size=tree_size, hashes=[b64encode(h) for h in proof]),
        checkpoint=checkpoint,
    )


def decode_receipt(data: bytes) -> Receipt:
    try:
        return _receipt_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EncodingError(f"not a receipt: {exc}") from exc


def verify_receipt(
    receipt: Receipt, verifier: NoteVerifier, *, origin: str | None = None
) -> tuple[Entry, Checkpoint]:
    """Check a receipt end to end; return the entry and the checkpoint it is proven against.

    Checks: the checkpoint is signed by the log key; the leaf hash is recomputed from the entry
    bytes; the entry names the receipt's index; the inclusion proof leads to the checkpoint root.
    """
    checkpoint, _ = open_checkpoint(receipt.checkpoint, verifier, origin=origin)
    entry_bytes = b64decode(receipt.entry, what="receipt entry")
    computed = leaf_hash(entry_bytes)
    claimed = b64decode(receipt.leaf_hash, what="receipt leaf_hash")
    if computed != claimed:
        raise ReceiptError(
            f"receipt {receipt.index}: leaf_hash does not match the entry bytes",
            expected=claimed.hex(),
            computed=computed.hex(),
        )
    entry = decode_entry(entry_bytes)
    if entry.index != receipt.index:
        raise ReceiptError(
            f"receipt says index {receipt.index} but the entry says {entry.index}",
            expected=receipt.index,
            computed=entry.index,
        )
    if receipt.inclusion_proof.tree_size != checkpoint.size:
        raise ReceiptError(
            "inclusion proof is for a different tree size than the checkpoint",
            expected=checkpoint.size,
            computed=receipt.inclusion_proof.tree_size,
        )
    try:
        hashes = [b64decode(h, what="proof hash") for h in receipt.inclusion_proof.hashes]
        verify_inclusion(receipt.index, checkpoint.size, computed, hashes, checkpoint.root_hash)
    except VerificationError as exc:
        raise ReceiptError(f"receipt {receipt.index}: {exc.message}") from exc
    return entry, checkpoint
