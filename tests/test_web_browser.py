"""The web explorer in a real browser: Debian's Chromium driven by Playwright for Python.

Two halves. The first loads `api/web/static/explorer.js` into a page served by the test itself
(no server) and runs its crypto against the public vectors, against receipts made by the Python
core, and against tampered copies of them. The second starts a real `dataledger serve`, seeds it
with parties, assets, offers, licences, usage and an alert, and walks the explorer's pages as
people would: browsing, checking receipts (and seeing altered ones fail), signing in with a key
file, following a regulator's alert to its evidence, requesting and approving a licence, objecting
and resolving the objection, with an axe-core check and a screenshot of every page in English and
Chinese, and a phone-sized screen. The server runs on SQLite: the pages do not depend on the
database, which the API tests cover on both.

Chromium is `/usr/bin/chromium` (`apt-get install chromium`) or `$DATALEDGER_CHROMIUM`; without
it every test here is skipped. Screenshots go to `$DATALEDGER_ARTIFACTS/web/`, by default
`test-artifacts/web/` in the repository (ignored by git).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import nacl.signing
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from api.client import Client
from api.keyfiles import read_key
from ledger import dsse, keys
from ledger.encoding import b64decode, b64encode, canonical_json, format_rfc3339_utc
from ledger.entries import encode_entry
from ledger.logsigner import LogSigner
from ledger.merkle import CompactRange, inclusion_proof, leaf_hash
from ledger.privacy import Opening
from ledger.receipts import Receipt, make_receipt, verify_receipt
from ledger.statements import decode_statement, open_statement, statement_id
from tests.test_cli import Server, start_server
from tests.world import asset_fields

ROOT = Path(__file__).resolve().parents[1]
EXPLORER_JS = ROOT / "api" / "web" / "static" / "explorer.js"
CHROMIUM = Path(os.environ.get("DATALEDGER_CHROMIUM", "/usr/bin/chromium"))
VECTORS = Path(os.environ.get("DATALEDGER_VECTORS", ROOT.parent / "shared" / "vectors"))

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: `apt-get install chromium` or set DATALEDGER_CHROMIUM",
)
needs_vectors = pytest.mark.skipif(
    not VECTORS.is_dir(), reason="test vectors not found: ../shared/vectors or $DATALEDGER_VECTORS"
)

VERIFIED_EN = "verified in your browser"
VERIFIED_ZH = "已在您的浏览器中验证"
ZH_COLON = "\uff1a"  # the full-width colon of the Chinese messages


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


# --- the crypto, on a page the test serves itself ------------------------------------------------

UNIT_SITE = "https://explorer.test"  # https: WebCrypto needs a secure context


def unit_html(vkey: str = "", origin: str = "", lang: str = "en", body: str = "") -> str:
    return f"""<!doctype html>
<html lang="{lang}" data-lang="{lang}"><head><meta charset="utf-8"><title>unit</title>
<meta name="dl-log-vkey" content="{vkey}"><meta name="dl-origin" content="{origin}">
<script type="module">
import * as dl from "/static/explorer.js";
window.dl = dl;
await dl.ready;
window.dlReady = true;
</script></head><body>{body}</body></html>"""


def open_unit_page(
    browser: Browser, html: str, init_script: str | None = None, path: str = "/"
) -> Page:
    page = browser.new_page()
    if init_script:
        page.add_init_script(init_script)

    def serve(route: Route) -> None:
        if route.request.url.endswith("/static/explorer.js"):
            route.fulfill(body=EXPLORER_JS.read_text(), content_type="text/javascript")
        else:
            route.fulfill(body=html, content_type="text/html; charset=utf-8")

    page.route(f"{UNIT_SITE}/**", serve)
    page.goto(f"{UNIT_SITE}{path}")
    page.wait_for_function("() => window.dlReady === true")
    return page


@pytest.fixture(scope="module")
def unit(browser: Browser) -> Iterator[Page]:
    page = open_unit_page(browser, unit_html())
    yield page
    page.close()


def _b64(s: str | None) -> str:
    return base64.b64decode(s or "").hex()


@needs_vectors
def test_inclusion_vectors(unit: Page) -> None:
    cases = sorted((VECTORS / "rfc6962" / "inclusion").rglob("*.json"))
    assert len(cases) == 98
    vectors = []
    for path in cases:
        v = json.loads(path.read_text(encoding="utf-8"))
        vectors.append(
            {
                "name": str(path.relative_to(VECTORS)),
                "index": v["leafIdx"],
                "size": v["treeSize"],
                "leaf": _b64(v["leafHash"]),
                "proof": [_b64(p) for p in v["proof"] or []],
                "root": _b64(v["root"]),
                "wantErr": v["wantErr"],
            }
        )
    results = unit.evaluate(
        """async (vectors) => {
            const out = {};
            for (const v of vectors) {
                try {
                    await dl.verifyInclusion(v.index, v.size, dl.hexToBytes(v.leaf),
                        v.proof.map(dl.hexToBytes), dl.hexToBytes(v.root));
                    out[v.name] = "ok";
                } catch (err) {
                    out[v.name] = err instanceof dl.CheckFailed ? err.code : "crash: " + err;
                }
            }
            return out;
        }""",
        vectors,
    )
    for v in vectors:
        expected = "inclusion" if v["wantErr"] else "ok"
        assert results[v["name"]] == expected, v["name"]


@needs_vectors
def test_hasher_vectors(unit: Page) -> None:
    tree = json.loads((VECTORS / "rfc6962" / "hashes.json").read_text())["reference_tree"]
    computed = unit.evaluate(
        """async (inputs) => Promise.all(inputs.map(async (h) =>
            dl.bytesToHex(await dl.leafHash(dl.hexToBytes(h)))))""",
        tree["leaf_inputs"],
    )
    assert computed == tree["leaf_hashes"]


@needs_vectors
def test_signed_note_vectors(unit: Page) -> None:
    v = json.loads((VECTORS / "signed-note" / "peterneumann.json").read_text(encoding="utf-8"))
    enoch = v["additional_signers"][0]
    note, both = v["signed_note"], enoch["signed_note_with_both_signatures"]
    sig_line = note.rsplit("\n", 2)[-2]
    flipped_sig = note.replace(
        sig_line, sig_line[:-6] + ("A" if sig_line[-6] != "A" else "B") + sig_line[-5:]
    )
    cases = {
        "peter": (note, [v["vkey"]]),
        "both notes, peter known": (both, [v["vkey"]]),
        "both notes, enoch known": (both, [enoch["vkey"]]),
        "both notes, both known": (both, [v["vkey"], enoch["vkey"]]),
        "text changed": (note.replace("cryptography", "cryptographY"), [v["vkey"]]),
        "signature changed": (flipped_sig, [v["vkey"]]),
        "unknown signer": (note, [enoch["vkey"]]),
        "no blank line": (note.replace("\n\n", "\n"), [v["vkey"]]),
        "signed twice": (note + sig_line + "\n", [v["vkey"]]),
    }
    results = unit.evaluate(
        """async (cases) => {
            const out = {};
            for (const [name, [note, vkeys]] of Object.entries(cases)) {
                try {
                    const verifiers = await Promise.all(vkeys.map(dl.parseVkey));
                    const opened = await dl.verifyNote(note, verifiers);
                    out[name] = { ok: opened.text, keyId: dl.bytesToHex(verifiers[0].keyId) };
                } catch (err) {
                    out[name] = { err: err instanceof dl.CheckFailed ? err.code : "crash: " + err };
                }
            }
            return out;
        }""",
        cases,
    )
    for name in ("peter", "both notes, peter known", "both notes, both known"):
        assert results[name] == {"ok": v["text"], "keyId": "c74f20a3"}, name
    assert results["both notes, enoch known"]["ok"] == v["text"]
    for name in ("text changed", "signature changed", "unknown signer", "signed twice"):
        assert results[name] == {"err": "checkpoint-signature"}, name
    assert results["no blank line"] == {"err": "checkpoint-malformed"}
    # The key id must fit the name and key; the base64 part may hold '+' (split at two only).
    bad = unit.evaluate(
        """async (vkeys) => Promise.all(vkeys.map((k) => dl.parseVkey(k).then(
            () => "ok", (err) => err.code)))""",
        [v["vkey"].replace("c74f20a3", "c74f20a4"), "Peter+Neumann" + v["vkey"][12:], v["vkey"]],
    )
    assert bad == ["vkey-malformed", "vkey-malformed", "ok"]


@needs_vectors
def test_dsse_vectors_and_signing(unit: Page) -> None:
    examples = json.loads((VECTORS / "dsse" / "pae.json").read_text(encoding="utf-8"))["examples"]
    computed = unit.evaluate(
        """(examples) => examples.map((e) => dl.b64encode(dl.pae(
            e.payloadType, Uint8Array.from(atob(e.payload_b64), (c) => c.charCodeAt(0)))))""",
        examples,
    )
    assert computed == [e["pae_b64"] for e in examples]

    v = json.loads((VECTORS / "dsse" / "envelope-ed25519.json").read_text(encoding="utf-8"))
    key_file = keys.encode_key_file(
        nacl.signing.SigningKey(bytes.fromhex(v["key"]["ed25519_seed_hex"]))
    ).decode()
    signed = unit.evaluate(
        """async ([keyFile, statement]) => {
            const key = await dl.importKeyFile(keyFile);
            const { envelope } = await dl.signStatement(key, statement);
            return { envelope, keyid: key.keyid, extractable: key.privateKey.extractable };
        }""",
        [key_file, v["payload_object"]],
    )
    # Ed25519 is deterministic: the browser's envelope is the vector's, byte for byte.
    assert signed["envelope"] == v["envelope"]
    assert signed["keyid"] == v["key"]["keyid"]
    assert signed["extractable"] is False


def test_browser_statements_pass_the_server_decoder(unit: Page) -> None:
    """What the browser signs, the server's decoder and signature check accept, and the id the
    browser computes is the one the server gives what the statement creates."""
    key = keys.generate()
    fields = {
        "asset_id": "0" * 32,
        "grounds": '我们先登记了这份数据 — "quoted", back\\slash,\nnew line, emoji 🙂, \u2028',
        "evidence_fingerprint": "ab" * 32,
    }
    signed = unit.evaluate(
        """async ([keyFile, fields, origin]) => {
            const key = await dl.importKeyFile(keyFile);
            const sealed = await dl.sealStatement(
                dl.newStatement("asset.object", fields, origin),
                ["grounds", "evidence_fingerprint"]);
            const { envelope, payload } = await dl.signStatement(key, sealed.statement);
            return { body: dl.canonicalJson(envelope), openings: sealed.openings,
                     id: await dl.statementId(payload) };
        }""",
        [keys.encode_key_file(key).decode(), fields, "test.example/log"],
    )
    envelope = dsse.decode_envelope(signed["body"].encode())
    payload = dsse.verify_envelope(envelope, {keys.keyid_of(key): keys.public_key_bytes(key)})
    assert b"quoted" not in payload and ("ab" * 32).encode() not in payload  # committed only
    openings = msgspec.convert(signed["openings"], dict[str, Opening])
    statement = open_statement(decode_statement(payload), openings)  # the server's own check
    assert statement.kind == "asset.object"
    assert msgspec.structs.asdict(statement) == {
        **fields,
        "issued_at": statement.issued_at,
        "nonce": statement.nonce,
        "origin": "test.example/log",
    }
    assert signed["id"] == statement_id(payload)
    # The SDK's canonical form: the browser's payload is what canonical_json makes of it.
    assert payload == canonical_json(json.loads(payload))
    assert canonical_json(envelope) == signed["body"].encode()
    age = datetime.now(UTC) - statement.issued_at_datetime()
    assert abs(age.total_seconds()) < 60


def test_the_browser_commits_as_the_server_does(unit: Page) -> None:
    """ledger.privacy's known-answer vectors, computed by explorer.js."""
    from tests.test_privacy_vectors import VECTORS

    got = unit.evaluate(
        """async (vectors) => Promise.all(vectors.map(([kind, field, salt, value]) =>
            dl.commitValue(kind, field, dl.hexToBytes(salt), value)))""",
        [[kind, field, salt.hex(), value] for kind, field, salt, value, _ in VECTORS],
    )
    assert got == [expected for *_, expected in VECTORS]


def test_key_files_are_checked(unit: Page) -> None:
    key = keys.generate()
    good = json.loads(keys.encode_key_file(key))
    other = keys.generate()
    cases = {
        "good": good,
        "wrong keyid": {**good, "keyid": keys.keyid_of(other)},
        "wrong public key": {**good, "public_key": b64encode(keys.public_key_bytes(other))},
        "wrong type": {**good, "type": "ssh-ed25519"},
        "short seed": {**good, "private_key": b64encode(bytes(16))},
        "extra field": {**good, "comment": "x"},
    }
    results = unit.evaluate(
        """async (cases) => {
            const out = {};
            for (const [name, body] of Object.entries(cases)) {
                out[name] = await dl.importKeyFile(JSON.stringify(body)).then(
                    (key) => key.keyid, (err) => err.name + ": " + err.message);
            }
            out["not json"] = await dl.importKeyFile("PRIVATE KEY").then(
                () => "ok", (err) => err.name);
            return out;
        }""",
        cases,
    )
    assert results["good"] == keys.keyid_of(key)
    assert results["wrong keyid"].startswith("InputError: key file is inconsistent")
    assert results["wrong public key"].startswith("InputError: key file is inconsistent")
    assert results["wrong type"].startswith("InputError: unsupported key file type")
    assert results["short seed"].startswith("InputError: private_key")
    assert results["extra field"].startswith("InputError: not a dataledger key file")
    assert results["not json"] == "InputError"


# --- receipts made by the Python core -------------------------------------------------------------


class PyLog:
    """A small log built with the core's own functions: entries, tree, signed checkpoint."""

    def __init__(self, size: int = 7, origin: str = "example.test/explorer") -> None:
        self.signer = LogSigner(origin, nacl.signing.SigningKey.generate())
        author = keys.generate()
        self.entries: list[bytes] = []
        tree = CompactRange.empty()
        leaves: list[bytes] = []
        for index in range(size):
            statement = {
                "kind": "party.register",
                "issued_at": format_rfc3339_utc(datetime.now(UTC)),
                "nonce": f"{index:032x}",
                "name": f"Party {index} 数据",
                "public_key": b64encode(keys.public_key_bytes(author)),
            }
            envelope = dsse.sign_envelope(canonical_json(statement), author)
            entry = encode_entry(envelope, index, format_rfc3339_utc(datetime.now(UTC)))
            self.entries.append(entry)
            leaves.append(leaf_hash(entry))
            tree.append(leaves[-1])
        self.size = size
        self.origin = origin
        self.checkpoint = self.signer.sign_checkpoint(size, tree.root())
        self._leaves = leaves

    def receipt(self, index: int) -> dict[str, Any]:
        def get(level: int, i: int) -> bytes:
            # Perfect subtree (level, i) from the leaves: fine for a handful of entries.
            lo, hi = i << level, (i + 1) << level
            return _mth(self._leaves[lo:hi])

        proof = inclusion_proof(index, self.size, get)
        receipt = make_receipt(index, self.entries[index], proof, self.size, self.checkpoint)
        result: dict[str, Any] = msgspec.to_builtins(receipt)
        return result


def _mth(leaves: list[bytes]) -> bytes:
    tree = CompactRange.empty()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


def _flip(b64: str, at: int = -1) -> str:
    raw = bytearray(b64decode(b64))
    raw[at] ^= 0x01
    return b64encode(bytes(raw))


def _non_canonical(b64: str) -> str:
    """The same bytes spelled with a padding bit set (32 bytes: 43 characters and one '=')."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    assert b64.endswith("=") and not b64.endswith("==")
    last = alphabet.index(b64[-2])
    spelled = b64[:-2] + alphabet[last ^ 0x01] + "="
    assert base64.b64decode(spelled) == base64.b64decode(b64) and spelled != b64
    return spelled


def _entry_with(receipt: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The receipt with its entry re-encoded with `changes`, and a leaf hash that fits it."""
    entry = json.loads(b64decode(receipt["entry"]))
    entry.update(changes)
    raw = canonical_json(entry)
    return {**receipt, "entry": b64encode(raw), "leaf_hash": b64encode(leaf_hash(raw))}


def _tampered(log: PyLog) -> dict[str, tuple[dict[str, Any], str]]:
    """Receipts altered one way each, with the check that must catch them."""
    r = log.receipt(5)
    other_log = PyLog(log.size, origin="example.test/other")
    entry = b64decode(r["entry"])
    at = entry.index(b'"integrated_at":"') + 20
    flipped_entry = entry[:at] + bytes([entry[at] ^ 0x01]) + entry[at + 1 :]
    sig_line = r["checkpoint"].rstrip("\n").rsplit("\n", 1)[-1]
    head, encoded = sig_line.rsplit(" ", 1)
    proof = r["inclusion_proof"]
    return {
        "entry byte flipped": ({**r, "entry": b64encode(flipped_entry)}, "leaf-hash"),
        "entry and leaf hash changed": (
            _entry_with(r, integrated_at="2000-01-01T00:00:00.000000Z"),
            "inclusion",
        ),
        "entry names another index": (_entry_with(r, index=4), "entry-index"),
        "proof hash flipped": (
            {**r, "inclusion_proof": {**proof, "hashes": [_flip(proof["hashes"][0])]}},
            "inclusion",
        ),
        "proof hash dropped": (
            {**r, "inclusion_proof": {**proof, "hashes": proof["hashes"][1:]}},
            "inclusion",
        ),
        "tree size changed": (
            {**r, "inclusion_proof": {**proof, "tree_size": log.size - 1}},
            "tree-size",
        ),
        "checkpoint signature flipped": (
            {
                **r,
                "checkpoint": r["checkpoint"].replace(sig_line, f"{head} {_flip(encoded)}"),
            },
            "checkpoint-signature",
        ),
        "checkpoint size changed": (
            {**r, "checkpoint": r["checkpoint"].replace(f"\n{log.size}\n", f"\n{log.size + 1}\n")},
            "checkpoint-signature",
        ),
        "checkpoint of another log": (other_log.receipt(5), "checkpoint-signature"),
        "receipt index changed": ({**r, "index": 4}, "entry-index"),
        "entry not base64": ({**r, "entry": r["entry"][:-1]}, "receipt-malformed"),
        "leaf hash in non-canonical base64": (
            {**r, "leaf_hash": _non_canonical(r["leaf_hash"])},
            "receipt-malformed",
        ),
        "missing proof": (
            {k: v for k, v in r.items() if k != "inclusion_proof"},
            "receipt-malformed",
        ),
    }


def test_receipts_from_the_python_core(unit: Page) -> None:
    log = PyLog()
    receipts = [log.receipt(i) for i in range(log.size)]
    for receipt in receipts:  # the core agrees they are good
        verify_receipt(msgspec.convert(receipt, Receipt), log.signer.verifier, origin=log.origin)
    cases = {f"good {i}": (r, "ok") for i, r in enumerate(receipts)} | _tampered(log)
    results = unit.evaluate(
        """async ([vkey, origin, cases]) => {
            const verifier = dl.makeReceiptVerifier(vkey, origin);
            const out = {};
            for (const [name, [receipt]] of Object.entries(cases)) {
                out[name] = await verifier.verify(receipt).then(
                    ({ entry, checkpoint }) => entry.index === receipt.index
                        && checkpoint.origin === origin ? "ok" : "wrong result",
                    (err) => err instanceof dl.CheckFailed ? err.code : "crash: " + err);
            }
            return out;
        }""",
        [log.signer.vkey, log.signer.origin, cases],
    )
    assert results == {name: expected for name, (_, expected) in cases.items()}
    # Same receipt, page of another origin: refused even though the signature is good.
    wrong_origin = unit.evaluate(
        """async ([vkey, receipt]) => dl.verifyReceipt(receipt, vkey, "example.test/elsewhere")
            .then(() => "ok", (err) => err.code)""",
        [log.signer.vkey, receipts[0]],
    )
    assert wrong_origin == "origin"


def receipt_div(receipt: dict[str, Any], index: int | None = None) -> str:
    """The receipt markup of the page contract (api/templates/web/macros.html)."""
    shown = receipt.get("index") if index is None else index
    body = json.dumps(receipt).replace("<", "\\u003c")
    return (
        f'<div class="dl-receipt" data-index="{shown}">'
        f'<script type="application/json" class="dl-receipt-json">{body}</script>'
        '<span class="dl-receipt-status" role="status" aria-live="polite">not yet verified</span>'
        "</div>"
    )


def receipt_states(page: Page) -> list[tuple[str | None, str]]:
    states = page.eval_on_selector_all(
        ".dl-receipt",
        """(els) => els.map((el) => [el.dataset.verified,
            el.querySelector('.dl-receipt-status').textContent])""",
    )
    return [tuple(state) for state in states]


@pytest.mark.parametrize(
    ("lang", "verified", "not_verified"),
    [("en", VERIFIED_EN, "NOT verified: "), ("zh", VERIFIED_ZH, f"未通过验证{ZH_COLON}")],
)
def test_receipts_on_a_page(browser: Browser, lang: str, verified: str, not_verified: str) -> None:
    log = PyLog()
    good = [log.receipt(i) for i in (0, 3, 6)]
    tampered = _tampered(log)
    bad = [tampered["proof hash flipped"][0], tampered["entry byte flipped"][0]]
    body = "".join(receipt_div(r) for r in good + bad) + receipt_div(good[0], index=1)
    page = open_unit_page(browser, unit_html(log.signer.vkey, log.origin, lang, body))
    states = receipt_states(page)
    assert states[:3] == [("true", verified)] * 3
    reasons = {
        "en": [
            "inclusion proof does not match the checkpoint",
            "the leaf hash does not match the entry",
            "the receipt is for a different entry than the page shows",
        ],
        "zh": ["包含证明与检查点不符", "叶哈希与条目内容不符", "收据与页面所示条目不符"],
    }[lang]
    assert states[3:] == [("false", not_verified + reason) for reason in reasons]
    page.close()


def test_a_page_for_another_log_verifies_nothing(browser: Browser) -> None:
    log, impostor = PyLog(), PyLog()
    body = receipt_div(log.receipt(2))
    # The page announces another log's key; then the right key but another origin.
    for vkey, origin, reason in [
        (impostor.signer.vkey, log.origin, "the checkpoint is not signed by the log key"),
        (log.signer.vkey, "example.test/elsewhere", "the checkpoint is for another log"),
        ("", log.origin, "the page's log key is malformed"),
    ]:
        page = open_unit_page(browser, unit_html(vkey, origin, "en", body))
        assert receipt_states(page) == [("false", f"NOT verified: {reason}")]
        page.close()


NO_ED25519 = """
(() => {
    const subtle = crypto.subtle;
    const importKey = subtle.importKey.bind(subtle);
    subtle.importKey = (format, data, algorithm, ...rest) => {
        const name = typeof algorithm === "string" ? algorithm : algorithm.name;
        if (name === "Ed25519") {
            return Promise.reject(new DOMException("Unrecognized name", "NotSupportedError"));
        }
        return importKey(format, data, algorithm, ...rest);
    };
})();
"""


def test_a_browser_without_ed25519_never_claims_verified(browser: Browser) -> None:
    log = PyLog()
    body = receipt_div(log.receipt(1))
    page = open_unit_page(browser, unit_html(log.signer.vkey, log.origin, "en", body), NO_ED25519)
    assert receipt_states(page) == [("false", "cannot verify: this browser lacks Ed25519")]
    page.close()
    page = open_unit_page(browser, unit_html(log.signer.vkey, log.origin, "zh", body), NO_ED25519)
    assert receipt_states(page) == [("false", f"无法验证{ZH_COLON}此浏览器不支持 Ed25519")]
    # Nor can it sign: a key file is refused with the reason, not half-imported.
    refused = page.evaluate(
        "(keyFile) => dl.importKeyFile(keyFile).then(() => 'imported', (err) => err.code)",
        keys.encode_key_file(keys.generate()).decode(),
    )
    assert refused == "no-ed25519"
    page.close()


# --- the pinned log key ------------------------------------------------------------------------

PIN_STORAGE_KEY = "dataledger.pinned-log-key"
MISMATCH_EN = "NOT verified: the page's log key differs from the key you pinned"
MISMATCH_ZH = f"未通过验证{ZH_COLON}页面上的日志公钥与您固定的公钥不同"


def pin_script(vkey: str, how: str = "pasted", at: str = "2026-01-02T03:04:05.000Z") -> str:
    """An init script that pins `vkey` in the page's localStorage before any script runs."""
    pin = json.dumps({"vkey": vkey, "pinnedAt": at, "how": how})
    return f"localStorage.setItem({json.dumps(PIN_STORAGE_KEY)}, {json.dumps(pin)});"


def stored_pin(page: Page) -> dict[str, str] | None:
    raw = page.evaluate(f"localStorage.getItem({json.dumps(PIN_STORAGE_KEY)})")
    return json.loads(raw) if raw else None


def pinned(page: Page) -> dict[str, str]:
    pin = stored_pin(page)
    assert pin is not None, "no log key is pinned"
    return pin


def trust_summary(page: Page) -> dict[str, str]:
    node = page.locator("#dl-trust-summary")
    return {
        "text": node.inner_text(),
        "state": node.get_attribute("data-state") or "",
        "key": node.get_attribute("data-pinned-key") or "",
        "how": node.get_attribute("data-pinned-how") or "",
    }


def key_label(vkey: str) -> str:
    name, key_id, _ = vkey.split("+", 2)
    return f"{name}+{key_id}"


def test_receipts_are_checked_against_the_pinned_key(browser: Browser) -> None:
    """A pin wins over the page's key: a page for another log, or whose key was swapped, fails."""
    log, impostor = PyLog(), PyLog(origin="example.test/explorer")  # same name, another key
    body = "<main>" + "".join(receipt_div(log.receipt(i)) for i in (1, 4)) + "</main>"
    # Pinned the log's key; the page serves the impostor's: warned, and nothing verifies.
    page = open_unit_page(
        browser,
        unit_html(impostor.signer.vkey, log.origin, "en", body),
        pin_script(log.signer.vkey),
    )
    assert receipt_states(page) == [("false", MISMATCH_EN)] * 2
    warning = page.locator("#dl-trust-warning")
    assert warning.get_attribute("role") == "alert"
    assert key_label(impostor.signer.vkey) in warning.inner_text()
    assert key_label(log.signer.vkey) in warning.inner_text()
    assert pinned(page)["vkey"] == log.signer.vkey  # the pin is left alone
    page.close()
    # Pinned the impostor's key, the page serves it too: the log's receipts are not its.
    page = open_unit_page(
        browser,
        unit_html(impostor.signer.vkey, log.origin, "zh", body),
        pin_script(impostor.signer.vkey),
    )
    assert receipt_states(page) == [("false", f"未通过验证{ZH_COLON}检查点未经日志密钥签名")] * 2
    assert page.locator("#dl-trust-warning").count() == 0
    page.close()
    # Pinned the right key, the page serves it: verified; a page with no key at all: mismatch.
    page = open_unit_page(
        browser, unit_html(log.signer.vkey, log.origin, "en", body), pin_script(log.signer.vkey)
    )
    assert receipt_states(page) == [("true", VERIFIED_EN)] * 2
    page.close()
    page = open_unit_page(
        browser, unit_html("", log.origin, "zh", body), pin_script(log.signer.vkey)
    )
    assert receipt_states(page) == [("false", MISMATCH_ZH)] * 2
    assert "本页未提供可用的日志公钥" in page.locator("#dl-trust-warning").inner_text()
    page.close()


def test_pins_from_a_link_first_use_and_a_bad_link(browser: Browser) -> None:
    log, other = PyLog(), PyLog()
    body = "<main>" + receipt_div(log.receipt(3)) + "</main>"
    html = unit_html(log.signer.vkey, log.origin, "en", body)
    # Nothing pinned: the page's key is pinned on first use.
    page = open_unit_page(browser, html)
    assert receipt_states(page) == [("true", VERIFIED_EN)]
    pin = stored_pin(page)
    assert pin is not None and pin["vkey"] == log.signer.vkey and pin["how"] == "first-use"
    page.close()
    # A link pins its key when nothing is pinned, and the key leaves the address bar.
    page = open_unit_page(browser, html, path="/#vkey=" + quote(other.signer.vkey, safe=""))
    assert pinned(page)["vkey"] == other.signer.vkey
    assert pinned(page)["how"] == "link"
    assert page.evaluate("location.hash") == ""
    assert receipt_states(page) == [("false", MISMATCH_EN)]
    page.close()
    # A link never replaces a pin by itself: it asks, and until then the pin stands.
    page = open_unit_page(
        browser,
        html,
        pin_script(log.signer.vkey),
        path="/#vkey=" + quote(other.signer.vkey, safe="") + "&x=1",
    )
    offer = page.locator("#dl-trust-offer")
    assert key_label(other.signer.vkey) in offer.inner_text()
    assert receipt_states(page) == [("true", VERIFIED_EN)]
    offer.locator("[data-trust=keep-pin]").click()
    page.wait_for_function("() => !document.getElementById('dl-trust-offer')")
    assert page.evaluate("location.hash") == "#x=1"
    assert pinned(page)["vkey"] == log.signer.vkey
    page.close()
    # A malformed key in a link pins nothing and says so; first use then pins the page's key.
    page = open_unit_page(browser, html, path="/#vkey=not-a-key")
    assert "The log key in this link was not pinned" in page.locator("#dl-trust-link").inner_text()
    assert pinned(page)["how"] == "first-use"
    page.close()


# --- the explorer's pages on a real server -------------------------------------------------------


def artifacts_dir() -> Path:
    base = os.environ.get("DATALEDGER_ARTIFACTS")
    out = (Path(base) if base else ROOT / "test-artifacts") / "web"
    out.mkdir(parents=True, exist_ok=True)
    return out


def policy(max_units: int = 10_000) -> dict[str, Any]:
    return {
        "actions": ["use", "train"],
        "purposes": ["research", "analytics"],
        "term_days": 365,
        "territory": ["CN"],
        "max_units": max_units,
        "pricing": {
            "model": "per_unit",
            "currency": "CNY",
            "fixed_minor": 10_000,
            "unit_price_minor": 50,
        },
    }


@dataclass
class Site:
    """A running server seeded as a small market, and the key files of its parties."""

    server: Server
    keys: dict[str, nacl.signing.SigningKey]
    key_files: dict[str, Path]
    ids: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, who: str | None = None) -> Client:
        client = Client(self.url, trust_on_first_use=True)  # the test's own server
        if who is not None:
            client.login(self.keys[who])
        return client

    def party_id(self, who: str) -> str:
        return keys.keyid_of(self.keys[who])


def seed(server: Server, key_dir: Path) -> Site:
    operator = read_key(server.data_dir / "log-key.json")
    names = {
        "owner": "华北数据交易有限公司 North Data",
        "buyer": "Buyer Analytics",
        "buyer2": "Second Buyer",
        "regulator": "Market Regulator 监管",
    }
    site_keys = {who: keys.generate() for who in names}
    key_files = {}
    for who, key in site_keys.items():
        key_files[who] = key_dir / f"{who}.json"
        key_files[who].write_bytes(keys.encode_key_file(key))
    ids: dict[str, str] = {}
    with Client(server.url, trust_on_first_use=True) as c:
        for who, name in names.items():
            c.register_party(site_keys[who], name)
        c.sign_and_submit(
            operator, "role.grant", party_id=keys.keyid_of(site_keys["regulator"]), role="regulator"
        )
        owner, buyer = site_keys["owner"], site_keys["buyer"]
        ids["asset"] = c.register_asset(owner, **asset_fields()).id
        ids["personal_asset"] = c.register_asset(
            owner,
            **asset_fields(
                title="Patient visits 门诊记录",
                category="health",
                personal_info="personal",
                description="Outpatient visits, pseudonymised",
            ),
        ).id
        ids["contested_asset"] = c.register_asset(
            owner, **asset_fields(title="Weather stations 气象站", category="weather")
        ).id
        ids["offer"] = c.sign_and_submit(
            owner, "offer.publish", asset_id=ids["asset"], policy=policy()
        ).id
        ids["personal_offer"] = c.sign_and_submit(
            owner, "offer.publish", asset_id=ids["personal_asset"], policy=policy()
        ).id
        # A licence in use and paid for (statistics), and one of personal data (an alert).
        ids["licence"] = c.sign_and_submit(
            buyer,
            "licence.request",
            offer_id=ids["offer"],
            purpose="research",
            term_days=30,
            territory=["CN"],
            units=500,
        ).id
        c.sign_and_submit(
            owner,
            "licence.approve",
            licence_id=ids["licence"],
            price={"amount_minor": 35_000, "currency": "CNY"},
        )
        for units in (40, 75, 120):
            now = format_rfc3339_utc(datetime.now(UTC))
            c.sign_and_submit(
                buyer,
                "usage.report",
                licence_id=ids["licence"],
                units=units,
                period_start=now,
                period_end=now,
                usage_kind="records",
            )
        payment = c.sign_and_submit(
            buyer,
            "payment.record",
            licence_id=ids["licence"],
            amount={"amount_minor": 35_000, "currency": "CNY"},
            reference="INV-1",
        ).id
        c.sign_and_submit(owner, "payment.confirm", payment_id=payment)
        ids["personal_licence"] = c.sign_and_submit(
            buyer,
            "licence.request",
            offer_id=ids["personal_offer"],
            purpose="research",
            term_days=30,
            territory=["CN"],
            units=100,
            lawful_basis="consent",
        ).id
        ids["objection"] = c.sign_and_submit(
            buyer,
            "asset.object",
            asset_id=ids["contested_asset"],
            grounds="We registered these stations first 我们先登记了",
            evidence_fingerprint="e" * 64,
        ).id
    return Site(server, site_keys, key_files, ids)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("web")
    data_dir = base / "data"
    data_dir.mkdir()
    server = start_server(f"sqlite:///{data_dir / 'dataledger.db'}", data_dir)
    try:
        yield seed(server, base)
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def wait_receipts(page: Page) -> list[tuple[str | None, str]]:
    """Every receipt on the page, once the browser has finished checking them."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.dl-receipt')]
            .every((el) => el.dataset.verified === 'true' || el.dataset.verified === 'false')"""
    )
    return receipt_states(page)


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)


def sign_in(page: Page, site: Site, who: str, next_path: str) -> None:
    page.goto(f"{site.url}/signin?next={next_path}")
    page.set_input_files("#dl-keyfile", str(site.key_files[who]))
    submit = page.locator("#dl-signin-form [type=submit]")
    if submit.count():
        submit.click()
    page.wait_for_url(f"{site.url}{next_path}")


@pytest.mark.slow
def test_catalog_then_an_asset_with_its_receipts_verified(site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    assert page.locator("html").get_attribute("data-lang") in {"en", "zh"}
    shoot(page, "catalog")
    page.fill("#q", "Traffic")
    page.locator("form.dl-search [type=submit]").click()
    page.wait_for_url("**/?*q=Traffic*")
    cards = page.locator(".dl-card h3 a")
    assert cards.all_inner_texts() == ["城市交通流量 Traffic flows 2026"]
    cards.first.click()
    page.wait_for_url(f"**/assets/{site.ids['asset']}")
    states = wait_receipts(page)
    # registration, offer, licence request and approval, usage, payment...: all verified
    assert len(states) >= 5
    assert states == [("true", VERIFIED_EN)] * len(states)
    shoot(page, "asset")


def _tamper_first_receipt(html: str, change: str) -> str:
    start = html.index('class="dl-receipt-json">') + len('class="dl-receipt-json">')
    end = html.index("</script>", start)
    receipt = json.loads(html[start:end])
    if change == "entry":
        raw = bytearray(b64decode(receipt["entry"]))
        at = raw.index(b'"integrated_at":"') + 20
        raw[at] ^= 0x01  # one digit of the time becomes another
        receipt["entry"] = b64encode(bytes(raw))
    else:
        receipt["inclusion_proof"]["hashes"][0] = _flip(receipt["inclusion_proof"]["hashes"][0], 0)
    return html[:start] + json.dumps(receipt).replace("<", "\\u003c") + html[end:]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("entry", "the leaf hash does not match the entry"),
        ("proof", "inclusion proof does not match the checkpoint"),
    ],
)
def test_a_receipt_altered_in_transit_fails(
    site: Site, page: Page, change: str, reason: str
) -> None:
    url = f"{site.url}/assets/{site.ids['asset']}"

    def alter(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=_tamper_first_receipt(response.text(), change))

    page.route(url, alter)
    page.goto(url)
    states = wait_receipts(page)
    assert states[0] == ("false", f"NOT verified: {reason}")
    assert states[1:] == [("true", VERIFIED_EN)] * (len(states) - 1)
    page.locator("#timeline").screenshot(path=str(artifacts_dir() / f"asset-tampered-{change}.png"))


def _swap_log_key(html: str, real: str, fake: str) -> str:
    """The page with its `dl-log-vkey` meta naming `fake` (the rest of the page left as it is)."""
    meta = f'<meta name="dl-log-vkey" content="{real}">'
    assert html.count(meta) == 1
    return html.replace(meta, f'<meta name="dl-log-vkey" content="{fake}">')


def _serve_swapped_key(page: Page, url: str, real: str, fake: str) -> None:
    def swap(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=_swap_log_key(response.text(), real, fake))

    page.route(url, swap)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lang", "warning", "mismatch"),
    [
        ("en", "Warning: this page's log key is not the one you pinned.", MISMATCH_EN),
        ("zh", f"警告{ZH_COLON}本页的日志公钥不是您固定的公钥。", MISMATCH_ZH),
    ],
)
def test_a_swapped_log_key_fails_every_receipt_against_the_pin(
    site: Site, page: Page, lang: str, warning: str, mismatch: str
) -> None:
    with site.client() as c:
        real = c.log_vkey()
    fake = LogSigner(real.split("+")[0], nacl.signing.SigningKey.generate()).vkey
    # Pinned from a link (the key got from elsewhere): the log's pages verify against it.
    page.goto(f"{site.url}/log?lang={lang}#vkey={quote(real, safe='')}")
    states = wait_receipts(page)
    verified = VERIFIED_EN if lang == "en" else VERIFIED_ZH
    assert states and states == [("true", verified)] * len(states)
    assert pinned(page)["vkey"] == real
    summary = trust_summary(page)
    assert (summary["state"], summary["key"], summary["how"]) == (
        "verified",
        key_label(real),
        "link",
    )
    assert key_label(real) in summary["text"]
    if lang == "en":
        assert (
            "were verified in your browser against the log key you pinned from a link on"
            in summary["text"]
        )
        assert summary["text"].endswith("not against the server's word.")
    assert page.locator("#dl-trust-warning").count() == 0

    # The server (or something on the way) swaps the page's key for another valid one.
    url = f"{site.url}/assets/{site.ids['asset']}"
    _serve_swapped_key(page, url, real, fake)
    page.goto(url)
    states = wait_receipts(page)
    assert len(states) >= 5
    assert states == [("false", mismatch)] * len(states)
    banner = page.locator("#dl-trust-warning")
    assert banner.get_attribute("role") == "alert"
    assert banner.is_visible()
    assert warning in banner.inner_text()
    assert key_label(fake) in banner.inner_text() and key_label(real) in banner.inner_text()
    assert trust_summary(page)["state"] == "mismatch"
    assert pinned(page)["vkey"] == real  # the page cannot move the pin
    shoot(page, f"asset-swapped-key-{lang}")


@pytest.mark.slow
def test_trust_on_first_use_then_re_pin_and_un_pin(site: Site, page: Page) -> None:
    with site.client() as c:
        real = c.log_vkey()
    fake = LogSigner(real.split("+")[0], nacl.signing.SigningKey.generate()).vkey
    page.goto(site.url + "/log")
    states = wait_receipts(page)
    assert states == [("true", VERIFIED_EN)] * len(states)
    assert pinned(page)["how"] == "first-use"
    summary = trust_summary(page)
    assert "against the log key pinned on first use on" in summary["text"], summary["text"]
    assert summary["key"] == key_label(real)
    page.locator("#dl-trust summary").click()
    assert "pinned on first use" in page.locator("#dl-trust").inner_text()

    # The next page serves another key: the first-use pin holds, and the page warns.
    url = f"{site.url}/log/entries/1"
    _serve_swapped_key(page, url, real, fake)
    page.goto(url)
    assert wait_receipts(page) == [("false", MISMATCH_EN)]
    assert page.locator("#dl-trust-warning").is_visible()
    # Re-pin to the page's (wrong) key: no warning, but its receipts are not signed by it.
    page.locator("#dl-trust [data-trust=pin-page]").click()
    page.wait_for_function("() => !document.getElementById('dl-trust-warning')")
    assert wait_receipts(page) == [
        ("false", "NOT verified: the checkpoint is not signed by the log key")
    ]
    assert pinned(page)["vkey"] == fake and pinned(page)["how"] == "page"
    assert trust_summary(page)["state"] == "failed"
    # Paste something that is no key: refused, the pin stays.
    page.fill("#dl-trust-vkey", "hello+world")
    page.locator("#dl-trust-form [type=submit]").click()
    page.wait_for_function(
        """() => document.querySelector('#dl-trust .dl-trust-status')
            .textContent.startsWith('not pinned')"""
    )
    assert pinned(page)["vkey"] == fake
    # Paste the real key: pinned; the page still serves the fake one, so it warns again.
    page.fill("#dl-trust-vkey", real)
    page.locator("#dl-trust-form [type=submit]").click()
    page.wait_for_selector("#dl-trust-warning")
    assert pinned(page)["vkey"] == real and pinned(page)["how"] == "pasted"
    assert wait_receipts(page) == [("false", MISMATCH_EN)]
    # A genuine page verifies against the pasted pin and says "you pinned on".
    page.unroute(url)
    page.goto(url)
    assert wait_receipts(page) == [("true", VERIFIED_EN)]
    assert "against the log key you pinned on " in trust_summary(page)["text"]
    # Un-pin: this page falls back to the served key and says it rests on the server's word.
    page.locator("#dl-trust summary").click()
    page.locator("#dl-trust [data-trust=unpin]").click()
    page.wait_for_function(
        "() => document.getElementById('dl-trust-summary').dataset.state === 'unpinned'"
    )
    assert stored_pin(page) is None
    assert "rests on the server's word" in trust_summary(page)["text"]
    assert wait_receipts(page) == [("true", VERIFIED_EN)]
    page.goto(url)  # the next page pins on first use again
    wait_receipts(page)
    assert pinned(page)["how"] == "first-use"


def open_regulator(page: Page, site: Site) -> None:
    """/regulator, once its alerts and statistics (computed in the background) are in."""
    page.goto(site.url + "/regulator")
    # Generous: on a loaded 2-core machine the first background round took over 15 s.
    for _ in range(120):
        if page.locator(".dl-alert").count() and page.locator("svg.dl-chart").count():
            return
        page.wait_for_timeout(500)
        page.reload()
    raise AssertionError(
        "the regulator's alerts and charts did not appear within 60 s: "
        + page.locator("main").inner_text()[-700:]
    )


@pytest.mark.slow
def test_regulator_signs_in_and_follows_an_alert_to_its_evidence(site: Site, page: Page) -> None:
    page.goto(site.url + "/regulator")
    assert page.locator(".dl-alert").count() == 0  # not for everyone's eyes
    sign_in(page, site, "regulator", "/regulator")
    open_regulator(page, site)
    chart = page.locator("svg.dl-chart").first
    assert chart.get_attribute("role") == "img"
    assert (chart.locator("title").first.text_content() or "").startswith("Price index")
    shoot(page, "regulator")

    alert = page.locator(".dl-alert", has=page.locator("code", has_text="personal-data-licence"))
    assert alert.count() == 1
    assert "consent" in alert.inner_text()
    evidence = alert.locator("a[href^='/log/entries/']").first
    index = evidence.get_attribute("href").rsplit("/", 1)[-1]
    evidence.click()
    page.wait_for_url(f"**/log/entries/{index}")
    # The evidence is the licence request, and the browser checks its receipt.
    assert "licence.request" in page.locator("main").inner_text()
    states = wait_receipts(page)
    assert ("true", VERIFIED_EN) in states and all(s == ("true", VERIFIED_EN) for s in states)
    shoot(page, "entry")


def submit_action(page: Page, form_selector: str, key_file: Path) -> dict[str, str]:
    """Sign and submit an action form in the browser; return its outcome."""
    form = page.locator(form_selector)
    form.locator("input[type=file]").set_input_files(str(key_file))
    form.locator("[type=submit]").click()
    page.wait_for_function(
        """(form) => form.dataset.result && !form.hasAttribute('aria-busy')""",
        arg=form.element_handle(),
    )
    status = form.locator(".dl-action-status")
    return {
        "result": form.get_attribute("data-result") or "",
        "text": status.inner_text(),
        "id": status.get_attribute("data-id") or "",
        "index": status.get_attribute("data-index") or "",
    }


@pytest.mark.slow
def test_request_and_approve_a_licence_in_the_browser(site: Site, browser: Browser) -> None:
    buyer = browser.new_context(locale="en-GB")
    page = buyer.new_page()
    asset_path = f"/assets/{site.ids['asset']}"
    sign_in(page, site, "buyer2", asset_path)
    form = (
        "form.dl-action[data-kind='licence.request']"
        f":has(input[name=offer_id][value='{site.ids['offer']}'])"
    )
    page.locator(form).locator("[name=units]").fill("250")
    page.locator(form).locator("[name=purpose]").select_option("analytics")
    requested = submit_action(page, form, site.key_files["buyer2"])
    assert requested["result"] == "verified", requested["text"]
    assert f"recorded as entry #{requested['index']}, verified in your browser" in requested["text"]
    licence_id = requested["id"]
    with site.client("owner") as owner_view:
        licence = owner_view.licence(licence_id)
    assert licence["status"] == "requested"
    assert licence["buyer_id"] == site.party_id("buyer2")
    assert (licence["max_units"], licence["purpose"], licence["term_days"]) == (
        250,
        "analytics",
        365,
    )
    shoot(page, "licence-requested")

    buyer.close()

    seller = browser.new_context(locale="en-GB")
    page = seller.new_page()
    sign_in(page, site, "owner", f"/licences/{licence_id}")
    approve = "form.dl-action[data-kind='licence.approve']"
    page.locator(approve).locator("[name='price.amount_minor']").fill("42000")
    approved = submit_action(page, approve, site.key_files["owner"])
    assert approved["result"] == "verified", approved["text"]
    shoot(page, "licence-approved")
    seller.close()
    with site.client("buyer2") as buyer_view:
        licence = buyer_view.licence(licence_id)
    assert licence["status"] == "active"
    assert licence["price_minor"] == 42_000


@pytest.mark.slow
def test_object_then_resolve_in_the_browser(site: Site, browser: Browser) -> None:
    """A buyer objects to a registration on notice; the regulator upholds the first objection."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    asset_path = f"/assets/{site.ids['contested_asset']}"
    sign_in(page, site, "buyer2", asset_path)
    form = "form.dl-action[data-kind='asset.object']"
    page.locator(form).locator("[name=grounds]").fill(
        "Same stations as our registration 同一批站点"
    )
    page.locator(form).locator("[name=evidence_fingerprint]").fill("e" * 64)
    objected = submit_action(page, form, site.key_files["buyer2"])
    assert objected["result"] == "verified", objected["text"]
    with site.client("regulator") as regulator_view:
        objection = regulator_view.objection(objected["id"])
    assert objection["objector_id"] == site.party_id("buyer2")
    assert objection["status"] == "open"
    context.close()

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, site, "regulator", asset_path)
    resolve = (
        "form.dl-action[data-kind='objection.resolve']"
        f":has(input[name=objection_id][value='{site.ids['objection']}'])"
    )
    page.locator(resolve).locator("[name=outcome]").select_option("upheld")
    page.locator(resolve).locator("[name=reason]").fill("The objector registered first")
    resolved = submit_action(page, resolve, site.key_files["regulator"])
    assert resolved["result"] == "verified", resolved["text"]
    # Deciding it twice is refused, and the page shows the server's problem details.
    again = submit_action(page, resolve, site.key_files["regulator"])
    assert again["result"] == "refused", again["text"]
    assert again["text"].startswith("refused: Statement refused — "), again["text"]
    context.close()
    with site.client("regulator") as regulator_view:
        assert regulator_view.objection(site.ids["objection"])["status"] == "upheld"
        assert regulator_view.asset(site.ids["contested_asset"])["status"] == "rejected"


def pages(site: Site) -> dict[str, tuple[str | None, str]]:
    """Every kind of page: (who is signed in, path)."""
    with Client(site.url, trust_on_first_use=True) as c:
        entry = c.checkpoint().size - 1
    return {
        "catalog": (None, "/"),
        "catalog-filtered": (None, "/?category=transport&classification=general"),
        "asset": (None, f"/assets/{site.ids['asset']}"),
        "asset-personal": ("owner", f"/assets/{site.ids['personal_asset']}"),
        "party": (None, f"/parties/{site.party_id('owner')}"),
        "licence": ("buyer", f"/licences/{site.ids['licence']}"),
        "log": (None, "/log"),
        "log-entry": (None, f"/log/entries/{entry}"),
        "regulator": ("regulator", "/regulator"),
        "signin": (None, "/signin"),
        "not-found": (None, "/assets/" + "0" * 32),
    }


@pytest.mark.slow
def test_every_page_passes_axe_and_is_captured(site: Site, browser: Browser) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    problems: dict[str, list[str]] = {}
    for lang, locale in (("en", "en-GB"), ("zh", "zh-CN")):
        sessions: dict[str | None, Page] = {}
        for name, (who, path) in pages(site).items():
            if who not in sessions:
                context = browser.new_context(
                    locale=locale, viewport={"width": 1280, "height": 900}
                )
                sessions[who] = context.new_page()
                if who is not None:
                    sign_in(sessions[who], site, who, "/")
            page = sessions[who]
            if name == "regulator":
                open_regulator(page, site)
            else:
                page.goto(site.url + path)
            assert page.locator("html").get_attribute("data-lang") == lang, name
            states = wait_receipts(page)
            verified = VERIFIED_EN if lang == "en" else VERIFIED_ZH
            assert all(s == ("true", verified) for s in states), (name, states)
            results = axe.run(page)
            serious = [
                f"{v['id']} ({v['impact']}): {v['help']} — "
                + "; ".join(n["target"][0] for n in v["nodes"][:3])
                for v in results.response["violations"]
                if v["impact"] in {"serious", "critical"}
            ]
            if serious:
                problems[f"{lang} {name}"] = serious
            shoot(page, f"{name}-{lang}")
        for page in sessions.values():
            page.context.close()
    assert not problems, json.dumps(problems, indent=2, ensure_ascii=False)


@pytest.mark.slow
def test_phone_sized_screen(site: Site, browser: Browser) -> None:
    context = browser.new_context(
        locale="en-GB", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    for name, path in (
        ("catalog", "/"),
        ("asset", f"/assets/{site.ids['asset']}"),
        ("log", "/log"),
    ):
        page.goto(site.url + path)
        wait_receipts(page)
        page.screenshot(path=str(artifacts_dir() / f"phone-{name}.png"))
        # Readable without sideways scrolling: nothing wider than the screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{name} is {width}px wide on a 375px screen"
    context.close()


ACTION_FORMS = """
<form class="dl-action" id="req" data-kind="licence.request" data-endpoint="/v1/statements">
<fieldset><legend>Request</legend>
<input type="hidden" name="offer_id" value="0123456789abcdef0123456789abcdef">
<p class="dl-field"><label for="p">Purpose</label>
<select id="p" name="purpose" required><option value="research">research</option>
<option value="analytics" selected>analytics</option></select></p>
<p class="dl-field"><label for="t">Term</label>
<input id="t" name="term_days" type="number" value="30" data-type="integer" required></p>
<p class="dl-field"><label for="c">Territory</label>
<input id="c" name="territory" type="text" value="CN, HK" data-type="list" required></p>
<p class="dl-field"><label for="u">Units</label>
<input id="u" name="units" type="number" value="" data-type="integer"></p>
<p class="dl-field"><label for="b">Basis</label>
<select id="b" name="lawful_basis"><option value="" selected>-</option>
<option value="consent">consent</option></select></p>
<p><button type="submit">Sign and submit</button></p>
<p class="dl-action-status" role="status" aria-live="polite"></p>
</fieldset></form>
<form class="dl-action" id="approve" data-kind="licence.approve" data-endpoint="/v1/statements">
<fieldset><legend>Approve</legend>
<input type="hidden" name="licence_id" value="fedcba9876543210fedcba9876543210">
<p class="dl-field"><label for="m">Price</label>
<input id="m" name="price.amount_minor" type="number" value="15000" data-type="integer" required>
</p>
<p class="dl-field"><label for="cur">Currency</label>
<input id="cur" name="price.currency" type="text" value="CNY" required></p>
<p><button type="submit">Sign and submit</button></p>
<p class="dl-action-status" role="status" aria-live="polite"></p>
</fieldset></form>
"""


def test_action_forms_become_typed_statements(browser: Browser) -> None:
    page = open_unit_page(browser, unit_html(body=ACTION_FORMS))
    collect = """([id, kind]) => {
        try { return dl.collectFields(document.getElementById(id), kind); }
        catch (err) { return err.name + ": " + err.message; }
    }"""
    assert page.evaluate(collect, ["req", "licence.request"]) == {
        "offer_id": "0123456789abcdef0123456789abcdef",
        "purpose": "analytics",
        "term_days": 30,
        "territory": ["CN", "HK"],
    }
    page.fill("#u", "250")
    page.select_option("#b", "consent")
    assert page.evaluate(collect, ["req", "licence.request"]) == {
        "offer_id": "0123456789abcdef0123456789abcdef",
        "purpose": "analytics",
        "term_days": 30,
        "territory": ["CN", "HK"],
        "units": 250,
        "lawful_basis": "consent",
    }
    assert page.evaluate(collect, ["approve", "licence.approve"]) == {
        "licence_id": "fedcba9876543210fedcba9876543210",
        "price": {"amount_minor": 15000, "currency": "CNY"},
    }
    page.evaluate("document.getElementById('t').type = 'text'")
    page.fill("#t", "30.5")
    assert page.evaluate(collect, ["req", "licence.request"]) == (
        "InputError: term days must be a whole number"
    )
    # Every action form gets a key file input, labelled, before its submit button.
    key_inputs = page.locator("form.dl-action input[type=file]")
    assert key_inputs.count() == 2
    assert page.locator("#req label:has(input[type=file])").inner_text().startswith("Your key file")
    # Submitting without a key asks for one, and sends nothing.
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.locator("#approve [type=submit]").click()
    page.wait_for_function("() => document.querySelector('#approve').dataset.result === 'error'")
    assert page.locator("#approve .dl-action-status").inner_text() == "choose your key file first"
    assert requests == []
    page.close()


@pytest.mark.slow
def test_sign_in_sends_nothing_but_a_signed_login(site: Site, page: Page, tmp_path: Path) -> None:
    posts: list[tuple[str, str]] = []
    page.on(
        "request",
        lambda r: posts.append((r.url, r.post_data or "")) if r.method == "POST" else None,
    )
    # An unknown key: the server's refusal is shown, and the page stays where it is.
    stranger = tmp_path / "stranger.json"
    stranger.write_bytes(keys.encode_key_file(keys.generate()))
    page.goto(f"{site.url}/signin?next=/regulator")
    page.set_input_files("#dl-keyfile", str(stranger))
    page.locator("#dl-signin-form [type=submit]").click()
    status = page.locator("#dl-signin-status")
    page.wait_for_function(
        "() => document.querySelector('#dl-signin-status').dataset.state === 'failed'"
    )
    assert status.inner_text().startswith("refused: "), status.inner_text()
    assert page.url == f"{site.url}/signin?next=/regulator"

    # A registered key; `next` pointing off the site is ignored (no open redirect): here with
    # a tab, which the URL parser drops, so "/\t/evil.example/x" is "//evil.example/x".
    page.goto(f"{site.url}/signin?next=/%09/evil.example/x")
    page.set_input_files("#dl-keyfile", str(site.key_files["buyer"]))
    page.locator("#dl-signin-form [type=submit]").click()
    page.wait_for_url(f"{site.url}/")
    assert site.party_id("buyer") in page.locator(".dl-who a").get_attribute("href")

    secrets_in_files = [
        json.loads(path.read_text())["private_key"] for path in (stranger, site.key_files["buyer"])
    ]
    assert [url.removeprefix(site.url) for url, _ in posts] == [
        "/v1/auth/login",
        "/v1/auth/login",
        "/web/session",
    ]
    for _, body in posts:
        assert not any(secret in body for secret in secrets_in_files)
        sent = json.loads(body)
        if "payload" in sent:  # the login: a DSSE envelope of an auth.login statement
            login = json.loads(base64.b64decode(sent["payload"]))
            assert login["kind"] == "auth.login"
            assert set(login) == {"kind", "issued_at", "nonce", "origin", "expires_at"}
        else:
            assert set(sent) == {"token"}
