"""Signed notes and checkpoints: the Go sumdb/note vector, negative cases, and fuzzing."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body, sign_checkpoint
from ledger.errors import CheckpointError, NoteError
from ledger.note import (
    NoteVerifier,
    add_signature_lines,
    format_vkey,
    note_key_id,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_note,
    signature_line,
    verify_note,
)


def _vector() -> dict[str, Any] | None:
    here = Path(__file__).resolve().parents[2] / "shared" / "vectors"
    env = os.environ.get("DATALEDGER_VECTORS")
    root = here if here.is_dir() else Path(env) if env else None
    path = root / "signed-note" / "peterneumann.json" if root else None
    if path is None or not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


V = _vector()
needs_vector = pytest.mark.skipif(
    V is None, reason="test vectors not found: ../shared/vectors or $DATALEDGER_VECTORS"
)


@pytest.fixture
def v() -> dict[str, Any]:
    assert V is not None
    return V


@pytest.fixture
def peter(v: dict[str, Any]) -> NoteVerifier:
    return parse_vkey(v["vkey"])


@pytest.fixture
def enoch(v: dict[str, Any]) -> NoteVerifier:
    return parse_vkey(v["additional_signers"][0]["vkey"])


def _key(n: int) -> SigningKey:
    return SigningKey(bytes([n]) * 32)


def _verifier(name: str, key: SigningKey) -> NoteVerifier:
    return parse_vkey(format_vkey(name, key.verify_key.encode()))


# --- the vector -------------------------------------------------------------------------------


@needs_vector
def test_vector_verifies_and_returns_text(v: dict[str, Any], peter: NoteVerifier) -> None:
    d = v["derived"]
    assert peter.name == d["name"]
    assert peter.key_id.hex() == d["key_id_hex"]
    assert peter.public_key == base64.b64decode(d["public_key_b64"])
    assert peter.vkey == v["vkey"]
    note = verify_note(v["signed_note"], [peter])
    assert note.text == v["text"]
    (sig,) = note.signatures
    assert (sig.name, sig.key_id.hex()) == (d["name"], d["key_id_hex"])
    assert sig.signature == base64.b64decode(d["signature_b64"])


@needs_vector
def test_vector_resigns_byte_for_byte(v: dict[str, Any]) -> None:
    name, seed = parse_skey(v["skey"])
    assert name == v["derived"]["name"]
    assert seed == base64.b64decode(v["derived"]["ed25519_seed_b64"])
    assert sign_note(v["text"], name, SigningKey(seed)) == v["signed_note"]


@needs_vector
def test_vector_any_tampered_bit_fails(v: dict[str, Any], peter: NoteVerifier) -> None:
    raw = v["signed_note"].encode()
    tried = 0
    for i in range(len(raw)):
        for bit in range(8):
            bad = bytearray(raw)
            bad[i] ^= 1 << bit
            try:
                note = bad.decode()
            except UnicodeDecodeError:
                continue  # not text, so not a note at all
            tried += 1
            with pytest.raises(NoteError):
                verify_note(note, [peter])
    assert tried > 4 * len(raw)


@needs_vector
def test_vector_plus_in_base64_key(v: dict[str, Any]) -> None:
    # The skey's base64 holds a '+': splitting at every '+' would break it.
    assert "+" in v["skey"].split("+", 4)[4]
    assert parse_skey(v["skey"])[0] == "PeterNeumann"
    # Same for a vkey: find a fixed key whose base64 holds a '+', and round-trip it.
    vkeys = (format_vkey("a", _key(n).verify_key.encode()) for n in range(256))
    vkey = next(k for k in vkeys if "+" in k.split("+", 2)[2])
    assert vkey.count("+") > 2
    assert parse_vkey(vkey).vkey == vkey


@needs_vector
def test_two_signers_verifiers_knowing_one(
    v: dict[str, Any], peter: NoteVerifier, enoch: NoteVerifier
) -> None:
    extra = v["additional_signers"][0]
    both = extra["signed_note_with_both_signatures"]
    assert enoch.key_id.hex() == extra["key_id_hex"]
    for verifiers in ([peter], [enoch], [peter, enoch], [_verifier("x", _key(1)), enoch]):
        note = verify_note(both, verifiers)
        assert note.text == v["text"]
        assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    assert add_signature_lines(v["signed_note"], [extra["signature_line"]]) == both


# --- negative cases ---------------------------------------------------------------------------


@needs_vector
def test_wrong_key(v: dict[str, Any]) -> None:
    impostor = _verifier("PeterNeumann", _key(7))  # same name, other key, so other key id
    with pytest.raises(NoteError, match="no trusted signature"):
        verify_note(v["signed_note"], [impostor])


@needs_vector
def test_unknown_signer_only(v: dict[str, Any], enoch: NoteVerifier) -> None:
    with pytest.raises(NoteError, match="no trusted signature"):
        verify_note(v["signed_note"], [enoch])
    with pytest.raises(NoteError, match="no trusted signature"):
        verify_note(v["signed_note"], [])


@needs_vector
def test_known_key_bad_signature(
    v: dict[str, Any], peter: NoteVerifier, enoch: NoteVerifier
) -> None:
    line = signature_line(peter.name, peter.key_id, bytes(64))
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(v["text"] + "\n" + line, [peter])
    # A failing signature by a known key rejects the note even next to a valid one.
    good = v["additional_signers"][0]["signature_line"]
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(v["text"] + "\n" + good + line, [peter, enoch])


@needs_vector
def test_known_key_signing_twice(v: dict[str, Any], peter: NoteVerifier) -> None:
    sig_line = v["signed_note"][len(v["text"]) + 1 :]
    with pytest.raises(NoteError, match="twice"):
        verify_note(v["signed_note"] + sig_line, [peter])


@needs_vector
def test_bad_key_id(v: dict[str, Any], peter: NoteVerifier) -> None:
    name, key_id, key = v["vkey"].split("+", 2)
    with pytest.raises(NoteError, match="key id does not match"):
        parse_vkey(f"{name}+00000000+{key}")
    with pytest.raises(NoteError, match="key id does not match"):
        NoteVerifier(peter.name, bytes(4), peter.public_key)
    with pytest.raises(NoteError, match="key id does not match"):
        parse_vkey(f"Peter+{key_id}+{key}")  # the name is part of the key id
    sk = v["skey"].split("+", 4)
    with pytest.raises(NoteError, match="key id does not match"):
        parse_skey("+".join([*sk[:3], "00000000", sk[4]]))


@needs_vector
def test_missing_blank_line(v: dict[str, Any], peter: NoteVerifier) -> None:
    with pytest.raises(NoteError, match="blank line"):
        verify_note(v["signed_note"].replace("\n\n", "\n"), [peter])


@needs_vector
@pytest.mark.parametrize("dash", ["-", "\u2013", "--", "\u2014\u2014", ""])
def test_bad_em_dash(v: dict[str, Any], peter: NoteVerifier, dash: str) -> None:
    with pytest.raises(NoteError, match="em dash"):
        verify_note(v["signed_note"].replace("\u2014", dash), [peter])


@needs_vector
@pytest.mark.parametrize(
    "payload", ["!!!!", "x08go/ZJ===", "x08go/ZJkuBS9UG", "x08g o/ZJ", "x08gé/ZJ"]
)
def test_non_base64(v: dict[str, Any], peter: NoteVerifier, payload: str) -> None:
    with pytest.raises(NoteError, match="base64"):
        verify_note(f"{v['text']}\n\u2014 PeterNeumann {payload}\n", [peter])


@needs_vector
def test_non_canonical_base64(v: dict[str, Any], peter: NoteVerifier) -> None:
    # 'QR==' decodes like 'QQ==' (non-zero padding bits): two spellings of one signature.
    note = v["signed_note"].replace("nAM=\n", "nAN=\n")
    assert note != v["signed_note"]
    with pytest.raises(NoteError, match="canonical"):
        verify_note(note, [peter])


@needs_vector
def test_truncated_sig(v: dict[str, Any], peter: NoteVerifier) -> None:
    sig = base64.b64decode(v["derived"]["signature_b64"])
    short = signature_line(peter.name, peter.key_id, sig[:-1])
    with pytest.raises(NoteError, match="not 64 bytes"):
        verify_note(v["text"] + "\n" + short, [peter])
    key_id_only = base64.b64encode(peter.key_id).decode()
    with pytest.raises(NoteError, match="shorter than a key id"):
        parse_note(f"{v['text']}\n\u2014 PeterNeumann {key_id_only}\n")


@needs_vector
def test_extra_signer_ignored(v: dict[str, Any], peter: NoteVerifier) -> None:
    other = _key(3)
    extra = signature_line("witness.example", note_key_id("witness.example", bytes(32)), b"junk")
    note = add_signature_lines(v["signed_note"], [extra])
    note = note + sign_note(v["text"], "other", other).split("\n\n")[-1]
    parsed = verify_note(note, [peter])
    assert [s.name for s in parsed.signatures] == ["PeterNeumann", "witness.example", "other"]


@needs_vector
def test_trailing_text_after_signatures(v: dict[str, Any], peter: NoteVerifier) -> None:
    for bad in [v["signed_note"][:-1], v["signed_note"] + "\n", v["signed_note"] + "x\n"]:
        with pytest.raises(NoteError):
            verify_note(bad, [peter])


def test_too_many_signatures() -> None:
    key = _key(1)
    note = sign_note("hello\n", "a", key)
    line = signature_line("b", bytes(4), b"x")
    assert parse_note(note + line * 99).signatures[-1].name == "b"
    with pytest.raises(NoteError, match="more than 100"):
        parse_note(note + line * 100)
    with pytest.raises(NoteError, match="more than 100"):
        add_signature_lines(note, [line] * 100)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\nb", "a\x00"])
def test_bad_key_names(name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        signature_line(name, bytes(4), b"x")
    with pytest.raises(NoteError):
        sign_note("hello\n", name, _key(1))


@pytest.mark.parametrize(
    "text", ["", "no newline", "carriage\r\n", "nul\x00\n", "bell\x07\n", "surrogate\ud800\n"]
)
def test_sign_rejects_bad_text(text: str) -> None:
    with pytest.raises(NoteError, match="note text"):
        sign_note(text, "a", _key(1))


def test_note_text_may_hold_blank_lines() -> None:
    key = _key(2)
    text = "first\n\n\u2014 looks like a signature line\n"
    note = verify_note(sign_note(text, "a", key), [_verifier("a", key)])
    assert note.text == text


@pytest.mark.parametrize(
    "bad",
    [
        "hello\n\n\u2014 a QUJDREVGRw==\r\n",
        "hello\n\n\u2014 a QUJDREVGRw==\n\n",
        "hello\n\n\u2014 a QUJDREVGRw==",
        "hello\n\n",
        "hello\n",
        "",
        "hello\n\n\u2014 a  QUJDREVGRw==\n",
        "hello\n\n\u2014 QUJDREVGRw==\n",
        "hello\n\n \u2014 a QUJDREVGRw==\n",
        "hello\ud800\n\n\u2014 a QUJDREVGRw==\n",
    ],
)
def test_malformed_notes(bad: str) -> None:
    with pytest.raises(NoteError):
        parse_note(bad)


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "a",
        "a+c74f20a3",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "a+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "a+c74f20zz+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "a+c7 4f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "a+c74f20a3+" + base64.b64encode(b"\x02" + bytes(32)).decode(),  # not Ed25519
        "a+c74f20a3+" + base64.b64encode(b"\x01" + bytes(31)).decode(),  # short key
        "a+c74f20a3+not base64",
    ],
)
def test_malformed_vkeys(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_vkey(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        "",
        "PRIVATE+KEY+a+c74f20a3",
        "PUBLIC+KEY+a+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+a+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    ],
)
def test_malformed_skeys(skey: str) -> None:
    with pytest.raises(NoteError):
        parse_skey(skey)


@given(st.text())
def test_parsers_raise_only_typed_errors(s: str) -> None:
    parsers: list[tuple[Callable[[str], object], type[Exception]]] = [
        (parse_note, NoteError),
        (parse_vkey, NoteError),
        (parse_skey, NoteError),
        (parse_checkpoint_body, CheckpointError),
    ]
    for parse, error in parsers:
        with contextlib.suppress(error):  # anything else fails the test
            parse(s)


@given(st.data())
def test_mutated_notes_raise_only_note_error(data: st.DataObject) -> None:
    key = _key(5)
    note = sign_note("example.com/log\n3\n" + "A" * 43 + "=\n", "example.com/log", key)
    i = data.draw(st.integers(0, len(note)))
    j = data.draw(st.integers(i, min(len(note), i + 4)))
    mutated = note[:i] + data.draw(st.text(max_size=4)) + note[j:]
    try:
        verify_note(mutated, [_verifier("example.com/log", key)])
    except NoteError:
        return
    assert parse_note(mutated).text == parse_note(note).text


# --- checkpoints ------------------------------------------------------------------------------

ORIGIN = "example.com/log"
ROOT = bytes(range(32))


def test_checkpoint_round_trip() -> None:
    key = _key(9)
    verifier = _verifier(ORIGIN, key)
    for cp in [
        Checkpoint(ORIGIN, 0, ROOT),
        Checkpoint(ORIGIN, 20852163, ROOT),
        Checkpoint(ORIGIN, 5, ROOT, ("ext one", "two")),
    ]:
        note = sign_checkpoint(cp, ORIGIN, key)
        assert note.startswith(cp.body() + "\n\u2014 ")
        opened, signed = open_checkpoint(note, verifier, origin=ORIGIN)
        assert opened == cp
        assert signed.text == cp.body()
        assert parse_checkpoint_body(cp.body()) == cp


def test_checkpoint_spec_example_body() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = parse_checkpoint_body(body)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.body() == body


def test_checkpoint_wrong_origin_or_key() -> None:
    key = _key(9)
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), ORIGIN, key)
    with pytest.raises(CheckpointError, match="origin") as e:
        open_checkpoint(note, _verifier(ORIGIN, key), origin="example.com/other")
    assert (e.value.expected, e.value.computed) == ("example.com/other", ORIGIN)
    with pytest.raises(NoteError, match="no trusted signature"):
        open_checkpoint(note, _verifier(ORIGIN, _key(10)))


_R = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n1\n{_R}",  # no final newline
        f"{ORIGIN}\n1\n",  # no root line
        f"\n1\n{_R}\n",  # empty origin
        f"{ORIGIN}\n\n{_R}\n",  # empty size
        f"{ORIGIN}\n01\n{_R}\n",  # leading zero
        f"{ORIGIN}\n00\n{_R}\n",
        f"{ORIGIN}\n+1\n{_R}\n",  # sign
        f"{ORIGIN}\n-1\n{_R}\n",
        f"{ORIGIN}\n 1\n{_R}\n",
        f"{ORIGIN}\n1_000\n{_R}\n",  # int() would take it
        f"{ORIGIN}\n\u0661\n{_R}\n",  # Arabic-Indic one: int() would take it
        f"{ORIGIN}\n{'9' * 21}\n{_R}\n",  # beyond uint64
        f"{ORIGIN}\n{'9' * 5000}\n{_R}\n",  # beyond int()'s digit limit
        f"{ORIGIN}\n1\n{_R[:-4]}\n",  # 30-byte root
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(33)).decode()}\n",
        f"{ORIGIN}\n1\n{_R.rstrip('=')}\n",  # unpadded
        f"{ORIGIN}\n1\nnot base64 at all\n",
        f"{ORIGIN}\n1\n{_R}\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoint_bodies(body: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint_body(body)


def test_checkpoint_constructor_validates() -> None:
    for args in [("", 1, ROOT), ("a\nb", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, 1, ROOT[:31])]:
        with pytest.raises(CheckpointError):
            Checkpoint(*args)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT, ("",))
