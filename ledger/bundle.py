"""Audit bundles: a range of the log that can be checked offline with the log key alone.

An NDJSON document. The first line is the header: the signed checkpoint the proofs lead to, the
range, and the public keys of every signer in the range (a key is bound to its keyid, the hash
of the key, so the keys need no further trust). Every following line is one entry with its
inclusion proof:

    {"checkpoint": "<signed note>", "start": 0, "end": 3, "keys": {"<keyid>": "<b64 key>"}, "v": 1}
    {"index": 0, "entry": "<b64 entry bytes>", "proof": ["<b64 hash>", ...],
     "openings": {"<field>": {"salt": "<hex>", "value": ...}}}

`openings` (bundles for regulators) opens the entry's private fields (ledger.privacy); it is
left out where the entry has none or they were erased. `verify_bundle` checks the checkpoint
signature, every leaf (recomputed from the entry bytes), every proof, every entry's own index,
every envelope signature, and every opening against the commitment its entry logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import msgspec
import nacl.exceptions
import nacl.signing

from ledger import dsse
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.encoding import b64decode
from ledger.entries import decode_entry
from ledger.errors import LedgerError, VerificationError
from ledger.keys import keyid
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.note import NoteVerifier
from ledger.privacy import Opening, verify_openings

BUNDLE_VERSION = 1


class BundleHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    checkpoint: str
    start: int
    end: int
    keys: dict[str, str]
    v: int = BUNDLE_VERSION


class BundleEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    index: int
    entry: str
    proof: list[str]
    openings: dict[str, Opening] = msgspec.field(default_factory=dict)


_header_decoder = msgspec.json.Decoder(BundleHeader)
_entry_decoder = msgspec.json.Decoder(BundleEntry)


class BundleError(VerificationError):
    code = "bad-bundle"


@dataclass(frozen=True)
class BundleReport:
    checkpoint: Checkpoint
    start: int
    end: int
    entries: int


def verify_bundle(
    lines: Iterable[bytes],
    verifier: NoteVerifier,
    progress: Callable[[int], None] | None = None,
) -> BundleReport:
    """Check an audit bundle line by line; raise `BundleError` naming the first failure."""
    it: Iterator[bytes] = iter(lines)
    try:
        header = _header_decoder.decode(next(it))
    except (StopIteration, msgspec.DecodeError) as exc:
        raise BundleError(f"line 1 is not a bundle header: {exc}") from exc
    if header.v != BUNDLE_VERSION:
        raise BundleError(f"unsupported bundle version {header.v}")
    checkpoint, _ = open_checkpoint(header.checkpoint, verifier)
    if not 0 <= header.start <= header.end <= checkpoint.size:
        raise BundleError(f"range {header.start}..{header.end} is not within the checkpoint")
    keys = _keys(header.keys)
    keys[keyid(verifier.public_key)] = verifier.public_key  # the ledger's own statements
    expected = header.start
    for number, raw in enumerate(it, start=2):
        if not raw.strip():
            continue
        try:
            item = _entry_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise BundleError(f"line {number}: not a bundle entry: {exc}") from exc
        if item.index != expected:
            raise BundleError(f"line {number}: expected entry {expected}, found {item.index}")
        _check_entry(item, checkpoint, keys)
        expected += 1
        if progress:
            progress(1)
    if expected != header.end:
        raise BundleError(f"the bundle stops at entry {expected}, its header says {header.end}")
    return BundleReport(checkpoint, header.start, header.end, header.end - header.start)


def _keys(encoded: dict[str, str]) -> dict[str, bytes]:
    keys = {}
    for kid, text in encoded.items():
        public_key = b64decode(text, what=f"key {kid}", error=BundleError)
        if keyid(public_key) != kid:
            raise BundleError(f"key listed as {kid} hashes to {keyid(public_key)}")
        keys[kid] = public_key
    return keys


def _check_entry(item: BundleEntry, checkpoint: Checkpoint, keys: dict[str, bytes]) -> None:
    where = f"entry {item.index}"
    try:
        entry_bytes = b64decode(item.entry, what=where, error=BundleError)
        entry = decode_entry(entry_bytes)
        if entry.index != item.index:
            raise BundleError(f"{where}: the entry says it is {entry.index}")
        proof = [b64decode(h, what=f"{where} proof", error=BundleError) for h in item.proof]
        verify_inclusion(
            item.index, checkpoint.size, leaf_hash(entry_bytes), proof, checkpoint.root_hash
        )
        signature = entry.envelope.signatures[0]
        public_key = keys.get(signature.keyid)
        if public_key is None:
            raise BundleError(f"{where}: signer {signature.keyid} is not among the bundle's keys")
        payload = dsse.payload_bytes(entry.envelope)
        message = dsse.pae(entry.envelope.payloadType, payload)
        raw_sig = b64decode(signature.sig, what=f"{where} signature", error=BundleError)
        nacl.signing.VerifyKey(public_key).verify(message, raw_sig)
        verify_openings(payload, item.index, item.openings)
    except BundleError:
        raise
    except nacl.exceptions.BadSignatureError as exc:
        raise BundleError(f"{where}: envelope signature does not verify") from exc
    except LedgerError as exc:
        raise BundleError(f"{where}: {exc.message}") from exc
    except IndexError as exc:  # an envelope without signatures
        raise BundleError(f"{where}: envelope has no signature") from exc
